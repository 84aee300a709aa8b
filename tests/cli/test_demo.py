"""``fiscus demo``: the onboarding workflow against the embedded sandbox API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette

from fiscus_dsl._cli import commands
from fiscus_dsl._sandbox import sandbox

from .conftest import one_error_line, row

if TYPE_CHECKING:
    import pytest

    from .conftest import Cli


def test_demo_runs_every_task_to_success_and_shows_the_retries(cli: Cli) -> None:
    result = cli("demo")

    assert result.exit_code == 0, result.output
    out = result.stdout
    for task_id in ("create_contact", "welcome_subject", "send_email"):
        assert row(out, task_id)[:3] == [task_id, "succeeded", "1"]
    assert row(out, "verify_mailbox")[:3] == ["verify_mailbox", "succeeded", "3"]
    assert "succeeded on attempt 3" in out
    assert row(out, "page_ops")[:2] == ["page_ops", "skipped"]
    assert "All 4 tasks that ran succeeded" in out
    assert "Skipped, as their guard said: page_ops" in out
    assert '"email": "john@example.com"' in out


def test_demo_prints_the_graph_and_where_to_look_next(cli: Cli) -> None:
    out = cli("demo").stdout

    assert "The sandbox API listens on http://127.0.0.1:" in out
    assert "\nflowchart TD\n" in out
    assert "docs/cli.md" in out
    assert "examples/onboarding_api.py" in out


def test_demo_exits_1_when_a_task_fails(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        commands, "DEMO_INPUTS", {"name": "Jane", "email": "not-an-email"}
    )

    result = cli("demo")

    assert result.exit_code == 1
    assert row(result.stdout, "create_contact")[:2] == ["create_contact", "failed"]
    # The status leads the message, so the cut detail column still shows it.
    assert "HTTPStatusError: HTTP 422 Unprocessable Entity" in result.stdout
    assert row(result.stdout, "page_ops")[:2] == ["page_ops", "succeeded"]
    assert "tasks that ran succeeded" not in result.stdout
    assert one_error_line(result) == (
        "fiscus: error: Not every task succeeded: create_contact failed"
    )


def test_demo_exits_1_when_the_run_fails(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = Starlette()  # answers 404 to everything: no CRM, no checker
    monkeypatch.setattr(commands, "sandbox", lambda: sandbox(empty))

    result = cli("demo")

    assert result.exit_code == 1
    assert row(result.stdout, "verify_mailbox")[:2] == ["verify_mailbox", "failed"]
    assert one_error_line(result).startswith(
        "fiscus: error: The run failed: Task 'verify_mailbox' in workflow 'onboard'"
    )
