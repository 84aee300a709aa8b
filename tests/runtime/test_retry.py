"""``Retry``: the policy on its own, and the scheduler's attempt loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from fiscus_dsl import (
    ArgumentValidationError,
    ConfigurationError,
    GuardError,
    ProjectionError,
    Retry,
    SkipTask,
    TaskStatus,
    TracingError,
    task,
    workflow,
)

if TYPE_CHECKING:
    from fiscus_dsl import Runner
    from fiscus_dsl.testing import FakeSleep


class RateLimitedError(Exception):
    """An error that says when to come back."""

    def __init__(self, retry_after: object) -> None:
        super().__init__("slow down")
        self.retry_after = retry_after


class Uniform:
    """A fake ``random.uniform`` that records its bounds and returns a fraction."""

    def __init__(self, fraction: float = 0.25) -> None:
        self.fraction = fraction
        self.calls: list[tuple[float, float]] = []

    def __call__(self, low: float, high: float) -> float:
        self.calls.append((low, high))
        return low + (high - low) * self.fraction


ERROR = ConnectionError("reset")

# ---------------------------------------------------------------- the policy


def test_attempts_count_the_first_try() -> None:
    policy = Retry(attempts=3, jitter=False)

    assert policy.decide(1, ERROR) >= 0
    assert policy.decide(2, ERROR) >= 0
    assert policy.decide(3, ERROR) == -1.0


def test_one_attempt_never_retries() -> None:
    assert Retry(attempts=1).decide(1, ERROR) == -1.0


def test_backoff_ceiling_doubles_per_retry() -> None:
    policy = Retry(attempts=10, backoff=0.5, max_delay=100, jitter=False)

    assert [policy.decide(n, ERROR) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_backoff_ceiling_is_capped_at_max_delay() -> None:
    policy = Retry(attempts=10, backoff=1, max_delay=3, jitter=False)

    assert [policy.decide(n, ERROR) for n in range(1, 5)] == [1.0, 2.0, 3.0, 3.0]


def test_full_jitter_waits_a_uniform_time_up_to_the_ceiling() -> None:
    uniform = Uniform(fraction=0.25)
    policy = Retry(attempts=5, backoff=2, max_delay=5)

    delays = [policy.decide(n, ERROR, uniform) for n in (1, 2, 3)]

    assert uniform.calls == [(0.0, 2.0), (0.0, 4.0), (0.0, 5.0)]
    assert delays == [0.5, 1.0, 1.25]


def test_jitter_off_waits_the_ceiling_without_drawing() -> None:
    uniform = Uniform()

    assert Retry(backoff=0.5, jitter=False).decide(2, ERROR, uniform) == 1.0
    assert uniform.calls == []


def test_backoff_delay_draws_from_random_uniform_by_default() -> None:
    policy = Retry(backoff=2)

    delays = [policy.backoff_delay(2) for _ in range(20)]

    assert all(0.0 <= delay <= 4.0 for delay in delays)


def test_retry_after_raises_the_delay() -> None:
    policy = Retry(backoff=0.5, jitter=False)

    assert policy.decide(1, RateLimitedError(retry_after=7)) == 7.0
    assert policy.decide(1, RateLimitedError(retry_after=2.5)) == 2.5


def test_retry_after_shorter_than_the_backoff_keeps_the_backoff() -> None:
    policy = Retry(backoff=4, jitter=False)

    assert policy.decide(1, RateLimitedError(retry_after=1)) == 4.0


def test_retry_after_is_capped_by_max_delay() -> None:
    policy = Retry(backoff=0.5, max_delay=10, jitter=False)

    assert policy.decide(1, RateLimitedError(retry_after=120)) == 10.0


def test_retry_after_that_is_not_a_number_is_ignored() -> None:
    policy = Retry(backoff=0.5, jitter=False)

    assert policy.decide(1, RateLimitedError(retry_after="Wed, 21 Oct 2015")) == 0.5


def test_retry_on_a_type_retries_only_instances() -> None:
    policy = Retry(retry_on=ConnectionError, jitter=False)

    assert policy.should_retry(ConnectionResetError("reset"))
    assert not policy.should_retry(ValueError("bad"))
    assert policy.decide(1, ValueError("bad")) == -1.0


def test_retry_on_a_tuple_retries_any_listed_type() -> None:
    policy = Retry(retry_on=(ConnectionError, TimeoutError))

    assert policy.should_retry(TimeoutError("slow"))
    assert policy.should_retry(ConnectionError("reset"))
    assert not policy.should_retry(KeyError("k"))


def test_retry_on_a_predicate_asks_it() -> None:
    seen: list[BaseException] = []

    def transient(error: BaseException) -> bool:
        seen.append(error)
        return "transient" in str(error)

    policy = Retry(retry_on=transient)

    assert policy.should_retry(RuntimeError("transient glitch"))
    assert not policy.should_retry(RuntimeError("permanent"))
    assert [str(error) for error in seen] == ["transient glitch", "permanent"]


@pytest.mark.parametrize(
    "error",
    [
        ArgumentValidationError(workflow="w", task_id="t", errors=[("x", "bad")]),
        TracingError("misuse"),
        SkipTask(),
        GuardError(workflow="w", task_id="t", predicate="p"),
        ProjectionError(workflow="w", task_id="t", source="s", path=".x", reason="r"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_marked_not_retryable_are_not_retried_by_default(
    error: Exception,
) -> None:
    assert not Retry().should_retry(error)
    assert Retry().decide(1, error) == -1.0


def test_plain_errors_are_retried_by_default() -> None:
    assert Retry().should_retry(RuntimeError("boom"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"attempts": 0}, r"Retry\(attempts=0\) must be at least 1"),
        ({"backoff": -1}, r"Retry\(backoff=-1, max_delay=30.0\) takes seconds"),
        ({"max_delay": -0.5}, r"Retry\(backoff=0.5, max_delay=-0.5\) takes seconds"),
    ],
)
def test_invalid_retry_arguments_raise_value_error(
    kwargs: dict[str, float], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        Retry(**kwargs)  # type: ignore[arg-type]  # each case sets one numeric option


def _is_transient(error: BaseException) -> bool:
    return True


@pytest.mark.parametrize(
    ("retry_on", "described"),
    [
        (None, "retryable errors"),
        (ConnectionError, "ConnectionError"),
        ((ConnectionError, TimeoutError), "ConnectionError, TimeoutError"),
        (_is_transient, "_is_transient"),
    ],
)
def test_describe_retry_on_names_the_types_or_the_predicate(
    retry_on: object, described: str
) -> None:
    assert Retry(retry_on=retry_on).describe_retry_on() == described  # type: ignore[arg-type]  # each case is a valid RetryOn


class _Nameless:
    """A predicate object without a ``__name__``."""

    def __call__(self, error: BaseException) -> bool:
        return True


def test_describe_retry_on_falls_back_to_the_repr_of_a_nameless_callable() -> None:
    predicate = _Nameless()

    assert Retry(retry_on=predicate).describe_retry_on() == repr(predicate)


# ---------------------------------------------------------------- in a run


def test_task_failing_twice_then_succeeding_is_retried(
    runner: Runner, fake_sleep: FakeSleep
) -> None:
    calls = 0

    @task(retry=Retry(attempts=3, backoff=0.5, jitter=False))
    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError(f"reset {calls}")
        return "ok"

    @workflow
    def flow() -> str:
        return flaky()

    result = runner.run(flow)

    assert result.output == "ok"
    assert result["flaky"].status is TaskStatus.SUCCEEDED
    assert result["flaky"].attempts == 3
    assert fake_sleep.delays == [0.5, 1.0]


async def test_async_task_is_retried_too(runner: Runner, fake_sleep: FakeSleep) -> None:
    calls = 0

    @task(retry=Retry(attempts=2, backoff=3, jitter=False))
    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("reset")
        return "ok"

    @workflow
    def flow() -> str:
        return flaky()

    result = await runner.arun(flow)

    assert result.output == "ok"
    assert result["flaky"].attempts == 2
    assert fake_sleep.delays == [3.0]


def test_exhausted_attempts_fail_with_the_last_error(
    runner: Runner, fake_sleep: FakeSleep
) -> None:
    calls = 0

    @task(retry=Retry(attempts=3, backoff=1, jitter=False))
    def down() -> str:
        nonlocal calls
        calls += 1
        raise ConnectionError(f"reset {calls}")

    @workflow
    def flow() -> str:
        return down()

    result = runner.run(flow)

    error = result["down"].error
    assert result["down"].status is TaskStatus.FAILED
    assert result["down"].attempts == 3
    assert isinstance(error, ConnectionError)
    assert str(error) == "reset 3"
    assert fake_sleep.delays == [1.0, 2.0]
    assert result.error_message == (
        "Task 'down' in workflow 'flow' failed: ConnectionError: reset 3"
    )


def test_error_outside_retry_on_fails_at_once(
    runner: Runner, fake_sleep: FakeSleep
) -> None:
    @task(retry=Retry(attempts=5, retry_on=ConnectionError))
    def picky() -> str:
        raise ValueError("not transient")

    @workflow
    def flow() -> str:
        return picky()

    result = runner.run(flow)

    assert result["picky"].attempts == 1
    assert isinstance(result["picky"].error, ValueError)
    assert fake_sleep.delays == []


def test_not_retryable_error_raised_by_a_task_fails_at_once(
    runner: Runner, fake_sleep: FakeSleep
) -> None:
    @task(retry=Retry(attempts=5))
    def validating() -> str:
        raise ArgumentValidationError(workflow="w", task_id="t", errors=[("x", "bad")])

    @workflow
    def flow() -> str:
        return validating()

    result = runner.run(flow)

    assert result["validating"].attempts == 1
    assert isinstance(result["validating"].error, ArgumentValidationError)
    assert fake_sleep.delays == []


def test_retry_waits_for_retry_after(runner: Runner, fake_sleep: FakeSleep) -> None:
    calls = 0

    @task(retry=Retry(attempts=2, backoff=0.5, jitter=False))
    def limited() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RateLimitedError(retry_after=12)
        return "ok"

    @workflow
    def flow() -> str:
        return limited()

    assert runner.run(flow).output == "ok"
    assert fake_sleep.delays == [12.0]


def test_jittered_retry_waits_at_most_the_ceiling(
    runner: Runner, fake_sleep: FakeSleep
) -> None:
    calls = 0

    @task(retry=Retry(attempts=4, backoff=2))
    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise ConnectionError("reset")
        return "ok"

    @workflow
    def flow() -> str:
        return flaky()

    assert runner.run(flow).output == "ok"
    assert len(fake_sleep.delays) == 3
    ceilings = [2.0, 4.0, 8.0]
    assert all(0 <= d <= c for d, c in zip(fake_sleep.delays, ceilings, strict=True))
