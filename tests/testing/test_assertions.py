"""Run assertions: they pass quietly, and fail showing the whole run."""

from __future__ import annotations

import pytest

from fiscus_dsl import (
    HTTPStatusError,
    Runner,
    RunResult,
    otherwise,
    task,
    when,
    workflow,
)
from fiscus_dsl.testing import (
    assert_failed,
    assert_ran,
    assert_skipped,
    assert_succeeded,
    describe_run,
)


@task(on_error="continue")
def check(n: int) -> int:
    if n < 0:
        msg = "negative\nnumbers are not allowed " + "x" * 150
        raise ValueError(msg)
    return n


@task
def celebrate(n: int) -> str:
    return f"{n}!"


@task
def mourn() -> str:
    return "sorry"


@task
def explode() -> None:
    raise KeyError("boom")


@workflow
def judge(n: int) -> str | None:
    checked = check(n)
    with when(checked > 0):
        celebrate(checked)
    with otherwise():
        mourn()
    return None


@workflow
def blow_up() -> None:
    explode()


@pytest.fixture(scope="module")
def happy() -> RunResult[str | None]:
    return judge.run(n=3)


@pytest.fixture(scope="module")
def sad() -> RunResult[str | None]:
    return judge.run(n=-1)


@pytest.fixture(scope="module")
def broken() -> RunResult[None]:
    return blow_up.run()


def test_describe_run_shows_every_task_in_a_table(sad: RunResult[str | None]) -> None:
    text = describe_run(sad)

    assert text.splitlines()[:2] == [
        "Run of workflow 'judge': succeeded",
        "  task       status   attempts  reason / error",
    ]
    error_line = text.splitlines()[2]
    assert error_line.startswith(
        "  check      failed   1         ValueError: negative numbers are not allowed"
    )
    assert error_line.endswith("xxx...")
    assert len(error_line) == len("  check      failed   1         ") + 120
    assert text.splitlines()[3:] == [
        "  celebrate  skipped  0         needs the value of 'check', which failed",
        "  mourn      skipped  0         its guard cannot be decided: it needs the "
        "value of a task that failed or was skipped",
    ]


def test_describe_run_of_a_failed_run_gives_the_reason(broken: RunResult[None]) -> None:
    assert describe_run(broken).splitlines()[0] == (
        "Run of workflow 'blow_up': failed (Task 'explode' in workflow 'blow_up' "
        "failed: KeyError: 'boom')"
    )


def test_passing_assertions_say_nothing(
    happy: RunResult[str | None], sad: RunResult[str | None], broken: RunResult[None]
) -> None:
    assert_succeeded(happy)
    assert_succeeded(happy, "check", "celebrate")
    assert_ran(happy, "check", "celebrate")
    assert_skipped(happy, "mourn", match="guard")
    assert_ran(sad, "check")  # it failed, but it ran
    assert_failed(sad, "check", error=ValueError, match="negative")
    assert_failed(sad, "check", error=(KeyError, ValueError))
    assert_skipped(sad, "celebrate", "mourn")
    assert_failed(broken)
    assert_failed(broken, error=KeyError, match="boom")


def test_assert_ran_fails_for_a_skipped_task(happy: RunResult[str | None]) -> None:
    with pytest.raises(AssertionError) as caught:
        assert_ran(happy, "mourn")

    message = str(caught.value)
    assert message.startswith(
        "Expected task 'mourn' to run, but it was skipped (its guard is false"
    )
    assert "\nRun of workflow 'judge': succeeded\n  task " in message


def test_an_unknown_task_is_named_with_the_table(happy: RunResult[str | None]) -> None:
    with pytest.raises(
        AssertionError,
        match=r"^Expected task 'nope' to succeed, but the run has no such task\nRun",
    ):
        assert_succeeded(happy, "nope")


def test_assert_skipped_checks_the_reason(sad: RunResult[str | None]) -> None:
    with pytest.raises(
        AssertionError,
        match=r"^Expected the reason task 'mourn' was skipped to match 'guard is "
        r"false', got 'its guard cannot be decided",
    ):
        assert_skipped(sad, "mourn", match="guard is false")


def test_assert_skipped_fails_for_a_task_that_succeeded(
    happy: RunResult[str | None],
) -> None:
    with pytest.raises(AssertionError, match=r"'celebrate' to be skipped, but it succ"):
        assert_skipped(happy, "celebrate")


def test_assert_failed_fails_for_a_run_that_succeeded(
    happy: RunResult[str | None],
) -> None:
    with pytest.raises(AssertionError, match=r"^Expected the run to fail, but it succ"):
        assert_failed(happy)


def test_assert_failed_checks_the_error_type(sad: RunResult[str | None]) -> None:
    with pytest.raises(
        AssertionError,
        match=r"^Expected task 'check' to fail with HTTPStatusError, got ValueError: ",
    ):
        assert_failed(sad, "check", error=HTTPStatusError)
    with pytest.raises(AssertionError, match="to fail with KeyError or TypeError, got"):
        assert_failed(sad, "check", error=(KeyError, TypeError))


def test_assert_failed_checks_the_message(broken: RunResult[None]) -> None:
    with pytest.raises(
        AssertionError,
        match=r"^Expected the error of the run to match 'kaboom', got 'boom'",
    ):
        assert_failed(broken, match="kaboom")


def test_assert_succeeded_fails_for_a_failed_run(broken: RunResult[None]) -> None:
    with pytest.raises(AssertionError, match=r"^Expected the run to succeed, but it f"):
        assert_succeeded(broken)


def test_a_task_that_did_not_run_says_so(broken: RunResult[None]) -> None:
    @task
    def later(value: None) -> None:
        return value

    @workflow
    def chain() -> None:
        later(explode())

    with pytest.raises(AssertionError, match="'later' to run, but it was skipped"):
        assert_ran(chain.run(), "later")
    with pytest.raises(AssertionError, match="'explode' to succeed, but it failed"):
        assert_succeeded(broken, "explode")


def test_a_task_left_not_run_says_so() -> None:
    @workflow
    def stopped() -> None:
        explode()
        mourn()

    result = Runner(max_concurrency=1).run(stopped)

    with pytest.raises(
        AssertionError,
        match="'mourn' to run, but it did not run \\(the run stopped before it",
    ):
        assert_ran(result, "mourn")
