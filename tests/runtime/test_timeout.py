"""Per-attempt timeouts: ``@task(timeout=...)`` and ``TaskTimeoutError``.

The one place where tests wait a few real milliseconds: a timeout can only
expire on the event loop's clock.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

import pytest

from fiscus_dsl import Retry, Runner, TaskStatus, TaskTimeoutError, task, workflow

if TYPE_CHECKING:
    from fiscus_dsl.testing import FakeSleep

TINY = 0.01


async def test_attempt_past_its_timeout_fails_with_task_timeout_error(
    runner: Runner,
) -> None:
    @task(timeout=TINY)
    async def hang() -> str:
        await asyncio.Event().wait()
        return "never"

    @workflow
    def flow() -> str:
        return hang()

    result = await runner.arun(flow)

    error = result["hang"].error
    assert result["hang"].status is TaskStatus.FAILED
    assert isinstance(error, TaskTimeoutError)
    with pytest.raises(
        TaskTimeoutError,
        match=r"Task 'hang' attempt 1 took longer than its timeout of 0.01s",
    ):
        raise error
    assert error.task_id == "hang"
    assert error.timeout == TINY
    assert error.attempt == 1
    assert isinstance(error, TimeoutError)
    assert isinstance(error.__cause__, TimeoutError)


async def test_timed_out_attempt_is_retried(
    runner: Runner, fake_sleep: FakeSleep
) -> None:
    calls = 0

    @task(timeout=TINY, retry=Retry(attempts=2, backoff=0.5, jitter=False))
    async def sometimes_hangs() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()
        return "ok"

    @workflow
    def flow() -> str:
        return sometimes_hangs()

    result = await runner.arun(flow)

    assert result.output == "ok"
    assert result["sometimes_hangs"].attempts == 2
    assert fake_sleep.delays == [0.5]


async def test_every_attempt_timing_out_fails_with_the_last_attempt(
    runner: Runner,
) -> None:
    @task(timeout=TINY, retry=Retry(attempts=2, jitter=False))
    async def hang() -> str:
        await asyncio.Event().wait()
        return "never"

    @workflow
    def flow() -> str:
        return hang()

    result = await runner.arun(flow)

    error = result["hang"].error
    assert isinstance(error, TaskTimeoutError)
    assert error.attempt == 2
    assert result["hang"].attempts == 2


async def test_timeout_error_raised_by_the_task_is_not_converted(
    runner: Runner,
) -> None:
    @task(timeout=5)
    async def upstream() -> str:
        raise TimeoutError("upstream gateway timed out")

    @workflow
    def flow() -> str:
        return upstream()

    result = await runner.arun(flow)

    error = result["upstream"].error
    assert type(error) is TimeoutError
    assert str(error) == "upstream gateway timed out"


async def test_task_within_its_timeout_succeeds(runner: Runner) -> None:
    @task(timeout=5)
    async def quick() -> str:
        return "done"

    @task(timeout=5)
    def quick_sync() -> str:
        return "done too"

    @workflow
    def flow() -> list[str]:
        return [quick(), quick_sync()]

    result = await runner.arun(flow)

    assert result.output == ["done", "done too"]


def test_a_sync_task_past_its_timeout_does_not_hold_up_the_run() -> None:
    release = threading.Event()

    @task(timeout=0.01)
    def stuck() -> int:
        release.wait(5)
        return 1

    @workflow
    def flow() -> int:
        return stuck()

    try:
        result = Runner().run(flow)
        assert isinstance(result["stuck"].error, TaskTimeoutError)
        assert not release.is_set()  # returned while the thread still waits
    finally:
        release.set()
