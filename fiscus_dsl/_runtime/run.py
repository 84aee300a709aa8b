"""``Run``: one run of a plan, from its first hook to its ``RunResult``.

A ``Run`` owns everything one run has: its id, inputs, hooks, the journal
of its store, its workflow span, its clean-ups, the clock and the sleep,
and the scheduler that executes the plan. ``execute`` follows one order:

1. open the workflow span (the run's hooks and tasks are inside it);
2. ``before_workflow`` hooks; one that raises fails the run before any task;
3. the scheduler runs the plan (cancelling the run ends every open span
   with status ``cancelled`` and lets the cancellation go on);
4. every task that never settled gets its status (failed, skipped, not run)
   and, when spans record, a span saying why;
5. ``after_workflow`` hooks; one that raises fails the run;
6. the journal records the run's end, the workflow span ends with its status.

A run store that fails fails the run: when it cannot record the start, no
task runs; in the middle, the run stops as after a failed task. Either way
the ``RunResult`` is failed with the ``RunStoreError`` as its error.

So the spans and the ``RunResult`` agree for every outcome. Knows no HTTP.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, final

from opentelemetry import context as otel_context
from opentelemetry import trace

from fiscus_dsl._graph.specs import construct_trusted
from fiscus_dsl._runtime import hooks as dispatch
from fiscus_dsl._runtime import logs, telemetry
from fiscus_dsl._runtime.dependencies import past_tense, value_dependencies
from fiscus_dsl._runtime.hooks import RunContext, merge_hooks
from fiscus_dsl._runtime.journal import Journal
from fiscus_dsl._runtime.lifecycle import RunExit, enter_run, leave_run
from fiscus_dsl._runtime.results import (
    RunResult,
    RunStatus,
    TaskResult,
    TaskStatus,
    count_statuses,
)
from fiscus_dsl._runtime.scheduler import Scheduler
from fiscus_dsl.errors import ProjectionError, RunLocked, RunStoreError

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from opentelemetry.trace import Span, Tracer

    from fiscus_dsl._dsl.hooks import Hooks
    from fiscus_dsl._dsl.plan import Plan
    from fiscus_dsl._runtime.executor import Executor
    from fiscus_dsl._runtime.journal import Resumption
    from fiscus_dsl._runtime.slots import Slot
    from fiscus_dsl._runtime.store import RunStore
    from fiscus_dsl._types import Clock, Sleep

_BLOCKING: Final = (TaskStatus.FAILED, TaskStatus.SKIPPED)
CANCELLED: Final = "cancelled"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RunSettings:
    """What a runner gives each of its runs."""

    hooks: tuple[Hooks, ...]
    tracer: Tracer
    executor: Executor
    sleep: Sleep
    clock: Clock
    max_concurrency: int | None
    store: RunStore | None
    #: Where the workflow is defined, recorded for ``fiscus runs resume``.
    source: str | None = None
    #: A dry-run plan (``wf.plan``): no hooks, no store, nothing stops it.
    planning: bool = False


@final
@dataclass(frozen=True, slots=True)
class HookFailure:
    """A workflow hook that raised: the run fails, with the hook named."""

    error: Exception
    message: str


@final
class Run:
    """One run of a plan; ``await run.execute()`` once."""

    __slots__ = (
        "context",
        "hooks",
        "journal",
        "plan",
        "run_id",
        "scheduler",
        "settings",
        "span",
        "started_at",
        "unsettled",
    )

    def __init__(
        self,
        plan: Plan,
        inputs: dict[str, object],
        *,
        run_id: str,
        settings: RunSettings,
        resume: Resumption | None = None,
    ) -> None:
        self.plan = plan
        self.run_id = run_id
        self.settings = settings
        self.context = RunContext(run_id=run_id, workflow=plan.name, inputs=inputs)
        self.hooks = (
            () if settings.planning else merge_hooks(settings.hooks, plan.hooks)
        )
        self.started_at = settings.clock()
        self.journal = None
        if settings.store is not None and not plan.standalone:
            self.journal = Journal(settings.store, run_id, resume)
        self.scheduler = Scheduler(
            plan,
            run_id=run_id,
            inputs=inputs,
            tracer=settings.tracer,
            executor=settings.executor,
            sleep=settings.sleep,
            clock=settings.clock,
            uniform=random.uniform,
            max_concurrency=settings.max_concurrency,
            hooks=settings.hooks,
            journal=self.journal,
            planning=settings.planning,
        )
        self.span: Span | None = None
        #: The slots that got their status when the run ended, not by running.
        self.unsettled: list[Slot] = []

    async def execute(self) -> RunResult[Any]:
        """Run the plan and return its ``RunResult``; see the module docstring.

        Raises:
            RunLocked: A resume found the run held by another live process.
            PlanShippingError: The executor ships bodies and a task of the
                plan cannot be referenced by its import path.
            ClusterError: The executor's cluster cannot be reached.
        """
        # Before anything is recorded or sent: an executor may refuse the plan.
        await self.settings.executor.prepare(self.plan)
        journal = self.journal
        if journal is not None:
            await journal.start(
                self.plan.name,
                self.context.inputs,
                self.started_at,
                self.settings.source,
            )
            if journal.resume is not None and isinstance(journal.error, RunLocked):
                raise journal.error
        if not (self.plan.standalone or self.settings.planning):
            logs.run_started(self.plan.name, self.run_id)
        parent = self._open_span()
        token = otel_context.attach(parent) if self.span is not None else None
        try:
            hook_error = await self._workflow_hook("before_workflow")
            if hook_error is None and (journal is None or journal.error is None):
                await self._schedule(parent)
            result = self._result(hook_error)
            self._end_unsettled()
            hook_error = await self._workflow_hook("after_workflow", result)
            if hook_error is not None:
                result = _failed_by(result, hook_error.error, hook_error.message)
        finally:
            if token is not None:
                otel_context.detach(token)
        if journal is not None:
            result = await self._record_end(journal, result)
        self._end_span(result.status.value, result.error_message)
        if not (self.plan.standalone or self.settings.planning):
            logs.run_finished(result)
        return result

    async def _record_end(
        self, journal: Journal, result: RunResult[Any]
    ) -> RunResult[Any]:
        """Record the run's end; a store that fails now fails the run."""
        error = await journal.finish(result, self.scheduler.slots)
        if error is None or result.error is error:  # none, or already the run's
            return result
        return _failed_by(result, error, _store_message(self.plan.name, error))

    def _open_span(self) -> otel_context.Context:
        parent = otel_context.get_current()
        tracer = self.scheduler.tracer
        if tracer is None or self.plan.standalone:
            return parent
        self.span = telemetry.start_workflow_span(
            tracer, self.plan.name, self.run_id, parent
        )
        return trace.set_span_in_context(self.span, parent)

    def _end_span(self, status: str, failure: str | None) -> None:
        if self.span is not None:
            telemetry.end_workflow_span(self.span, status=status, failure=failure)
            self.span = None

    async def _schedule(self, context: otel_context.Context) -> None:
        run_exit = RunExit()
        token = enter_run(run_exit)
        try:
            await self.scheduler.run(context)
        except BaseException:  # cancelled: the spans end, the cancel goes on
            self.scheduler.end_open_spans()
            self._end_span(CANCELLED, "the run was cancelled")
            if self.journal is not None:  # recorded as interrupted: resume it
                self.journal.interrupted(self.scheduler.slots, self.settings.clock())
            raise
        finally:
            leave_run(token)
            await run_exit.aclose()

    async def _workflow_hook(
        self, kind: str, result: RunResult[Any] | None = None
    ) -> HookFailure | None:
        """Run the workflow hooks of ``kind``; an error fails the run, never escapes."""
        if not self.hooks:
            return None
        call: Coroutine[Any, Any, None] = (
            dispatch.run_before_workflow(self.hooks, self.context)
            if result is None
            else dispatch.run_after_workflow(self.hooks, self.context, result)
        )
        try:
            await call
        except Exception as exc:  # a hook is user code at the run's boundary
            logs.scrub_error(exc)
            message = (
                f"Hook {kind} of workflow {self.plan.name!r} raised "
                f"{type(exc).__name__}: {exc}; fix the hook (the error is "
                "RunResult.error)"
            )
            return HookFailure(exc, message)
        return None

    def _result(self, hook_error: HookFailure | None) -> RunResult[Any]:
        scheduler = self.scheduler
        failure = scheduler.failure
        self.unsettled = _finalize(scheduler)
        output: object = None
        error_message = None
        error: BaseException | None = None
        if hook_error is not None:
            error, error_message = hook_error.error, hook_error.message
        elif failure is not None:
            error, error_message = failure.error, _failure_message(failure)
        elif self.journal is not None and self.journal.error is not None:
            error = self.journal.error
            error_message = _store_message(self.plan.name, error)
        else:
            try:
                output = scheduler.output_of(scheduler.root)
            except ProjectionError as exc:
                error, error_message = exc, str(exc)
        slots = scheduler.slots
        # tasks and graph are built when first read (RunResult._lazy).
        return RunResult.model_construct(  # type: ignore[call-arg]  # built later
            run_id=self.run_id,
            workflow=self.plan.name,
            status=RunStatus.FAILED if error_message else RunStatus.SUCCEEDED,
            output=output,
            error_message=error_message,
            started_at=self.started_at,
            ended_at=self.settings.clock(),
            _error=error,
            _lazy={
                "tasks": lambda: {slot.id: _task_result(slot) for slot in slots},
                "graph": self.plan.graph,
            },
            _counter=lambda: count_statuses(slot.status for slot in slots),
        )

    def _end_unsettled(self) -> None:
        """End the spans of sub-workflows left open, and span what never ran."""
        scheduler = self.scheduler
        scheduler.end_open_spans()
        if scheduler.tracer is not None:
            for slot in self.unsettled:
                scheduler.span_settled(slot)


def _failed_by(
    result: RunResult[Any], error: BaseException, message: str
) -> RunResult[Any]:
    """Return the result of a run failed at its end: a hook or the store."""
    failed = result.model_copy(
        update={"status": RunStatus.FAILED, "output": None, "error_message": message}
    )
    failed._error = error  # noqa: SLF001  (the runner's own result)
    return failed


def _store_message(workflow: str, error: RunStoreError | RunLocked) -> str:
    return f"Workflow {workflow!r} stopped: {error}"


def _failure_message(failure: Slot) -> str:
    error = failure.error
    kind = "Sub-workflow" if failure.node.kind == "workflow" else "Task"
    return (
        f"{kind} {failure.id!r} in workflow {failure.scope.workflow!r} failed: "
        f"{type(error).__name__}: {error}"
    )


def _finalize(scheduler: Scheduler) -> list[Slot]:
    """Give every slot that never settled its status: failed, skipped or not run.

    Returns those that still need a span: all but the sub-workflows a
    failure inside failed (their workflow span says so).
    """
    unsettled: list[Slot] = []
    failure = scheduler.failure
    journal = scheduler.journal
    stopped = failure is not None or (journal is not None and journal.error is not None)
    ancestors: set[int] = set()
    if failure is not None:
        owner = failure.owner or failure.scope.owner
        while owner is not None:
            ancestors.add(id(owner))
            owner = owner.owner or owner.scope.owner
    for slot in scheduler.slots:
        if slot.status is not None:
            continue
        if id(slot) in ancestors:
            assert failure is not None
            slot.status, slot.error, slot.reason = (
                TaskStatus.FAILED,
                failure.error,
                f"{failure.id!r} failed inside it",
            )
            continue
        unsettled.append(slot)
        blocked = next(
            (dep for dep in value_dependencies(slot) if dep.status in _BLOCKING), None
        )
        if blocked is not None:
            slot.status = TaskStatus.SKIPPED
            slot.reason = (
                f"needs the value of {blocked.id!r}, which {past_tense(blocked.status)}"
            )
        else:
            slot.status = TaskStatus.NOT_RUN
            slot.reason = "the run stopped before it started" if stopped else None
    return unsettled


def _task_result(slot: Slot) -> TaskResult:
    return construct_trusted(
        TaskResult,
        {
            "id": slot.id,
            "name": slot.name,
            "status": slot.status or TaskStatus.NOT_RUN,
            "value": slot.value,
            "error": slot.error,
            "attempts": slot.attempts,
            "reason": slot.reason,
            "started_at": slot.started_at,
            "ended_at": slot.ended_at,
        },
    )
