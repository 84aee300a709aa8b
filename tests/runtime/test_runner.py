"""``Runner``: run, arun, call, the default runner, running inside a loop."""

from __future__ import annotations

import asyncio
import types
from datetime import UTC
from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from fiscus_dsl import (
    ConfigurationError,
    InProcessExecutor,
    OptionTypeError,
    Retry,
    Runner,
    RunStatus,
    TaskStatus,
    WorkflowFailed,
    WorkflowInputError,
    default_runner,
    set_default_runner,
    task,
    when,
    workflow,
)
from fiscus_dsl._runtime.runner import utc_now
from fiscus_dsl._runtime.sync_calls import run_sync

if TYPE_CHECKING:
    from fiscus_dsl.testing import FakeClock, FakeSleep


@task
def double(x: int) -> int:
    return 2 * x


@task
def broken() -> int:
    raise ValueError("kaput")


@workflow
def doubled(x: int) -> int:
    return double(x)


@workflow
def failing() -> int:
    return broken()


def test_run_returns_the_run_result(runner: Runner) -> None:
    result = runner.run(doubled, 4)

    assert result.status is RunStatus.SUCCEEDED
    assert result.output == 8


async def test_arun_returns_the_run_result(runner: Runner) -> None:
    result = await runner.arun(doubled, x=5)

    assert result.output == 10


def test_call_returns_the_output(runner: Runner) -> None:
    assert runner.call(doubled, x=6) == 12


def test_call_raises_workflow_failed_for_a_failed_run(runner: Runner) -> None:
    with pytest.raises(
        WorkflowFailed, match="Task 'broken' in workflow 'failing'"
    ) as excinfo:
        runner.call(failing)

    assert excinfo.value.workflow == "failing"
    assert isinstance(excinfo.value.__cause__, ValueError)


def test_run_raises_for_inputs_that_do_not_bind(runner: Runner) -> None:
    with pytest.raises(
        WorkflowInputError, match="Workflow 'doubled' was started"
    ) as excinfo:
        runner.run(doubled, y=1)

    assert excinfo.value.workflow == "doubled"


def test_workflow_call_and_run_use_the_default_runner(
    default: Runner, fake_clock: FakeClock
) -> None:
    readings = fake_clock.readings

    assert doubled(x=2) == 4
    assert doubled.run(x=3).output == 6
    assert fake_clock.readings > readings


async def test_workflow_arun_uses_the_default_runner(
    default: Runner, fake_clock: FakeClock
) -> None:
    result = await doubled.arun(x=3)

    assert result.output == 6
    assert result.ended_at == fake_clock.now


async def test_sync_run_works_inside_a_running_event_loop(default: Runner) -> None:
    asyncio.get_running_loop()

    assert doubled.run(x=21).output == 42
    assert doubled(x=1) == 2
    assert default.run(doubled, x=2).output == 4


def test_run_sync_runs_a_coroutine_outside_a_loop() -> None:
    async def answer() -> int:
        return 42

    assert run_sync(answer) == 42


async def test_run_sync_runs_a_coroutine_inside_a_loop_in_another_thread() -> None:
    loop = asyncio.get_running_loop()

    async def other_loop() -> bool:
        return asyncio.get_running_loop() is not loop

    assert run_sync(other_loop)


def test_set_default_runner_replaces_it_and_returns_the_previous(
    default: Runner, fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    other = Runner(sleep=fake_sleep, clock=fake_clock)

    previous = set_default_runner(other)
    try:
        assert previous is default
        assert default_runner() is other
    finally:
        set_default_runner(previous)
    assert default_runner() is default


def test_default_runner_is_created_lazily_after_a_reset(default: Runner) -> None:
    previous = set_default_runner(None)
    try:
        fresh = default_runner()
        assert previous is default
        assert fresh is not default
        assert default_runner() is fresh
        assert fresh.max_concurrency == 256
    finally:
        set_default_runner(previous)


def test_runner_defaults_to_asyncio_sleep_and_a_utc_clock() -> None:
    runner = Runner()

    assert runner.sleep is asyncio.sleep
    assert runner.clock is utc_now
    assert runner.hooks == ()
    assert runner.tracer_provider is None


def test_utc_now_is_aware_utc() -> None:
    assert utc_now().tzinfo is UTC


async def test_tasks_run_inside_their_span_with_a_recording_provider(
    fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    provider = TracerProvider()
    runner = Runner(tracer_provider=provider, sleep=fake_sleep, clock=fake_clock)
    seen: list[bool] = []

    @task
    async def probe() -> int:
        seen.append(trace.get_current_span().is_recording())
        return 1

    @workflow
    def flow() -> int:
        return probe()

    result = await runner.arun(flow)

    assert result.output == 1
    assert seen == [True]
    assert trace.get_current_span().is_recording() is False
    provider.shutdown()


@task(on_error="continue")
def lenient() -> int:
    raise ValueError("kaput")


_flaky_calls: list[int] = []


@task(retry=Retry(attempts=2, jitter=False))
def flaky_once() -> int:
    _flaky_calls.append(1)
    if len(_flaky_calls) % 2:
        raise ConnectionError("reset")
    return 5


@workflow
def mixed() -> dict[str, object]:
    soft = lenient()
    value = double(2)
    with when(value > 10):
        never = double(value)
    return {
        "soft": double(soft),
        "never": never,
        "mapped": double.map(x=[1, 2]),
        "nested": doubled(value),
        "retried": flaky_once(),
    }


@workflow
def stops_early() -> int:
    return double(broken())


@workflow
def failing_inside() -> int:
    return stops_early()


def _statuses_with(
    provider: TracerProvider | None, fake_sleep: FakeSleep, fake_clock: FakeClock
) -> list[tuple[object, dict[str, TaskStatus]]]:
    runner = Runner(tracer_provider=provider, sleep=fake_sleep, clock=fake_clock)
    return [
        (result.output, result.statuses())
        for result in (runner.run(mixed), runner.run(failing_inside))
    ]


@pytest.mark.parametrize("sampled", [True, False], ids=["recording", "not-sampled"])
def test_results_do_not_depend_on_the_tracer_provider(
    sampled: bool, fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    provider = TracerProvider() if sampled else TracerProvider(sampler=ALWAYS_OFF)

    traced = _statuses_with(provider, fake_sleep, fake_clock)
    provider.shutdown()

    assert traced == _statuses_with(None, fake_sleep, fake_clock)
    (output, statuses), (_, failed_statuses) = traced
    assert output == {
        "soft": None,
        "never": None,
        "mapped": [2, 4],
        "nested": 8,
        "retried": 5,
    }
    assert statuses["double#2"] is TaskStatus.SKIPPED
    assert statuses["lenient"] is TaskStatus.FAILED
    assert failed_statuses == {
        "stops_early": TaskStatus.FAILED,
        "stops_early/broken": TaskStatus.FAILED,
        "stops_early/double": TaskStatus.SKIPPED,
    }


# ---------------------------------------------------------------- options


def test_runner_max_concurrency_of_the_wrong_type_is_refused() -> None:
    limit: Any = "8"

    with pytest.raises(
        OptionTypeError,
        match=r"^Runner got max_concurrency='8'; pass a whole number of 1 or more, "
        r"e.g. max_concurrency=8, or None for no limit$",
    ) as info:
        Runner(max_concurrency=limit)

    assert info.value.option == "max_concurrency"


@pytest.mark.parametrize(
    ("option", "value", "needs"),
    [
        ("executor", 4, "call"),
        ("executor", types.SimpleNamespace(call=print), "prepare"),  # an older Executor
        ("store", 3, "start_run"),
        ("tracer_provider", object(), "get_tracer"),
        ("sleep", 0.1, "__call__"),
    ],
)
def test_runner_parts_without_their_method_are_refused(
    option: str, value: object, needs: str
) -> None:
    with pytest.raises(
        OptionTypeError,
        match=rf"^Runner got {option}=.*, which has no {needs}\(\); pass .*, or "
        r"leave it out for the default$",
    ) as info:
        Runner(**{option: value})  # type: ignore[arg-type]  # the wrong type is the point

    assert info.value.option == option


def test_retry_options_of_the_wrong_type_are_refused() -> None:
    attempts: Any = "3"

    with pytest.raises(
        OptionTypeError,
        match=r"^Retry\(attempts='3', jitter=1\) takes attempts as an int, backoff "
        r"and max_delay as seconds, jitter as a bool and retry_on as exception "
        r"classes or a function; e.g. Retry\(attempts=3, backoff=0.5\)$",
    ) as info:
        Retry(attempts=attempts, jitter=1)  # type: ignore[arg-type]  # on purpose

    assert info.value.option == "attempts"


def test_retry_on_must_be_exception_classes_or_a_function() -> None:
    retry_on: Any = "ConnectionError"

    with pytest.raises(OptionTypeError, match=r"retry_on='ConnectionError'"):
        Retry(retry_on=retry_on)


def test_an_executor_needs_at_least_one_thread() -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"^InProcessExecutor\(max_threads=0\) must be at least 1; pass 1 or "
        r"more threads$",
    ) as info:
        InProcessExecutor(max_threads=0)

    assert info.value.option == "max_threads"
