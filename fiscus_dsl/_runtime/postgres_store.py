"""``PostgresRunStore``: a ``RunStore`` in a PostgreSQL database, shared by machines.

psycopg 3 with a sync ``psycopg_pool.ConnectionPool``. Sync is right here:
the runner calls a store only from its writer threads (and ``load_run``
before a resume), never from the event loop, so a blocking call costs the
loop nothing, and an async pool would need a loop of its own in each
writer thread. The pool checks a connection before lending it, so a
server restarted between two calls costs no failed write.

The tables are SQLiteRunStore's (``runs``, ``task_batches``, the ``tasks``
view), and so are the rules: a batch of settled tasks is one row holding a
JSON array of ``TaskRecord`` arrays, written only while the run's owner
holds its lease; a run's tasks are its batches in ``id`` order (one owner
writes a run's batches one at a time, so their ids follow commit order), a
later record of a task replacing an earlier one. ``body`` is ``json``, not
``jsonb``: the server checks it is JSON but keeps the text as written, with
no conversion on each group commit; the ``tasks`` view reads it as rows.

Leases use the server's clock (``now()``), so machines whose clocks
disagree still agree on who holds a run. The tables and their migrations
are in ``postgres_schema``, run by a first connection of the store's own
before the pool opens. Every ``psycopg.Error``
leaves as a ``RunStoreError`` naming the store (never its password), what
it was doing and the cause. Knows no HTTP; imported only when used, since
psycopg is an extra (``pip install 'fiscus_dsl[postgres]'``).
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, final

try:
    import psycopg
    import psycopg_pool  # noqa: F401  # checked here, used by closed_pool
except ModuleNotFoundError as exc:  # the postgres extra is not installed
    _msg = (
        f"PostgresRunStore needs psycopg 3 and psycopg_pool, and {exc.name!r} "
        "is not installed; install them with pip install 'fiscus_dsl[postgres]'"
    )
    raise ModuleNotFoundError(_msg, name=exc.name) from exc

from fiscus_dsl._runtime.conninfo import closed_pool, opening_conninfo, shown_conninfo
from fiscus_dsl._runtime.postgres_schema import prepare
from fiscus_dsl._runtime.store import (
    INTERRUPTED,
    RUNNING,
    Lease,
    RunQuery,
    RunRecord,
    TaskRecord,
    batch_json,
    describe_batch,
    lost,
    owner_is_dead,
    records_by_id,
    shown_status,
)
from fiscus_dsl.errors import RunStoreError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from psycopg_pool import ConnectionPool

    Connection = psycopg.Connection[tuple[Any, ...]]

_OPEN: Final = "open the database"

_LEASE_END: Final = "now() + make_interval(secs => %(seconds)s)"
_START: Final = (
    "INSERT INTO runs (run_id, workflow, status, inputs, started_at, source, "
    "owner, lease_expires_at) VALUES (%(run_id)s, %(workflow)s, "
    f"'{RUNNING}', %(inputs)s, %(started_at)s, %(source)s, %(owner)s, "
    f"{_LEASE_END}) ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, "
    "ended_at = NULL, task_count = NULL, error_message = NULL, "
    "owner = excluded.owner, "
    "lease_expires_at = excluded.lease_expires_at, "
    "source = coalesce(excluded.source, runs.source) "
    f"WHERE runs.status <> '{RUNNING}' OR runs.lease_expires_at IS NULL "
    "OR runs.lease_expires_at < now() OR runs.owner = excluded.owner"
)
_TAKE_FROM_DEAD: Final = (
    f"UPDATE runs SET status = '{RUNNING}', ended_at = NULL, task_count = NULL, "
    "error_message = "
    f"NULL, owner = %(owner)s, lease_expires_at = {_LEASE_END}, source = "
    "coalesce(%(source)s, source) WHERE run_id = %(run_id)s AND owner = %(holder)s"
)
# FOR SHARE: a takeover (an UPDATE of the row) waits for this batch's commit,
# or this batch sees the new owner and inserts nothing.
_INSERT_BATCH: Final = (
    "WITH held AS (SELECT run_id FROM runs WHERE run_id = %(run_id)s AND "
    f"owner = %(owner)s AND status = '{RUNNING}' FOR SHARE) "
    "INSERT INTO task_batches (run_id, task_count, body) "
    "SELECT run_id, %(count)s::integer, %(body)s::json FROM held"
)
# Within finish_run, whose UPDATE checked the lease and holds the row.
_INSERT_LAST_BATCH: Final = (
    "INSERT INTO task_batches (run_id, task_count, body) "
    "VALUES (%(run_id)s, %(count)s, %(body)s::json)"
)
# The status a reader sees: a running run whose lease lapsed is interrupted.
_RUN_SELECT: Final = (
    f"SELECT run_id, workflow, CASE WHEN status = '{RUNNING}' AND "
    "(lease_expires_at IS NULL OR lease_expires_at < now()) THEN "
    f"'{INTERRUPTED}' ELSE status END AS shown, inputs, started_at, ended_at, "
    "error_message, source, owner, lease_expires_at, coalesce(task_count, "
    "(SELECT coalesce(sum(task_count), 0) FROM task_batches WHERE "
    "task_batches.run_id = runs.run_id)) AS task_count FROM runs"
)


@final
class PostgresRunStore:
    """A ``RunStore`` in a PostgreSQL database: ``Runner(store="postgresql://...")``.

    Several processes, on several machines, may share the database; each
    run is held by one of them at a time (its lease, timed by the server's
    clock). The tables hold each run's inputs and every settled task's
    value, as JSON: keep the database where you would keep those values.
    Needs the extra: ``pip install 'fiscus_dsl[postgres]'``.

    Args:
        conninfo: A libpq URL (``postgresql://user@host:5432/dbname``) or
            ``key=value`` string. A password may be in it, or in
            ``PGPASSWORD`` or ``~/.pgpass``; it never shows in a message.
        lease_seconds: How long a run's lease lasts unless renewed: a run
            whose process died shows as ``interrupted`` that long after
            (at once when that process was on this host).
        min_size: Connections the pool keeps open.
        max_size: Connections the pool opens at most (one per run writing
            at the same moment).
        timeout: Seconds to wait for a connection, when opening and for
            each call, before giving up with ``RunStoreError``.

    Raises:
        ConfigurationError: ``conninfo`` is not a PostgreSQL URL or
            connection string.
        ResumeError: The database was written by a newer fiscus_dsl.
        RunStoreError: The server cannot be reached, or refuses the user;
            every method raises it too when the server fails.

    Examples:
        >>> from fiscus_dsl import PostgresRunStore, Runner
        >>> def recording_runner(url: str) -> Runner:
        ...     return Runner(store=PostgresRunStore(url, max_size=8))
    """

    def __init__(
        self,
        conninfo: str,
        *,
        lease_seconds: float = 30.0,
        min_size: int = 1,
        max_size: int = 4,
        timeout: float = 10.0,
    ) -> None:
        self.url, self._password, given = shown_conninfo(
            conninfo, owner="PostgresRunStore"
        )
        self.lease_seconds = lease_seconds
        self.timeout = timeout
        # A first connection of its own migrates: its failure says why (a
        # pool that cannot connect only says it timed out).
        opening = opening_conninfo(conninfo, given, timeout)
        with self._postgres(_OPEN):
            with psycopg.connect(opening, autocommit=True) as connection:
                prepare(connection, repr(self))
            pool: ConnectionPool[Connection] = closed_pool(
                conninfo,
                name=f"fiscus {self.url}",
                timeout=timeout,
                max_size=max_size,
                min_size=min_size,
            )
            pool.open(wait=True, timeout=timeout)  # closes itself if it times out
        self._pool = pool

    @contextmanager
    def _postgres(
        self, doing: str, *, run_id: str | None = None, task_id: str | None = None
    ) -> Iterator[None]:
        """Turn a ``psycopg.Error`` into a ``RunStoreError`` that says what failed."""
        try:
            yield
        except psycopg.Error as exc:
            cause = " ".join(f"{type(exc).__name__}: {exc}".split())
            if self._password:
                cause = cause.replace(self._password, "***")
            then = "" if doing == _OPEN else ", then resume the run"
            msg = (
                f"Run store {self!r} could not {doing}: {cause}; check that the "
                "server is up and reachable and that its user may write the "
                f"database{then}"
            )
            raise RunStoreError(
                msg, store=repr(self), run_id=run_id, task_id=task_id
            ) from exc

    @contextmanager
    def _transaction(
        self, doing: str, *, run_id: str | None = None, task_id: str | None = None
    ) -> Iterator[Connection]:
        """Lend a pooled connection for one transaction: committed, or rolled back."""
        with (
            self._postgres(doing, run_id=run_id, task_id=task_id),
            self._pool.connection() as connection,
        ):
            yield connection

    def __enter__(self) -> PostgresRunStore:
        """Return the store; ``with`` closes it at the end."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the store."""
        self.close()

    def close(self) -> None:
        """Close the pool's connections."""
        with self._postgres("close its connections"):
            self._pool.close()

    def start_run(self, run: RunRecord, lease: Lease) -> None:
        """Record that a run started and take its lease (``RunLocked`` if held)."""
        values = {
            "run_id": run.run_id,
            "workflow": run.workflow,
            "inputs": run.inputs_json,
            "started_at": run.started_at,
            "source": run.source,
            "owner": lease.owner,
            "seconds": lease.seconds,
        }
        doing = f"record the start of run {run.run_id!r}"
        with self._transaction(doing, run_id=run.run_id) as connection:
            taken = connection.execute(_START, values).rowcount == 1
            if not taken and not self._take_from_dead(connection, values):
                raise self._locked(connection, run.run_id)

    def _take_from_dead(self, connection: Connection, values: dict[str, Any]) -> bool:
        """Take the lease of a run whose owner was a process of this host that died."""
        row = connection.execute(
            "SELECT owner FROM runs WHERE run_id = %(run_id)s", values
        ).fetchone()
        holder = None if row is None else row[0]
        if not owner_is_dead(holder):
            return False
        cursor = connection.execute(_TAKE_FROM_DEAD, {**values, "holder": holder})
        return cursor.rowcount == 1

    def renew_lease(self, lease: Lease) -> None:
        """Push the lease's end ``lease.seconds`` from now (``RunLocked`` if lost)."""
        doing = f"renew the lease of run {lease.run_id!r}"
        with self._transaction(doing, run_id=lease.run_id) as connection:
            cursor = connection.execute(
                f"UPDATE runs SET lease_expires_at = {_LEASE_END} WHERE run_id = "
                f"%(run_id)s AND owner = %(owner)s AND status = '{RUNNING}'",
                {
                    "run_id": lease.run_id,
                    "owner": lease.owner,
                    "seconds": lease.seconds,
                },
            )
            if cursor.rowcount == 0:
                raise self._locked(connection, lease.run_id)

    def record_tasks(self, lease: Lease, tasks: Sequence[TaskRecord]) -> None:
        """Record tasks, one statement (``RunLocked`` if the run was taken)."""
        if not tasks:
            return
        run_id = lease.run_id
        doing, task_id = describe_batch(run_id, tasks)
        with self._transaction(doing, run_id=run_id, task_id=task_id) as connection:
            cursor = connection.execute(_INSERT_BATCH, _batch_values(lease, tasks))
            if cursor.rowcount == 0:
                raise self._locked(connection, run_id)

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
        with self._transaction(doing, run_id=run_id) as connection:
            # The UPDATE first: it checks the lease and locks the row.
            cursor = connection.execute(
                "UPDATE runs SET status = %(status)s, ended_at = %(ended_at)s, "
                "error_message = %(message)s, task_count = %(count)s, "
                "lease_expires_at = NULL WHERE "
                f"run_id = %(run_id)s AND owner = %(owner)s AND status = '{RUNNING}'",
                {
                    "status": status,
                    "ended_at": ended_at,
                    "message": error_message,
                    "count": task_count,
                    "run_id": run_id,
                    "owner": lease.owner,
                },
            )
            if cursor.rowcount == 0:
                raise self._locked(connection, run_id)
            if tasks:
                connection.execute(_INSERT_LAST_BATCH, _batch_values(lease, tasks))

    def _locked(self, connection: Connection, run_id: str) -> Exception:
        row = connection.execute(
            "SELECT owner, extract(epoch FROM lease_expires_at - now())::float8 "
            "FROM runs WHERE run_id = %s",
            (run_id,),
        ).fetchone()
        return lost(self, run_id, None if row is None else (row[0], row[1]))

    def load_run(self, run_id: str) -> RunRecord | None:
        """Return a run with its tasks, or ``None`` if there is no such run."""
        with self._transaction(f"read run {run_id!r}", run_id=run_id) as connection:
            row = connection.execute(
                f"{_RUN_SELECT} WHERE run_id = %s", (run_id,)
            ).fetchone()
            if row is None:
                return None
            bodies = connection.execute(
                "SELECT body FROM task_batches WHERE run_id = %s ORDER BY id",
                (run_id,),
            ).fetchall()
        # psycopg reads a json column as the decoded value.
        tasks = records_by_id(body for (body,) in bodies)
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
            lambda name: f"%({name})s", workflow=workflow, status=status, limit=limit
        )
        query = f"SELECT * FROM ({_RUN_SELECT}) AS shown_runs WHERE true{wanted.tail}"
        with self._transaction("list its runs") as connection:
            rows = connection.execute(query, wanted.parameters).fetchall()
        return wanted.finish([_run_record(row, {}) for row in rows])

    def delete_runs(self, *, started_before: datetime) -> int:
        """Delete the runs started before a time, but not one that is running.

        A run's batches go with it (``ON DELETE CASCADE``), in one statement.

        Returns:
            How many runs were deleted.
        """
        with self._transaction("delete old runs") as connection:
            cursor = connection.execute(
                "DELETE FROM runs WHERE started_at < %s AND NOT (status = "
                f"'{RUNNING}' AND lease_expires_at IS NOT NULL AND "
                "lease_expires_at >= now())",
                (started_before,),
            )
            return cursor.rowcount

    def __repr__(self) -> str:
        return f"PostgresRunStore({self.url!r})"


def _batch_values(lease: Lease, tasks: Sequence[TaskRecord]) -> dict[str, object]:
    return {
        "run_id": lease.run_id,
        "owner": lease.owner,
        "count": len(tasks),
        "body": batch_json(tasks),
    }


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def _run_record(row: tuple[Any, ...], tasks: dict[str, TaskRecord]) -> RunRecord:
    (run_id, workflow, status, inputs, started, ended, message, source, owner,
     expires, count) = row  # fmt: skip
    return RunRecord(
        run_id=run_id,
        workflow=workflow,
        status=shown_status(status, owner),
        inputs_json=inputs,
        started_at=started.astimezone(UTC),
        ended_at=_utc(ended),
        error_message=message,
        source=source,
        owner=owner,
        lease_expires_at=_utc(expires),
        task_count=int(count),
        tasks=tasks,
    )
