"""The Fiscus guide's "Chaining Tasks with Conditional Logic", as the guide writes it.

Create a contact in the CRM, then send a welcome email, but only if the
contact was created. The guide's code (the task list, ``client.execute``
and the ``if``/``else``) is kept exactly as the guide prints it, quotes and
comments included. It runs against the sandbox API, served on 127.0.0.1 for
the length of ``main()`` (no network, public demo tokens), through the
sandbox's connectors ``CRMSystem`` and ``Gmail``, the two the guide names::

    python examples/fiscus_guide_chained.py

It runs the guide's code twice. The first time, John is new: the contact is
created and the email is sent. The second time the sandbox's CRM already
has john@example.com and answers 409 Conflict, so ``custom_logic`` sets
``context['create_contact']`` to False, the condition is false, the email
is skipped, and the guide prints the error.
"""

# The guide's code is kept verbatim, so one of its comments runs long.
# ruff: noqa: E501

from __future__ import annotations

from dataclasses import dataclass

from fiscus_dsl import FiscusClient, FiscusResponse
from fiscus_dsl._sandbox import sandbox
from fiscus_dsl._sandbox.connectors import Contact, Message, sandbox_connectors

# ---------------------------------------------------------------- the guide's code


def guide(client: FiscusClient) -> FiscusResponse:
    """Run the guide's code as it stands on ``client``, and return its response."""
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


# ---------------------------------------------------------------- the program


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What ``main()`` did: both responses, and what the sandbox held after."""

    created: FiscusResponse
    refused: FiscusResponse
    contacts: list[Contact]
    outbox: list[Message]


def report(response: FiscusResponse) -> None:
    """Print what each task did, and the context ``custom_logic`` set."""
    for task in response.results or []:
        outcome = "skipped" if task.skipped else "ok" if task.success else "failed"
        print(f"  {task.operation}: {outcome}")
    print(f"  context: {response.context}")


def main() -> Outcome:
    """Serve the sandbox; run the guide's code for a new contact, then the same one."""
    with sandbox() as base_url:
        print(f"The sandbox API listens on {base_url}")
        api = sandbox_connectors(base_url)  # CRMSystem, Gmail (and Flaky)
        client = FiscusClient(connectors=[api.crm, api.gmail])

        print("\n1. John is new to the CRM")
        created = guide(client)
        report(created)
        print(f"  outbox: {[message.subject for message in api.list_messages()]}")

        print("\n2. The same again: the CRM already has john@example.com")
        refused = guide(client)
        report(refused)
        outbox = api.list_messages()
        print(f"  outbox: {[message.subject for message in outbox]}")
        contacts = api.list_contacts()
    print(f"\nthe CRM's contacts: {[contact.email for contact in contacts]}")
    return Outcome(created=created, refused=refused, contacts=contacts, outbox=outbox)


if __name__ == "__main__":
    main()
