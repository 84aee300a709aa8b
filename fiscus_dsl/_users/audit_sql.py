"""The ``fiscus_audit`` table, in a SQLite file and in a PostgreSQL database.

The tables behind ``SQLiteAuditLog`` and ``PostgresAuditLog`` (``audit``):
they store and read rows (``AuditRow``) and know nothing of events, so the
logs' module, which does, imports this one and not the other way round.
The table is created if missing, beside the run stores' tables when it
shares their database, whose tables and schema versions it never touches.
SQLite goes through the standard library's ``sqlite3`` (WAL, a busy
timeout), PostgreSQL through psycopg 3 and a ``psycopg_pool`` pool, both
imported only when a PostgreSQL table is opened, since they are an extra.
Every database error leaves as a ``RunStoreError`` naming the log (never
a password), what it was doing and the cause. Knows no HTTP.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, final

from fiscus_dsl._runtime.conninfo import closed_pool, opening_conninfo, shown_conninfo
from fiscus_dsl._runtime.sqlite_store import open_shared_connection
from fiscus_dsl.errors import RunStoreError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import psycopg
    from psycopg.rows import TupleRow
    from psycopg_pool import ConnectionPool

    Pool = ConnectionPool[psycopg.Connection[TupleRow]]

AuditRow = tuple[
    datetime, str, str, str | None, str | None, str, str | None, str | None
]
"""One row: at, user_id, action, connector, operation, detail, run_id, task_id."""

TABLE: Final = "fiscus_audit"
"""The table's name, in both databases."""

_COLUMNS: Final = "at, user_id, action, connector, operation, detail, run_id, task_id"
_SQLITE_TABLE: Final = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    user_id TEXT NOT NULL,
    action TEXT NOT NULL,
    connector TEXT,
    operation TEXT,
    detail TEXT NOT NULL,
    run_id TEXT,
    task_id TEXT
)"""
_POSTGRES_TABLE: Final = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    user_id text NOT NULL,
    action text NOT NULL,
    connector text,
    operation text,
    detail text NOT NULL,
    run_id text,
    task_id text
)"""
_INDEX: Final = f"CREATE INDEX IF NOT EXISTS {TABLE}_by_user ON {TABLE} (user_id, at)"
# The key of the advisory lock the table's creation takes ("audit" in ASCII),
# so processes opening a new database at once do not collide.
_CREATE_LOCK: Final = 0x6175646974
_OPEN: Final = "open the database"
_SQLITE_FIX: Final = (
    "check that the file and its folder are writable and the disk has room, "
    "or give the audit log another file"
)
_POSTGRES_FIX: Final = (
    "check that the server is up and reachable and that its user may create "
    f"and write the table {TABLE}"
)


@final
class SQLiteAuditTable:
    """The audit table in one SQLite file, through one connection and a lock.

    Args:
        path: The database file; created, with the table, if missing.
        timeout: Seconds to wait for a lock another connection holds.

    Raises:
        RunStoreError: SQLite cannot open the file or create the table.
    """

    def __init__(self, path: str, *, timeout: float) -> None:
        self._shown = f"SQLiteAuditLog({path!r})"
        self._lock = threading.Lock()
        self._connection = open_shared_connection(
            path,
            timeout=timeout,
            guarded=lambda: self._sqlite(_OPEN),
            setup=_create_sqlite_table,
        )

    @contextmanager
    def _sqlite(self, doing: str) -> Iterator[None]:
        """Turn a ``sqlite3.Error`` into a ``RunStoreError`` that says what failed."""
        try:
            yield
        except (sqlite3.Error, UnicodeError) as exc:
            msg = (
                f"Audit log {self._shown} could not {doing}: "
                f"{type(exc).__name__}: {exc}; {_SQLITE_FIX}"
            )
            raise RunStoreError(msg, store=self._shown) from exc

    def insert(self, row: AuditRow) -> None:
        """Store one row (``RunStoreError`` if SQLite fails)."""
        at, *rest = row
        with self._lock, self._sqlite("store an audit event"):
            self._connection.execute(
                f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (_sqlite_time(at), *rest),
            )

    def select(
        self, *, user_id: str | None, since: datetime | None, limit: int
    ) -> list[AuditRow]:
        """Return the newest ``limit`` matching rows, oldest first."""
        where, parameters = _where(user_id, since, "?")
        if since is not None:
            parameters[-1] = _sqlite_time(since)
        query = (
            f"SELECT {_COLUMNS} FROM {TABLE}{where} ORDER BY at DESC, id DESC LIMIT ?"
        )
        with self._lock, self._sqlite("read its audit events"):
            rows = self._connection.execute(query, (*parameters, limit)).fetchall()
        return [(datetime.fromisoformat(at), *rest) for at, *rest in reversed(rows)]

    def close(self) -> None:
        """Close the connection."""
        with self._lock, self._sqlite("close the file"):
            self._connection.close()


def _create_sqlite_table(connection: sqlite3.Connection) -> None:
    """Create the table and its index unless they exist (a read-only file has them)."""
    connection.execute("PRAGMA synchronous = NORMAL")
    found = connection.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        (TABLE,),
    ).fetchone()
    if found[0]:
        return
    # WAL, as the run stores use: readers never wait for the writer.
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(_SQLITE_TABLE)
        connection.execute(_INDEX)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _sqlite_time(moment: datetime) -> str:
    """Return a UTC time as text of one width, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _where(
    user_id: str | None, since: datetime | None, mark: str
) -> tuple[str, list[object]]:
    """Return the WHERE clause of a read and its parameters, in order."""
    tests: list[str] = []
    parameters: list[object] = []
    if user_id is not None:
        tests.append(f"user_id = {mark}")
        parameters.append(user_id)
    if since is not None:
        tests.append(f"at >= {mark}")
        parameters.append(since)
    return (f" WHERE {' AND '.join(tests)}" if tests else ""), parameters


@final
class PostgresAuditTable:
    """The audit table in a PostgreSQL database, through a connection pool.

    Made by ``open_postgres_table`` (a pool of its own) or
    ``share_postgres_pool`` (a run store's pool, which it never closes).

    Attributes:
        url: The database's URL, without its password.
    """

    def __init__(self, pool: Pool, *, owns_pool: bool) -> None:
        # A pool's conninfo is a str once made (a callable is resolved by then).
        self.url, self._password, _ = shown_conninfo(
            str(pool.conninfo), owner="PostgresAuditLog"
        )
        self._pool = pool
        self._owns_pool = owns_pool

    @contextmanager
    def _postgres(self, doing: str) -> Iterator[None]:
        """Turn a ``psycopg.Error`` into a ``RunStoreError``, without the password."""
        import psycopg  # an extra: loaded already, since the table has a pool

        try:
            yield
        except (psycopg.Error, UnicodeError) as exc:
            cause = " ".join(f"{type(exc).__name__}: {exc}".split())
            if self._password:
                cause = cause.replace(self._password, "***")
            shown = f"PostgresAuditLog({self.url!r})"
            msg = f"Audit log {shown} could not {doing}: {cause}; {_POSTGRES_FIX}"
            raise RunStoreError(msg, store=shown) from exc

    def open(self, conninfo: str, *, timeout: float) -> None:
        """Create the table through a first connection, then open the own pool.

        The first connection's failure says why (refused, unknown database);
        a pool that cannot connect only says it timed out.
        """
        import psycopg  # an extra: loaded already, since the table has a pool

        with self._postgres(_OPEN):
            with psycopg.connect(conninfo, autocommit=True) as connection:
                _create_postgres_table(connection)
            self._pool.open(wait=True, timeout=timeout)  # closes itself on timeout

    def create(self) -> None:
        """Create the table and its index through the pool, unless they exist."""
        with self._postgres(_OPEN), self._pool.connection() as connection:
            _create_postgres_table(connection)

    def insert(self, row: AuditRow) -> None:
        """Store one row (``RunStoreError`` if the server fails)."""
        # PostgreSQL text cannot hold NUL; the event is worth more than the byte.
        values = [v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in row]
        marks = ", ".join(["%s"] * len(values))
        with (
            self._postgres("store an audit event"),
            self._pool.connection() as connection,
        ):
            connection.execute(
                f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES ({marks})", values
            )

    def select(
        self, *, user_id: str | None, since: datetime | None, limit: int
    ) -> list[AuditRow]:
        """Return the newest ``limit`` matching rows, oldest first."""
        where, parameters = _where(user_id, since, "%s")
        query = (
            f"SELECT {_COLUMNS} FROM {TABLE}{where} ORDER BY at DESC, id DESC LIMIT %s"
        )
        with (
            self._postgres("read its audit events"),
            self._pool.connection() as connection,
        ):
            rows = connection.execute(query, (*parameters, limit)).fetchall()
        return [(at.astimezone(UTC), *rest) for at, *rest in reversed(rows)]

    def close(self) -> None:
        """Close the pool, if it is the table's own."""
        if self._owns_pool:
            with self._postgres("close its connections"):
                self._pool.close()


def _create_postgres_table(connection: psycopg.Connection[TupleRow]) -> None:
    """Create the table and its index unless they exist (a user may only write)."""
    # pg_tables, read with the statement's snapshot, as postgres_schema does.
    found = connection.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
        "AND tablename = %s",
        (TABLE,),
    ).fetchone()
    if found and found[0]:
        return
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_LOCK,))
        connection.execute(_POSTGRES_TABLE)
        connection.execute(_INDEX)


def open_postgres_table(
    conninfo: str, *, timeout: float, max_size: int
) -> PostgresAuditTable:
    """Open a pool of the table's own on ``conninfo``; create the table if missing.

    Args:
        conninfo: A libpq URL or ``key=value`` string.
        timeout: Seconds to wait for a connection, when opening and each call.
        max_size: Connections the pool opens at most.

    Raises:
        ConfigurationError: ``conninfo`` is not a PostgreSQL URL or string.
        RunStoreError: The server cannot be reached, or refuses the user.
        ModuleNotFoundError: psycopg or psycopg_pool is not installed.
    """
    _require_psycopg()
    url, _, given = shown_conninfo(conninfo, owner="PostgresAuditLog")
    pool: Pool = closed_pool(
        conninfo, name=f"fiscus audit {url}", timeout=timeout, max_size=max_size
    )
    table = PostgresAuditTable(pool, owns_pool=True)
    table.open(opening_conninfo(conninfo, given, timeout), timeout=timeout)
    return table


def share_postgres_pool(store: object) -> PostgresAuditTable:
    """Use a ``PostgresRunStore``'s pool: create the table if missing, never close it.

    Raises:
        RunStoreError: The table cannot be created (the store was closed, its
            user may not create tables).
    """
    # The store keeps its pool private. Sharing it keeps one pool per
    # database, and its conninfo holds the password that the store's .url
    # leaves out, so nothing else would connect as the store does.
    pool: Pool = store._pool  # type: ignore[attr-defined]  # noqa: SLF001  (see above)
    table = PostgresAuditTable(pool, owns_pool=False)
    table.create()
    return table


def _require_psycopg() -> None:
    """Import psycopg and its pool, saying how to install them if missing."""
    try:
        import psycopg  # noqa: F401  (an extra, loaded only for PostgreSQL)
        import psycopg_pool  # noqa: F401  (as above)
    except ModuleNotFoundError as exc:
        msg = (
            f"PostgresAuditLog needs psycopg 3 and psycopg_pool, and {exc.name!r} "
            "is not installed; install them with pip install 'fiscus_dsl[postgres]'"
        )
        raise ModuleNotFoundError(msg, name=exc.name) from exc
