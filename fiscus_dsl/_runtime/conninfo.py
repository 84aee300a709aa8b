"""PostgreSQL connection strings as stores show them: never with a password.

The run store, the audit log and the credential store name their database
in messages and reprs by the URL ``shown_conninfo`` returns, and keep the
password apart. Imports psycopg only when called (the ``postgres`` extra).
"""

from __future__ import annotations

from fiscus_dsl.errors import ConfigurationError


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
