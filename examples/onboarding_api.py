"""Onboard a user over HTTP: the tutorial's onboarding, on connectors, against the sandbox.

The CRM, the mail service and a flaky mailbox checker are real HTTP APIs
here: the sandbox API that ships with fiscus_dsl, served on 127.0.0.1 from
a background thread for the length of ``main()`` (no network, no
credentials: its bearer tokens are public demo tokens)::

    python examples/onboarding_api.py

A base URL is only known once the sandbox listens, so ``build(base_url)``
declares the connectors and the workflow; in an application the base URL
would come from its settings. ``main()`` runs the workflow twice: John is
new, so the contact is created, the mailbox check is retried past two 503s
and the welcome email goes out; the second time the CRM answers 409
(``create_contact`` has ``on_error="continue"``), so ``otherwise()`` pages
ops instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from pydantic import BaseModel

from fiscus_dsl import (
    BearerAuth,
    Connector,
    Retry,
    RunResult,
    Secret,
    Workflow,
    otherwise,
    succeeded,
    task,
    when,
    workflow,
)
from fiscus_dsl._sandbox import CRM_TOKEN, FLAKY_TOKEN, MAIL_TOKEN, sandbox

PAGES: list[str] = []
"""Every reason ops were paged for."""


class Contact(BaseModel):
    """A contact as the CRM returns it."""

    id: str
    name: str
    email: str


class Message(BaseModel):
    """A message as the mail service queued it."""

    id: str
    to: str
    subject: str
    body: str
    status: str


class MailboxCheck(BaseModel):
    """The mailbox checker's answer (the sandbox's flaky endpoint)."""

    key: str
    calls: int
    status: str


def build(base_url: str) -> Workflow[..., Contact]:
    """Declare the connectors of the API at ``base_url`` and return ``onboard``."""
    crm = Connector(
        "CRMSystem",
        f"{base_url}/crm/v1",
        auth=BearerAuth(Secret(CRM_TOKEN)),
        max_concurrency=10,
    )
    gmail = Connector(
        "Gmail",
        f"{base_url}/mail/v1",
        auth=BearerAuth(Secret(MAIL_TOKEN)),
        rate_limit="10/s",
    )
    checker = Connector(
        "MailboxChecker",
        f"{base_url}/flaky/v1",
        auth=BearerAuth(Secret(FLAKY_TOKEN)),
        # It answers 503 (Retry-After: 0) twice, then 200: a GET is retried.
        retry=Retry(attempts=4, backoff=0.05, max_delay=2),
    )

    @crm.operation("POST /contacts", on_error="continue")
    def create_contact(name: str, email: str) -> Contact:
        """Create a contact in the CRM (409 if the email is taken)."""
        raise NotImplementedError  # an operation's body never runs

    @checker.operation("GET /{address}")
    def verify_mailbox(address: str) -> MailboxCheck:
        """Check that the mailbox takes mail."""
        raise NotImplementedError  # an operation's body never runs

    @gmail.operation("POST /messages")
    def send_email(to: str, subject: str, body: str) -> Message:
        """Queue an email."""
        raise NotImplementedError  # an operation's body never runs

    @task
    def welcome_subject(name: str) -> str:
        """Write the welcome email's subject line."""
        return f"Welcome, {name}!"

    @task
    async def page_ops(reason: str) -> None:
        """Tell the people on call that something needs a human."""
        PAGES.append(reason)

    @workflow
    def onboard(name: str, email: str) -> Contact:
        """Create the contact; welcome them, or page ops if that failed."""
        contact = create_contact(name=name, email=email)  # a future: nothing ran
        mailbox = verify_mailbox(address=email)  # runs alongside; retried
        subject = welcome_subject(name)
        with when(succeeded(contact) & (mailbox.status == "ok")):
            send_email(
                to=contact.email,  # a projection of a future
                subject=subject,
                body="Glad to have you on board.",
            )
        with otherwise():
            page_ops(reason="could not welcome the new contact")
        return contact

    return onboard


def report(result: RunResult[Contact]) -> None:
    """Print each task's outcome, then the run's status and output."""
    for task_id, outcome in result.tasks.items():
        why = outcome.error or outcome.reason or ""
        print(
            f"  {task_id:<16} {outcome.status:<10} attempts={outcome.attempts}  {why}"
        )
    print(f"  run {result.status}; output: {result.output!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What ``main()`` did: both runs and the mail service's outbox."""

    welcomed: RunResult[Contact]
    refused: RunResult[Contact]
    outbox: list[Message]
    pages: list[str]


def main() -> Outcome:
    """Serve the sandbox, run a new and a repeated signup, return what happened."""
    PAGES.clear()
    with sandbox() as base_url:
        onboard = build(base_url)
        print(f"The sandbox API listens on {base_url}")
        print("The graph (Mermaid):")
        print(onboard.graph().to_mermaid().rstrip())

        print("\n1. John signs up: contact created, mailbox checked, welcome sent")
        welcomed = onboard.run(name="John Doe", email="john@example.com")
        report(welcomed)

        print("\n2. John signs up again: the CRM answers 409, so ops are paged")
        refused = onboard.run(name="John Doe", email="john@example.com")
        report(refused)

        answer = httpx.get(
            f"{base_url}/mail/v1/messages",
            headers={"Authorization": f"Bearer {MAIL_TOKEN}"},
        )
        outbox = [Message.model_validate(item) for item in answer.json()]
    print(f"\noutbox: {[m.subject for m in outbox]}; pages: {PAGES}")
    return Outcome(welcomed=welcomed, refused=refused, outbox=outbox, pages=[*PAGES])


if __name__ == "__main__":
    main()
