"""The APIs the kit's tests mock: a CRM and a mail service, and a workflow.

The connectors have names no other test uses, since the kit finds
connectors by name among the live ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Final

from pydantic import BaseModel

from fiscus_dsl import (
    BearerAuth,
    Connector,
    Query,
    Retry,
    Secret,
    otherwise,
    succeeded,
    task,
    when,
    workflow,
)

if TYPE_CHECKING:
    import httpx

CRM_URL: Final = "https://crm.kit.test/v1"
MAIL_URL: Final = "https://mail.kit.test"

crm = Connector("KitCRM", CRM_URL, auth=BearerAuth(Secret("crm-token")))
mail = Connector(
    "KitMail", MAIL_URL, retry=Retry(attempts=3, backoff=0.5, jitter=False)
)


class Contact(BaseModel):
    """A contact as the CRM returns it."""

    id: str
    name: str
    email: str


JOHN: Final = {"id": "c1", "name": "John Doe", "email": "john@example.com"}


@crm.operation("POST /contacts", on_error="continue")
def create_contact(name: str, email: str) -> Contact:
    """Create a contact."""
    raise NotImplementedError  # an operation's body never runs


@crm.operation("GET /contacts/{contact_id}")
def get_contact(contact_id: str) -> Contact:
    """Fetch one contact."""
    raise NotImplementedError


@crm.operation("GET /contacts/me")
def get_me() -> Contact:
    """Fetch the caller's own contact."""
    raise NotImplementedError


@crm.operation("GET /contacts")
def find_contacts(
    q: str, tag: Annotated[list[str] | None, Query()] = None
) -> list[Contact]:
    """Search contacts."""
    raise NotImplementedError


@crm.operation("PUT /contacts/{contact_id}/links/{other_id}")
def link_contacts(contact_id: str, other_id: str) -> None:
    """Link two contacts."""
    raise NotImplementedError


@crm.task
async def count_contacts(client: httpx.AsyncClient) -> int:
    """Count contacts, by hand."""
    response = await client.get("/contacts/count")
    response.raise_for_status()
    return int(response.json()["count"])


@mail.operation("POST /messages")
def send_email(to: str, subject: str, body: str) -> dict[str, str]:
    """Send an email."""
    raise NotImplementedError


@task
def welcome_subject(name: str) -> str:
    """Write the welcome subject."""
    return f"Welcome, {name}!"


PAGES: list[str] = []


@task
async def page_ops(reason: str) -> None:
    """Page the people on call."""
    PAGES.append(reason)


@workflow
def onboard(name: str, email: str) -> Contact:
    """Create the contact; welcome them, or page ops if the CRM said no."""
    contact = create_contact(name=name, email=email)
    with when(succeeded(contact)):
        send_email(
            to=contact.email, subject=welcome_subject(name), body="Glad to have you."
        )
    with otherwise():
        page_ops(reason="contact creation failed")
    return contact
