"""Run ``examples/resilience_api.py`` against the sandbox and check what it did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from examples import resilience_api
from fiscus_dsl import HTTPStatusError, RunStatus, TaskStatus

SCRIPT = Path(resilience_api.__file__)


@pytest.fixture(scope="module")
def outcome() -> resilience_api.Outcome:
    return resilience_api.main()


def test_the_report_goes_on_without_the_live_quote(
    outcome: resilience_api.Outcome,
) -> None:
    result = outcome.result

    assert result.status is RunStatus.SUCCEEDED
    assert result.statuses() == {
        "fetch_rates": TaskStatus.SUCCEEDED,
        "fetch_news": TaskStatus.SUCCEEDED,
        "live_quote": TaskStatus.FAILED,
        "price_of": TaskStatus.SKIPPED,
        "cached_quote": TaskStatus.SUCCEEDED,
        "build_report": TaskStatus.SUCCEEDED,
    }
    assert result.output == {
        "rates_calls": 3,
        "news_calls": 2,
        "price": resilience_api.CACHED_PRICE,
    }


def test_503s_are_retried_until_the_endpoint_answers(
    outcome: resilience_api.Outcome,
) -> None:
    assert outcome.result["fetch_rates"].attempts == 3
    assert "fetch_rates succeeded on attempt 3" in outcome.log


def test_a_retry_waits_as_long_as_retry_after_asks(
    outcome: resilience_api.Outcome,
) -> None:
    (retry,) = [line for line in outcome.log if line.startswith("retry fetch_news")]

    assert retry == "retry fetch_news after attempt 1 (503), waiting 1.00 s"
    assert outcome.result["fetch_news"].attempts == 2


def test_a_quote_that_stays_down_fails_after_its_attempts(
    outcome: resilience_api.Outcome,
) -> None:
    quote = outcome.result["live_quote"]

    assert quote.attempts == 3
    assert isinstance(quote.error, HTTPStatusError)
    assert quote.error.status_code == 503


@pytest.mark.parametrize("name", ["resilience_api", "fanout_api"])
def test_api_example_runs_as_a_script(name: str) -> None:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT.parent / f"{name}.py")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    assert "succeeded" in completed.stdout
    assert completed.stderr == ""
