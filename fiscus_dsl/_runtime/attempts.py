"""The attempt loop: call a task's function, retrying as its policy says.

The ``Retry`` policy decides (give up, or wait this long); this loop does
the waiting with the runner's injected sleep, bounds each attempt by the
task's ``timeout``, runs ``on_retry`` hooks and records retry events.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, final

from fiscus_dsl._runtime import hooks as dispatch
from fiscus_dsl._runtime import telemetry
from fiscus_dsl.errors import SkipTask, TaskTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.trace import Span, Tracer

    from fiscus_dsl._dsl.hooks import Hooks
    from fiscus_dsl._dsl.task import TaskPlan
    from fiscus_dsl._runtime.executor import Executor
    from fiscus_dsl._runtime.hooks import TaskContext
    from fiscus_dsl._runtime.slots import Slot
    from fiscus_dsl._types import Sleep


@final
@dataclass(frozen=True, slots=True)
class AttemptRuntime:
    """What the attempt loop takes from the runner: executor, sleep, jitter."""

    executor: Executor
    sleep: Sleep
    uniform: Callable[[float, float], float]
    run_id: str
    tracer: Tracer | None


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """The task attempt in progress, for code running inside it (connectors).

    Attributes:
        run_id: The run's id.
        workflow: The workflow's name.
        task_id: The task's id in the run.
        task_name: The task's name.
        number: The attempt number, 1 for the first try.
        tracer: The runner's tracer, or ``None`` when telemetry is a no-op.
        sleep: The runner's sleep, for any pause inside the attempt.
    """

    run_id: str
    workflow: str
    task_id: str
    task_name: str
    number: int
    tracer: Tracer | None
    sleep: Sleep


_CURRENT_ATTEMPT: ContextVar[Attempt | None] = ContextVar(
    "fiscus_attempt", default=None
)


def current_attempt() -> Attempt | None:
    """Return the attempt running now, or ``None`` outside a retried task."""
    return _CURRENT_ATTEMPT.get()


async def run_attempts(
    slot: Slot,
    plan: TaskPlan,
    arguments: dict[str, object],
    chain: tuple[Hooks, ...],
    ctx: TaskContext | None,
    span: Span | None,
    runtime: AttemptRuntime,
) -> object:
    """Try a task until it succeeds or its retry policy gives up.

    Each attempt may be bounded by the task's ``timeout``; between attempts
    the policy's delay is awaited with the runner's sleep, after the
    ``on_retry`` hooks ran and a retry event was added to the span.
    """
    options = plan.options
    retry = options.retry
    args, kwargs = plan.signature.call_parts(arguments)
    while True:
        slot.attempts += 1
        token = _CURRENT_ATTEMPT.set(
            Attempt(
                run_id=runtime.run_id,
                workflow=slot.scope.workflow,
                task_id=slot.id,
                task_name=plan.name,
                number=slot.attempts,
                tracer=runtime.tracer,
                sleep=runtime.sleep,
            )
        )
        try:
            if options.timeout is None:
                return await runtime.executor.call(
                    plan.function, args, kwargs, is_async=plan.is_async
                )
            return await _with_timeout(
                slot, options.timeout, plan, args, kwargs, runtime.executor
            )
        except SkipTask:
            raise
        except Exception as exc:  # the task boundary: the retry policy decides
            delay = (
                -1.0
                if retry is None
                else retry.decide(slot.attempts, exc, runtime.uniform)
            )
            if delay < 0:
                raise
            if span is not None:
                telemetry.record_retry(
                    span, attempt=slot.attempts, error=exc, delay=delay
                )
            if ctx is not None:
                retry_ctx = replace(ctx, args=arguments, attempt=slot.attempts)
                await dispatch.run_on_retry(chain, retry_ctx, exc, delay)
            await runtime.sleep(delay)
        finally:
            _CURRENT_ATTEMPT.reset(token)


async def _with_timeout(
    slot: Slot,
    limit: float,
    plan: TaskPlan,
    args: tuple[object, ...],
    kwargs: dict[str, object],
    executor: Executor,
) -> object:
    deadline = asyncio.timeout(limit)
    try:
        async with deadline:
            return await executor.call(
                plan.function, args, kwargs, is_async=plan.is_async
            )
    except TimeoutError as exc:
        if deadline.expired():
            raise TaskTimeoutError(
                task_id=slot.id, timeout=limit, attempt=slot.attempts
            ) from exc
        raise
