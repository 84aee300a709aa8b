"""Fan out over HTTP: map a sub-workflow over the CRM's contacts, rate-limited.

Two workflows against the sandbox API (served on 127.0.0.1 for the length
of ``main()``; no network, public demo tokens)::

    python examples/fanout_api.py

``import_contacts`` creates forty contacts with ``create_contact.map(...)``
over two zipped lists (at most ten requests in flight: the CRM connector's
``max_concurrency``). ``welcome_everyone`` lists the contacts (a list known
only at run time) and maps the ``welcome`` sub-workflow over it: one subject
and one email per contact. The mail connector has ``rate_limit="20/s"``, so
the first twenty emails go at once and the other twenty at twenty a second:
the fan-out takes about a second however fast the API answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel

from fiscus_dsl import (
    BearerAuth,
    Connector,
    RunResult,
    Secret,
    Workflow,
    task,
    workflow,
)
from fiscus_dsl._sandbox import CRM_TOKEN, MAIL_TOKEN, sandbox

PEOPLE: Final = 40
"""How many contacts ``main()`` imports, then welcomes."""

RATE: Final = 20
"""Emails per second the mail connector may send (its ``rate_limit``)."""


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Flows:
    """The two workflows ``build`` declares."""

    import_contacts: Workflow[..., list[Contact]]
    welcome_everyone: Workflow[[], list[Message]]


def build(base_url: str) -> Flows:
    """Declare the connectors of the API at ``base_url`` and the two workflows."""
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
        rate_limit=f"{RATE}/s",
    )

    @crm.operation("POST /contacts")
    def create_contact(name: str, email: str) -> Contact:
        """Create a contact in the CRM."""
        raise NotImplementedError  # an operation's body never runs

    @crm.operation("GET /contacts")
    def list_contacts() -> list[Contact]:
        """List every contact."""
        raise NotImplementedError  # an operation's body never runs

    @gmail.operation("POST /messages")
    def send_email(to: str, subject: str, body: str) -> Message:
        """Queue an email."""
        raise NotImplementedError  # an operation's body never runs

    @task
    def welcome_subject(name: str) -> str:
        """Write the welcome email's subject line."""
        return f"Welcome, {name}!"

    @workflow
    def import_contacts(names: list[str], emails: list[str]) -> list[Contact]:
        """Create one contact per name and email (the lists are zipped)."""
        return create_contact.map(name=names, email=emails)

    @workflow
    def welcome(contact: Contact) -> Message:
        """Welcome one contact (a sub-workflow)."""
        subject = welcome_subject(contact.name)
        return send_email(to=contact.email, subject=subject, body="Glad you came!")

    @workflow
    def welcome_everyone() -> list[Message]:
        """Welcome every contact of the CRM, one sub-workflow per contact."""
        contacts = list_contacts()  # a future of a list: its length is unknown
        return welcome.map(contact=contacts)

    return Flows(import_contacts=import_contacts, welcome_everyone=welcome_everyone)


def sending_window(result: RunResult[list[Message]]) -> float:
    """Return the seconds from the first email's start to the last one's end."""
    sends = [
        outcome
        for task_id, outcome in result.tasks.items()
        if task_id.endswith("/send_email")
    ]
    starts = [o.started_at for o in sends if o.started_at is not None]
    ends = [o.ended_at for o in sends if o.ended_at is not None]
    return (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What ``main()`` did: both runs and how long the emails took."""

    imported: RunResult[list[Contact]]
    welcomed: RunResult[list[Message]]
    window: float


def main() -> Outcome:
    """Serve the sandbox, import the contacts, welcome them all; report the pace."""
    names = [f"Person {number}" for number in range(1, PEOPLE + 1)]
    emails = [f"person{number}@example.com" for number in range(1, PEOPLE + 1)]
    with sandbox() as base_url:
        flows = build(base_url)
        print("The graph of welcome_everyone (Mermaid):")
        print(flows.welcome_everyone.graph().to_mermaid().rstrip())

        imported = flows.import_contacts.run(names=names, emails=emails)
        print(f"\nimport_contacts {imported.status}: {len(imported.output or [])} new")

        welcomed = flows.welcome_everyone.run()
    window = sending_window(welcomed)
    sent = welcomed.output or []
    print(f"welcome_everyone {welcomed.status}: {len(sent)} emails")
    print(f"  first: {sent[0].to} {sent[0].subject!r}" if sent else "  none sent")
    print(f"  {len(sent)} emails in {window:.2f} s at rate_limit={RATE}/s")
    return Outcome(imported=imported, welcomed=welcomed, window=window)


if __name__ == "__main__":
    main()
