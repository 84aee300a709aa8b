"""An in-process CRM and mail API for the dict-API tests, and connectors for it.

``FakeApi`` answers the requests of the guide's two connectors through
``httpx.MockTransport``: ``POST /contacts`` creates a contact (422 for an
email without ``@``, 409 for an email it already has), ``GET /contacts``
lists them, ``GET /contacts/{id}`` finds one, and ``POST /messages`` sends
an email. It records every request, can fail the first requests with a
status, can echo the caller's ``Authorization`` header in its errors (as
careless APIs do), and can ``gate`` requests to observe concurrency.
Nothing leaves the process.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Final

import httpx
from pydantic import BaseModel

from fiscus_dsl import BearerAuth, Connector, Secret

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

CRM_URL: Final = "https://crm.example.test/v1"
GMAIL_URL: Final = "https://gmail.example.test/v1"
# Values that look like live credentials; they must never reach a message.
CRM_TOKEN: Final = "sk_live_dict_api_CANARY_CRM_5f4e3d2c1b"
GMAIL_TOKEN: Final = "sk_live_dict_api_CANARY_GMAIL_9a8b7c6d"


class Contact(BaseModel):
    """A contact as the fake CRM returns it."""

    id: str
    name: str
    email: str


class FakeApi:
    """The fake CRM and mail service: state, a request log and failure modes."""

    def __init__(
        self,
        *,
        failures: int = 0,
        failure_status: int = 503,
        echo_auth: bool = False,
        gate: Callable[[httpx.Request], Awaitable[None]] | None = None,
    ) -> None:
        self.failures = failures
        self.failure_status = failure_status
        self.echo_auth = echo_auth
        self.gate = gate
        self.requests: list[httpx.Request] = []
        self.contacts: dict[str, Contact] = {}
        self.outbox: list[dict[str, str]] = []

    def paths(self) -> list[str]:
        """Return ``"METHOD /path"`` of every request, in the order they arrived."""
        return [f"{r.method} {r.url.path}" for r in self.requests]

    def count(self, route: str) -> int:
        """Return how many requests came for ``"METHOD /path"``."""
        return self.paths().count(route)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.gate is not None:
            await self.gate(request)
        if self.failures > 0:
            self.failures -= 1
            return self._error(request, self.failure_status, "try again later")
        method, path = request.method, request.url.path.removeprefix("/v1")
        if (method, path) == ("POST", "/contacts"):
            return self._create_contact(request)
        if (method, path) == ("GET", "/contacts"):
            contacts = [contact.model_dump() for contact in self.contacts.values()]
            return httpx.Response(200, json=contacts)
        if method == "GET" and path.startswith("/contacts/"):
            contact = self.contacts.get(path.removeprefix("/contacts/"))
            if contact is None:
                return self._error(request, 404, "no such contact")
            return httpx.Response(200, json=contact.model_dump())
        if (method, path) == ("POST", "/messages"):
            message = {"id": f"m{len(self.outbox) + 1}", **json.loads(request.content)}
            self.outbox.append(message)
            return httpx.Response(202, json=message)
        return self._error(request, 404, f"no route {method} {path}")

    def _create_contact(self, request: httpx.Request) -> httpx.Response:
        data = json.loads(request.content)
        if "@" not in data["email"]:
            return self._error(request, 422, "email is not an email address")
        if any(c.email == data["email"] for c in self.contacts.values()):
            return self._error(request, 409, "a contact with that email exists")
        contact = Contact(id=f"c{len(self.contacts) + 1}", **data)
        self.contacts[contact.id] = contact
        return httpx.Response(201, json=contact.model_dump())

    def _error(self, request: httpx.Request, status: int, text: str) -> httpx.Response:
        body: dict[str, str] = {"error": text}
        if self.echo_auth:
            body["received"] = request.headers.get("Authorization", "")
        return httpx.Response(status, json=body)


class Rendezvous:
    """A gate that holds each request until ``parties`` requests have arrived.

    Requests sent one after another never all arrive, so the first one
    waits ``timeout`` seconds and then fails: the gate proves concurrency
    without trusting timings.
    """

    def __init__(self, parties: int, *, timeout: float = 5.0) -> None:
        self.parties = parties
        self.timeout = timeout
        self.arrived: list[str] = []
        self.all_here = asyncio.Event()

    async def __call__(self, request: httpx.Request) -> None:
        self.arrived.append(f"{request.method} {request.url.path}")
        if len(self.arrived) >= self.parties:
            self.all_here.set()
        async with asyncio.timeout(self.timeout):
            await self.all_here.wait()


def connectors(api: FakeApi) -> tuple[Connector, Connector]:
    """Declare the guide's two connectors, CRMSystem and Gmail, on ``api``."""
    transport = httpx.MockTransport(api)
    crm = Connector(
        "CRMSystem",
        CRM_URL,
        auth=BearerAuth(Secret(CRM_TOKEN)),
        transport=transport,
    )
    gmail = Connector(
        "Gmail",
        GMAIL_URL,
        auth=BearerAuth(Secret(GMAIL_TOKEN)),
        transport=transport,
    )

    @crm.operation("POST /contacts")
    def create_contact(name: str, email: str) -> Contact:
        """Create a contact in the CRM."""
        raise NotImplementedError

    @crm.operation("GET /contacts")
    def list_contacts() -> list[Contact]:
        """List the CRM's contacts."""
        raise NotImplementedError

    @crm.operation("GET /contacts/{contact_id}")
    def get_contact(contact_id: str) -> Contact:
        """Fetch one contact."""
        raise NotImplementedError

    @gmail.operation("POST /messages")
    def send_email(to: str, subject: str, body: str) -> dict[str, str]:
        """Send an email; return the message as the mail service stored it."""
        raise NotImplementedError

    return crm, gmail


def task(operation: str, **fields: object) -> dict[str, object]:
    """Return a task dict for one of the fake API's operations."""
    connector = "Gmail" if operation == "send_email" else "CRMSystem"
    return {"connector": connector, "operation": operation, **fields}
