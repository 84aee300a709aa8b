"""The Fiscus guide's "Sending Multiple Tasks Simultaneously", as the guide writes it.

Two tasks in one call: create a contact in the CRM and send an email. The
guide's code (the task list, ``client.execute`` and the ``if``/``else``) is
kept exactly as the guide prints it, quotes included. It runs against the
sandbox API, served on 127.0.0.1 for the length of ``main()`` (no network,
public demo tokens), through the sandbox's connectors ``CRMSystem`` and
``Gmail``, the two the guide names::

    python examples/fiscus_guide_multiple_tasks.py

Neither task needs the other, so both requests are in flight at the same
time: a small ASGI layer in front of the sandbox makes each POST take a
moment, as a real API's round trip would, and counts those it is answering.
The guide's code runs twice: the first time both tasks succeed; the second
time the CRM already has john@example.com and answers 409 Conflict, the
email is sent all the same (nothing made it wait for the contact), and the
guide prints the error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from fiscus_dsl import FiscusClient, FiscusResponse
from fiscus_dsl._sandbox import create_app, sandbox
from fiscus_dsl._sandbox.connectors import Contact, Message, sandbox_connectors

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

LATENCY: Final = 0.05
"""Seconds each POST takes at the sandbox, as a round trip to a real API would."""


# ---------------------------------------------------------------- the sandbox


@dataclass
class Traffic:
    """How many POSTs the sandbox is answering, now and at most.

    Counted on the sandbox's thread: read it once the guide's call returned.
    """

    in_flight: int = 0
    peak: int = 0


async def network_delay(path: str) -> None:
    """Take as long as a round trip to a real API would."""
    await asyncio.sleep(LATENCY)


def metered(app: ASGIApp, traffic: Traffic) -> ASGIApp:
    """Wrap ``app``: delay each POST (the guide's requests) and count them in flight."""

    async def counted(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await app(scope, receive, send)
            return
        traffic.in_flight += 1
        traffic.peak = max(traffic.peak, traffic.in_flight)
        try:
            await network_delay(scope["path"])
            await app(scope, receive, send)
        finally:
            traffic.in_flight -= 1

    return counted


# ---------------------------------------------------------------- the guide's code


def guide(client: FiscusClient) -> FiscusResponse:
    """Run the guide's code as it stands on ``client``, and return its response."""
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


# ---------------------------------------------------------------- the program


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What ``main()`` did: both responses, and what the sandbox held after."""

    created: FiscusResponse
    refused: FiscusResponse
    peaks: tuple[int, int]  # the most requests in flight at once, in each run
    contacts: list[Contact]
    outbox: list[Message]


def report(response: FiscusResponse, traffic: Traffic) -> int:
    """Print what each task did and the peak of requests in flight; return it."""
    for task in response.results or []:
        print(f"  {task.operation}: {'ok' if task.success else 'failed'}")
    peak = traffic.peak
    print(f"  requests in flight at the same time, at most: {peak}")
    return peak


def main() -> Outcome:
    """Serve the sandbox; run the guide's code for a new contact, then the same one."""
    traffic = Traffic()
    with sandbox(metered(create_app(), traffic)) as base_url:
        print(f"The sandbox API listens on {base_url}")
        api = sandbox_connectors(base_url)  # CRMSystem, Gmail (and Flaky)
        client = FiscusClient(connectors=[api.crm, api.gmail])

        print("\n1. John is new to the CRM")
        traffic.peak = 0
        created = guide(client)
        first = report(created, traffic)
        print(f"  outbox: {[message.subject for message in api.list_messages()]}")

        print("\n2. The same again: the CRM already has john@example.com")
        traffic.peak = 0
        refused = guide(client)
        second = report(refused, traffic)
        outbox = api.list_messages()
        print(f"  outbox: {[message.subject for message in outbox]}")
        contacts = api.list_contacts()
    print(f"\nthe CRM's contacts: {[contact.email for contact in contacts]}")
    return Outcome(
        created=created,
        refused=refused,
        peaks=(first, second),
        contacts=contacts,
        outbox=outbox,
    )


if __name__ == "__main__":
    main()
