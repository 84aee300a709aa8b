"""Run the Fiscus guide's two examples and check what they did.

``fiscus_guide_multiple_tasks`` sends two independent tasks at once;
``fiscus_guide_chained`` sends the email only if the contact was created.
Each example runs the guide's code twice (a new contact, then the same one
again, which the fake CRM refuses with 409), so both branches show.
"""

from __future__ import annotations

import asyncio
import runpy
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from examples import fiscus_guide_chained as chained
from examples import fiscus_guide_multiple_tasks as multiple
from fiscus_dsl import FiscusErrorCode, HTTPStatusError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

EXAMPLES = Path(__file__).resolve().parent.parent
WELCOME = {
    "to": "john@example.com",
    "subject": "Welcome, John!",
    "body": "Glad to have you on board.",
    "status": "queued",
}


@pytest.fixture(autouse=True)
def fresh_fake_apis() -> Iterator[None]:
    for module in (chained, multiple):
        module.CONTACTS.clear()
        module.OUTBOX.clear()
    yield
    for module in (chained, multiple):
        module.CONTACTS.clear()
        module.OUTBOX.clear()


class Rendezvous:
    """Hold each request until ``parties`` requests have arrived (or time out)."""

    def __init__(self, parties: int, *, timeout: float) -> None:
        self.parties = parties
        self.timeout = timeout
        self.arrived: list[str] = []
        self.all_here = asyncio.Event()

    async def __call__(self, request: httpx.Request) -> None:
        self.arrived.append(request.url.host)
        if len(self.arrived) >= self.parties:
            self.all_here.set()
        async with asyncio.timeout(self.timeout):
            await self.all_here.wait()


# ---------------------------------------------------------------- multiple tasks


def test_multiple_tasks_both_run_and_the_guide_prints_success(
    capsys: pytest.CaptureFixture[str],
) -> None:
    created, _ = multiple.main()

    assert created.success
    assert [r.success for r in created.results or []] == [True, True]
    assert created.result == [
        multiple.Contact(id="c1", name="John Doe", email="john@example.com"),
        multiple.Message(id="m1", **WELCOME),
    ]
    out = capsys.readouterr().out
    assert "\nTasks executed successfully!\n" in out
    assert "in flight at the same time, at most: 2" in out


def test_multiple_tasks_send_the_email_even_when_the_contact_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, refused = multiple.main()

    assert not refused.success
    assert [r.success for r in refused.results or []] == [False, True]
    assert refused.error_code is FiscusErrorCode.INVALID_REQUEST
    assert isinstance(refused.error, HTTPStatusError)
    assert refused.error.status_code == 409
    assert [m["subject"] for m in multiple.OUTBOX] == ["Welcome, John!"] * 2
    assert list(multiple.CONTACTS) == ["c1"]
    assert "\nError: Task 0 ('create_contact', CRMSystem.create_contact) failed: " in (
        capsys.readouterr().out
    )


def test_multiple_tasks_are_in_flight_at_the_same_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = Rendezvous(2, timeout=2.0)
    monkeypatch.setattr(multiple, "network_delay", gate)

    response = multiple.guide()

    # Each request was held until the other had arrived.
    assert response.success, response.error_message
    assert sorted(gate.arrived) == ["crm.example.com", "gmail.example.com"]


# ---------------------------------------------------------------- chained


def test_chained_sends_the_email_when_the_contact_is_created(
    capsys: pytest.CaptureFixture[str],
) -> None:
    created, _ = chained.main()

    assert created.success
    assert created.context["create_contact"] is True
    assert [r.skipped for r in created.results or []] == [False, False]
    assert created.result == [
        chained.Contact(id="c1", name="John Doe", email="john@example.com"),
        chained.Message(id="m1", **WELCOME),
    ]
    assert capsys.readouterr().out.startswith(
        "1. John is new to the CRM\nWorkflow completed successfully!\n"
    )


def test_chained_skips_the_email_when_the_contact_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, refused = chained.main()

    assert not refused.success
    assert refused.context == {"create_contact": False}
    contact, email = refused.results or []
    assert isinstance(contact.error, HTTPStatusError)
    assert contact.error.status_code == 409
    assert (email.success, email.skipped, email.result) == (True, True, {})
    assert [m["subject"] for m in chained.OUTBOX] == ["Welcome, John!"]  # only once
    out = capsys.readouterr().out
    assert (
        "\nError: Task 0 ('create_contact', CRMSystem.create_contact) failed: " in out
    )
    assert "409 Conflict" in out
    assert "  send_email: skipped\n" in out


def test_chained_email_waits_for_the_contact() -> None:
    response = chained.guide()

    assert response.run is not None
    contact, email = response.run["create_contact"], response.run["send_email"]
    assert contact.ended_at is not None
    assert email.started_at is not None
    assert contact.ended_at <= email.started_at


# ---------------------------------------------------------------- as scripts


@pytest.mark.parametrize(
    ("name", "success"),
    [
        ("fiscus_guide_multiple_tasks", "Tasks executed successfully!"),
        ("fiscus_guide_chained", "Workflow completed successfully!"),
    ],
)
def test_guide_example_runs_as_a_script(name: str, success: str) -> None:
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines.count(success) == 1
    assert (
        sum(line.startswith("Error: Task 0 ('create_contact'") for line in lines) == 1
    )


@pytest.mark.parametrize(
    "name", ["fiscus_guide_multiple_tasks", "fiscus_guide_chained"]
)
def test_guide_examples_do_not_run_on_import(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="not_main")

    assert callable(namespace["main"])
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("module", [multiple, chained], ids=["multiple", "chained"])
def test_guide_examples_keep_the_guide_code_verbatim(module: object) -> None:
    source = Path(str(getattr(module, "__file__", ""))).read_text(encoding="utf-8")

    for line in [
        "            'params': {'name': 'John Doe', 'email': 'john@example.com'}",
        "                'subject': 'Welcome, John!',",
        "    response = client.execute(tasks=tasks)",
        "    if response.success:",
        "        print(f'Error: {response.error_message}')",
    ]:
        assert f"\n{line}" in source
