"""FakeSleep and FakeClock: given to a runner, or made the time of a block.

As blocks they are context-scoped: two asyncio tasks or two threads with
blocks of their own each see only their own time, and the time a block
replaced comes back when it ends, also by an exception.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from fiscus_dsl import Retry, Runner, task, workflow
from fiscus_dsl._runtime.overrides import CLOCK_OVERRIDE, SLEEP_OVERRIDE
from fiscus_dsl.testing import FakeClock, FakeSleep

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from fiscus_dsl import Workflow

START = datetime(2030, 6, 1, tzinfo=UTC)
HOUR = 3600.0
SLOW = 7.0  # a backoff whose delays stay under Retry's max_delay


async def _no_wait() -> None:
    return None


def _flaky_flow(
    backoff: float, first_attempt: Callable[[], Awaitable[object]] = _no_wait
) -> Workflow[[], int]:
    """Return a workflow whose task fails twice, then returns its attempt count.

    ``first_attempt`` is awaited by the first attempt before it fails.
    """
    attempts: list[int] = []

    @task(retry=Retry(attempts=3, backoff=backoff, jitter=False))
    async def flaky() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            await first_attempt()
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return len(attempts)

    @workflow
    def flow() -> int:
        return flaky()

    return flow


# ---------------------------------------------------------------- FakeSleep


async def test_fake_sleep_records_each_delay_and_returns_at_once() -> None:
    sleep = FakeSleep()

    await sleep(HOUR)
    await sleep(0.5)

    assert sleep.delays == [HOUR, 0.5]
    assert repr(sleep) == "<FakeSleep, 2 delay(s)>"


def test_a_runner_given_a_fake_sleep_waits_with_it() -> None:
    sleep = FakeSleep()

    result = Runner(sleep=sleep).run(_flaky_flow(SLOW))

    assert result.output == 3
    assert sleep.delays == [SLOW, 2 * SLOW]


def test_a_fake_sleep_block_makes_the_retries_of_every_runner_instant() -> None:
    own = FakeSleep()

    with FakeSleep() as sleep:
        plain = Runner().run(_flaky_flow(SLOW))
        given = Runner(sleep=own).run(_flaky_flow(1.0))

    assert (plain.output, given.output) == (3, 3)
    assert sleep.delays == [SLOW, 2 * SLOW, 1.0, 2.0]
    assert own.delays == [], "the block's sleep comes first"
    assert SLEEP_OVERRIDE.get() is None


def test_fake_sleep_blocks_nest() -> None:
    with FakeSleep() as outer:
        with FakeSleep() as inner:
            Runner().run(_flaky_flow(1.0))
        Runner().run(_flaky_flow(5.0))

    assert inner.delays == [1.0, 2.0]
    assert outer.delays == [5.0, 10.0]


def test_a_fake_sleep_block_is_undone_when_it_raises() -> None:
    def block() -> None:
        with FakeSleep():
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match=r"^boom$"):
        block()

    assert SLEEP_OVERRIDE.get() is None


async def test_concurrent_tasks_each_see_their_own_fake_sleep() -> None:
    rendezvous = asyncio.Barrier(2)  # both runs are in flight at once
    entered = asyncio.Barrier(2)  # both blocks are entered before either runs

    async def run_with(backoff: float) -> list[float]:
        with FakeSleep() as sleep:
            await entered.wait()
            result = await _flaky_flow(backoff, rendezvous.wait).arun()
        assert result.output == 3
        return sleep.delays

    delays = await asyncio.gather(run_with(1.0), run_with(SLOW))

    assert list(delays) == [[1.0, 2.0], [SLOW, 2 * SLOW]]


def test_threads_each_see_their_own_fake_sleep() -> None:
    rendezvous = threading.Barrier(2, timeout=10)
    delays: dict[float, list[float]] = {}

    def run_with(backoff: float) -> None:
        with FakeSleep() as sleep:
            rendezvous.wait()  # both threads are in their blocks now
            Runner().run(_flaky_flow(backoff))
        delays[backoff] = sleep.delays

    threads = [threading.Thread(target=run_with, args=(b,)) for b in (1.0, SLOW)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert delays == {1.0: [1.0, 2.0], SLOW: [SLOW, 2 * SLOW]}


# ---------------------------------------------------------------- FakeClock


def test_fake_clock_moves_one_step_per_reading() -> None:
    clock = FakeClock(START, step=timedelta(minutes=1))

    readings = [clock(), clock()]

    assert readings == [START + timedelta(minutes=1), START + timedelta(minutes=2)]
    assert (clock.now, clock.readings) == (readings[-1], 2)
    assert repr(clock) == "<FakeClock at 2030-06-01T00:02:00+00:00, 2 reading(s)>"


def test_a_fake_clock_starts_at_the_start_of_2024_by_default() -> None:
    assert FakeClock().now == datetime(2024, 1, 1, tzinfo=UTC)


def test_a_fake_clock_block_times_the_runs_of_every_runner() -> None:
    with FakeClock(START) as clock:
        result = Runner().run(_flaky_flow(0.0))

    assert result.started_at == START + timedelta(seconds=1)
    assert result.ended_at == clock.now
    assert CLOCK_OVERRIDE.get() is None


def test_a_fake_clock_block_is_undone_when_it_raises() -> None:
    def block() -> None:
        with FakeClock():
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match=r"^boom$"):
        block()

    assert CLOCK_OVERRIDE.get() is None


async def test_concurrent_tasks_each_see_their_own_fake_clock() -> None:
    rendezvous = asyncio.Barrier(2)
    entered = asyncio.Barrier(2)  # both blocks are entered before either runs
    later = START + timedelta(days=365)

    async def run_from(start: datetime) -> datetime:
        with FakeClock(start):
            await entered.wait()
            result = await _flaky_flow(0.0, rendezvous.wait).arun()
        return result.started_at

    started = await asyncio.gather(run_from(START), run_from(later))

    assert list(started) == [
        START + timedelta(seconds=1),
        later + timedelta(seconds=1),
    ]
