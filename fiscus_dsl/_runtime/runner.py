"""``Runner``: trace a workflow with its inputs, run the graph, report a ``RunResult``.

The runner owns what every run shares (concurrency limit, hooks, tracer
provider, executor, and the injectable sleep and clock) and hands one run at
a time to a ``Scheduler``. ``run`` is the sync form: it works inside a
running event loop too (a notebook) by running the loop in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, final

from opentelemetry import context as otel_context

from fiscus_dsl._dsl.hooks import Hooks, as_hooks
from fiscus_dsl._dsl.options import check_runner
from fiscus_dsl._graph.model import construct_trusted
from fiscus_dsl._runtime import hooks as dispatch
from fiscus_dsl._runtime import telemetry
from fiscus_dsl._runtime.dependencies import past_tense, value_dependencies
from fiscus_dsl._runtime.executor import Executor, InProcessExecutor
from fiscus_dsl._runtime.hooks import RunContext
from fiscus_dsl._runtime.journal import Journal, plan_resume
from fiscus_dsl._runtime.lifecycle import RunExit, enter_run, leave_run
from fiscus_dsl._runtime.results import RunResult, RunStatus, TaskResult, TaskStatus
from fiscus_dsl._runtime.scheduler import Scheduler
from fiscus_dsl.errors import ProjectionError, WorkflowFailed

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Sequence

    from opentelemetry.trace import TracerProvider

    from fiscus_dsl._dsl.tracing import TracedWorkflow
    from fiscus_dsl._dsl.workflow import Workflow
    from fiscus_dsl._runtime.journal import Resumption
    from fiscus_dsl._runtime.slots import Slot
    from fiscus_dsl._runtime.store import RunStore
    from fiscus_dsl._types import Clock, Sleep

T = TypeVar("T")
DEFAULT_MAX_CONCURRENCY = 256
_BLOCKING = (TaskStatus.FAILED, TaskStatus.SKIPPED)


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def is_loop_running() -> bool:
    """Tell whether this thread is running an event loop (async code called us)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running loop.

    Inside a running loop (a notebook, an async framework), the coroutine
    runs on a fresh loop in a worker thread, with the caller's context.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fiscus-run") as pool:
        return pool.submit(context.run, lambda: asyncio.run(make())).result()


@final
class Runner:
    """Run workflows: concurrency, hooks, telemetry and the clock of every run.

    Args:
        max_concurrency: The most tasks running at once in one run (``None``:
            no limit). Defaults to 256.
        hooks: ``Hooks`` applied to every task and run.
        tracer_provider: The OpenTelemetry provider for spans; by default the
            global one (a no-op until the application installs the SDK).
        executor: Where task bodies run; in-process by default.
        sleep: Awaited between retries; inject a fake one in tests.
        clock: Tells task start and end times.
        store: Where runs are recorded, so that ``resume`` can finish a
            failed or killed run (``SQLiteRunStore("runs.sqlite3")``);
            ``None`` (the default) records nothing.

    Raises:
        ConfigurationError: An option is wrong, checked here
            (``OptionTypeError`` for a wrong type, e.g. ``executor=4``).

    Examples:
        >>> from fiscus_dsl import Runner, task, workflow
        >>> @task
        ... def one() -> int:
        ...     return 1
        >>> @workflow
        ... def flow() -> int:
        ...     return one()
        >>> Runner(max_concurrency=4).run(flow).output
        1
    """

    def __init__(
        self,
        *,
        max_concurrency: int | None = DEFAULT_MAX_CONCURRENCY,
        hooks: Hooks | Sequence[Hooks] | None = None,
        tracer_provider: TracerProvider | None = None,
        executor: Executor | None = None,
        sleep: Sleep | None = None,
        clock: Clock | None = None,
        store: RunStore | None = None,
    ) -> None:
        check_runner(
            max_concurrency,
            {
                "tracer_provider": tracer_provider,
                "executor": executor,
                "store": store,
                "sleep": sleep,
                "clock": clock,
            },
        )
        self.max_concurrency = max_concurrency
        self.hooks = as_hooks(hooks)
        self.tracer_provider = tracer_provider
        self.executor: Executor = executor or InProcessExecutor()
        self.sleep: Sleep = sleep or asyncio.sleep
        self.clock: Clock = clock or utc_now
        self.store = store
        self._tracer = (
            telemetry.get_tracer(tracer_provider)
            if tracer_provider is not None
            else None
        )

    # ------------------------------------------------------------ public runs

    def run(
        self, wf: Workflow[..., T], /, *args: object, **kwargs: object
    ) -> RunResult[T]:
        """Run a workflow and return its ``RunResult``; a failed run does not raise.

        Raises:
            TracingError: The workflow misuses the DSL.
            WorkflowInputError: The inputs do not bind to its signature.
            ArgumentValidationError: An input does not match its annotation.
        """
        inputs = wf.bind_inputs(args, kwargs)
        traced = wf.trace_with(inputs, ())
        return run_sync(lambda: self.arun_traced(traced, inputs))

    async def arun(
        self, wf: Workflow[..., T], /, *args: object, **kwargs: object
    ) -> RunResult[T]:
        """Run a workflow from async code; see ``run``."""
        inputs = wf.bind_inputs(args, kwargs)
        return await self.arun_traced(wf.trace_with(inputs, ()), inputs)

    def resume(self, wf: Workflow[..., T], run_id: str, /) -> RunResult[T]:
        """Finish a recorded run: serve the tasks that succeeded, run the rest.

        The run keeps its id (so idempotency keys stay the same) and its
        stored inputs, validated again. A task recorded as succeeded is
        not called: its stored value, validated against its return
        annotation, is its value, with ``reason`` saying it was resumed.

        Raises:
            ResumeError: The runner has no store, the store has no such run
                of this workflow, its inputs were not stored, or the
                workflow no longer has a task the run recorded.
        """
        traced, inputs, resumption = plan_resume(self.store, wf, run_id)
        return run_sync(lambda: self.arun_traced(traced, inputs, resume=resumption))

    async def aresume(self, wf: Workflow[..., T], run_id: str, /) -> RunResult[T]:
        """Finish a recorded run from async code; see ``resume``."""
        traced, inputs, resumption = plan_resume(self.store, wf, run_id)
        return await self.arun_traced(traced, inputs, resume=resumption)

    def call(self, wf: Workflow[..., T], /, *args: object, **kwargs: object) -> T:
        """Run a workflow and return its output, or raise ``WorkflowFailed``."""
        result = self.run(wf, *args, **kwargs)
        if not result.success:
            raise WorkflowFailed(result) from result.error  # type: ignore[arg-type]  # RunResult is covariant in use
        return result.output  # type: ignore[return-value]  # a succeeded run's output is the workflow's value

    def run_standalone(self, traced: TracedWorkflow) -> object:
        """Run a one-task graph; return the task's value or raise its error."""
        return run_sync(lambda: self.arun_standalone(traced))

    async def arun_standalone(self, traced: TracedWorkflow) -> object:
        """Run a one-task graph from async code; see ``run_standalone``."""
        result = await self.arun_traced(traced, {})
        node_id = traced.graph.nodes[0].id
        task_result = result.tasks[node_id]
        if task_result.error is not None:
            raise task_result.error
        return task_result.value

    # ------------------------------------------------------------ the engine

    async def arun_traced(
        self,
        traced: TracedWorkflow,
        inputs: dict[str, object],
        *,
        resume: Resumption | None = None,
    ) -> RunResult[Any]:
        """Run an already traced workflow with its inputs (or resume a run)."""
        run_id = uuid.uuid4().hex if resume is None else resume.run_id
        run = RunContext(run_id=run_id, workflow=traced.name, inputs=inputs)
        chain = (*self.hooks, *traced.hooks)
        started_at = self.clock()
        journal = None
        if self.store is not None and not traced.standalone:
            journal = Journal(
                self.store, run_id, {} if resume is None else resume.served
            )
            journal.start(traced.name, inputs, started_at)
        scheduler = Scheduler(
            traced,
            run_id=run_id,
            inputs=inputs,
            tracer=self._tracer or telemetry.get_tracer(None),
            executor=self.executor,
            sleep=self.sleep,
            clock=self.clock,
            uniform=random.uniform,
            max_concurrency=self.max_concurrency,
            hooks=self.hooks,
            journal=journal,
        )
        hook_error = None
        if chain:
            hook_error = await _guarded_hook(
                "before_workflow", traced.name, dispatch.run_before_workflow(chain, run)
            )
        if hook_error is None:
            run_exit = RunExit()
            token = enter_run(run_exit)
            try:
                await scheduler.run(otel_context.get_current())
            except BaseException:  # cancelled: the spans end, the cancel goes on
                scheduler.end_open_spans()
                scheduler.end_root_span(
                    status="cancelled", failure="the run was cancelled"
                )
                raise
            finally:
                leave_run(token)
                await run_exit.aclose()
        result = self._result(scheduler, traced, run_id, started_at, hook_error)
        scheduler.end_open_spans()
        scheduler.end_root_span(
            status=result.status.value, failure=result.error_message
        )
        if chain:
            hook_error = await _guarded_hook(
                "after_workflow",
                traced.name,
                dispatch.run_after_workflow(chain, run, result),
            )
            if hook_error is not None:
                result = _failed_by(result, hook_error)
        if journal is not None:
            journal.finish(result, scheduler.slots)
        return result

    def _result(
        self,
        scheduler: Scheduler,
        traced: TracedWorkflow,
        run_id: str,
        started_at: datetime,
        hook_error: HookFailure | None,
    ) -> RunResult[Any]:
        failure = scheduler.failure
        _finalize(scheduler)
        output: object = None
        error_message = None
        error: BaseException | None = None
        if hook_error is not None:
            error, error_message = hook_error.error, hook_error.message
        elif failure is not None:
            error, error_message = failure.error, _failure_message(failure)
        else:
            try:
                output = scheduler.output_of(scheduler.root)
            except ProjectionError as exc:
                error, error_message = exc, str(exc)
        tasks = {slot.id: _task_result(slot) for slot in scheduler.slots}
        return RunResult.model_construct(
            run_id=run_id,
            workflow=traced.name,
            status=RunStatus.FAILED if error_message else RunStatus.SUCCEEDED,
            output=output,
            error_message=error_message,
            tasks=tasks,
            graph=traced.graph,
            started_at=started_at,
            ended_at=self.clock(),
            _error=error,
        )


@final
@dataclass(frozen=True, slots=True)
class HookFailure:
    """A workflow hook that raised: the run fails, with the hook named."""

    error: Exception
    message: str


async def _guarded_hook(
    kind: str, workflow: str, call: Coroutine[Any, Any, None]
) -> HookFailure | None:
    """Await a workflow hook; an error it raises fails the run rather than escaping."""
    try:
        await call
    except Exception as exc:  # a hook is user code at the run's boundary
        message = (
            f"Hook {kind} of workflow {workflow!r} raised {type(exc).__name__}: "
            f"{exc}; fix the hook (the error is RunResult.error)"
        )
        return HookFailure(exc, message)
    return None


def _failed_by(result: RunResult[Any], hook_error: HookFailure) -> RunResult[Any]:
    """Return the result of a run whose after_workflow hook raised."""
    fields = {name: getattr(result, name) for name in type(result).model_fields}
    fields.update(
        status=RunStatus.FAILED, output=None, error_message=hook_error.message
    )
    return RunResult.model_construct(**fields, _error=hook_error.error)


def _failure_message(failure: Slot) -> str:
    error = failure.error
    kind = "Sub-workflow" if failure.node.kind == "workflow" else "Task"
    return (
        f"{kind} {failure.id!r} in workflow {failure.scope.workflow!r} failed: "
        f"{type(error).__name__}: {error}"
    )


def _finalize(scheduler: Scheduler) -> None:
    """Give every slot that never settled its status: failed, skipped or not run."""
    failure = scheduler.failure
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
            slot.reason = (
                "the run stopped before it started" if failure is not None else None
            )


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


_DEFAULT: list[Runner] = []


def default_runner() -> Runner:
    """Return the runner that ``wf(...)``, ``wf.run(...)`` and direct task calls use."""
    if not _DEFAULT:
        _DEFAULT.append(Runner())
    return _DEFAULT[0]


def set_default_runner(runner: Runner | None) -> Runner | None:
    """Replace the default runner (``None``: a fresh one); return the previous one."""
    previous = _DEFAULT[0] if _DEFAULT else None
    _DEFAULT.clear()
    if runner is not None:
        _DEFAULT.append(runner)
    return previous
