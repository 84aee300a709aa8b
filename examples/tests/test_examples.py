"""Run each example's ``main()`` and check what it did.

The examples are real programs with real (tiny) sleeps; these tests keep
them honest, so the README's first command always shows what it promises.
"""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from examples import end_users, fanout, onboarding, resilience
from fiscus_dsl import AuthorizationError, RunStatus, TaskStatus

EXAMPLES = Path(__file__).resolve().parent.parent

SUCCEEDED = TaskStatus.SUCCEEDED
FAILED = TaskStatus.FAILED
SKIPPED = TaskStatus.SKIPPED


def test_onboarding_welcomes_a_good_signup(capsys: pytest.CaptureFixture[str]) -> None:
    welcomed, _ = onboarding.main()

    assert welcomed.status is RunStatus.SUCCEEDED
    assert welcomed.statuses() == {
        "create_contact": SUCCEEDED,
        "welcome_subject": SUCCEEDED,
        "send_email": SUCCEEDED,
        "page_ops": SKIPPED,
    }
    assert welcomed.output == onboarding.Contact(
        id="c1", name="John Doe", email="john@example.com"
    )
    assert [m["subject"] for m in onboarding.OUTBOX] == ["Welcome, John Doe!"]
    assert all(outcome.attempts <= 1 for outcome in welcomed.tasks.values())
    assert "flowchart TD" in capsys.readouterr().out


def test_onboarding_runs_independent_tasks_at_the_same_time() -> None:
    welcomed, _ = onboarding.main()

    assert onboarding.overlapped(welcomed, "create_contact", "welcome_subject")
    assert not onboarding.overlapped(welcomed, "create_contact", "send_email")


def test_onboarding_pages_ops_when_the_crm_rejects_the_contact() -> None:
    _, rejected = onboarding.main()

    assert rejected.status is RunStatus.SUCCEEDED  # on_error="continue"
    assert rejected.statuses() == {
        "create_contact": FAILED,
        "welcome_subject": SUCCEEDED,
        "send_email": SKIPPED,
        "page_ops": SUCCEEDED,
    }
    assert rejected.output is None
    assert isinstance(rejected["create_contact"].error, onboarding.CrmRejectedError)
    assert onboarding.PAGES == ["contact creation failed"]
    assert len(onboarding.OUTBOX) == 1  # only John's welcome


def test_fanout_maps_over_customers_and_nests_the_sub_workflow() -> None:
    smb, _ = fanout.main()

    assert smb.status is RunStatus.SUCCEEDED
    assert smb.output == {"owed": 165, "receipts": ["acme: 120", None, "initech: 45"]}
    assert [smb[f"fetch_balance[{i}]"].status for i in range(3)] == [SUCCEEDED] * 3
    assert smb["remind[1]/send_reminder"].status is SKIPPED
    assert smb["remind[2]/send_reminder"].status is SUCCEEDED
    assert sorted(fanout.SENT) == ["acme: 120", "initech: 45"]  # sent concurrently


def test_fanout_maps_an_empty_list_to_an_empty_list() -> None:
    _, empty = fanout.main()

    assert empty.status is RunStatus.SUCCEEDED
    assert empty.output == {"owed": 0, "receipts": []}
    assert set(empty.tasks) == {"list_customers", "fetch_balance", "total", "remind"}


def test_resilience_retries_times_out_continues_and_coalesces() -> None:
    result = resilience.main()

    assert result.status is RunStatus.SUCCEEDED
    assert result.statuses() == {
        "fetch_rates": SUCCEEDED,
        "fetch_news": FAILED,
        "live_quote": FAILED,
        "cached_quote": SUCCEEDED,
        "build_report": SUCCEEDED,
    }
    assert result["fetch_rates"].attempts == resilience.FLAKY_FAILURES + 1
    assert type(result["fetch_news"].error).__name__ == "TaskTimeoutError"
    assert result.output == {
        "rates": {"USD": 1.08, "GBP": 0.85},
        "price": 101.5,
        "headlines": [],
    }


def test_resilience_hooks_see_every_step_in_order() -> None:
    resilience.main()

    log = resilience.LOG
    assert log[0] == "start market_report {'base': 'EUR', 'symbol': 'ACME'}"
    assert log[-1] == "end market_report: succeeded"
    retries = [line for line in log if line.startswith("retry fetch_rates")]
    assert [line.split(":")[0] for line in retries] == [
        "retry fetch_rates after attempt 1",
        "retry fetch_rates after attempt 2",
    ]
    assert "after fetch_rates (attempts: 3)" in log
    assert log.index("before build_report") < log.index(
        "after build_report (attempts: 1)"
    )
    assert not any(line.startswith("after fetch_news") for line in log)


def test_end_users_send_from_their_own_accounts_within_their_policies() -> None:
    runs = end_users.main()
    provider = end_users.provider

    assert runs["alice"].status is RunStatus.SUCCEEDED
    assert runs["alice, a day later"].status is RunStatus.SUCCEEDED
    assert provider.refreshes == 1  # her expired token, refreshed once
    assert [who for who, _ in provider.sent] == ["alice", "alice"]
    bob = runs["bob"]
    assert bob.tasks["inbox"].status is SUCCEEDED  # a reader may read
    assert isinstance(bob.tasks["send_message"].error, AuthorizationError)


@pytest.mark.parametrize("name", ["onboarding", "fanout", "resilience", "end_users"])
def test_example_runs_as_a_script(name: str) -> None:
    script = EXAMPLES / f"{name}.py"
    completed = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    assert "succeeded" in completed.stdout


def test_examples_do_not_run_on_import() -> None:
    namespace = runpy.run_path(str(EXAMPLES / "onboarding.py"), run_name="not_main")

    assert callable(namespace["main"])


def test_scoring_gives_the_same_total_on_two_dask_workers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from examples import scoring  # imports Dask distributed

    here, there = scoring.main(count=20)

    on_dask = there.result.output
    assert on_dask is not None
    assert on_dask.processes == 2
    assert here.result.output == scoring.Summary(
        count=20, total=on_dask.total, processes=1
    )
    assert "on 2 Dask workers" in capsys.readouterr().out
