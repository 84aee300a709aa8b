"""Run the Fiscus guide's two examples against the sandbox and check what they did.

``fiscus_guide_multiple_tasks`` sends two independent tasks at once;
``fiscus_guide_chained`` sends the email only if the contact was created.
Each example serves the sandbox API and runs the guide's code twice (a new
contact, then the same one again, which the sandbox's CRM refuses with
409), so both branches show. Each ``main()`` runs once per module, its
printout kept with its outcome.
"""

# The guide's code is quoted verbatim below, so one of its comments runs long.
# ruff: noqa: E501

from __future__ import annotations

import asyncio
import contextlib
import io
import runpy
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

import pytest

from examples import fiscus_guide_chained as chained
from examples import fiscus_guide_multiple_tasks as multiple
from fiscus_dsl import FiscusClient, FiscusErrorCode, HTTPStatusError
from fiscus_dsl._sandbox import create_app, sandbox
from fiscus_dsl._sandbox.connectors import Contact, Message, sandbox_connectors

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")

EXAMPLES = Path(__file__).resolve().parent.parent
JOHN = Contact(id="c1", name="John Doe", email="john@example.com")
WELCOME = {
    "to": "john@example.com",
    "subject": "Welcome, John!",
    "body": "Glad to have you on board.",
    "status": "queued",
}
REFUSED = "\nError: Task 0 ('create_contact') failed: HTTPStatusError 409 in "


@dataclass(frozen=True, slots=True)
class Ran(Generic[T]):
    """An example's ``main()``: what it returned and what it printed."""

    outcome: T
    out: str


def run(main: Callable[[], T]) -> Ran[T]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        outcome = main()
    return Ran(outcome, printed.getvalue())


@pytest.fixture(scope="module")
def multiple_run() -> Ran[multiple.Outcome]:
    return run(multiple.main)


@pytest.fixture(scope="module")
def chained_run() -> Ran[chained.Outcome]:
    return run(chained.main)


class Rendezvous:
    """Hold each request until ``parties`` requests have arrived (or time out)."""

    def __init__(self, parties: int, *, timeout: float) -> None:
        self.parties = parties
        self.timeout = timeout
        self.arrived: list[str] = []
        self.all_here = asyncio.Event()  # bound to the sandbox's loop on first wait

    async def __call__(self, path: str) -> None:
        self.arrived.append(path)
        if len(self.arrived) >= self.parties:
            self.all_here.set()
        async with asyncio.timeout(self.timeout):
            await self.all_here.wait()


# ---------------------------------------------------------------- multiple tasks


def test_multiple_tasks_both_run_and_the_guide_prints_success(
    multiple_run: Ran[multiple.Outcome],
) -> None:
    created = multiple_run.outcome.created

    assert created.success
    assert [r.success for r in created.results or []] == [True, True]
    assert created.result == [JOHN, Message(id="m1", **WELCOME)]
    assert multiple_run.out.startswith("The sandbox API listens on http://127.0.0.1:")
    assert "\n1. John is new to the CRM\nTasks executed successfully!\n" in (
        multiple_run.out
    )


def test_multiple_tasks_send_the_email_even_when_the_contact_fails(
    multiple_run: Ran[multiple.Outcome],
) -> None:
    outcome = multiple_run.outcome
    refused = outcome.refused

    assert not refused.success
    assert [r.success for r in refused.results or []] == [False, True]
    assert refused.error_code is FiscusErrorCode.INVALID_REQUEST
    assert isinstance(refused.error, HTTPStatusError)
    assert refused.error.status_code == 409
    assert refused.result == [None, Message(id="m2", **WELCOME)]
    # What the sandbox holds: one contact, and the welcome email twice.
    assert outcome.contacts == [JOHN]
    assert outcome.outbox == [Message(id=f"m{i}", **WELCOME) for i in (1, 2)]
    assert REFUSED in multiple_run.out
    assert "409 Conflict" in multiple_run.out


def test_multiple_tasks_requests_overlap_at_the_sandbox(
    multiple_run: Ran[multiple.Outcome],
) -> None:
    assert multiple_run.outcome.peaks == (2, 2)
    assert multiple_run.out.count("in flight at the same time, at most: 2\n") == 2


def test_multiple_tasks_are_in_flight_at_the_same_time(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = Rendezvous(2, timeout=2.0)
    monkeypatch.setattr(multiple, "network_delay", gate)

    traffic = multiple.Traffic()
    with sandbox(multiple.metered(create_app(), traffic)) as base_url:
        api = sandbox_connectors(base_url)
        response = multiple.guide(FiscusClient(connectors=[api.crm, api.gmail]))

    # Each request was held at the sandbox until the other had arrived.
    assert response.success, response.error_message
    assert sorted(gate.arrived) == ["/crm/v1/contacts", "/mail/v1/messages"]
    assert traffic.peak == 2
    assert capsys.readouterr().out == "Tasks executed successfully!\n"


# ---------------------------------------------------------------- chained


def test_chained_sends_the_email_when_the_contact_is_created(
    chained_run: Ran[chained.Outcome],
) -> None:
    created = chained_run.outcome.created

    assert created.success
    assert created.context["create_contact"] is True
    assert [r.skipped for r in created.results or []] == [False, False]
    assert created.result == [JOHN, Message(id="m1", **WELCOME)]
    assert chained_run.out.startswith("The sandbox API listens on http://127.0.0.1:")
    assert "\n1. John is new to the CRM\nWorkflow completed successfully!\n" in (
        chained_run.out
    )


def test_chained_skips_the_email_when_the_contact_fails(
    chained_run: Ran[chained.Outcome],
) -> None:
    outcome = chained_run.outcome
    refused = outcome.refused

    assert not refused.success
    assert refused.context == {"create_contact": False}
    contact, email = refused.results or []
    assert isinstance(contact.error, HTTPStatusError)
    assert contact.error.status_code == 409
    assert (email.success, email.skipped, email.result) == (True, True, {})
    # What the sandbox holds: one contact, and the welcome email only once.
    assert outcome.contacts == [JOHN]
    assert outcome.outbox == [Message(id="m1", **WELCOME)]
    assert REFUSED in chained_run.out
    assert "409 Conflict" in chained_run.out
    assert "  send_email: skipped\n" in chained_run.out


def test_chained_email_waits_for_the_contact(
    chained_run: Ran[chained.Outcome],
) -> None:
    run = chained_run.outcome.created.run

    assert run is not None
    contact, email = run["create_contact"], run["send_email"]
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
    assert lines[0].startswith("The sandbox API listens on http://127.0.0.1:")
    assert lines.count(success) == 1
    assert (
        sum(line.startswith("Error: Task 0 ('create_contact'") for line in lines) == 1
    )
    assert lines[-1] == "the CRM's contacts: ['john@example.com']"
    assert completed.stderr == ""


@pytest.mark.parametrize(
    "name", ["fiscus_guide_multiple_tasks", "fiscus_guide_chained"]
)
def test_guide_examples_do_not_run_on_import(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="not_main")

    assert callable(namespace["main"])
    assert capsys.readouterr().out == ""


# The guide's code as the guide prints it (its page keeps no indentation).
GUIDE_MULTIPLE = """\
tasks = [
{
'connector': 'CRMSystem',
'operation': 'create_contact',
'params': {'name': 'John Doe', 'email': 'john@example.com'}
},
{
'connector': 'Gmail',
'operation': 'send_email',
'params': {
'to': 'john@example.com',
'subject': 'Welcome, John!',
'body': 'Glad to have you on board.'
}
}
]
response = client.execute(tasks=tasks)
if response.success:
print('Tasks executed successfully!')
else:
print(f'Error: {response.error_message}')
"""
GUIDE_CHAINED = """\
tasks = [
{
'connector': 'CRMSystem',
'operation': 'create_contact',
'params': {'name': 'John Doe', 'email': 'john@example.com'},
'custom_logic': lambda response: response.success # Set flag based on success
},
{
'connector': 'Gmail',
'operation': 'send_email',
'params': {
'to': 'john@example.com',
'subject': 'Welcome, John!',
'body': 'Glad to have you on board.'
},
'conditions': {
'if': lambda ctx: ctx.get('create_contact', False) # Only send email if contact creation was successful
}
}
]
response = client.execute(tasks=tasks)
if response.success:
print('Workflow completed successfully!')
else:
print(f'Error: {response.error_message}')
"""


@pytest.mark.parametrize(
    ("module", "guide"),
    [(multiple, GUIDE_MULTIPLE), (chained, GUIDE_CHAINED)],
    ids=["multiple", "chained"],
)
def test_guide_examples_keep_the_guide_code_verbatim(
    module: object, guide: str
) -> None:
    source = Path(str(getattr(module, "__file__", ""))).read_text(encoding="utf-8")
    kept = source.split("    # fmt: off\n", 1)[1].split("    # fmt: on\n", 1)[0]

    # Line for line as the guide prints it, indented as Python needs.
    assert [line.strip() for line in kept.splitlines() if line.strip()] == (
        guide.splitlines()
    )
    for line in [
        "            'params': {'name': 'John Doe', 'email': 'john@example.com'}",
        "                'subject': 'Welcome, John!',",
        "    response = client.execute(tasks=tasks)",
        "    if response.success:",
        "        print(f'Error: {response.error_message}')",
    ]:
        assert f"\n{line}" in kept
