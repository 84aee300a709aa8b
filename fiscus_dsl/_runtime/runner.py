"""``Runner``: trace a workflow with its inputs, run the graph, report a ``RunResult``.

The runner owns what every run shares (concurrency limit, hooks, tracer
provider, executor, and the injectable sleep and clock) and hands one run at
a time to a ``Scheduler``. ``run`` is the sync form: it works inside a
running event loop too (a notebook) by running the loop in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, final

from fiscus_dsl._dsl.hooks import Hooks, as_hooks
from fiscus_dsl._dsl.run_entry import install_engine
from fiscus_dsl._runtime import telemetry
from fiscus_dsl._runtime.executor import Executor, InProcessExecutor
from fiscus_dsl._runtime.journal import plan_resume
from fiscus_dsl._runtime.results import RunResult, TaskStatus
from fiscus_dsl._runtime.run import Run, RunSettings
from fiscus_dsl.errors import WorkflowFailed

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Sequence

    from opentelemetry.trace import TracerProvider

    from fiscus_dsl._dsl.plan import Plan
    from fiscus_dsl._dsl.workflow import Workflow
    from fiscus_dsl._runtime.journal import Resumption
    from fiscus_dsl._runtime.store import RunStore
    from fiscus_dsl._types import Clock, Sleep

T = TypeVar("T")
DEFAULT_MAX_CONCURRENCY = 256
_BLOCKING = (TaskStatus.FAILED, TaskStatus.SKIPPED)


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


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
        if max_concurrency is not None and max_concurrency < 1:
            msg = (
                f"Runner(max_concurrency={max_concurrency!r}) must be at least 1, "
                "or None for no limit"
            )
            raise ValueError(msg)
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
        plan = wf.trace_plan(inputs, ())
        return run_sync(lambda: self.arun_plan(plan, inputs))

    async def arun(
        self, wf: Workflow[..., T], /, *args: object, **kwargs: object
    ) -> RunResult[T]:
        """Run a workflow from async code; see ``run``."""
        inputs = wf.bind_inputs(args, kwargs)
        return await self.arun_plan(wf.trace_plan(inputs, ()), inputs)

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
        plan, inputs, resumption = plan_resume(self.store, wf, run_id)
        return run_sync(lambda: self.arun_plan(plan, inputs, resume=resumption))

    async def aresume(self, wf: Workflow[..., T], run_id: str, /) -> RunResult[T]:
        """Finish a recorded run from async code; see ``resume``."""
        plan, inputs, resumption = plan_resume(self.store, wf, run_id)
        return await self.arun_plan(plan, inputs, resume=resumption)

    def call(self, wf: Workflow[..., T], /, *args: object, **kwargs: object) -> T:
        """Run a workflow and return its output, or raise ``WorkflowFailed``."""
        result = self.run(wf, *args, **kwargs)
        if not result.success:
            raise WorkflowFailed(result) from result.error  # type: ignore[arg-type]  # RunResult is covariant in use
        return result.output  # type: ignore[return-value]  # a succeeded run's output is the workflow's value

    def run_standalone(self, plan: Plan) -> object:
        """Run a one-task plan; return the task's value or raise its error."""
        return run_sync(lambda: self.arun_standalone(plan))

    async def arun_standalone(self, plan: Plan) -> object:
        """Run a one-task plan from async code; see ``run_standalone``."""
        result = await self.arun_plan(plan, {})
        node_id = plan.nodes[0].id
        task_result = result.tasks[node_id]
        if task_result.error is not None:
            raise task_result.error
        return task_result.value

    # ------------------------------------------------------------ the engine

    async def arun_plan(
        self,
        plan: Plan,
        inputs: dict[str, object],
        *,
        resume: Resumption | None = None,
    ) -> RunResult[Any]:
        """Run a compiled plan with its inputs (or resume a run)."""
        run = Run(
            plan,
            inputs,
            run_id=uuid.uuid4().hex if resume is None else resume.run_id,
            settings=RunSettings(
                hooks=self.hooks,
                tracer=self._tracer or telemetry.get_tracer(None),
                executor=self.executor,
                sleep=self.sleep,
                clock=self.clock,
                max_concurrency=self.max_concurrency,
                store=self.store,
            ),
            served={} if resume is None else resume.served,
        )
        return await run.execute()


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


install_engine(default_runner)
