"""Logging: what a run logs under ``fiscus_dsl``, and the filter that scrubs it.

The scrubber is the one the connectors layer installs when fiscus_dsl is
imported; the secrets are registered as a ``Secret`` registers them.
"""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING

import pytest

from fiscus_dsl import Hooks, Retry, Secret, TaskContext, task, workflow
from fiscus_dsl._runtime import logs
from fiscus_dsl._runtime.logs import ScrubFilter, cover

if TYPE_CHECKING:
    from fiscus_dsl import Runner

TOKEN = "tok_logs_CANARY_4f1e9a"
MASK = "**********"


@pytest.fixture(autouse=True)
def registered() -> None:
    Secret(TOKEN)


def _record(
    msg: str, *args: object, exc: BaseException | None = None
) -> logging.LogRecord:
    exc_info = None if exc is None else (type(exc), exc, exc.__traceback__)
    return logging.LogRecord(
        "fiscus_dsl.test", logging.INFO, __file__, 1, msg, args, exc_info
    )


def _levels(caplog: pytest.LogCaptureFixture) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for record in caplog.records:
        if record.name.startswith("fiscus_dsl"):
            found.setdefault(record.levelname, []).append(record.getMessage())
    return found


# ---------------------------------------------------------------- the filter


def test_the_filter_scrubs_the_message_and_its_arguments() -> None:
    record = _record("sent %s to %s", TOKEN, "https://bob:pw@api.example.com/x")

    assert ScrubFilter().filter(record) is True

    assert record.getMessage() == (
        f"sent {MASK} to https://REDACTED:REDACTED@api.example.com/x"
    )
    assert record.args is None


def test_the_filter_scrubs_the_exception_chain_in_place() -> None:
    error = RuntimeError(f"wrapped {TOKEN}")
    error.__cause__ = KeyError(TOKEN)
    record = _record("failed", exc=error)

    ScrubFilter().filter(record)
    text = logging.Formatter().format(record)

    assert TOKEN not in text
    assert "The above exception was the direct cause" in text


def test_the_filter_scrubs_a_rendered_traceback_and_the_stack() -> None:
    record = _record("failed")
    record.exc_text = f"Traceback ... KeyError: {TOKEN!r}"
    record.stack_info = f"Stack (most recent call last): {TOKEN}"

    ScrubFilter().filter(record)

    assert TOKEN not in f"{record.exc_text} {record.stack_info}"


def test_the_filter_keeps_a_record_whose_arguments_do_not_fit() -> None:
    record = _record("two %s %s", "one")

    assert ScrubFilter().filter(record) is True

    assert (record.msg, record.args) == ("two %s %s", ("one",))


def test_the_filter_is_the_identity_until_a_scrubber_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logs, "_SCRUBBER", logs._Scrubber())
    error = KeyError(TOKEN)
    record = _record("sent %s", TOKEN, exc=error)

    ScrubFilter().filter(record)
    logs.scrub_error(error)

    assert record.getMessage() == f"sent {TOKEN}"
    assert error.args == (TOKEN,)


def test_cover_puts_the_filter_on_a_logger_once() -> None:
    logger = logging.getLogger("fiscus_dsl.tests.covered")

    cover(logger.name)
    cover(logger.name)

    assert [type(f) for f in logger.filters] == [ScrubFilter]


@pytest.mark.parametrize(
    "name", ["fiscus_dsl", "fiscus_dsl.run", "fiscus_dsl.task", "fiscus_dsl.connector"]
)
def test_every_fiscus_dsl_logger_is_covered(name: str) -> None:
    assert any(isinstance(f, ScrubFilter) for f in logging.getLogger(name).filters)


def test_fiscus_dsl_prints_nothing_until_logging_is_configured() -> None:
    handlers = logging.getLogger("fiscus_dsl").handlers

    assert [type(handler) for handler in handlers] == [logging.NullHandler]


# ---------------------------------------------------------------- what a run logs


def test_a_run_logs_its_start_its_retries_and_its_end_at_info(
    runner: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    @task(retry=Retry(attempts=3, backoff=1, jitter=False))
    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 2:
            raise ConnectionError(f"reset by {TOKEN}")
        return "ok"

    @workflow
    def flow() -> str:
        return flaky()

    with caplog.at_level(logging.DEBUG, logger="fiscus_dsl"):
        result = runner.run(flow)

    run_id = result.run_id
    assert _levels(caplog) == {
        "INFO": [
            f"Run {run_id} of workflow 'flow' started",
            f"Task 'flaky' of workflow 'flow': attempt 1 failed with "
            f"ConnectionError: reset by {MASK}; retrying in 1.000 s",
            f"Run {run_id} of workflow 'flow' succeeded in 3.000 s (1 succeeded)",
        ]
    }


def test_a_failed_task_logs_one_warning_without_its_traceback(
    runner: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    @task
    def broken() -> str:
        msg = f"refused {TOKEN}"
        raise PermissionError(msg)

    @workflow
    def flow() -> str:
        return broken()

    with caplog.at_level(logging.INFO, logger="fiscus_dsl"):
        result = runner.run(flow)

    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.getMessage(), r.exc_info) for r in warnings] == [
        (
            "fiscus_dsl.task",
            f"Task 'broken' of workflow 'flow' failed after 1 attempt(s): "
            f"PermissionError: refused {MASK}",
            None,
        )
    ]
    assert _levels(caplog)["INFO"][-1].endswith("failed in 3.000 s (1 failed)")
    assert not result.success


def test_a_failed_task_logs_its_traceback_at_debug(
    runner: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    @task
    def broken() -> str:
        try:
            return {"key": TOKEN}["missing"]
        except KeyError as exc:
            msg = f"no such key near {TOKEN}"
            raise LookupError(msg) from exc

    @workflow
    def flow() -> str:
        return broken()

    with caplog.at_level(logging.DEBUG, logger="fiscus_dsl"):
        runner.run(flow)

    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.exc_info is not None
    assert "LookupError" in caplog.text
    assert TOKEN not in caplog.text


def test_a_task_called_outside_a_workflow_logs_no_run(
    default: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    @task
    def one() -> int:
        return 1

    with caplog.at_level(logging.DEBUG, logger="fiscus_dsl"):
        assert one() == 1

    assert _levels(caplog) == {}


# ---------------------------------------------------------------- errors scrubbed


def test_a_failed_task_error_and_its_chain_are_scrubbed(runner: Runner) -> None:
    @task
    def leaky() -> str:
        try:
            return {"token": TOKEN}["other"]
        except KeyError:
            msg = f"the API said {TOKEN}"
            raise RuntimeError(msg)  # noqa: B904  (the __context__ chain is the point)

    @workflow
    def flow() -> str:
        return leaky()

    result = runner.run(flow)

    error = result["leaky"].error
    assert error is not None
    assert TOKEN not in "".join(traceback.format_exception(error))
    assert TOKEN not in str(result.error_message)


def test_a_retried_error_is_scrubbed_before_a_hook_sees_it(
    runner: Runner,
) -> None:
    seen: list[str] = []

    def on_retry(ctx: TaskContext, error: BaseException, delay: float) -> None:
        seen.append(str(error))

    calls = 0

    @task(on_retry=on_retry, retry=Retry(attempts=2, backoff=0, jitter=False))
    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 2:
            raise ConnectionError(TOKEN)
        return "ok"

    @workflow
    def flow() -> str:
        return flaky()

    assert runner.run(flow).output == "ok"
    assert seen == [MASK]


def test_a_workflow_hook_error_is_scrubbed(runner: Runner) -> None:
    def before(ctx: object) -> None:
        msg = f"hook saw {TOKEN}"
        raise RuntimeError(msg)

    @task
    def one() -> int:
        return 1

    @workflow(hooks=Hooks(before_workflow=before))
    def flow() -> int:
        return one()

    result = runner.run(flow)

    assert TOKEN not in str(result.error_message)
    assert MASK in str(result.error_message)


def test_a_failed_task_logs_nothing_when_warnings_are_off(
    runner: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    @task
    def broken() -> str:
        msg = "refused"
        raise PermissionError(msg)

    @workflow
    def flow() -> str:
        return broken()

    with caplog.at_level(logging.ERROR, logger="fiscus_dsl"):
        assert not runner.run(flow).success

    assert caplog.records == []
