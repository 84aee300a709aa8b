"""Connectors for the sandbox API, declared as an application would declare its own.

``sandbox_connectors(base_url)`` returns the three connectors of the
sandbox at ``base_url`` with their operations: ``CRMSystem`` and ``Gmail``
(named as in the docs and the Fiscus guide, so their task lists run
against the sandbox unchanged) and ``Flaky``. A base URL is only known once
the sandbox listens, so the connectors are made by a function rather than
at import. The demo tokens are the sandbox's own and protect nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, final

from pydantic import BaseModel

from fiscus_dsl._connectors.auth import BearerAuth, Secret
from fiscus_dsl._connectors.connector import Connector
from fiscus_dsl._runtime.retry import Retry
from fiscus_dsl._sandbox.app import CRM_TOKEN, FLAKY_TOKEN, MAIL_TOKEN

if TYPE_CHECKING:
    from fiscus_dsl._dsl.task import Task


class Contact(BaseModel):
    """A contact as the sandbox CRM returns it."""

    id: str
    name: str
    email: str


class Message(BaseModel):
    """A message as the sandbox mail service accepted it."""

    id: str
    to: str
    subject: str
    body: str
    status: str


class FlakyAnswer(BaseModel):
    """The flaky endpoint's answer once it works: how many calls it took."""

    key: str
    calls: int
    status: str


#: Quick retries for the flaky endpoint, so the demo shows them without waiting.
FLAKY_RETRY = Retry(attempts=4, backoff=0.05, max_delay=2.0)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxConnectors:
    """The sandbox's connectors and their operations (tasks)."""

    crm: Connector
    gmail: Connector
    flaky: Connector
    create_contact: Task[..., Contact]
    get_contact: Task[..., Contact]
    list_contacts: Task[..., list[Contact]]
    send_email: Task[..., Message]
    list_messages: Task[..., list[Message]]
    check: Task[..., FlakyAnswer]

    @property
    def connectors(self) -> list[Connector]:
        """Return the three connectors, for ``FiscusClient(connectors=...)``."""
        return [self.crm, self.gmail, self.flaky]


def sandbox_connectors(base_url: str) -> SandboxConnectors:
    """Declare the connectors of the sandbox API served at ``base_url``.

    Examples:
        >>> api = sandbox_connectors("http://127.0.0.1:8000")
        >>> [c.name for c in api.connectors]
        ['CRMSystem', 'Gmail', 'Flaky']
        >>> sorted(api.crm.operations)
        ['create_contact', 'get_contact', 'list_contacts']
    """
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
    flaky = Connector(
        "Flaky",
        f"{base_url}/flaky/v1",
        auth=BearerAuth(Secret(FLAKY_TOKEN)),
        retry=FLAKY_RETRY,
    )

    @crm.operation("POST /contacts", on_error="continue")
    def create_contact(name: str, email: str) -> Contact:
        """Create a contact in the CRM (409 if the email is taken)."""

    @crm.operation("GET /contacts/{contact_id}")
    def get_contact(contact_id: str) -> Contact:
        """Fetch one contact."""

    @crm.operation("GET /contacts")
    def list_contacts() -> list[Contact]:
        """List every contact."""

    @gmail.operation("POST /messages")
    def send_email(to: str, subject: str, body: str) -> Message:
        """Queue an email."""

    @gmail.operation("GET /messages")
    def list_messages() -> list[Message]:
        """List the outbox."""

    @flaky.operation("GET /{key}")
    def check(key: str, failures: int = 2, retry_after: int = 0) -> FlakyAnswer:
        """Call the flaky endpoint: 503 for the first ``failures`` calls of a key."""

    return SandboxConnectors(
        crm=crm,
        gmail=gmail,
        flaky=flaky,
        create_contact=create_contact,
        get_contact=get_contact,
        list_contacts=list_contacts,
        send_email=send_email,
        list_messages=list_messages,
        check=check,
    )
