"""The run store's interface: the records, the lease, and the ``RunStore`` protocol.

A run store records each run's inputs and settled tasks so that a run
killed at any point can be resumed, from this process or another one.
``SQLiteRunStore`` (``_runtime/sqlite_store.py``) and ``PostgresRunStore``
implement this protocol; so can a user's own store.

Values and inputs are stored as JSON text made by pydantic; a value that
cannot be JSON (an object, NaN), or whose JSON shows a masked secret, is
stored as not resumable. Error messages are stored as the error's
``str``, which connector errors have already scrubbed.

A running run holds a lease: its owner (``host:pid:token``) and a time it
lapses unless renewed. The runner renews it every third of its length from
a thread of its own; a run whose owner died shows as ``interrupted`` once
the lease lapses (at once, when the owner was a process of this host that
no longer exists), and a resume takes the lease (``RunLocked`` while
another owner's lease is live). Knows no HTTP and no database.
"""

from __future__ import annotations

import gc
import json
import os
import secrets
import socket
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol, final

from pydantic_core import PydanticSerializationError, to_json

from fiscus_dsl._runtime.results import TaskStatus
from fiscus_dsl.errors import RunLocked, RunStoreError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

SCHEMA_VERSION: Final = 4
"""The schema version of the tables the stores write (SQLite's ``user_version``)."""

RUNNING: Final = "running"
"""A run that started and has not ended, whose owner still renews its lease."""

INTERRUPTED: Final = "interrupted"
"""A run that stopped before its end: its owner died or was cancelled."""

RUN_STATUSES: Final = (RUNNING, INTERRUPTED, "succeeded", "failed")
"""Every status ``list_runs`` reports."""

LEASE_SECONDS: Final = 30.0
"""How long a run's lease lasts unless its owner renews it."""

LIVE_OWNERS: Final[set[str]] = set()
"""The owners of the runs this process is recording now (the writers add them)."""

# pydantic's mask for SecretStr and SecretBytes: such a value cannot come back.
_SECRET_MASK: Final = b'"**********"'
_ERROR_LIMIT: Final = 1000


class _NotJSONError(Exception):
    """A bare ``NaN`` or ``Infinity``: not JSON, so not stored."""


def _refuse(constant: str) -> object:
    raise _NotJSONError(constant)


def to_json_text(value: object) -> str | None:
    """Return ``value`` as JSON text, or ``None`` when it cannot be stored.

    Examples:
        >>> to_json_text({"id": 1})
        '{"id":1}'
        >>> to_json_text(object()) is None
        True
        >>> to_json_text(float("nan")) is None
        True
    """
    try:
        text = to_json(value)
    except PydanticSerializationError:  # not JSON
        return None
    if _SECRET_MASK in text:
        return None
    if b"NaN" in text or b"Infinity" in text:  # bare constants are not JSON
        try:
            json.loads(text, parse_constant=_refuse)
        except _NotJSONError:
            return None
    return text.decode()


def error_message(error: BaseException) -> str:
    """Return an error's message as the store keeps it, at most 1000 characters."""
    return str(error)[:_ERROR_LIMIT]


def new_owner() -> str:
    """Return a new lease owner, ``host:pid:token``: one per run."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def owner_is_dead(owner: str | None) -> bool:
    """Tell whether a lease's owner is a process of this host that no longer exists.

    Only this host's processes can be checked (by pid); a recycled pid
    looks alive, so the answer errs towards waiting for the lease.
    """
    if owner is None:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, _ = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():  # this process: dead unless one of its runs holds it
        return owner not in LIVE_OWNERS
    if os.name == "nt":  # pragma: no cover  (os.kill(pid, 0) sends CTRL_C_EVENT)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, owned by another user
        return False
    return False


def shown_status(status: str, owner: str | None) -> str:
    """Return a run's status as readers see it: ``interrupted`` if its owner died.

    The stores' SQL already shows a running run whose lease lapsed as
    interrupted; whether its owner died is known only here.
    """
    return INTERRUPTED if status == RUNNING and owner_is_dead(owner) else status


@final
@dataclass(frozen=True, slots=True)
class Lease:
    """A run's lease, as its owner holds it.

    Attributes:
        run_id: The run.
        owner: Who holds it: ``host:pid:token``.
        seconds: How long it lasts from each renewal.
    """

    run_id: str
    owner: str
    seconds: float = LEASE_SECONDS


def locked(
    store: object, run_id: str, owner: str | None, expires_in: float | None
) -> RunLocked:
    """Return the ``RunLocked`` a store raises when another owner holds a run."""
    if owner is None:
        held = "another process took it"
    else:
        held = f"{owner} holds its lease"
        if expires_in is not None:
            held += f" (it lapses in {max(expires_in, 0.0):.0f} s unless renewed)"
    msg = (
        f"Run {run_id!r} in {store!r} is locked: {held}. That process is "
        "running it now; wait for it to end, or resume the run once "
        "`fiscus runs list` shows it as interrupted"
    )
    return RunLocked(msg, run_id=run_id, owner=owner, expires_in=expires_in)


def lost(
    store: object, run_id: str, holder: tuple[str | None, float | None] | None
) -> RunLocked | RunStoreError:
    """Return why a write of a run's owner found the run no longer its own.

    Args:
        store: The store, for the message.
        run_id: The run.
        holder: The run's owner and seconds until its lease lapses, as the
            store reads them now; ``None`` when the run is gone.
    """
    if holder is None:
        msg = (
            f"Run store {store!r} has no run {run_id!r}: it was deleted (its "
            "lease had lapsed, and fiscus runs prune or store.delete_runs "
            "removed it); start a new run"
        )
        return RunStoreError(msg, store=repr(store), run_id=run_id)
    return locked(store, run_id, *holder)


class TaskRecord(NamedTuple):
    """One settled task of a recorded run (a named tuple: cheap to make, fixed).

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
        inputs_digest: A digest of the arguments it was called with; a
            resume serves the task only to the same arguments.
        code_version: A digest of its code; a resume serves the task only
            while its code is the same.
        reason: Why it was skipped or not run, as its ``TaskResult`` says.
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
    inputs_digest: str | None = None
    code_version: str | None = None
    reason: str | None = None

    @property
    def resumable(self) -> bool:
        """Tell whether a resume may serve this task instead of running it."""
        return self.status is TaskStatus.SUCCEEDED and self.value_json is not None

    @property
    def value(self) -> object:
        """Return the stored value decoded from JSON (``None`` if none was stored)."""
        return None if self.value_json is None else json.loads(self.value_json)

    @property
    def duration(self) -> float | None:
        """Return how long it ran, in seconds, when both ends are known."""
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RunRecord:
    """One recorded run.

    Attributes:
        run_id: The run's id.
        workflow: The workflow's name.
        status: ``running`` (its owner renews its lease), ``interrupted``
            (it stopped before its end: its owner died, or was cancelled),
            ``succeeded`` or ``failed``.
        inputs_json: The inputs as JSON text; ``None`` when they could not
            be stored, and then the run cannot be resumed.
        started_at: When the run first started.
        ended_at: When it last ended.
        error_message: Why it failed.
        source: Where its workflow is defined (``module:name`` or
            ``path/file.py:name``), so that ``fiscus runs resume`` finds it.
        owner: The owner of its lease, while it runs.
        lease_expires_at: When that lease lapses unless renewed.
        task_count: How many tasks it recorded, each once (while it runs,
            how many records it wrote).
        tasks: Its settled tasks by id (empty in ``list_runs``).
    """

    run_id: str
    workflow: str
    status: str
    inputs_json: str | None
    started_at: datetime
    ended_at: datetime | None = None
    error_message: str | None = None
    source: str | None = None
    owner: str | None = None
    lease_expires_at: datetime | None = None
    task_count: int = 0
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

    The runner calls the writing methods from a thread of its own, never
    from the event loop, and one run's calls one at a time; a store must
    be safe to call from several threads (several runs). ``record_tasks``
    must make its tasks durable, all or none, before it returns.
    """

    def start_run(self, run: RunRecord, lease: Lease) -> None:
        """Record that a run started and take its lease.

        A run already recorded (a resume) keeps its inputs and first start.

        Raises:
            RunLocked: Another owner's lease on the run is live.
        """
        ...

    def renew_lease(self, lease: Lease) -> None:
        """Push the lease's end ``lease.seconds`` from now.

        Raises:
            RunLocked: Another owner took the run.
        """
        ...

    def record_tasks(self, lease: Lease, tasks: Sequence[TaskRecord]) -> None:
        """Record settled tasks in one transaction, replacing earlier records of them.

        Raises:
            RunLocked: Another owner took the run; nothing was recorded.
        """
        ...

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
        """Record how a run ended with its last tasks, and release its lease.

        ``task_count`` is how many tasks the run has recorded in all, each
        once (a task recorded again by a resume counts once); ``None``
        leaves the store to count its records.

        Raises:
            RunLocked: Another owner took the run; nothing was recorded.
        """
        ...

    def load_run(self, run_id: str) -> RunRecord | None:
        """Return a run with its tasks, or ``None`` if the store has no such run."""
        ...

    def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Return the recorded runs, newest first, without their tasks."""
        ...

    def delete_runs(self, *, started_before: datetime) -> int:
        """Delete the runs started before a time, but not one that is running.

        Returns:
            How many runs were deleted.
        """
        ...


# ---------------------------------------------------------------- listing


@final
@dataclass(frozen=True, slots=True)
class RunQuery:
    """The filters of ``list_runs`` as SQL, shared by the stores.

    Whether a running run's owner died is known in Python, not in SQL
    (``owner_is_dead``): a ``running`` or ``interrupted`` filter selects
    both in SQL and is finished by ``finish`` after the rows are read.

    Attributes:
        tail: The query's ``AND ...`` conditions, order and limit.
        parameters: Their values.
        status: The status ``finish`` keeps, if it filters.
        limit: The limit ``finish`` applies, if it filters.
    """

    tail: str
    parameters: dict[str, object]
    status: str | None
    limit: int | None

    @classmethod
    def of(
        cls,
        mark: Callable[[str], str],
        *,
        workflow: str | None,
        status: str | None,
        limit: int | None,
    ) -> RunQuery:
        """Build the filters; ``mark(name)`` writes a named parameter."""
        tail = ""
        parameters: dict[str, object] = {}
        if workflow is not None:
            tail += f" AND workflow = {mark('workflow')}"
            parameters["workflow"] = workflow
        live = status in {RUNNING, INTERRUPTED}
        if live:
            tail += f" AND shown IN ('{RUNNING}', '{INTERRUPTED}')"
        elif status is not None:
            tail += f" AND shown = {mark('status')}"
            parameters["status"] = status
        tail += " ORDER BY started_at DESC, run_id DESC"
        if limit is not None and not live:
            tail += f" LIMIT {mark('limit')}"
            parameters["limit"] = limit
        return cls(tail, parameters, status if live else None, limit)

    def finish(self, runs: list[RunRecord]) -> list[RunRecord]:
        """Keep the runs of a ``running`` or ``interrupted`` filter, up to its limit."""
        if self.status is None:
            return runs
        return [run for run in runs if run.status == self.status][: self.limit]


# ---------------------------------------------------------------- batches


def read_time(value: object) -> datetime | None:
    """Read a time: seconds since the epoch, or ISO text (schema version 1)."""
    if value is None:
        return None
    if isinstance(value, float | int):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value))


def describe_batch(run_id: str, tasks: Sequence[TaskRecord]) -> tuple[str, str | None]:
    """Say what writing a batch does, for an error; and its one task's id, if one."""
    named = ", ".join(repr(task.task_id) for task in tasks[:3])
    if len(tasks) == 1:
        return f"record task {named} of run {run_id!r}", tasks[0].task_id
    more = ", ..." if len(tasks) > 3 else ""
    return f"record {len(tasks)} tasks ({named}{more}) of run {run_id!r}", None


def _seconds(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def batch_json(tasks: Sequence[TaskRecord]) -> str:
    """Return tasks as one JSON array of arrays, in ``TaskRecord``'s order.

    Both stores keep a batch so; times are seconds since the epoch.
    """
    return to_json(
        [
            (
                task.task_id,
                task.name,
                task.status.value,
                task.value_json,
                task.error_type,
                task.error_message,
                task.attempts,
                _seconds(task.started_at),
                _seconds(task.ended_at),
                task.inputs_digest,
                task.code_version,
                task.reason,
            )
            for task in tasks
        ]
    ).decode()


_STATUSES: Final = {status.value: status for status in TaskStatus}
_new_tuple: Final = tuple.__new__
_from_seconds: Final = datetime.fromtimestamp


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause automatic cyclic garbage collection in the block, then restore it.

    Reading a run back builds a record and a list per task, every one of
    which survives: a collection finds no garbage among them, yet each full
    one scans the whole heap (a resume of 100,000 tasks spent 0.25 s of its
    0.5 s load in two). No user code runs in the block. Collection is
    resumed after it, unless the application had turned it off itself.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def records_by_id(batches: Iterable[Iterable[list[Any]]]) -> dict[str, TaskRecord]:
    """Return a run's records from its batches in order, the latest of each task."""
    with _collector_paused():
        return {
            task.task_id: task
            for batch in batches
            for task in map(record_from_row, batch)
        }


def record_from_row(row: list[Any]) -> TaskRecord:
    """Return a record read back; its hot path is a resume of many tasks.

    The tuple is made directly (``TaskRecord``'s generated ``__new__`` is a
    Python call with eleven arguments): the row is in its field order.
    """
    # A row of schema version 2 or 3 has no reason: eleven items, not twelve.
    (task_id, name, status, value, error_type, message, attempts, started, ended,
     digest, code, *reason) = row  # fmt: skip
    return _new_tuple(
        TaskRecord,
        (
            task_id,
            name,
            _STATUSES[status],
            value,
            error_type,
            message,
            attempts,
            _from_seconds(started, UTC)
            if type(started) is float
            else read_time(started),
            _from_seconds(ended, UTC) if type(ended) is float else read_time(ended),
            digest,
            code,
            reason[0] if reason else None,
        ),
    )
