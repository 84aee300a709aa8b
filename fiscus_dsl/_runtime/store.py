"""The run store: where a run's inputs and settled tasks are recorded, for resume.

``RunStore`` is the extension point; ``SQLiteRunStore`` keeps runs in one
SQLite file with the standard library's ``sqlite3`` (WAL mode,
``synchronous=NORMAL``, the schema versioned with ``PRAGMA user_version``).
Values and inputs are stored as JSON text made by pydantic; a value that
cannot be JSON, or whose JSON shows a masked secret, is stored as not
resumable. Error messages are stored as the error's ``str``, which
connector errors have already scrubbed. Every ``sqlite3.Error`` leaves as
a ``RunStoreError`` naming the store, what it was doing and the cause.
Knows no HTTP and imports nothing from ``_connectors``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Final, Protocol, final

from pydantic_core import to_jsonable_python

from fiscus_dsl._runtime.results import TaskStatus
from fiscus_dsl.errors import ResumeError, RunStoreError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

SCHEMA_VERSION: Final = 1
"""The ``PRAGMA user_version`` of the tables ``SQLiteRunStore`` writes."""

RUNNING: Final = "running"
"""The status of a run that started and has not ended (or was killed)."""

# pydantic's mask for SecretStr and SecretBytes: such a value cannot come back.
_SECRET_MASK: Final = '"**********"'
_ERROR_LIMIT: Final = 1000

_SCHEMA: Final = f"""
BEGIN;
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
PRAGMA user_version = {SCHEMA_VERSION};
COMMIT;
"""
_TASK_COLUMNS: Final = (
    "task_id, name, status, value, error_type, error_message, attempts, "
    "started_at, ended_at"
)
_RUN_COLUMNS: Final = (
    "run_id, workflow, status, inputs, started_at, ended_at, error_message"
)


def to_json_text(value: object) -> str | None:
    """Return ``value`` as JSON text, or ``None`` when it cannot be stored.

    Examples:
        >>> to_json_text({"id": 1})
        '{"id":1}'
        >>> to_json_text(object()) is None
        True
    """
    try:
        text = json.dumps(
            to_jsonable_python(value), allow_nan=False, separators=(",", ":")
        )
    except ValueError:  # not JSON (PydanticSerializationError), or NaN
        return None
    return None if _SECRET_MASK in text else text


def error_message(error: BaseException) -> str:
    """Return an error's message as the store keeps it, at most 1000 characters."""
    return str(error)[:_ERROR_LIMIT]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRecord:
    """One settled task of a recorded run.

    Attributes:
        task_id: The task id in the run (``send_email``, ``fetch[2]``).
        name: The task's name.
        status: How it ended.
        value_json: Its value as JSON text; ``None`` when it has no value
            that could be stored (then it re-runs on resume).
        error_type: The name of the error's class, when it failed.
        error_message: The error's message, when it failed.
        attempts: How many attempts ran.
        started_at: When it started.
        ended_at: When it ended.
    """

    task_id: str
    name: str
    status: TaskStatus
    value_json: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    attempts: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def resumable(self) -> bool:
        """Tell whether a resume serves this task instead of running it."""
        return self.status is TaskStatus.SUCCEEDED and self.value_json is not None

    @property
    def value(self) -> object:
        """Return the stored value decoded from JSON (``None`` if none was stored)."""
        return None if self.value_json is None else json.loads(self.value_json)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """One recorded run.

    Attributes:
        run_id: The run's id.
        workflow: The workflow's name.
        status: ``running`` (started, not ended: still going, or killed),
            ``succeeded`` or ``failed``.
        inputs_json: The inputs as JSON text; ``None`` when they could not
            be stored, and then the run cannot be resumed.
        started_at: When the run first started.
        ended_at: When it last ended.
        error_message: Why it failed.
        tasks: Its settled tasks by id (empty in ``list_runs``).
    """

    run_id: str
    workflow: str
    status: str
    inputs_json: str | None
    started_at: datetime
    ended_at: datetime | None = None
    error_message: str | None = None
    tasks: Mapping[str, TaskRecord] = field(default_factory=dict)

    @property
    def inputs(self) -> dict[str, object] | None:
        """Return the inputs decoded from JSON, or ``None`` if none were stored."""
        if self.inputs_json is None:
            return None
        decoded: dict[str, object] = json.loads(self.inputs_json)
        return decoded


class RunStore(Protocol):
    """Where a ``Runner(store=...)`` records runs, and ``resume`` reads them.

    A store must make ``record_task`` durable before it returns: the runner
    calls it as each task settles, before the tasks that need its value
    start, so a run killed at any point can resume from what finished.
    """

    def start_run(self, run: RunRecord) -> None:
        """Record that a run started (again, when resumed: keep its inputs)."""
        ...

    def record_task(self, run_id: str, task: TaskRecord) -> None:
        """Record one settled task, replacing an earlier record of it."""
        ...

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        ended_at: datetime,
        error_message: str | None,
        tasks: Sequence[TaskRecord],
    ) -> None:
        """Record how a run ended, with the tasks that settled only at its end."""
        ...

    def load_run(self, run_id: str) -> RunRecord | None:
        """Return a run with its tasks, or ``None`` if the store has no such run."""
        ...

    def list_runs(self, *, workflow: str | None = None) -> list[RunRecord]:
        """Return the recorded runs, newest first, without their tasks."""
        ...


@final
class SQLiteRunStore:
    """A ``RunStore`` in one SQLite file: opt in with ``Runner(store=...)``.

    The file holds each run's inputs and every settled task's value, as
    JSON: keep it where you would keep those values. Secrets are not
    stored (a value or input that holds one is not stored at all, and the
    task re-runs on resume). Each settled task is committed at once (WAL,
    ``synchronous=NORMAL``: it survives the process being killed; a power
    loss may lose the last few).

    Args:
        path: The database file; created, with its tables, if missing.

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

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        # One connection, shared by the threads that run loops; the lock
        # serializes its use.
        with self._sqlite("open the file"):
            connection = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None
            )
        try:
            with self._sqlite("open the file"):
                _prepare(connection, self.path)
        except (ResumeError, RunStoreError):
            connection.close()
            raise
        self._connection = connection

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

    def start_run(self, run: RunRecord) -> None:
        """Record that a run started; a resumed run keeps its inputs and start."""
        doing = f"record the start of run {run.run_id!r}"
        with self._lock, self._sqlite(doing, run_id=run.run_id):
            self._connection.execute(
                f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, "
                "ended_at = NULL, error_message = NULL",
                (
                    run.run_id,
                    run.workflow,
                    run.status,
                    run.inputs_json,
                    run.started_at.isoformat(),
                    None,
                    None,
                ),
            )

    def record_task(self, run_id: str, task: TaskRecord) -> None:
        """Record one settled task, committed before this returns."""
        doing = f"record task {task.task_id!r} of run {run_id!r}"
        with self._lock, self._sqlite(doing, run_id=run_id, task_id=task.task_id):
            self._connection.execute(_INSERT_TASK, _task_row(run_id, task))

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        ended_at: datetime,
        error_message: str | None,
        tasks: Sequence[TaskRecord],
    ) -> None:
        """Record the run's end and its last tasks in one transaction."""
        connection = self._connection
        doing = f"record the end of run {run_id!r}"
        # The transaction commits, or rolls back on an error, inside the guard.
        with self._lock, self._sqlite(doing, run_id=run_id), connection:
            connection.execute("BEGIN")
            connection.executemany(
                _INSERT_TASK, [_task_row(run_id, task) for task in tasks]
            )
            connection.execute(
                "UPDATE runs SET status = ?, ended_at = ?, error_message = ? "
                "WHERE run_id = ?",
                (status, ended_at.isoformat(), error_message, run_id),
            )

    def load_run(self, run_id: str) -> RunRecord | None:
        """Return a run with its tasks, or ``None`` if there is no such run."""
        with self._lock, self._sqlite(f"read run {run_id!r}", run_id=run_id):
            row = self._connection.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                return None
            rows = self._connection.execute(
                f"SELECT {_TASK_COLUMNS} FROM tasks WHERE run_id = ? ORDER BY rowid",
                (run_id,),
            ).fetchall()
        tasks = {task.task_id: task for task in map(_task_record, rows)}
        return _run_record(row, tasks)

    def list_runs(self, *, workflow: str | None = None) -> list[RunRecord]:
        """Return the recorded runs, newest first, without their tasks.

        Args:
            workflow: Only the runs of the workflow of this name.
        """
        query = f"SELECT {_RUN_COLUMNS} FROM runs"
        parameters: tuple[str, ...] = ()
        if workflow is not None:
            query += " WHERE workflow = ?"
            parameters = (workflow,)
        with self._lock, self._sqlite("list its runs"):
            rows = self._connection.execute(
                query + " ORDER BY started_at DESC, rowid DESC", parameters
            ).fetchall()
        return [_run_record(row, {}) for row in rows]

    def __repr__(self) -> str:
        return f"SQLiteRunStore({self.path!r})"


_INSERT_TASK: Final = (
    f"INSERT OR REPLACE INTO tasks (run_id, {_TASK_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _prepare(connection: sqlite3.Connection, path: str) -> None:
    """Set the journal mode and create the tables, or refuse a newer schema."""
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        msg = (
            f"Run store {path!r} has schema version {version}, newer than the "
            f"{SCHEMA_VERSION} this fiscus_dsl reads; upgrade fiscus_dsl, or "
            "use another file"
        )
        raise ResumeError(msg, run_id=None)
    if version < SCHEMA_VERSION:
        connection.executescript(_SCHEMA)


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _task_row(run_id: str, task: TaskRecord) -> tuple[object, ...]:
    return (
        run_id,
        task.task_id,
        task.name,
        task.status.value,
        task.value_json,
        task.error_type,
        task.error_message,
        task.attempts,
        None if task.started_at is None else task.started_at.isoformat(),
        None if task.ended_at is None else task.ended_at.isoformat(),
    )


def _task_record(row: tuple[object, ...]) -> TaskRecord:
    task_id, name, status, value, error_type, message, attempts, started, ended = row
    return TaskRecord(
        task_id=str(task_id),
        name=str(name),
        status=TaskStatus(str(status)),
        value_json=value,  # type: ignore[arg-type]  # a TEXT column: str or NULL
        error_type=error_type,  # type: ignore[arg-type]  # as above
        error_message=message,  # type: ignore[arg-type]  # as above
        attempts=attempts,  # type: ignore[arg-type]  # an INTEGER column
        started_at=_time(started),  # type: ignore[arg-type]  # a TEXT column
        ended_at=_time(ended),  # type: ignore[arg-type]  # as above
    )


def _run_record(row: tuple[object, ...], tasks: dict[str, TaskRecord]) -> RunRecord:
    run_id, workflow, status, inputs, started, ended, message = row
    return RunRecord(
        run_id=str(run_id),
        workflow=str(workflow),
        status=str(status),
        inputs_json=inputs,  # type: ignore[arg-type]  # a TEXT column: str or NULL
        started_at=datetime.fromisoformat(str(started)),
        ended_at=_time(ended),  # type: ignore[arg-type]  # a TEXT column
        error_message=message,  # type: ignore[arg-type]  # as above
        tasks=tasks,
    )
