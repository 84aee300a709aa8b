"""Hooks that cannot stall a run: worker threads, deadlines, once per event."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from fiscus_dsl import (
    Hooks,
    Retry,
    Runner,
    TaskContext,
    TaskStatus,
    TaskTimeoutError,
    task,
    workflow,
)

if TYPE_CHECKING:
    from fiscus_dsl.testing import FakeSleep

WAIT = 5.0  # a bound for threads waiting on each other; never reached when correct


def test_a_blocking_sync_hook_does_not_stall_the_other_tasks(runner: Runner) -> None:
    released = threading.Event()
    seen: dict[str, bool] = {}

    def before(ctx: TaskContext) -> None:
        if ctx.task_id == "slow":
            # Released by the other task's body: if this hook ran on the event
            # loop, that task could never start and the wait would time out.
            seen["released"] = released.wait(WAIT)
            seen["thread"] = threading.current_thread().name.startswith("fiscus-hook")

    @task(name="slow")
    async def slow() -> str:
        return "slow"

    @task(name="fast")
    async def fast() -> str:
        released.set()
        return "fast"

    @workflow(hooks=Hooks(before_task=before))
    def flow() -> list[str]:
        return [slow(), fast()]

    result = runner.run(flow)

    assert result.output == ["slow", "fast"]
    assert seen == {"released": True, "thread": True}


def test_a_tasks_timeout_covers_its_before_hooks(runner: Runner) -> None:
    called: list[str] = []

    async def hangs(ctx: TaskContext) -> None:
        await asyncio.Event().wait()  # never set: only the deadline ends it

    @task(timeout=0.05, before=hangs, retry=Retry(attempts=3))
    async def send() -> str:
        called.append("send")
        return "sent"

    @workflow
    def flow() -> str:
        return send()

    result = runner.run(flow)

    outcome = result["send"]
    assert outcome.status is TaskStatus.FAILED
    assert isinstance(outcome.error, TaskTimeoutError)
    assert outcome.error.timeout == 0.05
    assert called == []  # the body never ran
    assert outcome.attempts == 0  # a hook that overran is not retried


def test_a_tasks_timeout_covers_its_after_hooks_and_is_not_retried(
    runner: Runner, fake_sleep: FakeSleep
) -> None:
    released = threading.Event()
    calls: list[int] = []

    def after(ctx: TaskContext, value: object) -> None:
        released.wait(WAIT)  # a slow sync after-hook, in its worker thread

    @task(timeout=0.05, after=after, retry=Retry(attempts=3))
    async def send() -> str:
        calls.append(1)
        return "sent"

    @workflow
    def flow() -> str:
        return send()

    try:
        result = runner.run(flow)
    finally:
        released.set()

    outcome = result["send"]
    assert outcome.status is TaskStatus.FAILED
    assert isinstance(outcome.error, TaskTimeoutError)
    assert calls == [1]  # the body succeeded once and was not sent again
    assert fake_sleep.delays == []


def test_the_same_hooks_on_runner_workflow_and_sub_workflow_fire_once(
    fake_sleep: FakeSleep,
) -> None:
    seen: list[str] = []
    hooks = Hooks(
        before_task=lambda ctx: seen.append(f"before {ctx.task_id}"),
        before_workflow=lambda run: seen.append(f"start {run.workflow}"),
    )

    @task(before=None)
    def leaf() -> int:
        return 1

    @workflow(hooks=hooks)
    def inner() -> int:
        return leaf()

    @workflow(hooks=hooks)
    def outer() -> int:
        return inner()

    Runner(hooks=hooks, sleep=fake_sleep).run(outer)

    assert seen == ["start outer", "before inner/leaf"]


def test_a_failing_hook_fails_its_task_with_its_error_and_is_not_retried(
    runner: Runner,
) -> None:
    calls: list[int] = []

    def before(ctx: TaskContext) -> None:
        msg = "audit log is down"
        raise RuntimeError(msg)

    @task(before=before, retry=Retry(attempts=3))
    def send() -> None:
        calls.append(1)

    @workflow
    def flow() -> None:
        send()

    result = runner.run(flow)

    assert result["send"].status is TaskStatus.FAILED
    assert isinstance(result["send"].error, RuntimeError)
    assert str(result["send"].error) == "audit log is down"
    assert calls == []
