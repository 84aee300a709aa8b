"""The run entry points of ``Workflow`` and ``Task``: how the DSL reaches a runner.

The DSL builds plans and runs nothing. ``wf(...)``, ``wf.run(...)``,
``await wf.arun(...)``, ``wf.resume(run_id)`` and a task called outside a
workflow hand their plan to the default runner through the ``Engine``
protocol below. The runtime installs the function that returns the default
runner when it is imported (``install_engine``), so no module of the DSL
imports the runtime: the layers stay ``_graph`` ← ``_dsl`` ← ``_runtime``
with no edge running back up. ``import fiscus_dsl`` imports the runtime,
so the engine is always installed before anything can run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from fiscus_dsl._connectors.plan_model import Plan as DryRun
    from fiscus_dsl._dsl.plan import Plan
    from fiscus_dsl._dsl.workflow import Workflow
    from fiscus_dsl._runtime.results import RunResult

T = TypeVar("T")


class Engine(Protocol):
    """What the run entry points need of a runner (``Runner`` provides it)."""

    def run(self, wf: Workflow[..., T], /, *args: Any, **kwargs: Any) -> RunResult[T]:
        """Run a workflow and return its ``RunResult``."""
        ...

    async def arun(
        self, wf: Workflow[..., T], /, *args: Any, **kwargs: Any
    ) -> RunResult[T]:
        """Run a workflow from async code and return its ``RunResult``."""
        ...

    def call(self, wf: Workflow[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a workflow; return its output or raise ``WorkflowFailed``."""
        ...

    def resume(
        self, wf: Workflow[..., T], run_id: str, /, *, force: bool = False
    ) -> RunResult[T]:
        """Finish a recorded run of a workflow."""
        ...

    async def aresume(
        self, wf: Workflow[..., T], run_id: str, /, *, force: bool = False
    ) -> RunResult[T]:
        """Finish a recorded run from async code."""
        ...

    def run_standalone(self, plan: Plan) -> object:
        """Run a one-task plan; return its value or raise its error."""
        ...

    async def arun_standalone(self, plan: Plan) -> object:
        """Run a one-task plan from async code."""
        ...

    def call_standalone(self, plan: Plan, *, is_async: bool) -> object:
        """Run a direct task call: a coroutine for an async task in a running loop."""
        ...


_ENGINE: list[Callable[[], Engine]] = []


def install_engine(default_engine: Callable[[], Engine]) -> None:
    """Say how to find the default runner; the runtime calls this on import."""
    _ENGINE[:] = [default_engine]


def engine() -> Engine:
    """Return the default runner, as the installed function finds it."""
    return _ENGINE[0]()


class Planner(Protocol):
    """What ``wf.plan`` and ``wf.aplan`` need: dry-run planning (``_connectors``)."""

    def plan_workflow(
        self,
        wf: Workflow[..., Any],
        args: Sequence[object],
        kwargs: Mapping[str, object],
        *,
        responses: Mapping[str, object] | None,
        run_id: str | None,
    ) -> DryRun:
        """Plan a run of ``wf`` and return the plan."""
        ...

    async def aplan_workflow(
        self,
        wf: Workflow[..., Any],
        args: Sequence[object],
        kwargs: Mapping[str, object],
        *,
        responses: Mapping[str, object] | None,
        run_id: str | None,
    ) -> DryRun:
        """Plan a run of ``wf`` from async code."""
        ...


_PLANNER: list[Callable[[], Planner]] = []


def install_planner(find: Callable[[], Planner]) -> None:
    """Say how to find the planner; ``import fiscus_dsl`` calls this."""
    _PLANNER[:] = [find]


def planner() -> Planner:
    """Return the planner, as the installed function finds it."""
    return _PLANNER[0]()
