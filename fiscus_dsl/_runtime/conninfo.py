"""PostgreSQL connections as every store makes them, and shows them: no password.

The run store, the audit log and the credential store name their database
in messages and reprs by the URL ``shown_conninfo`` returns, and keep the
password apart. Each opens a first connection of its own to set up its
tables (``opening_conninfo``: it fails with libpq's reason where a pool
would only time out) and then a pool made by ``closed_pool``. Imports
psycopg only when called (the ``postgres`` extra).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from fiscus_dsl.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from psycopg_pool import ConnectionPool


def shown_conninfo(
    conninfo: str, *, owner: str, option: str = "conninfo"
) -> tuple[str, str, dict[str, str]]:
    """Return the URL a PostgreSQL store shows (no password), the password, settings.

    The caller has psycopg (the ``postgres`` extra) installed.

    Raises:
        ConfigurationError: libpq cannot read ``conninfo``; the message never
            quotes it (it may hold a password).
    """
    import psycopg  # the postgres extra: its callers checked it is installed
    from psycopg.conninfo import conninfo_to_dict

    try:
        given = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        # libpq's message quotes the string, which may hold a password.
        msg = (
            f"{owner}({option}) is not a PostgreSQL URL or connection "
            "string; write 'postgresql://user@host:5432/dbname' or "
            "'host=... dbname=...' (a password in PGPASSWORD or ~/.pgpass)"
        )
        raise ConfigurationError(msg, option=option) from exc
    settings = {key: str(value) for key, value in given.items()}
    user = settings.get("user")
    host = settings.get("host", "")
    port = settings.get("port")
    where = f"{user}@" if user else ""
    where += f"{host}:{port}" if port else host
    url = f"postgresql://{where}/{settings.get('dbname', '')}"
    return url, settings.get("password", ""), settings


def opening_conninfo(conninfo: str, settings: Mapping[str, str], timeout: float) -> str:
    """Return ``conninfo`` with libpq's ``connect_timeout`` from ``timeout``.

    A ``connect_timeout`` the caller set stays; libpq takes whole seconds,
    at least 1.
    """
    if "connect_timeout" in settings:
        return conninfo
    from psycopg.conninfo import make_conninfo  # the postgres extra

    return make_conninfo(conninfo, connect_timeout=max(1, math.ceil(timeout)))


def closed_pool(
    conninfo: str, *, name: str, timeout: float, max_size: int, min_size: int = 1
) -> ConnectionPool[Any]:
    """Return a connection pool as the stores use it, not opened yet.

    Connections are checked before they are handed out, and a caller
    waits at most ``timeout`` seconds for one.
    """
    from psycopg_pool import ConnectionPool  # the postgres extra

    return ConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        open=False,
        timeout=timeout,
        check=ConnectionPool.check_connection,
        name=name,
    )
