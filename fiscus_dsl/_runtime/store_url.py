"""Run stores named by URL: ``Runner(store="sqlite:///runs.db")`` and ``FISCUS_STORE``.

``open_store`` turns a store URL into a ``RunStore``. ``sqlite:///PATH``
is a SQLite file, relative to the current directory, and
``sqlite:////PATH`` an absolute one (SQLAlchemy's convention, which most
Python users know). ``postgresql://`` (or ``postgres://``) is a libpq URL,
opened as a ``PostgresRunStore``; its module, and psycopg, are imported
only then, since they are an extra. ``environment_store_url`` reads
``FISCUS_STORE``, the default store of every runner that is given none.
A runner checks its URL when it is made and opens the store when it
first records or resumes a run (``store_opener``).
Knows no HTTP.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Final

from fiscus_dsl._runtime.sqlite_store import SQLiteRunStore
from fiscus_dsl.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from fiscus_dsl._runtime.store import RunStore

ENVIRONMENT_VARIABLE: Final = "FISCUS_STORE"
"""The environment variable naming the default store of runners given none."""

SQLITE: Final = "sqlite:///"
_POSTGRES: Final = ("postgresql://", "postgres://")
_FORMS: Final = (
    "'sqlite:///runs.db' (relative), 'sqlite:////var/lib/runs.db' or "
    "'postgresql://user@host:5432/dbname'"
)


def store_opener(
    url: str, *, option: str = "store", make_folder: bool = False
) -> Callable[[], RunStore]:
    """Check a store URL now; return what opens its store, on first use.

    A runner made with a URL (or from ``FISCUS_STORE``) creates no file
    until it records a run.

    Raises:
        ConfigurationError: The URL is not a store URL this version opens,
            or names PostgreSQL and psycopg is not installed.
    """
    if url.startswith(_POSTGRES):
        return functools.partial(_postgres_store(url, option), url)
    return functools.partial(_open_sqlite, _sqlite_path(url, option), make_folder)


def open_store(
    url: str, *, option: str = "store", make_folder: bool = False
) -> RunStore:
    """Open the run store a URL names.

    Args:
        url: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``
            or ``postgresql://user@host:5432/dbname``.
        option: Where the URL came from, for messages (``store``,
            ``FISCUS_STORE``, ``--store``).
        make_folder: Create the file's folder when missing (the CLI's
            ``.fiscus/``); otherwise a missing folder is an error.

    Raises:
        ConfigurationError: The URL is not a store URL this version opens,
            or names PostgreSQL and psycopg is not installed.
        RunStoreError: SQLite cannot open the file, or PostgreSQL cannot be
            reached.
    """
    return store_opener(url, option=option, make_folder=make_folder)()


def _open_sqlite(path: str, make_folder: bool) -> RunStore:  # noqa: FBT001  (internal)
    """Open the SQLite file of a checked URL, making its folder if asked."""
    if make_folder:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return SQLiteRunStore(path)


def _postgres_store(url: str, option: str) -> Callable[[str], RunStore]:
    """Return ``PostgresRunStore``, imported now: psycopg is an extra.

    Raises:
        ConfigurationError: psycopg or psycopg_pool is not installed.
    """
    # Imported here, not at the top: psycopg is an extra, and loads in ~100 ms.
    try:
        from fiscus_dsl._runtime.postgres_store import PostgresRunStore
    except ModuleNotFoundError as exc:
        msg = (
            f"{option}={without_password(url)!r} names a PostgreSQL store, and "
            f"{exc.name!r} is not installed; install fiscus_dsl's postgres extra "
            "with pip install 'fiscus_dsl[postgres]'"
        )
        raise ConfigurationError(msg, option=option) from exc
    return PostgresRunStore


def without_password(url: str) -> str:
    """Return a URL with its password, if any, shown as ``***``."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    where, slash, path = rest.partition("/")
    user, at, host = where.rpartition("@")
    if at and ":" in user:
        user = user.partition(":")[0] + ":***"
    return f"{scheme}://{user}{at}{host}{slash}{path}"


def _sqlite_path(url: str, option: str) -> str:
    """Return the file a ``sqlite:///`` URL names.

    Raises:
        ConfigurationError: The URL names no file, or is no SQLite URL.
    """
    if url.startswith(SQLITE):
        path = url.removeprefix(SQLITE)
        if not path or path.endswith("/"):
            msg = (
                f"{option}={url!r} names no file; write {_FORMS}, the file "
                "created if missing"
            )
            raise ConfigurationError(msg, option=option)
        return path
    msg = (
        f"{option}={without_password(url)!r} is not a run store URL; write "
        f"{_FORMS}, or pass a RunStore such as SQLiteRunStore('runs.db')"
    )
    raise ConfigurationError(msg, option=option)


def environment_store_url() -> str | None:
    """Return the store URL ``FISCUS_STORE`` holds, or ``None`` if unset or empty."""
    return os.environ.get(ENVIRONMENT_VARIABLE, "").strip() or None
