"""The default runner: process-wide by set_default_runner, scoped by use_runner.

A ``use_runner`` block changes the default for its own thread or asyncio
task only; these tests run two at once (tasks, then threads) and check
that each sees its own, and that every block restores what it found.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from fiscus_dsl import (
    Runner,
    default_runner,
    set_default_runner,
    task,
    use_runner,
    workflow,
)
from fiscus_dsl.testing import FakeClock

if TYPE_CHECKING:
    from collections.abc import Iterator

FIRST = datetime(2030, 1, 1, tzinfo=UTC)
SECOND = datetime(2040, 1, 1, tzinfo=UTC)


@task
def which() -> Runner:
    return default_runner()


@workflow
def whose() -> Runner:
    return which()


@pytest.fixture
def process_default() -> Iterator[Runner]:
    """Install a runner of the test's own as the process-wide default."""
    runner = Runner(clock=FakeClock())
    previous = set_default_runner(runner)
    yield runner
    set_default_runner(previous)


def _runner_from(start: datetime) -> Runner:
    return Runner(clock=FakeClock(start))


def _started_at(start: datetime) -> datetime:
    return start + timedelta(seconds=1)


def test_use_runner_makes_its_runner_the_default_in_the_block(
    process_default: Runner,
) -> None:
    scoped = _runner_from(FIRST)

    with use_runner(scoped) as given:
        inside = default_runner()
        result = whose.run()

    assert given is scoped
    assert inside is scoped
    assert result.started_at == _started_at(FIRST), "the run used the scoped runner"
    assert default_runner() is process_default


def test_use_runner_restores_the_previous_default_when_the_block_raises(
    process_default: Runner,
) -> None:
    def block() -> None:
        with use_runner(_runner_from(FIRST)):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match=r"^boom$"):
        block()

    assert default_runner() is process_default


def test_use_runner_blocks_nest(process_default: Runner) -> None:
    outer, inner = _runner_from(FIRST), _runner_from(SECOND)

    with use_runner(outer):
        with use_runner(inner):
            innermost = default_runner()
        after_inner = default_runner()

    assert (innermost, after_inner) == (inner, outer)
    assert default_runner() is process_default


def test_set_default_runner_in_a_block_changes_only_the_process_default(
    process_default: Runner,
) -> None:
    scoped, other = _runner_from(FIRST), _runner_from(SECOND)

    with use_runner(scoped):
        previous = set_default_runner(other)
        inside = default_runner()
    after = default_runner()
    set_default_runner(previous)

    assert previous is process_default
    assert inside is scoped
    assert after is other


async def test_concurrent_tasks_each_see_their_own_default_runner(
    process_default: Runner,
) -> None:
    rendezvous = asyncio.Barrier(2)  # both runs are in flight at once
    entered = asyncio.Barrier(2)  # both blocks are entered before either runs

    @task
    async def meet() -> Runner:
        await rendezvous.wait()
        return default_runner()

    @workflow
    def flow() -> Runner:
        return meet()

    async def run_on(start: datetime) -> tuple[bool, datetime]:
        runner = _runner_from(start)
        with use_runner(runner):
            await entered.wait()
            result = await flow.arun()
        return result.output is runner, result.started_at

    outcomes = await asyncio.gather(run_on(FIRST), run_on(SECOND))

    assert list(outcomes) == [
        (True, _started_at(FIRST)),
        (True, _started_at(SECOND)),
    ]
    assert default_runner() is process_default


def test_threads_each_see_their_own_default_runner(process_default: Runner) -> None:
    rendezvous = threading.Barrier(3, timeout=10)
    runners = {"first": _runner_from(FIRST), "second": _runner_from(SECOND)}
    seen: dict[str, Runner] = {}

    def run_in_block(name: str) -> None:
        with use_runner(runners[name]):
            rendezvous.wait()  # every thread is in its block (or has none) now
            seen[name] = whose()

    def run_without_block() -> None:
        rendezvous.wait()
        seen["plain"] = whose()

    threads = [
        threading.Thread(target=run_in_block, args=("first",)),
        threading.Thread(target=run_in_block, args=("second",)),
        threading.Thread(target=run_without_block),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert seen == {**runners, "plain": process_default}


async def test_a_sync_run_inside_a_loop_keeps_the_scoped_default() -> None:
    scoped = _runner_from(FIRST)

    with use_runner(scoped):
        result = whose.run()  # runs on a worker thread, with this context

    assert result.output is scoped
    assert result.started_at == _started_at(FIRST)
