"""``Runner``: trace a workflow with its inputs, run the graph, report a ``RunResult``.

The runner owns what every run shares (concurrency limit, hooks, tracer
provider, executor, and the injectable sleep and clock) and hands one run at
a time to a ``Scheduler``. ``run`` is the sync form: it works inside a
running event loop too (a notebook) by running the loop in a worker thread.
The default runner is the ``use_runner`` block's, held in a ``ContextVar``
so that threads and tasks never see each other's, else the process-wide
one of ``set_default_runner``.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import functools
import sys
import threading
import uuid
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast, final

from fiscus_dsl._dsl.hooks import Hooks, as_hooks
from fiscus_dsl._dsl.options import check_runner
from fiscus_dsl._dsl.run_entry import install_engine
from fiscus_dsl._runtime import telemetry
from fiscus_dsl._runtime.end_user import acting_for, split_user
from fiscus_dsl._runtime.executor import Executor, InProcessExecutor
from fiscus_dsl._runtime.journal import plan_resume
from fiscus_dsl._runtime.overrides import effective_clock, effective_sleep
from fiscus_dsl._runtime.results import RunResult, TaskStatus
from fiscus_dsl._runtime.run import Run, RunSettings
from fiscus_dsl._runtime.store_url import (
    ENVIRONMENT_VARIABLE,
    environment_store_url,
    store_opener,
)
from fiscus_dsl._runtime.sync_calls import run_sync
from fiscus_dsl.errors import WorkflowFailed

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from types import CoroutineType

    from opentelemetry.trace import TracerProvider

    from fiscus_dsl._dsl.plan import Plan
    from fiscus_dsl._dsl.workflow import Workflow
    from fiscus_dsl._runtime.end_user import EndUser
    from fiscus_dsl._runtime.journal import Resumption
    from fiscus_dsl._runtime.store import RunStore
    from fiscus_dsl._types import Clock, Sleep

T = TypeVar("T")
DEFAULT_MAX_CONCURRENCY = 256
_BLOCKING = (TaskStatus.FAILED, TaskStatus.SKIPPED)


utc_now: Final = functools.partial(datetime.now, UTC)
"""The default clock: the current time as an aware UTC datetime.

``datetime.now(UTC)`` without a Python frame of its own: a run reads the
clock twice per task.
"""


def is_loop_running() -> bool:
    """Tell whether this thread is running an event loop (async code called us)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


# Serializes the first opening of runners' stores named by URL.
_OPENING: Final = threading.Lock()


class _Default(enum.Enum):
    """The store a runner gets when given none: ``FISCUS_STORE``'s, if set."""

    FROM_ENVIRONMENT = "FISCUS_STORE"


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
        sleep: Awaited between retries; inject a fake one in tests. A
            context-scoped override (``with FakeSleep():`` of the testing
            kit) comes first, read when a run starts.
        clock: Tells task start and end times; a context-scoped override
            (``with FakeClock():``) comes first, as for ``sleep``.
        store: Where runs are recorded, so that ``resume`` can finish a
            failed or killed run: a ``RunStore`` such as
            ``SQLiteRunStore("runs.db")``, or a store URL such as
            ``"sqlite:///runs.db"`` (checked here, opened when the
            first run is recorded); ``None`` records nothing. Left out,
            the store the ``FISCUS_STORE`` environment variable names,
            when set; otherwise nothing is recorded.

    Raises:
        ConfigurationError: An option is wrong, checked here
            (``OptionTypeError`` for a wrong type, e.g. ``executor=4``),
            or the store URL (given, or in ``FISCUS_STORE``) is not one.

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
        store: RunStore | str | _Default | None = _Default.FROM_ENVIRONMENT,
    ) -> None:
        check_runner(
            max_concurrency,
            {
                "tracer_provider": tracer_provider,
                "executor": executor,
                "store": None if isinstance(store, str | _Default) else store,
                "sleep": sleep,
                "clock": clock,
            },
        )
        self._opener: Callable[[], RunStore] | None = None
        if store is _Default.FROM_ENVIRONMENT:
            url = environment_store_url()
            store = None
            if url is not None:
                self._opener = store_opener(url, option=ENVIRONMENT_VARIABLE)
        elif isinstance(store, str):
            self._opener = store_opener(store)
            store = None
        self.max_concurrency = max_concurrency
        self.hooks = as_hooks(hooks)
        self.tracer_provider = tracer_provider
        self.executor: Executor = executor or InProcessExecutor()
        self.sleep: Sleep = sleep or asyncio.sleep
        self.clock: Clock = clock or utc_now
        self._store = store
        self._tracer = (
            telemetry.get_tracer(tracer_provider)
            if tracer_provider is not None
            else None
        )

    @property
    def store(self) -> RunStore | None:
        """Return the runner's store; one named by URL is opened on first use.

        Raises:
            RunStoreError: The URL's file cannot be opened.
        """
        if self._opener is not None:
            with _OPENING:
                if self._opener is not None:
                    self._store, self._opener = self._opener(), None
        return self._store

    # ------------------------------------------------------------ public runs

    def run(
        self, wf: Workflow[..., T], /, *args: object, **kwargs: object
    ) -> RunResult[T]:
        """Run a workflow and return its ``RunResult``; a failed run does not raise.

        ``user=`` (when the workflow has no input of that name) runs it for
        an end user: a ``FiscusUser``, whose policies and credentials its
        connectors then use.

        Raises:
            TracingError: The workflow misuses the DSL.
            WorkflowInputError: The inputs do not bind to its signature.
            ArgumentValidationError: An input does not match its annotation.
        """
        user, kwargs = split_user(
            wf.call_signature.parameter_names, kwargs, workflow=wf.name
        )
        inputs = wf.bind_inputs(args, kwargs)
        plan = wf.trace_plan(inputs, ())
        source = workflow_source(wf)
        return run_sync(lambda: self._arun_for(user, plan, inputs, source))

    async def arun(
        self, wf: Workflow[..., T], /, *args: object, **kwargs: object
    ) -> RunResult[T]:
        """Run a workflow from async code; see ``run``."""
        user, kwargs = split_user(
            wf.call_signature.parameter_names, kwargs, workflow=wf.name
        )
        inputs = wf.bind_inputs(args, kwargs)
        plan = wf.trace_plan(inputs, ())
        return await self._arun_for(user, plan, inputs, workflow_source(wf))

    async def _arun_for(
        self,
        user: EndUser | None,
        plan: Plan,
        inputs: dict[str, object],
        source: str | None,
    ) -> RunResult[Any]:
        """Run a plan for an end user (``user=``), or for none."""
        if user is None:
            return await self.arun_plan(plan, inputs, source=source)
        with acting_for(user):
            return await self.arun_plan(plan, inputs, source=source)

    def resume(
        self, wf: Workflow[..., T], run_id: str, /, *, force: bool = False
    ) -> RunResult[T]:
        """Finish a recorded run: serve the tasks that succeeded, run the rest.

        The run keeps its id (so idempotency keys stay the same) and its
        stored inputs, validated again. It may have started in another
        process or on another machine that shares the store. A task
        recorded as succeeded, called with the same inputs and with the
        same code, is not called: its stored value, validated against its
        return annotation, is its value, with ``reason`` saying it was
        resumed. A task whose inputs or code changed runs again.

        Args:
            wf: The workflow of the run.
            run_id: The run's id.
            force: Resume even though the workflow no longer has a task the
                run recorded (the tasks that still match are served).

        Raises:
            RunLocked: Another live process holds the run (it runs it now).
            ResumeError: The runner has no store, the store has no such run
                of this workflow, its inputs were not stored, or the
                workflow no longer has a task the run recorded (see
                ``force``).
            RunStoreError: The store could not be read. (A store that fails
                while the run goes on fails the run instead: see
                ``RunStoreError``.)
        """
        plan, inputs, resumption = plan_resume(self.store, wf, run_id, force=force)
        source = workflow_source(wf)
        return run_sync(
            lambda: self.arun_plan(plan, inputs, resume=resumption, source=source)
        )

    async def aresume(
        self, wf: Workflow[..., T], run_id: str, /, *, force: bool = False
    ) -> RunResult[T]:
        """Finish a recorded run from async code; see ``resume``.

        The run is read from the store in a worker thread, off the event loop.
        """
        store = self.store
        plan, inputs, resumption = await asyncio.to_thread(
            functools.partial(plan_resume, store, wf, run_id, force=force)
        )
        return await self.arun_plan(
            plan, inputs, resume=resumption, source=workflow_source(wf)
        )

    def call(self, wf: Workflow[..., T], /, *args: object, **kwargs: object) -> T:
        """Run a workflow and return its output, or raise ``WorkflowFailed``."""
        result = self.run(wf, *args, **kwargs)
        if not result.success:
            raise WorkflowFailed(result) from result.error  # type: ignore[arg-type]  # RunResult is covariant in use
        return result.output  # type: ignore[return-value]  # a succeeded run's output is the workflow's value

    def run_standalone(self, plan: Plan) -> object:
        """Run a one-task plan; return the task's value or raise its error."""
        return run_sync(lambda: self.arun_standalone(plan))

    def call_standalone(self, plan: Plan, *, is_async: bool) -> object:
        """Run the one-task plan of a task called outside any workflow.

        An ``async def`` task (``is_async``) called while an event loop is
        running returns a coroutine that runs it when awaited, as calling
        any ``async def`` does; otherwise this is ``run_standalone``.
        """
        if not (is_async and is_loop_running()):
            return self.run_standalone(plan)
        coroutine = cast(
            "CoroutineType[Any, Any, object]",  # what an async def's call returns
            self.arun_standalone(plan),
        )
        # "coroutine 'fetch' was never awaited" names the task, not the runner.
        coroutine.__name__ = coroutine.__qualname__ = plan.name
        return coroutine

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
        source: str | None = None,
    ) -> RunResult[Any]:
        """Run a compiled plan with its inputs (or resume a run).

        ``source`` says where the workflow is defined, for the store.
        """
        run = Run(
            plan,
            inputs,
            run_id=uuid.uuid4().hex if resume is None else resume.run_id,
            settings=RunSettings(
                hooks=self.hooks,
                tracer=self._tracer or telemetry.get_tracer(None),
                executor=self.executor,
                sleep=effective_sleep(self.sleep),
                clock=effective_clock(self.clock),
                max_concurrency=self.max_concurrency,
                store=self.store,
                source=source,
            ),
            resume=resume,
        )
        return await run.execute()


def workflow_source(wf: Workflow[..., Any]) -> str | None:
    """Return where a workflow is defined: ``module:name``, or ``file.py:name``.

    A workflow of a package's module is named by the module, which the
    package's install makes importable anywhere. One of a top-level module
    (a script, ``__main__``, a file ``fiscus run`` loaded) is named by its
    file, relative to the current folder when under it: such a module is
    importable only from its own folder. One defined in a function has no
    source a later process could import.
    """
    function: Callable[..., object] = wf.__wrapped__
    qualname = function.__qualname__
    if "<locals>" in qualname:
        return None
    module = function.__module__
    file = getattr(sys.modules.get(module), "__file__", None)
    if "." in module or (file is None and module != "__main__"):
        return f"{module}:{qualname}"
    if file is None:
        return None
    path = Path(file).resolve()
    with suppress(ValueError):
        path = path.relative_to(Path.cwd())
    return f"{path}:{qualname}"


# The process-wide default (``set_default_runner``), made on first use, and
# the default of the current context (``use_runner``), which wins over it.
_PROCESS_DEFAULT: Final[list[Runner]] = []
_PROCESS_LOCK: Final = threading.Lock()
_SCOPED_DEFAULT: Final[contextvars.ContextVar[Runner | None]] = contextvars.ContextVar(
    "fiscus_default_runner", default=None
)


def default_runner() -> Runner:
    """Return the runner that ``wf(...)``, ``wf.run(...)`` and direct task calls use.

    That is the runner of the innermost ``use_runner`` block around the
    caller, in this thread or asyncio task; outside any, the process-wide
    default of ``set_default_runner`` (a ``Runner()`` made on first use).
    """
    scoped = _SCOPED_DEFAULT.get()
    if scoped is not None:
        return scoped
    with _PROCESS_LOCK:
        if not _PROCESS_DEFAULT:
            _PROCESS_DEFAULT.append(Runner())
        return _PROCESS_DEFAULT[0]


def set_default_runner(runner: Runner | None) -> Runner | None:
    """Replace the process-wide default runner; return the previous one.

    ``None`` resets it: a fresh ``Runner()`` is made on next use. Every
    thread and task sees the new default, except inside a ``use_runner``
    block, whose runner stays the default there. To change the default for
    one block only (a test, a request), use ``use_runner``.

    Examples:
        >>> from fiscus_dsl import Runner, default_runner, set_default_runner
        >>> mine = Runner(max_concurrency=8)
        >>> previous = set_default_runner(mine)
        >>> default_runner() is mine
        True
        >>> set_default_runner(previous) is mine
        True
    """
    with _PROCESS_LOCK:
        previous = _PROCESS_DEFAULT[0] if _PROCESS_DEFAULT else None
        _PROCESS_DEFAULT.clear()
        if runner is not None:
            _PROCESS_DEFAULT.append(runner)
    return previous


@contextmanager
def use_runner(runner: Runner) -> Iterator[Runner]:
    """Make ``runner`` the default runner inside the block, then restore the last one.

    The default changes only for code running in this thread or asyncio
    task (and the tasks and worker threads its runs start): another
    thread or a concurrent task keeps its own default. Blocks nest, and the
    previous default comes back when the block ends, even by an exception.

    Args:
        runner: The runner that ``wf(...)``, ``wf.run(...)`` and direct
            task calls use inside the block.

    Yields:
        ``runner``.

    Examples:
        >>> from fiscus_dsl import Runner, default_runner, task, use_runner
        >>> @task
        ... def one() -> int:
        ...     return 1
        >>> with use_runner(Runner(max_concurrency=1)) as runner:
        ...     default_runner() is runner, one()
        (True, 1)
        >>> default_runner() is runner
        False
    """
    token = _SCOPED_DEFAULT.set(runner)
    try:
        yield runner
    finally:
        _SCOPED_DEFAULT.reset(token)


install_engine(default_runner)
