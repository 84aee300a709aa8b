"""The scheduler: concurrency, start-as-soon-as-ready, limits, threads, cancellation."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

import pytest

from fiscus_dsl import ConfigurationError, Runner, TaskStatus, task, workflow
from fiscus_dsl._runtime.dependencies import past_tense

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from fiscus_dsl import Task
    from fiscus_dsl._dsl.plan import Plan
    from fiscus_dsl.testing import FakeClock, FakeSleep

SUCCEEDED = TaskStatus.SUCCEEDED
FAILED = TaskStatus.FAILED
NOT_RUN = TaskStatus.NOT_RUN


async def test_independent_tasks_run_concurrently(runner: Runner) -> None:
    left_started = asyncio.Event()
    right_started = asyncio.Event()

    @task
    async def left() -> str:
        left_started.set()
        await right_started.wait()
        return "left"

    @task
    async def right() -> str:
        right_started.set()
        await left_started.wait()
        return "right"

    @workflow
    def both() -> list[str]:
        return [left(), right()]

    async with asyncio.timeout(5):
        result = await runner.arun(both)

    assert result.output == ["left", "right"]


async def test_task_starts_as_soon_as_its_inputs_are_ready(runner: Runner) -> None:
    dependent_done = asyncio.Event()
    order: list[str] = []

    @task
    async def slow() -> int:
        await dependent_done.wait()
        order.append("slow")
        return 1

    @task
    async def fast() -> int:
        order.append("fast")
        return 2

    @task
    async def after_fast(x: int) -> int:
        order.append("after_fast")
        dependent_done.set()
        return x + 1

    @workflow
    def flow() -> list[int]:
        return [slow(), after_fast(fast())]

    async with asyncio.timeout(5):
        result = await runner.arun(flow)

    assert order == ["fast", "after_fast", "slow"]
    assert result.output == [1, 3]


async def test_max_concurrency_bounds_the_tasks_in_flight(
    fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    runner = Runner(max_concurrency=2, sleep=fake_sleep, clock=fake_clock)
    in_flight = 0
    peak = 0

    @task
    async def work(n: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        in_flight -= 1
        return n

    @workflow
    def flow() -> list[int]:
        return [work(n) for n in range(10)]

    result = await runner.arun(flow)

    assert result.output == list(range(10))
    assert peak == 2


async def test_max_concurrency_bounds_mapped_instances(
    fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    runner = Runner(max_concurrency=3, sleep=fake_sleep, clock=fake_clock)
    in_flight = 0
    peak = 0

    @task
    async def work(n: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        in_flight -= 1
        return n * 10

    @workflow
    def flow() -> list[int]:
        return work.map(n=list(range(10)))

    result = await runner.arun(flow)

    assert result.output == [n * 10 for n in range(10)]
    assert peak == 3


async def test_max_concurrency_none_starts_every_ready_task_at_once(
    fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    runner = Runner(max_concurrency=None, sleep=fake_sleep, clock=fake_clock)
    everyone_in = asyncio.Event()
    started = 0

    @task
    async def work(n: int) -> int:
        nonlocal started
        started += 1
        if started == 10:
            everyone_in.set()
        await everyone_in.wait()
        return n

    @workflow
    def flow() -> list[int]:
        return [work(n) for n in range(10)]

    async with asyncio.timeout(5):
        result = await runner.arun(flow)

    assert result.output == list(range(10))
    assert runner.max_concurrency is None


@pytest.mark.parametrize("limit", [0, -3])
def test_max_concurrency_below_one_raises_a_configuration_error(limit: int) -> None:
    with pytest.raises(
        ConfigurationError,
        match=rf"^Runner\(max_concurrency={limit}\) must be at least 1, or None for "
        r"no limit$",
    ) as info:
        Runner(max_concurrency=limit)

    assert info.value.option == "max_concurrency"
    assert isinstance(info.value, ValueError)


async def test_sync_tasks_run_in_worker_threads(runner: Runner) -> None:
    @task
    def where() -> int:
        return threading.get_ident()

    @workflow
    def flow() -> int:
        return where()

    result = await runner.arun(flow)

    assert result.output != threading.get_ident()


async def test_async_tasks_run_on_the_event_loop_thread(runner: Runner) -> None:
    @task
    async def where() -> int:
        return threading.get_ident()

    @workflow
    def flow() -> int:
        return where()

    result = await runner.arun(flow)

    assert result.output == threading.get_ident()


def test_sync_tasks_run_concurrently_in_threads(runner: Runner) -> None:
    first_in = threading.Event()
    second_in = threading.Event()

    @task
    def first() -> bool:
        first_in.set()
        return second_in.wait(timeout=5)

    @task
    def second() -> bool:
        second_in.set()
        return first_in.wait(timeout=5)

    @workflow
    def flow() -> list[bool]:
        return [first(), second()]

    assert runner.run(flow).output == [True, True]


def test_queued_tasks_do_not_start_after_a_failure(
    fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    runner = Runner(max_concurrency=1, sleep=fake_sleep, clock=fake_clock)
    ran: list[int] = []

    @task
    def boom() -> None:
        raise ValueError("kaput")

    @task
    def other(n: int) -> int:
        ran.append(n)
        return n

    @workflow
    def flow() -> None:
        boom()
        other(1)
        other(2)

    result = runner.run(flow)

    assert result.statuses() == {"boom": FAILED, "other": NOT_RUN, "other#2": NOT_RUN}
    assert result["other"].reason == "the run stopped before it started"
    assert result["other"].attempts == 0
    assert ran == []


async def test_cancelling_a_run_cancels_its_tasks_in_flight(runner: Runner) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    @task
    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    @workflow
    def flow() -> None:
        forever()

    run = asyncio.create_task(runner.arun(flow))
    async with asyncio.timeout(5):
        await started.wait()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        await cancelled.wait()


def test_workflow_without_tasks_returns_its_output(runner: Runner) -> None:
    @workflow
    def constant(x: int) -> dict[str, int]:
        return {"x": x}

    result = runner.run(constant, x=3)

    assert result.success
    assert result.output == {"x": 3}
    assert result.tasks == {}


def test_workflow_returning_nothing_has_none_output(runner: Runner) -> None:
    calls: list[str] = []

    @task
    def effect() -> str:
        calls.append("effect")
        return "done"

    @workflow
    def flow() -> None:
        effect()

    result = runner.run(flow)

    assert result.output is None
    assert result["effect"].value == "done"
    assert calls == ["effect"]


def test_tuple_outputs_stay_tuples(runner: Runner) -> None:
    @task
    def one() -> int:
        return 1

    @workflow
    def flow() -> tuple[int, int]:
        return (one(), one())

    assert runner.run(flow).output == (1, 1)


def test_repeated_calls_of_a_task_get_numbered_ids(runner: Runner) -> None:
    @task
    def echo(x: int) -> int:
        return x

    @workflow
    def flow() -> list[int]:
        return [echo(1), echo(2), echo(3)]

    result = runner.run(flow)

    assert list(result.tasks) == ["echo", "echo#2", "echo#3"]
    assert [result[i].value for i in result.tasks] == [1, 2, 3]


def test_values_flow_through_lists_and_dicts_of_futures(runner: Runner) -> None:
    @task
    def number(n: int) -> int:
        return n

    @task
    def total(parts: list[int], named: dict[str, int]) -> int:
        return sum(parts) + sum(named.values())

    @workflow
    def flow() -> int:
        return total([number(1), number(2), 3], {"a": number(4), "b": 5})

    assert runner.run(flow).output == 15


class RecordingExecutor:
    """An executor that records each call and runs it inline."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.plans: list[str] = []

    async def prepare(self, plan: Plan) -> None:
        self.plans.append(plan.name)

    async def call(
        self,
        function: Callable[..., object],
        args: Sequence[object],
        kwargs: Mapping[str, object],
        *,
        is_async: bool,
        task: Task[..., Any],
    ) -> object:
        self.calls.append(f"{task.name}:{'async' if is_async else 'sync'}")
        returned = function(*args, **kwargs)
        if is_async:
            return await returned  # type: ignore[misc]  # is_async says it is awaitable
        return returned


def test_runner_hands_task_bodies_to_its_executor(
    fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    executor = RecordingExecutor()
    runner = Runner(executor=executor, sleep=fake_sleep, clock=fake_clock)

    @task
    def double(x: int) -> int:
        return 2 * x

    @task
    async def increment(x: int) -> int:
        return x + 1

    @workflow
    def flow(x: int) -> int:
        return increment(double(x))

    result = runner.run(flow, x=4)

    assert result.output == 9
    assert executor.calls == ["double:sync", "increment:async"]
    assert executor.plans == ["flow"]  # prepared once, before the first call


@pytest.mark.parametrize(
    ("status", "said"),
    [(FAILED, "failed"), (TaskStatus.SKIPPED, "was skipped"), (NOT_RUN, "did not run")],
)
def test_past_tense_says_what_happened_to_a_missing_value(
    status: TaskStatus, said: str
) -> None:
    assert past_tense(status) == said
