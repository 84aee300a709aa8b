"""The journal of a run: record settled tasks in a ``RunStore``, serve them on resume.

A ``Journal`` sits between the scheduler and the store. The scheduler tells
it each slot that settles; the journal turns its value into JSON on the
loop and queues it for the run's ``StoreWriter`` thread, which records it
in groups (the durability rule is in ``writer``). Before launching a task
of a resumed run, the scheduler asks whether the run recorded that task as
succeeded, with the same inputs and the same code: then the stored value,
validated again against the task's return annotation, stands in for a
call. ``plan_resume`` loads a run and checks it still fits the workflow.

A store that fails (a ``RunStoreError``, ``RunLocked``, or anything a
custom store raises) never escapes into the scheduler: the writer keeps the
first failure, writes nothing more, and the scheduler stops, so the run
ends with a failed ``RunResult`` and the store holds what a killed run would.
Knows no HTTP.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, final

from pydantic import PydanticSchemaGenerationError, PydanticUserError, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from fiscus_dsl._runtime import logs
from fiscus_dsl._runtime.invoker import call_arguments
from fiscus_dsl._runtime.results import TaskStatus
from fiscus_dsl._runtime.store import (
    INTERRUPTED,
    LEASE_SECONDS,
    RUNNING,
    Lease,
    RunRecord,
    TaskRecord,
    error_message,
    new_owner,
    to_json_text,
)
from fiscus_dsl._runtime.versions import code_version, inputs_digest
from fiscus_dsl._runtime.writer import StoreWriter
from fiscus_dsl.errors import ResumeError, RunLocked, RunStoreError, SignatureError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from datetime import datetime

    from fiscus_dsl._dsl.plan import Plan
    from fiscus_dsl._dsl.signature import CallSignature
    from fiscus_dsl._dsl.task import TaskPlan
    from fiscus_dsl._dsl.workflow import Workflow
    from fiscus_dsl._runtime.results import RunResult
    from fiscus_dsl._runtime.slots import Slot
    from fiscus_dsl._runtime.store import RunStore

RESUMED: Final = "resumed from the run store"
"""The reason of a task a resume served from the store instead of running it."""

_INDEX: Final = re.compile(r"\[\d+\]$")
_UNSERVABLE: Final = object()
_new_tuple: Final = tuple.__new__


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Resumption:
    """What a resume carries into the run: its id, the tasks to serve, all recorded."""

    run_id: str
    served: Mapping[str, TaskRecord]
    recorded: frozenset[str] = frozenset()


@final
class Journal:
    """Record one run's settled tasks; serve the tasks a resume restores.

    The records are written by a ``StoreWriter`` thread; the loop only
    turns each settled value into JSON (a later task may change the
    object) and queues it.
    """

    __slots__ = ("_adapters", "_versions", "resume", "run_id", "writer", "written")

    def __init__(self, store: RunStore, run_id: str, resume: Resumption | None) -> None:
        self.run_id = run_id
        #: What a resume serves, or ``None`` for a new run.
        self.resume = resume
        self.written: set[str] = set()
        seconds = getattr(store, "lease_seconds", LEASE_SECONDS)
        self.writer = StoreWriter(store, Lease(run_id, new_owner(), seconds))
        self._adapters: dict[Callable[..., object], TypeAdapter[object] | None] = {}
        self._versions: dict[Callable[..., object], str] = {}

    @property
    def error(self) -> RunStoreError | RunLocked | None:
        """Return the store's first failure, if any."""
        return self.writer.error

    async def start(
        self,
        workflow: str,
        inputs: Mapping[str, object],
        started_at: datetime,
        source: str | None,
    ) -> None:
        """Take the run's lease and record its start with its inputs as JSON."""
        record = RunRecord(
            run_id=self.run_id,
            workflow=workflow,
            status=RUNNING,
            inputs_json=to_json_text(inputs),
            started_at=started_at,
            source=source,
        )
        await self.writer.start(record)

    def settled(self, slot: Slot) -> bool:
        """Queue a settled slot; ``False`` when the store failed: stop the run."""
        if self.writer.error is not None:
            return False
        if slot.id in self.written:
            return True
        self.written.add(slot.id)
        value_json = digest = version = None
        plan = slot.task_plan
        # Only a task's own value is stored; a map or sub-workflow is rebuilt.
        if (
            slot.status is TaskStatus.SUCCEEDED
            and plan is not None
            and (slot.node.kind == "task" or slot.owner is not None)
        ):
            value_json = to_json_text(slot.value)
            digest = _digest(slot)
            version = self._version(plan)
        self.writer.put(task_record(slot, value_json, digest, version))
        return True

    def _version(self, plan: TaskPlan) -> str:
        version = self._versions.get(plan.function)
        if version is None:
            version = self._versions[plan.function] = code_version(
                plan.function, plan.signature.function
            )
        return version

    def restore(self, slot: Slot) -> bool:
        """Give a slot its recorded value and tell whether it may skip running.

        A record made by this fiscus_dsl is served only to the same inputs
        and the same code; otherwise the task runs again, and the log says
        why.
        """
        resume = self.resume
        record = None if resume is None else resume.served.get(slot.id)
        if record is None:
            return False
        plan = slot.task_plan
        assert plan is not None  # only task and map instance slots are launched
        why = None
        if record.code_version is not None:
            if record.code_version != self._version(plan):
                why = "its code changed"
            elif record.inputs_digest is None or record.inputs_digest != _digest(slot):
                why = "its inputs changed"
        value = _UNSERVABLE if why else self._revalidate(record, plan.signature)
        if value is _UNSERVABLE:
            why = why or "its stored value no longer validates as its return type"
            logs.task_runs_again(slot.scope.workflow, slot.id, self.run_id, why)
            return False
        slot.value = value
        slot.attempts = record.attempts
        slot.started_at = record.started_at
        slot.ended_at = record.ended_at
        self.written.add(slot.id)
        return True

    async def finish(
        self, result: RunResult[Any], slots: Iterable[Slot]
    ) -> RunStoreError | RunLocked | None:
        """Record the queued tasks, the run's end and the slots settled at the end.

        Writes nothing after an earlier failure: the store keeps the run as
        a killed run's, which a resume finishes once the store is fixed.

        Returns:
            The store's failure, if any: before the end (possibly after the
            result was made, during the ``after_workflow`` hooks) or at it.
        """
        if self.error is not None:
            await self.writer.finish(_nothing)
            return self.error
        await self.writer.finish(
            self._ender(
                result.status.value, result.ended_at, result.error_message, slots
            )
        )
        return self.error

    def interrupted(self, slots: Iterable[Slot], ended_at: datetime) -> None:
        """Record a cancelled run's queued tasks and mark it ``interrupted``."""
        self.writer.finish_now(self._ender(INTERRUPTED, ended_at, None, slots))

    def _ender(
        self,
        status: str,
        ended_at: datetime,
        error: str | None,
        slots: Iterable[Slot],
    ) -> Callable[[Sequence[TaskRecord]], None]:
        last = [
            task_record(slot, None, None, None)
            for slot in slots
            if slot.id not in self.written and slot.status is not None
        ]
        recorded = frozenset() if self.resume is None else self.resume.recorded
        count = len(recorded.union(self.written, (task.task_id for task in last)))
        writer = self.writer

        def finish(queued: Sequence[TaskRecord]) -> None:
            writer.store.finish_run(
                writer.lease,
                status=status,
                ended_at=ended_at,
                error_message=error,
                tasks=[*queued, *last],
                task_count=count,
            )

        return finish

    def _revalidate(self, record: TaskRecord, signature: CallSignature) -> object:
        function = signature.function
        if function in self._adapters:
            adapter = self._adapters[function]
        else:
            adapter = self._adapters[function] = return_adapter(signature)
        if adapter is None:
            return _UNSERVABLE
        assert record.value_json is not None  # served records are resumable
        try:
            return adapter.validate_json(record.value_json)
        except PydanticValidationError:  # the annotation changed: run it again
            return _UNSERVABLE


def _nothing(queued: Sequence[TaskRecord]) -> None:
    """Finish a run whose store failed: nothing more is written."""


def _digest(slot: Slot) -> str | None:
    try:
        return inputs_digest(call_arguments(slot))
    except Exception:  # an input that no longer resolves: run the task
        return None


def return_adapter(signature: CallSignature) -> TypeAdapter[object] | None:
    """Return a validator for a task's return annotation, if pydantic has one.

    The annotation comes from the task's one signature analysis; one that
    does not resolve cannot check a stored value, so the task runs again.
    """
    try:
        annotation = signature.return_hint()
    except SignatureError:
        return None
    if annotation is inspect.Signature.empty:
        annotation = Any
    try:
        return TypeAdapter(annotation)  # type: ignore[arg-type]  # an annotation is a type form
    except (PydanticSchemaGenerationError, PydanticUserError):
        return None


def task_record(
    slot: Slot,
    value_json: str | None,
    digest: str | None,
    version: str | None,
) -> TaskRecord:
    """Return a settled slot as the store records it, with its value's JSON.

    Made as a tuple in ``TaskRecord``'s field order: this runs for every
    task of a recorded run, and the keyword form costs three times as much.
    """
    error = slot.error
    return _new_tuple(
        TaskRecord,
        (
            slot.id,
            slot.name,
            slot.status or TaskStatus.NOT_RUN,
            value_json,
            None if error is None else type(error).__qualname__,
            None if error is None else error_message(error),
            slot.attempts,
            slot.started_at,
            slot.ended_at,
            digest,
            version,
            slot.reason,
        ),
    )


def plan_resume(
    store: RunStore | None, wf: Workflow[..., Any], run_id: str, *, force: bool = False
) -> tuple[Plan, dict[str, object], Resumption]:
    """Load a run, trace the workflow with its inputs again, and check they fit.

    A recorded task the workflow no longer has means the plan changed
    under the run: an error naming the first such task, unless ``force``,
    which serves the tasks that still match and runs the rest.

    Raises:
        ResumeError: No store, an unknown run, another workflow's run, inputs
            that were not stored, or (without ``force``) a recorded task the
            workflow lacks.
        WorkflowInputError: The stored inputs no longer bind.
        ArgumentValidationError: A stored input no longer validates.
    """
    name = wf.name
    run = _load(store, name, run_id)
    stored = run.inputs
    if stored is None:
        msg = (
            f"Run {run_id!r} of workflow {name!r} cannot be resumed: its inputs "
            "could not be stored as JSON; start a new run with wf.run(...)"
        )
        raise ResumeError(msg, run_id=run_id, workflow=name)
    inputs = wf.bind_inputs((), stored)
    plan = wf.trace_plan(inputs, ())
    served: dict[str, TaskRecord] = {}
    steps = {node.id for node in plan.nodes}  # most ids name a top-level step
    for task_id, task in run.tasks.items():
        if task_id not in steps and not has_task(plan, task_id):
            if force:
                continue
            msg = (
                f"Workflow {name!r} has no task {task_id!r}, which run {run_id!r} "
                "recorded: the workflow changed since that run. Resume with the "
                "workflow as it was; or force it (runner.resume(wf, run_id, "
                "force=True), fiscus runs resume --force) to serve the tasks "
                "that still match and run the rest; or start a new run"
            )
            raise ResumeError(msg, run_id=run_id, workflow=name, task_id=task_id)
        if task.resumable:
            served[task_id] = task
    return (
        plan,
        inputs,
        Resumption(run_id=run_id, served=served, recorded=frozenset(run.tasks)),
    )


def _load(store: RunStore | None, name: str, run_id: str) -> RunRecord:
    """Return the recorded run of workflow ``name``, or raise ``ResumeError``."""
    if store is None:
        msg = (
            f"Run {run_id!r} of workflow {name!r} cannot be resumed: the runner has "
            "no run store; record runs with Runner(store=SQLiteRunStore(path)) "
            "and resume with that runner"
        )
        raise ResumeError(msg, run_id=run_id, workflow=name)
    run = store.load_run(run_id)
    if run is None:
        msg = (
            f"Run {run_id!r} of workflow {name!r} is not in {store!r}; resume a "
            "run id of store.list_runs(), or start a new run with wf.run(...)"
        )
        raise ResumeError(msg, run_id=run_id, workflow=name)
    if run.workflow != name:
        msg = (
            f"Run {run_id!r} is a run of workflow {run.workflow!r}, not {name!r}; "
            f"resume it with workflow {run.workflow!r}"
        )
        raise ResumeError(msg, run_id=run_id, workflow=name)
    return run


def has_task(plan: Plan, task_id: str) -> bool:
    """Tell whether a recorded id (``sub[0]/fetch[2]``) names a step of the plan."""
    *path, last = task_id.split("/")
    for part in path:
        try:
            child = plan.node(_INDEX.sub("", part)).child
        except KeyError:
            return False
        if child is None:
            return False
        plan = child
    try:
        plan.node(_INDEX.sub("", last))
    except KeyError:
        return False
    return True
