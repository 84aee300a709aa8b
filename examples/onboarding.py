"""Onboard a user: the workflow of the getting-started page, without the network.

The CRM and the mail service are plain ``@task`` functions over an
in-memory dict and an outbox list, so this runs anywhere::

    python examples/onboarding.py

It prints the graph as Mermaid, then runs the workflow twice: once for a
good email (the welcome mail is sent) and once for an email the fake CRM
rejects (``create_contact`` has ``on_error="continue"``, so the run goes on
and the ``otherwise()`` branch pages ops instead).
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

from pydantic import BaseModel

from fiscus_dsl import RunResult, otherwise, succeeded, task, when, workflow

LATENCY: Final = 0.05
"""Seconds each fake API call takes, so that concurrency shows in the timings."""


class Contact(BaseModel):
    """A contact as the CRM returns it."""

    id: str
    name: str
    email: str


class CrmRejectedError(Exception):
    """The fake CRM refused the contact (think HTTP 422)."""


CRM: dict[str, Contact] = {}
"""The fake CRM: contacts by id."""

OUTBOX: list[dict[str, str]] = []
"""The fake mail service: every message sent."""

PAGES: list[str] = []
"""The fake pager: every reason ops were paged for."""


@task(on_error="continue")
def create_contact(name: str, email: str) -> Contact:
    """Create a contact in the CRM."""
    time.sleep(LATENCY)
    if "@" not in email:
        msg = f"CRM rejected the contact: {email!r} is not an email address"
        raise CrmRejectedError(msg)
    contact = Contact(id=f"c{len(CRM) + 1}", name=name, email=email)
    CRM[contact.id] = contact
    return contact


@task
def send_email(to: str, subject: str, body: str) -> dict[str, str]:
    """Send an email; return the message as the mail service stored it."""
    time.sleep(LATENCY)
    message = {"id": f"m{len(OUTBOX) + 1}", "to": to, "subject": subject, "body": body}
    OUTBOX.append(message)
    return message


@task
def welcome_subject(name: str) -> str:
    """Write the welcome email's subject line."""
    time.sleep(LATENCY)
    return f"Welcome, {name}!"


@task
async def page_ops(reason: str) -> None:
    """Tell the people on call that something needs a human."""
    await asyncio.sleep(0)
    PAGES.append(reason)


@workflow
def onboard(name: str, email: str) -> Contact:
    """Create the contact; welcome them, or page ops if the CRM said no."""
    contact = create_contact(name=name, email=email)  # a future: nothing ran
    # Outside the guard, the subject does not wait for the CRM: both run at once.
    subject = welcome_subject(name)
    with when(succeeded(contact)):
        send_email(
            to=contact.email,  # a projection of a future
            subject=subject,
            body="Glad to have you on board.",
        )
    with otherwise():
        page_ops(reason="contact creation failed")
    return contact


def report(result: RunResult[Contact]) -> None:
    """Print each task's outcome, then the run's status and output."""
    print(f"{'task':<16} {'status':<10} {'attempts':>8} {'duration':>10}")
    for task_id, outcome in result.tasks.items():
        duration = outcome.duration
        shown = "-" if duration is None else f"{duration * 1000:.0f} ms"
        print(f"{task_id:<16} {outcome.status:<10} {outcome.attempts:>8} {shown:>10}")
        if outcome.error is not None:
            print(f"{'':<16} error: {outcome.error}")
        elif outcome.reason is not None:
            print(f"{'':<16} reason: {outcome.reason}")
    print(f"run {result.status}; output: {result.output!r}")


def overlapped(result: RunResult[Contact], first: str, second: str) -> bool:
    """Tell whether two tasks of a run were in flight at the same time."""
    a, b = result[first], result[second]
    if a.started_at is None or a.ended_at is None:
        return False
    if b.started_at is None or b.ended_at is None:
        return False
    return a.started_at < b.ended_at and b.started_at < a.ended_at


def main() -> tuple[RunResult[Contact], RunResult[Contact]]:
    """Print the graph, run a good and a rejected signup, and return both results."""
    CRM.clear()
    OUTBOX.clear()
    PAGES.clear()

    print("The graph (Mermaid):")
    print(onboard.graph().to_mermaid().rstrip())

    print("\n1. John signs up with a good email address")
    welcomed = onboard.run(name="John Doe", email="john@example.com")
    report(welcomed)
    together = overlapped(welcomed, "create_contact", "welcome_subject")
    print(f"create_contact and welcome_subject ran at the same time: {together}")
    print(f"outbox: {OUTBOX}")

    print("\n2. Jane signs up with an address the CRM rejects")
    rejected = onboard.run(name="Jane Roe", email="jane-at-example.com")
    report(rejected)
    print(f"pages: {PAGES}")
    return welcomed, rejected


if __name__ == "__main__":
    main()
