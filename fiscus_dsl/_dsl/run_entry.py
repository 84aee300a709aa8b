"""The run entry points of ``Workflow`` and ``Task``: the DSL's way into the runtime.

The DSL builds graphs and runs nothing; these functions are what ``wf(...)``,
``wf.run(...)``, ``await wf.arun(...)``, ``wf.resume(run_id)`` and a task
called outside a workflow use to reach the default runner. They import the
runtime inside their bodies: the one sanctioned upward edge, declared in the
import-linter layers contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import CoroutineType

    from fiscus_dsl._dsl.tracing import TracedWorkflow
    from fiscus_dsl._dsl.workflow import Workflow
    from fiscus_dsl._runtime.results import RunResult


def run_value(traced: TracedWorkflow) -> object:
    """Run a one-task graph; return its value or raise the task's error."""
    from fiscus_dsl._runtime.runner import default_runner

    return default_runner().run_standalone(traced)


def call_value(traced: TracedWorkflow, *, is_async: bool) -> object:
    """Run the one-task graph of a task called outside any workflow.

    An ``async def`` task called from a running event loop returns a
    coroutine that runs it when awaited, as calling any ``async def`` does;
    otherwise the task runs at once and its value is returned (inside a
    running loop, a sync task runs on a fresh loop in a worker thread).
    """
    from fiscus_dsl._runtime.runner import default_runner, is_loop_running

    if is_async and is_loop_running():
        coroutine = cast(
            "CoroutineType[Any, Any, object]",  # an async def's call is one
            default_runner().arun_standalone(traced),
        )
        # "coroutine 'fetch' was never awaited" names the task, not the runner.
        coroutine.__name__ = coroutine.__qualname__ = traced.name
        return coroutine
    return default_runner().run_standalone(traced)


async def arun_value(traced: TracedWorkflow) -> object:
    """Run a one-task graph from async code; see ``run_value``."""
    from fiscus_dsl._runtime.runner import default_runner

    return await default_runner().arun_standalone(traced)


def call_workflow(
    wf: Workflow[..., Any], args: Sequence[object], kwargs: Mapping[str, object]
) -> object:
    """Run a workflow; return its output or raise ``WorkflowFailed``."""
    from fiscus_dsl._runtime.runner import default_runner

    return default_runner().call(wf, *args, **kwargs)


def run_workflow(
    wf: Workflow[..., Any], args: Sequence[object], kwargs: Mapping[str, object]
) -> RunResult[Any]:
    """Run a workflow and return its ``RunResult``."""
    from fiscus_dsl._runtime.runner import default_runner

    return default_runner().run(wf, *args, **kwargs)


async def arun_workflow(
    wf: Workflow[..., Any], args: Sequence[object], kwargs: Mapping[str, object]
) -> RunResult[Any]:
    """Run a workflow from async code and return its ``RunResult``."""
    from fiscus_dsl._runtime.runner import default_runner

    return await default_runner().arun(wf, *args, **kwargs)


def resume_workflow(wf: Workflow[..., Any], run_id: str) -> RunResult[Any]:
    """Resume a recorded run of a workflow on the default runner."""
    from fiscus_dsl._runtime.runner import default_runner

    return default_runner().resume(wf, run_id)


async def aresume_workflow(wf: Workflow[..., Any], run_id: str) -> RunResult[Any]:
    """Resume a recorded run from async code; see ``resume_workflow``."""
    from fiscus_dsl._runtime.runner import default_runner

    return await default_runner().aresume(wf, run_id)
