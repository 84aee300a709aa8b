"""The Fiscus guide's "Chaining Tasks with Conditional Logic", as the guide writes it.

Create a contact in the CRM, then send a welcome email, but only if the
contact was created. The guide's code (the task list, ``client.execute``
and the ``if``/``else``) is kept exactly as the guide prints it, quotes and
comments included; what comes before it declares the two connectors it
names, ``CRMSystem`` and ``Gmail``. There is no live CRM or Gmail here:
both connectors send through ``httpx.MockTransport`` to a small fake API
in this file, so this runs anywhere, offline::

    python examples/fiscus_guide_chained.py

It runs the guide's code twice. The first time, John is new: the contact is
created and the email is sent. The second time the CRM already has
john@example.com and answers 409 Conflict, so ``custom_logic`` sets
``context['create_contact']`` to False, the condition is false, the email
is skipped, and the guide prints the error.
"""

# The guide's code is kept verbatim, so one of its comments runs long.
# ruff: noqa: E501

from __future__ import annotations

import json
from typing import Final

import httpx
from pydantic import BaseModel

from fiscus_dsl import BearerAuth, Connector, FiscusClient, FiscusResponse, Secret

CRM_TOKEN: Final = "demo-crm-token"
GMAIL_TOKEN: Final = "demo-gmail-token"


# ---------------------------------------------------------------- the fake APIs

CONTACTS: dict[str, dict[str, str]] = {}
"""The fake CRM's contacts, by id."""

OUTBOX: list[dict[str, str]] = []
"""Every message the fake mail service accepted."""


def error(status: int, message: str) -> httpx.Response:
    """Answer with an error, as JSON APIs do."""
    return httpx.Response(status, json={"error": message})


def crm_api(request: httpx.Request) -> httpx.Response:
    """The fake CRM: ``POST /v1/contacts`` creates a contact with a new email."""
    if request.headers.get("Authorization") != f"Bearer {CRM_TOKEN}":
        return error(401, "missing or wrong token")
    if (request.method, request.url.path) != ("POST", "/v1/contacts"):
        return error(404, f"no route {request.method} {request.url.path}")
    data = json.loads(request.content)
    name, email = str(data.get("name", "")), str(data.get("email", ""))
    if not name or "@" not in email:
        return error(422, "a contact needs a name and an email address")
    if any(contact["email"] == email for contact in CONTACTS.values()):
        return error(409, f"a contact with email {email} already exists")
    contact = {"id": f"c{len(CONTACTS) + 1}", "name": name, "email": email}
    CONTACTS[contact["id"]] = contact
    return httpx.Response(201, json=contact)


def gmail_api(request: httpx.Request) -> httpx.Response:
    """The fake mail service: ``POST /v1/messages`` queues an email."""
    if request.headers.get("Authorization") != f"Bearer {GMAIL_TOKEN}":
        return error(401, "missing or wrong token")
    if (request.method, request.url.path) != ("POST", "/v1/messages"):
        return error(404, f"no route {request.method} {request.url.path}")
    data = json.loads(request.content)
    if "@" not in str(data.get("to", "")) or not data.get("subject"):
        return error(422, "a message needs a recipient and a subject")
    message = {
        "id": f"m{len(OUTBOX) + 1}",
        "to": data["to"],
        "subject": data["subject"],
        "body": data.get("body", ""),
        "status": "queued",
    }
    OUTBOX.append(message)
    return httpx.Response(202, json=message)


# ---------------------------------------------------------------- the connectors


class Contact(BaseModel):
    """A contact as the CRM returns it."""

    id: str
    name: str
    email: str


class Message(BaseModel):
    """An email as the mail service returns it."""

    id: str
    to: str
    subject: str
    status: str


crm = Connector(
    "CRMSystem",
    "https://crm.example.com/v1",
    auth=BearerAuth(Secret(CRM_TOKEN)),
    transport=httpx.MockTransport(crm_api),
)
gmail = Connector(
    "Gmail",
    "https://gmail.example.com/v1",
    auth=BearerAuth(Secret(GMAIL_TOKEN)),
    transport=httpx.MockTransport(gmail_api),
)


@crm.operation("POST /contacts")
def create_contact(name: str, email: str) -> Contact:
    """Create a contact in the CRM."""
    raise NotImplementedError  # an operation's body never runs


@gmail.operation("POST /messages")
def send_email(to: str, subject: str, body: str) -> Message:
    """Send an email."""
    raise NotImplementedError  # an operation's body never runs


client = FiscusClient(connectors=[crm, gmail])


# ---------------------------------------------------------------- the guide's code


def guide() -> FiscusResponse:
    """Run the guide's code as it stands, and return its response."""
    # fmt: off
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
    # fmt: on
    return response


def report(response: FiscusResponse) -> None:
    """Print what each task did."""
    for task in response.results or []:
        outcome = "skipped" if task.skipped else "ok" if task.success else "failed"
        print(f"  {task.operation}: {outcome}")
    print(f"  context: {response.context}")


def main() -> tuple[FiscusResponse, FiscusResponse]:
    """Run the guide's code for a new contact, then again for the same one."""
    CONTACTS.clear()
    OUTBOX.clear()

    print("1. John is new to the CRM")
    created = guide()
    report(created)
    print(f"  outbox: {[message['subject'] for message in OUTBOX]}")

    print("\n2. The same again: the CRM already has john@example.com")
    refused = guide()
    report(refused)
    print(f"  outbox: {[message['subject'] for message in OUTBOX]}")
    return created, refused


if __name__ == "__main__":
    main()
