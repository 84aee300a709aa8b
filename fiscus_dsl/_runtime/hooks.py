"""Hook dispatch: calling before/after/on_retry hooks in order, sync or async.

Registration and signature checks live in ``_dsl.hooks`` (``Hooks``); this
module runs them. Before-hooks run outermost first (runner, workflow, task),
after-hooks innermost first, as wrappers do. A ``Hooks`` object attached at
several levels (the runner, a workflow and its sub-workflow) is called once
per event (``merge_hooks``). Async hooks run on the event loop; sync hooks
run in a worker thread with the caller's context, so a slow one stalls only
the task or run it belongs to, never the loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, final

from fiscus_dsl._runtime.executor import DaemonThreads
from fiscus_dsl.errors import HookSignatureError

if TYPE_CHECKING:
    from fiscus_dsl._dsl.hooks import HookFunction, Hooks
    from fiscus_dsl._runtime.end_user import EndUser
    from fiscus_dsl._types import NodeId


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskContext:
    """What a task hook is told about the task.

    Attributes:
        run_id: The run's id.
        workflow: The workflow's name.
        task_id: The task's id in the run.
        task_name: The task's name.
        args: The arguments by parameter name (after earlier hooks replaced them).
        attempt: The attempt number (1 for the first try).
        user: The end user the run acts for (a ``FiscusUser``), or ``None``.
    """

    run_id: str
    workflow: str
    task_id: NodeId
    task_name: str
    args: Mapping[str, Any]
    attempt: int = 1
    user: EndUser | None = None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class RunContext:
    """What a workflow hook is told about the run.

    Attributes:
        run_id: The run's id.
        workflow: The workflow's name.
        inputs: The inputs the run was started with.
    """

    run_id: str
    workflow: str
    inputs: Mapping[str, Any]


HOOK_THREADS: Final = 8
"""How many synchronous hooks may run at once, in the process."""


@functools.cache
def _hook_threads() -> DaemonThreads:
    """Return the worker threads of sync hooks, started on first use.

    A pool of its own, not the event loop's default executor: a hook that
    outlives its task's deadline keeps its thread without holding up the end
    of ``asyncio.run`` (a thread cannot be stopped from outside), nor the
    process's exit (daemon threads, as for sync task bodies).
    """
    return DaemonThreads(HOOK_THREADS, name="fiscus-hook")


async def call_hook(function: HookFunction, *args: object) -> object:
    """Call a hook: await an async one, run a sync one in a worker thread."""
    if inspect.iscoroutinefunction(function):
        return await function(*args)
    context = contextvars.copy_context()  # spans and the attempt reach the thread
    call = functools.partial(context.run, function, *args)
    returned = await asyncio.get_running_loop().run_in_executor(_hook_threads(), call)
    if inspect.isawaitable(returned):  # a sync callable that returned a coroutine
        returned = await returned
    return returned


def merge_hooks(
    outer: tuple[Hooks, ...], inner: Hooks | Sequence[Hooks] | None
) -> tuple[Hooks, ...]:
    """Return ``outer`` then ``inner``, each ``Hooks`` object once, first place kept."""
    if inner is None:
        return outer
    added = (inner,) if not isinstance(inner, Sequence) else tuple(inner)
    if not outer:
        return added
    merged = (*outer, *added)
    if len({id(hooks) for hooks in merged}) == len(merged):
        return merged
    return tuple({id(hooks): hooks for hooks in merged}.values())


def _functions(chain: Sequence[Hooks], kind: str) -> list[HookFunction]:
    return [function for hooks in chain for function in getattr(hooks, kind)]


async def run_before_task(chain: Sequence[Hooks], ctx: TaskContext) -> TaskContext:
    """Run the before-task hooks in order; a mapping they return replaces the args."""
    for function in _functions(chain, "before_task"):
        replaced = await call_hook(function, ctx)
        if replaced is None:
            continue
        if not isinstance(replaced, Mapping):
            name = getattr(function, "__qualname__", repr(function))
            msg = (
                f"before_task hook {name} returned {type(replaced).__name__} for task "
                f"{ctx.task_id!r}; return None, or a mapping of the arguments to use"
            )
            raise HookSignatureError(msg, hook="before_task")
        ctx = TaskContext(
            run_id=ctx.run_id,
            workflow=ctx.workflow,
            task_id=ctx.task_id,
            task_name=ctx.task_name,
            args=dict(replaced),
            attempt=ctx.attempt,
            user=ctx.user,
        )
    return ctx


async def run_after_task(
    chain: Sequence[Hooks], ctx: TaskContext, value: object
) -> object:
    """Run the after-task hooks innermost first; each may replace the value."""
    for function in reversed(_functions(chain, "after_task")):
        replaced = await call_hook(function, ctx, value)
        if replaced is not None:
            value = replaced
    return value


async def run_on_retry(
    chain: Sequence[Hooks], ctx: TaskContext, error: BaseException, delay: float
) -> None:
    """Run the on-retry hooks in order."""
    for function in _functions(chain, "on_retry"):
        await call_hook(function, ctx, error, delay)


async def run_before_workflow(chain: Sequence[Hooks], run: RunContext) -> None:
    """Run the before-workflow hooks in order."""
    for function in _functions(chain, "before_workflow"):
        await call_hook(function, run)


async def run_after_workflow(
    chain: Sequence[Hooks], run: RunContext, result: object
) -> None:
    """Run the after-workflow hooks innermost first."""
    for function in reversed(_functions(chain, "after_workflow")):
        await call_hook(function, run, result)
