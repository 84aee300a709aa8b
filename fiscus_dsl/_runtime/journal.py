"""The journal of a run: record settled tasks in a ``RunStore``, serve them on resume.

A ``Journal`` sits between the scheduler and the store. The scheduler tells
it each slot that settles (written at once, before the tasks that need its
value start) and asks it, before launching a task, whether a resumed run
recorded that task as succeeded; then the stored JSON value, validated
again against the task's return annotation, stands in for a call.
``plan_resume`` loads a run and checks it still fits the workflow.

A store that fails (a ``RunStoreError``, or anything a custom store raises)
never escapes into the scheduler: the journal keeps the first failure as
``error``, writes nothing more, and tells the scheduler to stop, so the run
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

from fiscus_dsl._runtime.results import TaskStatus
from fiscus_dsl._runtime.store import (
    RUNNING,
    RunRecord,
    TaskRecord,
    error_message,
    to_json_text,
)
from fiscus_dsl.errors import ResumeError, RunStoreError, SignatureError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from datetime import datetime

    from fiscus_dsl._dsl.plan import Plan
    from fiscus_dsl._dsl.signature import CallSignature
    from fiscus_dsl._dsl.workflow import Workflow
    from fiscus_dsl._runtime.results import RunResult
    from fiscus_dsl._runtime.slots import Slot
    from fiscus_dsl._runtime.store import RunStore

RESUMED: Final = "resumed from the run store"
"""The reason of a task a resume served from the store instead of running it."""

_INDEX: Final = re.compile(r"\[\d+\]$")
_UNSERVABLE: Final = object()


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Resumption:
    """What a resume carries into the run: its id and the tasks to serve."""

    run_id: str
    served: Mapping[str, TaskRecord]


@final
class Journal:
    """Record one run's settled tasks; serve the tasks a resume restores."""

    __slots__ = ("_adapters", "error", "run_id", "served", "store", "written")

    def __init__(
        self, store: RunStore, run_id: str, served: Mapping[str, TaskRecord]
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.served = served
        self.written: set[str] = set()
        #: The store's first failure; after it, nothing more is written.
        self.error: RunStoreError | None = None
        self._adapters: dict[Callable[..., object], TypeAdapter[object] | None] = {}

    def start(
        self, workflow: str, inputs: Mapping[str, object], started_at: datetime
    ) -> None:
        """Record the run's start with its inputs as JSON."""
        record = RunRecord(
            run_id=self.run_id,
            workflow=workflow,
            status=RUNNING,
            inputs_json=to_json_text(inputs),
            started_at=started_at,
        )
        try:
            self.store.start_run(record)
        except Exception as exc:  # a RunStore is user code at the run's edge
            self._failed(exc, f"record the start of run {self.run_id!r}", None)

    def settled(self, slot: Slot) -> bool:
        """Record a settled slot; ``False`` when the store failed: stop the run."""
        if self.error is not None:
            return False
        if slot.id in self.written:
            return True
        self.written.add(slot.id)
        try:
            self.store.record_task(self.run_id, task_record(slot))
        except Exception as exc:  # a RunStore is user code at the run's edge
            self._failed(
                exc, f"record task {slot.id!r} of run {self.run_id!r}", slot.id
            )
            return False
        return True

    def _failed(self, exc: Exception, doing: str, task_id: str | None) -> None:
        """Keep the store's failure as a ``RunStoreError`` naming the store."""
        if isinstance(exc, RunStoreError):
            self.error = exc
            return
        store = repr(self.store)
        msg = (
            f"Run store {store} could not {doing}: {type(exc).__name__}: {exc}; "
            "fix the store, then resume the run"
        )
        error = RunStoreError(msg, store=store, run_id=self.run_id, task_id=task_id)
        error.__cause__ = exc
        self.error = error

    def restore(self, slot: Slot) -> bool:
        """Give a slot its recorded value and tell whether it may skip running."""
        record = self.served.get(slot.id)
        if record is None:
            return False
        plan = slot.task_plan
        assert plan is not None  # only task and map instance slots are launched
        value = self._revalidate(record, plan.signature)
        if value is _UNSERVABLE:
            return False
        slot.value = value
        slot.attempts = record.attempts
        slot.started_at = record.started_at
        slot.ended_at = record.ended_at
        self.written.add(slot.id)
        return True

    def finish(
        self, result: RunResult[Any], slots: Iterable[Slot]
    ) -> RunStoreError | None:
        """Record the run's end and the slots it settled only at the end.

        Writes nothing after an earlier failure (the result already says
        so): the store keeps the run as a killed run's (``running``, with
        the tasks recorded before), which a resume finishes once the store
        is fixed.

        Returns:
            The store's failure if recording the end failed, else ``None``.
        """
        if self.error is not None:
            return None
        try:
            self.store.finish_run(
                self.run_id,
                status=result.status.value,
                ended_at=result.ended_at,
                error_message=result.error_message,
                tasks=[
                    task_record(slot) for slot in slots if slot.id not in self.written
                ],
            )
        except Exception as exc:  # a RunStore is user code at the run's edge
            self._failed(exc, f"record the end of run {self.run_id!r}", None)
            return self.error
        return None

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


def task_record(slot: Slot) -> TaskRecord:
    """Return a settled slot as the store records it."""
    status = slot.status or TaskStatus.NOT_RUN
    value_json = None
    # Only a task's own value is stored; a map or sub-workflow is rebuilt.
    if status is TaskStatus.SUCCEEDED and (
        slot.node.kind == "task" or slot.owner is not None
    ):
        value_json = to_json_text(slot.value)
    error = slot.error
    return TaskRecord(
        task_id=slot.id,
        name=slot.name,
        status=status,
        value_json=value_json,
        error_type=None if error is None else type(error).__qualname__,
        error_message=None if error is None else error_message(error),
        attempts=slot.attempts,
        started_at=slot.started_at,
        ended_at=slot.ended_at,
    )


def plan_resume(
    store: RunStore | None, wf: Workflow[..., Any], run_id: str
) -> tuple[Plan, dict[str, object], Resumption]:
    """Load a run, trace the workflow with its inputs again, and check they fit.

    Raises:
        ResumeError: No store, an unknown run, another workflow's run, inputs
            that were not stored, or a recorded task the workflow lacks.
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
    for task_id in run.tasks:
        if not has_task(plan, task_id):
            msg = (
                f"Workflow {name!r} has no task {task_id!r}, which run {run_id!r} "
                "recorded: the workflow changed since that run; resume with the "
                "workflow as it was, or start a new run with wf.run(...)"
            )
            raise ResumeError(msg, run_id=run_id, workflow=name, task_id=task_id)
    served = {key: task for key, task in run.tasks.items() if task.resumable}
    return plan, inputs, Resumption(run_id=run_id, served=served)


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
