"""Run ``examples/onboarding_api.py`` against the sandbox and check what it did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from examples import onboarding_api
from fiscus_dsl import HTTPStatusError, RunStatus, TaskStatus

SCRIPT = Path(onboarding_api.__file__)

SUCCEEDED = TaskStatus.SUCCEEDED
FAILED = TaskStatus.FAILED
SKIPPED = TaskStatus.SKIPPED


@pytest.fixture(scope="module")
def outcome() -> onboarding_api.Outcome:
    return onboarding_api.main()


def test_a_new_contact_is_created_checked_and_welcomed(
    outcome: onboarding_api.Outcome,
) -> None:
    welcomed = outcome.welcomed

    assert welcomed.status is RunStatus.SUCCEEDED
    assert welcomed.statuses() == {
        "create_contact": SUCCEEDED,
        "verify_mailbox": SUCCEEDED,
        "welcome_subject": SUCCEEDED,
        "send_email": SUCCEEDED,
        "page_ops": SKIPPED,
    }
    assert welcomed.output == onboarding_api.Contact(
        id="c1", name="John Doe", email="john@example.com"
    )


def test_the_flaky_mailbox_check_is_retried_past_two_503s(
    outcome: onboarding_api.Outcome,
) -> None:
    check = outcome.welcomed["verify_mailbox"]

    assert check.attempts == 3
    assert check.value == onboarding_api.MailboxCheck(
        key="john@example.com", calls=3, status="ok"
    )


def test_a_repeated_signup_gets_409_and_pages_ops(
    outcome: onboarding_api.Outcome,
) -> None:
    refused = outcome.refused

    assert refused.status is RunStatus.SUCCEEDED  # on_error="continue"
    assert refused.statuses() == {
        "create_contact": FAILED,
        "verify_mailbox": SUCCEEDED,
        "welcome_subject": SUCCEEDED,
        "send_email": SKIPPED,
        "page_ops": SUCCEEDED,
    }
    error = refused["create_contact"].error
    assert isinstance(error, HTTPStatusError)
    assert error.status_code == 409
    assert refused.output is None
    assert outcome.pages == ["could not welcome the new contact"]


def test_only_one_welcome_reaches_the_outbox(outcome: onboarding_api.Outcome) -> None:
    assert [(m.to, m.subject, m.status) for m in outcome.outbox] == [
        ("john@example.com", "Welcome, John Doe!", "queued")
    ]


def test_onboarding_api_runs_as_a_script() -> None:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    assert "outbox: ['Welcome, John Doe!']" in completed.stdout
    assert completed.stderr == ""
