"""The invoker: the one pipeline every task call goes through.

A task called inside a workflow, called outside one (a one-task plan), a
step of the dict API and a call an ``Executor`` runs elsewhere all reach
its body here, in this order: resolve the arguments, ``before_task`` hooks
(which may replace them), validate them against the annotations, then
attempts (each bounded by the task's ``timeout``, retried as its ``Retry``
says, with ``on_retry`` hooks before each wait), then ``after_task`` hooks.

The deadline of an attempt covers the task's hooks too: the first
attempt's deadline starts before the ``before_task`` hooks, and the
``after_task`` hooks run under the deadline of the attempt that succeeded.
A hook that raises or runs past the deadline fails the task with that
error and is never retried (``SkipTask`` from a ``before_task`` hook skips
it instead). Synchronous hooks run in a worker thread, like synchronous
task bodies, so a slow hook delays only its own task. Knows no HTTP.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar, final

from fiscus_dsl._runtime import hooks as dispatch
from fiscus_dsl._runtime import logs, telemetry
from fiscus_dsl._runtime.attempts import CURRENT_ATTEMPT, Attempt
from fiscus_dsl._runtime.end_user import CURRENT_USER
from fiscus_dsl._runtime.hooks import TaskContext, merge_hooks
from fiscus_dsl._runtime.resolve import resolve
from fiscus_dsl._runtime.symbols import contains_symbol
from fiscus_dsl.errors import SkipTask, TaskTimeoutError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from opentelemetry.trace import Span, Tracer

    from fiscus_dsl._dsl.hooks import Hooks
    from fiscus_dsl._dsl.task import TaskPlan
    from fiscus_dsl._runtime.executor import Executor
    from fiscus_dsl._runtime.slots import Slot
    from fiscus_dsl._types import Sleep


@final
@dataclass(frozen=True, slots=True)
class Invoker:
    """What a run gives the pipeline: where bodies run, how to wait, the ids.

    Attributes:
        executor: Where task bodies run.
        sleep: Awaited between retries.
        uniform: The jitter source of retry delays.
        run_id: The run's id.
        tracer: The run's tracer, or ``None`` when telemetry is a no-op.
        inline: The executor is the in-process one: call async bodies directly.
        planning: A dry-run plan: no hooks, and arguments holding a value the
            plan does not know (a ``Symbol``) are not validated.
    """

    executor: Executor
    sleep: Sleep
    uniform: Callable[[float, float], float]
    run_id: str
    tracer: Tracer | None
    inline: bool
    planning: bool = False

    async def invoke(self, slot: Slot, span: Span | None) -> object:
        """Call one task slot through the whole pipeline and return its value."""
        plan = slot.task_plan
        assert plan is not None  # task and map slots always have one
        node = slot.node
        if slot.owner is None and node.invalid is not None:
            raise node.invalid
        arguments = call_arguments(slot)
        if self.planning:
            return await self._plan(slot, plan, arguments)
        chain = merge_hooks(slot.scope.hooks, plan.options.hooks)
        if not chain and plan.is_direct and self.inline:  # the hot path, inline
            signature = plan.signature
            arguments = signature.validate(
                arguments, workflow=slot.scope.workflow, task_id=slot.id
            )
            slot.attempts = 1
            args, kwargs = signature.call_parts(arguments)
            if plan.is_async:
                return await plan.function(*args, **kwargs)  # type: ignore[misc]  # is_async: it returns an awaitable
            return await self.executor.call(
                plan.function,
                args,
                kwargs,
                is_async=False,
                task=node.task,  # type: ignore[arg-type]  # task slots have one
            )
        timeout = plan.options.timeout
        deadline = None if timeout is None else _loop_time() + timeout
        ctx = None
        if chain:
            ctx = TaskContext(
                run_id=self.run_id,
                workflow=slot.scope.workflow,
                task_id=slot.id,
                task_name=plan.name,
                args=arguments,
                user=CURRENT_USER.get(),
            )
            ctx = await _within(
                slot, deadline, timeout, dispatch.run_before_task(chain, ctx)
            )
            arguments = dict(ctx.args)
        arguments = plan.signature.validate(
            arguments, workflow=slot.scope.workflow, task_id=slot.id
        )
        value, deadline = await self._attempts(
            slot, plan, arguments, chain, ctx, span, deadline
        )
        if ctx is None:
            return value
        final = replace(ctx, args=arguments, attempt=slot.attempts)
        return await _within(
            slot, deadline, timeout, dispatch.run_after_task(chain, final, value)
        )

    async def _attempts(
        self,
        slot: Slot,
        plan: TaskPlan,
        arguments: dict[str, object],
        chain: tuple[Hooks, ...],
        ctx: TaskContext | None,
        span: Span | None,
        deadline: float | None,
    ) -> tuple[object, float | None]:
        """Try the body until it succeeds or the policy gives up.

        Returns the value and the deadline of the attempt that succeeded.
        """
        options = plan.options
        retry = options.retry
        timeout = options.timeout
        args, kwargs = plan.signature.call_parts(arguments)
        while True:
            slot.attempts += 1
            if timeout is not None and slot.attempts > 1:
                deadline = _loop_time() + timeout
            token = CURRENT_ATTEMPT.set(self._attempt(slot, plan))
            try:
                call: Awaitable[object]
                if self.inline and plan.is_async:  # no layer between: it is awaited
                    call = plan.function(*args, **kwargs)  # type: ignore[assignment]  # is_async: an awaitable
                else:
                    call = self.executor.call(
                        plan.function,
                        args,
                        kwargs,
                        is_async=plan.is_async,
                        task=slot.node.task,  # type: ignore[arg-type]  # task slots have one
                    )
                if deadline is None:
                    return await call, deadline
                return await _within(slot, deadline, timeout, call), deadline
            except SkipTask:
                raise
            except Exception as exc:  # a failed attempt: the policy decides
                delay = (
                    -1.0
                    if retry is None
                    else retry.decide(slot.attempts, exc, self.uniform)
                )
                if delay < 0:
                    raise  # the task boundary scrubs it (outcomes.failure)
                logs.scrub_error(exc)  # before a hook, a log line or a span sees it
                logs.task_retried(
                    slot.scope.workflow,
                    slot.id,
                    attempt=slot.attempts,
                    delay=delay,
                    error=exc,
                )
                if span is not None:
                    telemetry.record_retry(
                        span, attempt=slot.attempts, error=exc, delay=delay
                    )
                if ctx is not None:
                    retry_ctx = replace(ctx, args=arguments, attempt=slot.attempts)
                    await dispatch.run_on_retry(chain, retry_ctx, exc, delay)
                await self.sleep(delay)
            finally:
                CURRENT_ATTEMPT.reset(token)

    async def _plan(
        self, slot: Slot, plan: TaskPlan, arguments: dict[str, object]
    ) -> object:
        """Hand one step of a dry-run plan to the planning executor, once."""
        if not contains_symbol(arguments):  # known values: checked as a run would
            arguments = plan.signature.validate(
                arguments, workflow=slot.scope.workflow, task_id=slot.id
            )
        slot.attempts = 1
        args, kwargs = plan.signature.call_parts(arguments)
        token = CURRENT_ATTEMPT.set(self._attempt(slot, plan))
        try:
            return await self.executor.call(
                plan.function,
                args,
                kwargs,
                is_async=plan.is_async,
                task=slot.node.task,  # type: ignore[arg-type]  # task slots have one
            )
        finally:
            CURRENT_ATTEMPT.reset(token)

    def _attempt(self, slot: Slot, plan: TaskPlan) -> Attempt:
        return Attempt(
            run_id=self.run_id,
            workflow=slot.scope.workflow,
            task_id=slot.id,
            task_name=plan.name,
            number=slot.attempts,
            tracer=self.tracer,
            sleep=self.sleep,
        )


def call_arguments(slot: Slot) -> dict[str, object]:
    """Return the arguments a task slot is called with, resolved from its inputs."""
    node = slot.node
    fast = node.fast
    if fast is not None:  # literals and whole values of steps that succeeded
        slots = slot.scope.slots
        arguments = {
            name: literal
            if source is None
            else slots[source].value
            if type(source) is str
            else [slots[ref].value for ref in source]
            for name, source, literal in fast
        }
    else:
        arguments = {name: resolve(spec, slot) for name, spec in node.args.items()}
    if slot.item is not None:
        arguments.update(slot.item)
    return arguments


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


T = TypeVar("T")


async def _within(
    slot: Slot, deadline: float | None, limit: float | None, step: Awaitable[T]
) -> T:
    """Await ``step`` before ``deadline``; past it, raise ``TaskTimeoutError``."""
    if deadline is None or limit is None:
        return await step
    bound = asyncio.timeout_at(deadline)
    try:
        async with bound:
            return await step
    except TimeoutError as exc:
        if bound.expired():
            raise TaskTimeoutError(
                task_id=slot.id, timeout=limit, attempt=max(slot.attempts, 1)
            ) from exc
        raise
