"""Credential stores in SQLite and PostgreSQL, encrypted at rest, and opened by URL.

Both keep one row per (user id, connector) in ``fiscus_credentials``,
created if missing (beside the run store's tables, if they share the
database): user id, connector name, version and the time of the last
write are plain columns; the rest, secrets included, is one Fernet token
(``sealed``). The sealing, the statements and the compare-and-swap are
``SealedStore``'s; here are the connections: SQLite in WAL mode, one
connection whose use a lock serializes (as ``SQLiteRunStore``), and
PostgreSQL through a psycopg 3 pool (as ``PostgresRunStore``), psycopg
imported only when such a store is made, since it is an extra. Every
database error leaves as a ``CredentialStoreError`` naming the store
(never its password, a key or a credential). Knows no HTTP.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, final

from fiscus_dsl._runtime.conninfo import closed_pool, opening_conninfo, shown_conninfo
from fiscus_dsl._runtime.sqlite_store import open_shared_connection
from fiscus_dsl._runtime.store_url import SQLITE, without_password
from fiscus_dsl._users.credentials import CredentialStore, MemoryCredentialStore
from fiscus_dsl._users.sealed import (
    CredentialCipher,
    CredentialKeys,
    Rows,
    SealedStore,
    missing_key,
)
from fiscus_dsl.errors import ConfigurationError, CredentialStoreError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from psycopg_pool import ConnectionPool

_POSTGRES: Final = ("postgresql://", "postgres://")
_MEMORY: Final = "memory:"
_FORMS: Final = (
    "'memory:', 'sqlite:///credentials.db' (relative), "
    "'sqlite:////var/lib/credentials.db', a file path, or "
    "'postgresql://user@host:5432/dbname'"
)
# The key of the advisory lock that creates the table ("fiscusCR" in ASCII).
_TABLE_LOCK: Final = 0x6669736375734352

_SQLITE_TABLE: Final = """
CREATE TABLE IF NOT EXISTS fiscus_credentials (
    user_id TEXT NOT NULL,
    connector TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (user_id, connector)
)
"""
_POSTGRES_TABLE: Final = """
CREATE TABLE IF NOT EXISTS fiscus_credentials (
    user_id text NOT NULL,
    connector text NOT NULL,
    version bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    sealed bytea NOT NULL,
    PRIMARY KEY (user_id, connector)
)
"""


@final
class SQLiteCredentialStore(SealedStore):
    """A ``CredentialStore`` in one SQLite file, each credential encrypted.

    Several threads and processes may share the file (WAL mode; a writer
    waits up to ``timeout`` for another). It may be the run store's file:
    the table is ``fiscus_credentials``.

    Args:
        path: The database file; created, with its table, if missing.
        key: A Fernet key (``cryptography.fernet.Fernet.generate_key()``)
            as bytes, str or ``Secret``, or a list of keys: the first
            encrypts, every one decrypts (put a new key first to rotate,
            then call ``rotate()``).
        timeout: Seconds a write waits for another process's write.

    Raises:
        CredentialStoreError: No key, a key that is not a Fernet key, or a
            file SQLite cannot open (a missing folder, not a database);
            every method raises it too when SQLite fails, or when the key
            does not decrypt a stored credential.
        ConfigurationError: ``cryptography`` is not installed.

    Examples:
        >>> from fiscus_dsl import SQLiteCredentialStore, StoredCredential
        >>> import tempfile, pathlib
        >>> from cryptography.fernet import Fernet
        >>> from fiscus_dsl import Secret
        >>> key = Fernet.generate_key()
        >>> api_key = StoredCredential(kind="api_key", api_key=Secret("sk_live_42"))
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = pathlib.Path(folder) / "credentials.db"
        ...     with SQLiteCredentialStore(path, key=key) as store:
        ...         stored = store.put("user-1", "crm", api_key)
        ...     with SQLiteCredentialStore(path, key=key) as store:
        ...         store.get("user-1", "crm").api_key.reveal()
        'sk_live_42'
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        key: CredentialKeys,
        timeout: float = 10.0,
    ) -> None:
        self.path = os.fspath(path)
        self._cipher = CredentialCipher(key, shown=repr(self), where=self.path)
        # One connection, its use serialized by the lock, as SQLiteRunStore's.
        self._lock = threading.Lock()
        self._connection = open_shared_connection(
            self.path,
            timeout=timeout,
            guarded=lambda: self._sqlite("open the file"),
            setup=_create_sqlite_table,
        )

    @contextmanager
    def _sqlite(self, doing: str) -> Iterator[None]:
        """Turn a ``sqlite3.Error`` into a ``CredentialStoreError``: what failed."""
        try:
            yield
        except sqlite3.Error as exc:
            msg = (
                f"Credential store {self!r} could not {doing}: "
                f"{type(exc).__name__}: {exc}; check that the file and its folder "
                "are writable and the disk has room, or give another file"
            )
            raise CredentialStoreError(msg, store=self.path) from exc

    def _execute(self, doing: str, statement: str, values: dict[str, object]) -> Rows:
        with self._lock, self._sqlite(doing):
            cursor = self._connection.execute(statement, values)
            rows = cursor.fetchall()
            return cursor.rowcount, rows

    def _now(self) -> object:
        return datetime.now(UTC).isoformat()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock, self._sqlite("close the file"):
            self._connection.close()

    def __repr__(self) -> str:
        return f"SQLiteCredentialStore({self.path!r})"


@final
class PostgresCredentialStore(SealedStore):
    """A ``CredentialStore`` in a PostgreSQL database, each credential encrypted.

    Several processes, on several machines, may share the database; it
    may be the run store's: the table is ``fiscus_credentials``. Needs the
    extras: ``pip install 'fiscus_dsl[postgres,credentials]'``.

    Args:
        url: A libpq URL (``postgresql://user@host:5432/dbname``) or
            ``key=value`` string. A password may be in it, or in
            ``PGPASSWORD`` or ``~/.pgpass``; it never shows in a message.
        key: A Fernet key, or a list of keys, as for ``SQLiteCredentialStore``.
        timeout: Seconds to wait for a connection before giving up.
        max_size: Connections the pool opens at most.

    Raises:
        CredentialStoreError: No key, a key that is not a Fernet key, or a
            server that cannot be reached or refuses the user; every method
            raises it too when the server fails, or when the key does not
            decrypt a stored credential.
        ConfigurationError: ``url`` is not a PostgreSQL URL, or psycopg,
            psycopg_pool or cryptography is not installed.

    Examples:
        >>> from fiscus_dsl import PostgresCredentialStore
        >>> from fiscus_dsl import Secret
        >>> def user_credentials(url: str) -> PostgresCredentialStore:
        ...     key = Secret.from_env("FISCUS_CREDENTIALS_KEY")
        ...     return PostgresCredentialStore(url, key=key)
    """

    def __init__(
        self, url: str, *, key: CredentialKeys, timeout: float = 10.0, max_size: int = 4
    ) -> None:
        try:
            import psycopg
            import psycopg_pool  # noqa: F401  # checked here, used by closed_pool
        except ModuleNotFoundError as exc:
            msg = (
                f"PostgresCredentialStore needs psycopg 3 and psycopg_pool, and "
                f"{exc.name!r} is not installed; install them with "
                "pip install 'fiscus_dsl[postgres]'"
            )
            raise ConfigurationError(msg, option="url") from exc
        self._error: type[Exception] = psycopg.Error
        self.url, self._password, given = shown_conninfo(
            url, owner="PostgresCredentialStore", option="url"
        )
        self._cipher = CredentialCipher(key, shown=repr(self), where=self.url)
        with self._postgres("open the database"):
            opening = opening_conninfo(url, given, timeout)
            with (
                psycopg.connect(opening, autocommit=True) as connection,
                connection.transaction(),
            ):
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (_TABLE_LOCK,))
                connection.execute(_POSTGRES_TABLE)
            pool: ConnectionPool[Any] = closed_pool(
                url,
                name=f"fiscus credentials {self.url}",
                timeout=timeout,
                max_size=max_size,
            )
            pool.open(wait=True, timeout=timeout)  # closes itself if it times out
        self._pool = pool

    @contextmanager
    def _postgres(self, doing: str) -> Iterator[None]:
        """Turn a ``psycopg.Error`` into a ``CredentialStoreError``: what failed."""
        try:
            yield
        except self._error as exc:
            cause = " ".join(f"{type(exc).__name__}: {exc}".split())
            if self._password:
                cause = cause.replace(self._password, "***")
            msg = (
                f"Credential store {self!r} could not {doing}: {cause}; check that "
                "the server is up and reachable and that its user may write the "
                "database"
            )
            raise CredentialStoreError(msg, store=self.url) from exc

    def _execute(self, doing: str, statement: str, values: dict[str, object]) -> Rows:
        with self._postgres(doing), self._pool.connection() as connection:
            cursor = connection.execute(_pyformat(statement), values)
            rows = [] if cursor.description is None else cursor.fetchall()
            return cursor.rowcount, rows

    def _now(self) -> object:
        return datetime.now(UTC)

    def close(self) -> None:
        """Close the pool's connections."""
        with self._postgres("close its connections"):
            self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresCredentialStore({self.url!r})"


@functools.cache
def _pyformat(statement: str) -> str:
    """Return a statement with psycopg's placeholders for ``:name`` ones."""
    return re.sub(r":(\w+)", r"%(\1)s", statement)


def _create_sqlite_table(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute(_SQLITE_TABLE)


def open_credential_store(
    url: str, *, key: CredentialKeys | None = None
) -> CredentialStore:
    """Open the credential store a URL names.

    Args:
        url: ``memory:`` (a ``MemoryCredentialStore``; ``key`` is not
            needed), ``sqlite:///relative/path.db``,
            ``sqlite:////absolute/path.db`` or a plain file path (a
            ``SQLiteCredentialStore``), or ``postgresql://user@host/dbname``
            (a ``PostgresCredentialStore``).
        key: The Fernet key, or keys, of a SQLite or PostgreSQL store.

    Raises:
        ConfigurationError: The URL is no credential store URL.
        CredentialStoreError: A SQLite or PostgreSQL URL without a key, or
            a store that cannot be opened.

    Examples:
        >>> from fiscus_dsl import open_credential_store
        >>> open_credential_store("memory:")
        MemoryCredentialStore()
    """
    if url == _MEMORY:
        return MemoryCredentialStore()
    if url.startswith(_POSTGRES):
        if key is None:
            shown = "PostgresCredentialStore"
            raise missing_key(shown, without_password(url))
        return PostgresCredentialStore(url, key=key)
    path = url.removeprefix(SQLITE)
    if not path or path.endswith("/") or "://" in path or path.startswith("sqlite:"):
        msg = (
            f"open_credential_store({without_password(url)!r}) names no "
            f"credential store; write {_FORMS}"
        )
        raise ConfigurationError(msg, option="url")
    if key is None:
        shown = f"SQLiteCredentialStore({path!r})"
        raise missing_key(shown, path)
    return SQLiteCredentialStore(path, key=key)
