"""The Fiscus guide's "Sending Multiple Tasks Simultaneously", as the guide writes it.

Two tasks in one call: create a contact in the CRM and send an email. The
guide's code (the task list, ``client.execute`` and the ``if``/``else``) is
kept exactly as the guide prints it, quotes included; what comes before it
declares the two connectors it names, ``CRMSystem`` and ``Gmail``. There is
no live CRM or Gmail here: both connectors send through
``httpx.MockTransport`` to a small fake API in this file, which takes a
moment to answer like a real one, so this runs anywhere, offline::

    python examples/fiscus_guide_multiple_tasks.py

Neither task needs the other, so both requests are in flight at the same
time. The guide's code runs twice: the first time both tasks succeed; the
second time the CRM already has john@example.com and answers 409
Conflict, the email is sent all the same (nothing made it wait for the
contact), and the guide prints the error.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import httpx
from pydantic import BaseModel

from fiscus_dsl import BearerAuth, Connector, FiscusClient, FiscusResponse, Secret

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

CRM_TOKEN: Final = "demo-crm-token"
GMAIL_TOKEN: Final = "demo-gmail-token"
LATENCY: Final = 0.05
"""Seconds each fake API call takes, as a round trip to a real API would."""


# ---------------------------------------------------------------- the fake APIs

CONTACTS: dict[str, dict[str, str]] = {}
"""The fake CRM's contacts, by id."""

OUTBOX: list[dict[str, str]] = []
"""Every message the fake mail service accepted."""


@dataclass
class Traffic:
    """How many requests the fake APIs are answering, now and at most."""

    in_flight: int = 0
    peak: int = 0


TRAFFIC = Traffic()


async def network_delay(request: httpx.Request) -> None:
    """Take as long as a round trip to a real API would."""
    await asyncio.sleep(LATENCY)


def served(
    api: Callable[[httpx.Request], httpx.Response],
) -> Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]:
    """Answer with ``api`` after the network's delay, counting requests in flight."""

    async def handler(request: httpx.Request) -> httpx.Response:
        TRAFFIC.in_flight += 1
        TRAFFIC.peak = max(TRAFFIC.peak, TRAFFIC.in_flight)
        try:
            await network_delay(request)
            return api(request)
        finally:
            TRAFFIC.in_flight -= 1

    return handler


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
    transport=httpx.MockTransport(served(crm_api)),
)
gmail = Connector(
    "Gmail",
    "https://gmail.example.com/v1",
    auth=BearerAuth(Secret(GMAIL_TOKEN)),
    transport=httpx.MockTransport(served(gmail_api)),
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
    # fmt: on
    return response


def report(response: FiscusResponse) -> None:
    """Print what each task did, and how many requests were in flight at once."""
    for task in response.results or []:
        print(f"  {task.operation}: {'ok' if task.success else 'failed'}")
    print(f"  requests in flight at the same time, at most: {TRAFFIC.peak}")


def main() -> tuple[FiscusResponse, FiscusResponse]:
    """Run the guide's code for a new contact, then again for the same one."""
    CONTACTS.clear()
    OUTBOX.clear()

    print("1. John is new to the CRM")
    TRAFFIC.peak = 0
    created = guide()
    report(created)
    print(f"  outbox: {[message['subject'] for message in OUTBOX]}")

    print("\n2. The same again: the CRM already has john@example.com")
    TRAFFIC.peak = 0
    refused = guide()
    report(refused)
    print(f"  outbox: {[message['subject'] for message in OUTBOX]}")
    return created, refused


if __name__ == "__main__":
    main()
