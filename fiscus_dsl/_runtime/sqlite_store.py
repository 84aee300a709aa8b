"""``SQLiteRunStore``: a ``RunStore`` in one SQLite file.

The standard library's ``sqlite3``, WAL mode, ``synchronous=NORMAL``; the
schema is versioned with ``PRAGMA user_version`` and migrated one step at a
time, each step in a ``BEGIN IMMEDIATE`` transaction that reads the version
again, so two processes opening a new file at once do not collide.

Settled tasks are written a batch at a time, as one row of ``task_batches``
holding the batch as a JSON array of ``TaskRecord`` arrays (the ``tasks``
view shows each task's latest record as a row, for SQL readers): the runner's
writer thread takes the interpreter lock once per batch and not once per
row (a thread that takes it back per row waits out the event loop's switch
interval each time), and SQLite writes one row, not one per task. A run's
tasks are its batches read in order, a later record of a task replacing an
earlier one. The same statement checks the lease, so a run another
process took records nothing more. Every ``sqlite3.Error``
leaves as a ``RunStoreError`` naming the store, what it was doing and the
cause. Knows no HTTP.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, final

from pydantic_core import from_json

from fiscus_dsl._runtime.store import (
    INTERRUPTED,
    RUNNING,
    SCHEMA_VERSION,
    Lease,
    RunQuery,
    RunRecord,
    TaskRecord,
    batch_json,
    describe_batch,
    lost,
    owner_is_dead,
    read_time,
    records_by_id,
    shown_status,
)
from fiscus_dsl.errors import ResumeError, RunStoreError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from contextlib import AbstractContextManager

_MIGRATIONS: Final = (
    # 0 -> 1: the first tables.
    """
    CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        workflow TEXT NOT NULL,
        status TEXT NOT NULL,
        inputs TEXT,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        error_message TEXT
    );
    CREATE TABLE IF NOT EXISTS tasks (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        task_id TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        value TEXT,
        error_type TEXT,
        error_message TEXT,
        attempts INTEGER NOT NULL,
        started_at TEXT,
        ended_at TEXT,
        PRIMARY KEY (run_id, task_id)
    );
    """,
    # 1 -> 2: leases, where the workflow lives, tasks written in batches.
    """
    ALTER TABLE runs ADD COLUMN source TEXT;
    ALTER TABLE runs ADD COLUMN owner TEXT;
    ALTER TABLE runs ADD COLUMN lease_expires_at REAL;
    CREATE TABLE task_batches (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        task_count INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    INSERT INTO task_batches (run_id, task_count, body)
        SELECT run_id, count(*), json_group_array(json_array(task_id, name,
            status, value, error_type, error_message, attempts, started_at,
            ended_at, NULL, NULL))
        FROM (SELECT * FROM tasks ORDER BY run_id, rowid) GROUP BY run_id;
    DROP TABLE tasks;
    CREATE INDEX task_batches_by_run ON task_batches (run_id);
    CREATE INDEX runs_by_start ON runs (started_at);
    CREATE INDEX runs_by_workflow ON runs (workflow, started_at);
    CREATE VIEW tasks AS SELECT run_id, task_id, name, status, value,
        error_type, error_message, attempts, started_at, ended_at,
        inputs_digest, code_version FROM (
            SELECT batch.run_id, item.value ->> 0 AS task_id,
                item.value ->> 1 AS name, item.value ->> 2 AS status,
                item.value ->> 3 AS value, item.value ->> 4 AS error_type,
                item.value ->> 5 AS error_message, item.value ->> 6 AS attempts,
                item.value ->> 7 AS started_at, item.value ->> 8 AS ended_at,
                item.value ->> 9 AS inputs_digest,
                item.value ->> 10 AS code_version,
                row_number() OVER (PARTITION BY batch.run_id, item.value ->> 0
                    ORDER BY batch.rowid DESC, item.key DESC) AS newest
            FROM task_batches AS batch, json_each(batch.body) AS item
        ) WHERE newest = 1;
    """,
    # 2 -> 3: a finished run's task count, each task once.
    """
    ALTER TABLE runs ADD COLUMN task_count INTEGER;
    """,
    # 3 -> 4: the reason a task was skipped or not run, in the view too.
    """
    DROP VIEW tasks;
    CREATE VIEW tasks AS SELECT run_id, task_id, name, status, value,
        error_type, error_message, attempts, started_at, ended_at,
        inputs_digest, code_version, reason FROM (
            SELECT batch.run_id, item.value ->> 0 AS task_id,
                item.value ->> 1 AS name, item.value ->> 2 AS status,
                item.value ->> 3 AS value, item.value ->> 4 AS error_type,
                item.value ->> 5 AS error_message, item.value ->> 6 AS attempts,
                item.value ->> 7 AS started_at, item.value ->> 8 AS ended_at,
                item.value ->> 9 AS inputs_digest,
                item.value ->> 10 AS code_version, item.value ->> 11 AS reason,
                row_number() OVER (PARTITION BY batch.run_id, item.value ->> 0
                    ORDER BY batch.rowid DESC, item.key DESC) AS newest
            FROM task_batches AS batch, json_each(batch.body) AS item
        ) WHERE newest = 1;
    """,
)
assert len(_MIGRATIONS) == SCHEMA_VERSION

_INSERT_BATCH: Final = (
    "INSERT INTO task_batches (run_id, task_count, body) SELECT ?1, ?2, ?3 "
    f"WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = ?1 AND owner = ?4 AND "
    f"status = '{RUNNING}')"
)
# The status a reader sees: a running run whose lease lapsed is interrupted.
_SHOWN_STATUS: Final = (
    f"CASE WHEN status = '{RUNNING}' AND (lease_expires_at IS NULL OR "
    f"lease_expires_at < :now) THEN '{INTERRUPTED}' ELSE status END"
)
_RUN_SELECT: Final = (
    f"SELECT run_id, workflow, {_SHOWN_STATUS} AS shown, inputs, started_at, "
    "ended_at, error_message, source, owner, lease_expires_at, "
    "coalesce(task_count, (SELECT coalesce(sum(task_count), 0) FROM "
    "task_batches WHERE task_batches.run_id = runs.run_id)) FROM runs"
)
_LIVE: Final = (
    f"status = '{RUNNING}' AND lease_expires_at IS NOT NULL AND "
    "lease_expires_at >= :now"
)


@final
class SQLiteRunStore:
    """A ``RunStore`` in one SQLite file: ``Runner(store="sqlite:///runs.db")``.

    The file holds each run's inputs and every settled task's value, as
    JSON: keep it where you would keep those values. Secrets are not
    stored (a value or input that holds one is not stored at all, and the
    task re-runs on resume). Several processes may share the file; each
    run is held by one of them at a time (its lease).

    Args:
        path: The database file; created, with its tables, if missing.
        lease_seconds: How long a run's lease lasts unless renewed: a run
            whose process died shows as ``interrupted`` that long after.

    Raises:
        ResumeError: The file was written by a newer fiscus_dsl.
        RunStoreError: SQLite cannot open the file (a missing folder, a
            file that is not a database); every method raises it too when
            SQLite fails (a read-only file, a full disk).

    Examples:
        >>> import tempfile, pathlib
        >>> from fiscus_dsl import Runner, SQLiteRunStore, task, workflow
        >>> @task
        ... def double(x: int) -> int:
        ...     return 2 * x
        >>> @workflow
        ... def flow(x: int) -> int:
        ...     return double(x)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with SQLiteRunStore(pathlib.Path(folder) / "runs.sqlite3") as store:
        ...         result = Runner(store=store).run(flow, x=21)
        ...         store.load_run(result.run_id).tasks["double"].value
        42
    """

    def __init__(
        self, path: str | os.PathLike[str], *, lease_seconds: float = 30.0
    ) -> None:
        self.path = os.fspath(path)
        self.lease_seconds = lease_seconds
        self._lock = threading.Lock()
        # One connection, shared by the runs' writer threads; the lock
        # serializes its use.
        self._connection = open_shared_connection(
            self.path,
            guarded=lambda: self._sqlite("open the file"),
            setup=lambda connection: _prepare(connection, self.path),
        )

    @contextmanager
    def _sqlite(
        self, doing: str, *, run_id: str | None = None, task_id: str | None = None
    ) -> Iterator[None]:
        """Turn a ``sqlite3.Error`` into a ``RunStoreError`` that says what failed."""
        try:
            yield
        except sqlite3.Error as exc:
            msg = (
                f"Run store {self!r} could not {doing}: {type(exc).__name__}: "
                f"{exc}; check that the file and its folder are writable and "
                "the disk has room, or give the runner another file"
            )
            raise RunStoreError(
                msg, store=repr(self), run_id=run_id, task_id=task_id
            ) from exc

    @contextmanager
    def _transaction(self, doing: str, run_id: str) -> Iterator[sqlite3.Connection]:
        """Hold the lock and one ``BEGIN IMMEDIATE`` transaction; roll back on error."""
        connection = self._connection
        with self._lock, self._sqlite(doing, run_id=run_id):
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def __enter__(self) -> SQLiteRunStore:
        """Return the store; ``with`` closes it at the end."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the store."""
        self.close()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock, self._sqlite("close the file"):
            self._connection.close()

    def start_run(self, run: RunRecord, lease: Lease) -> None:
        """Record that a run started and take its lease (``RunLocked`` if held)."""
        now = time.time()
        doing = f"record the start of run {run.run_id!r}"
        with self._transaction(doing, run.run_id) as connection:
            cursor = connection.execute(
                "INSERT INTO runs (run_id, workflow, status, inputs, started_at, "
                "source, owner, lease_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, "
                "ended_at = NULL, error_message = NULL, task_count = NULL, "
                "owner = excluded.owner, "
                "lease_expires_at = excluded.lease_expires_at, "
                "source = coalesce(excluded.source, runs.source) "
                f"WHERE runs.status <> '{RUNNING}' OR runs.lease_expires_at IS NULL "
                "OR runs.lease_expires_at < ? OR runs.owner = excluded.owner",
                (
                    run.run_id,
                    run.workflow,
                    RUNNING,
                    run.inputs_json,
                    _utc(run.started_at),
                    run.source,
                    lease.owner,
                    now + lease.seconds,
                    now,
                ),
            )
            if cursor.rowcount == 0 and not self._take_from_dead(
                connection, run, lease, now
            ):
                raise self._locked(connection, lease.run_id, now)

    def _take_from_dead(
        self, connection: sqlite3.Connection, run: RunRecord, lease: Lease, now: float
    ) -> bool:
        """Take the lease of a run whose owner was a process of this host that died."""
        (holder,) = connection.execute(
            "SELECT owner FROM runs WHERE run_id = ?", (run.run_id,)
        ).fetchone()
        if not owner_is_dead(holder):
            return False
        cursor = connection.execute(
            "UPDATE runs SET status = ?, ended_at = NULL, error_message = NULL, "
            "task_count = NULL, "
            "owner = ?, lease_expires_at = ?, source = coalesce(?, source) "
            "WHERE run_id = ? AND owner = ?",
            (RUNNING, lease.owner, now + lease.seconds, run.source, run.run_id, holder),
        )
        return cursor.rowcount == 1

    def renew_lease(self, lease: Lease) -> None:
        """Push the lease's end ``lease.seconds`` from now (``RunLocked`` if lost)."""
        now = time.time()
        doing = f"renew the lease of run {lease.run_id!r}"
        with self._transaction(doing, lease.run_id) as connection:
            cursor = connection.execute(
                "UPDATE runs SET lease_expires_at = ? WHERE run_id = ? AND "
                f"owner = ? AND status = '{RUNNING}'",
                (now + lease.seconds, lease.run_id, lease.owner),
            )
            if cursor.rowcount == 0:
                raise self._locked(connection, lease.run_id, now)

    def record_tasks(self, lease: Lease, tasks: Sequence[TaskRecord]) -> None:
        """Record tasks, one statement (``RunLocked`` if the run was taken)."""
        if not tasks:
            return
        run_id = lease.run_id
        doing, task_id = describe_batch(run_id, tasks)
        with self._lock, self._sqlite(doing, run_id=run_id, task_id=task_id):
            cursor = self._connection.execute(
                _INSERT_BATCH, (run_id, len(tasks), batch_json(tasks), lease.owner)
            )
            if cursor.rowcount == 0:
                raise self._locked(self._connection, run_id, time.time())

    def finish_run(
        self,
        lease: Lease,
        *,
        status: str,
        ended_at: datetime,
        error_message: str | None,
        tasks: Sequence[TaskRecord],
        task_count: int | None = None,
    ) -> None:
        """Record the end and the last tasks in one transaction; release the lease."""
        run_id = lease.run_id
        doing = f"record the end of run {run_id!r}"
        with self._transaction(doing, run_id) as connection:
            if tasks:
                connection.execute(
                    _INSERT_BATCH,
                    (run_id, len(tasks), batch_json(tasks), lease.owner),
                )
            cursor = connection.execute(
                "UPDATE runs SET status = ?, ended_at = ?, error_message = ?, "
                "task_count = ?, lease_expires_at = NULL WHERE run_id = ? AND "
                f"owner = ? AND status = '{RUNNING}'",
                (
                    status,
                    _utc(ended_at),
                    error_message,
                    task_count,
                    run_id,
                    lease.owner,
                ),
            )
            if cursor.rowcount == 0:
                raise self._locked(connection, run_id, time.time())

    def _locked(
        self, connection: sqlite3.Connection, run_id: str, now: float
    ) -> Exception:
        row = connection.execute(
            "SELECT owner, lease_expires_at FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            return lost(self, run_id, None)
        owner, expires = row
        return lost(self, run_id, (owner, None if expires is None else expires - now))

    def load_run(self, run_id: str) -> RunRecord | None:
        """Return a run with its tasks, or ``None`` if there is no such run."""
        with self._lock, self._sqlite(f"read run {run_id!r}", run_id=run_id):
            row = self._connection.execute(
                f"{_RUN_SELECT} WHERE run_id = :run_id",
                {"now": time.time(), "run_id": run_id},
            ).fetchone()
            if row is None:
                return None
            bodies = self._connection.execute(
                "SELECT body FROM task_batches WHERE run_id = ? ORDER BY rowid",
                (run_id,),
            ).fetchall()
        tasks = records_by_id(from_json(body) for (body,) in bodies)
        return _run_record(row, tasks)

    def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Return the recorded runs, newest first, without their tasks.

        Args:
            workflow: Only the runs of the workflow of this name.
            status: Only the runs of this status (``interrupted`` included).
            limit: At most this many.
        """
        wanted = RunQuery.of(
            lambda name: f":{name}", workflow=workflow, status=status, limit=limit
        )
        query = f"SELECT * FROM ({_RUN_SELECT}) WHERE 1{wanted.tail}"
        with self._lock, self._sqlite("list its runs"):
            rows = self._connection.execute(
                query, {"now": time.time(), **wanted.parameters}
            ).fetchall()
        return wanted.finish([_run_record(row, {}) for row in rows])

    def delete_runs(self, *, started_before: datetime) -> int:
        """Delete the runs started before a time, but not one that is running.

        Returns:
            How many runs were deleted.
        """
        parameters = {"now": time.time(), "before": _utc(started_before)}
        old = f"SELECT run_id FROM runs WHERE started_at < :before AND NOT ({_LIVE})"
        with self._transaction("delete old runs", "") as connection:
            connection.execute(
                f"DELETE FROM task_batches WHERE run_id IN ({old})", parameters
            )
            cursor = connection.execute(
                f"DELETE FROM runs WHERE run_id IN ({old})", parameters
            )
            return cursor.rowcount

    def __repr__(self) -> str:
        return f"SQLiteRunStore({self.path!r})"


def open_shared_connection(
    path: str,
    *,
    guarded: Callable[[], AbstractContextManager[object]],
    setup: Callable[[sqlite3.Connection], None],
    timeout: float = 5.0,
) -> sqlite3.Connection:
    """Open the one connection a SQLite-backed store shares between threads.

    The caller serializes its use with a lock. ``guarded()`` wraps opening
    and ``setup`` (pragmas, tables), turning a SQLite error into the
    store's own; a connection whose setup fails is closed.
    """
    with guarded():
        connection = sqlite3.connect(
            path, timeout=timeout, check_same_thread=False, isolation_level=None
        )
    try:
        with guarded():
            setup(connection)
    except BaseException:
        connection.close()
        raise
    return connection


def _prepare(connection: sqlite3.Connection, path: str) -> None:
    """Set the journal mode and migrate the tables, or refuse a newer schema."""
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    while True:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            msg = (
                f"Run store {path!r} has schema version {version}, newer than "
                f"the {SCHEMA_VERSION} this fiscus_dsl reads; upgrade "
                "fiscus_dsl, or use another file"
            )
            raise ResumeError(msg, run_id=None)
        if version == SCHEMA_VERSION:
            return
        _migrate(connection, version)


def _migrate(connection: sqlite3.Connection, version: int) -> None:
    """Take the file from ``version`` to the next, unless another process just did."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        (now,) = connection.execute("PRAGMA user_version").fetchone()
        if now == version:
            for statement in _MIGRATIONS[version].split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {version + 1}")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _run_record(row: tuple[object, ...], tasks: dict[str, TaskRecord]) -> RunRecord:
    (run_id, workflow, status, inputs, started, ended, message, source, owner,
     expires, count) = row  # fmt: skip
    return RunRecord(
        run_id=str(run_id),
        workflow=str(workflow),
        status=shown_status(str(status), owner),  # type: ignore[arg-type]  # a TEXT column
        inputs_json=inputs,  # type: ignore[arg-type]  # a TEXT column: str or NULL
        started_at=datetime.fromisoformat(str(started)),
        ended_at=read_time(ended),
        error_message=message,  # type: ignore[arg-type]  # as above
        source=source,  # type: ignore[arg-type]  # as above
        owner=owner,  # type: ignore[arg-type]  # as above
        lease_expires_at=None
        if expires is None
        else datetime.fromtimestamp(float(expires), UTC),  # type: ignore[arg-type]  # a REAL column
        task_count=int(count),  # type: ignore[call-overload]  # count(*)
        tasks=tasks,
    )
