"""The sandbox API: a CRM, a mail service and a flaky endpoint in one Starlette app.

``create_app()`` returns the ASGI app behind ``fiscus demo``, the API
examples and the CLI's ``--sandbox``. It is demo machinery, not a mock of
any real service: state lives in memory (one ``SandboxState`` per app),
and the bearer tokens are fixed, public and good for this app only
(``demo-crm-token``, ``demo-mail-token``, ``demo-flaky-token``).

Routes (JSON in and out):

- ``POST /crm/v1/contacts`` ``{name, email}``: 201 with the contact and a new
  id; 409 if a contact has that email; 422 if a field is missing or bad.
- ``GET /crm/v1/contacts`` lists the contacts; ``GET /crm/v1/contacts/{id}``
  returns one, or 404.
- ``POST /mail/v1/messages`` ``{to, subject, body}``: 202 with the message id;
  ``GET /mail/v1/messages`` is the outbox.
- ``GET /flaky/v1/{key}``: 503 with ``Retry-After`` for the first
  ``failures`` calls of a key (query, default 2; ``retry_after`` seconds,
  default 0), then 200 with the number of calls; ``DELETE`` resets the key.
- ``POST /reset`` empties everything; ``GET /health`` needs no token.

Imports starlette only: no fiscus_dsl runtime, no HTTP client.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, final

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request

    Endpoint = Callable[[Request], Awaitable[Response]]

CRM_TOKEN: Final = "demo-crm-token"
MAIL_TOKEN: Final = "demo-mail-token"
FLAKY_TOKEN: Final = "demo-flaky-token"
TOKENS: Final = {"crm": CRM_TOKEN, "mail": MAIL_TOKEN, "flaky": FLAKY_TOKEN}
"""The demo bearer token of each service. They protect nothing but the demo."""

DEFAULT_FAILURES: Final = 2
"""How many calls of a key the flaky endpoint refuses with 503 by default."""

MAX_FAILURES: Final = 100
MAX_RETRY_AFTER: Final = 3600


@final
@dataclass(slots=True)
class SandboxState:
    """What the sandbox API holds: contacts, the outbox, calls per flaky key."""

    contacts: dict[str, dict[str, str]] = field(default_factory=dict)
    outbox: list[dict[str, str]] = field(default_factory=list)
    flaky_calls: dict[str, int] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget every contact, message and flaky count."""
        self.contacts.clear()
        self.outbox.clear()
        self.flaky_calls.clear()


class _RequestError(Exception):
    """A request the API answers with an error status; raised to leave early."""

    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **extra}
        self.headers: dict[str, str] = {}


def _authorize(request: Request, service: str) -> None:
    """Refuse a request without the service's demo bearer token (401)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = TOKENS[service]
    if scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        return
    refused = _RequestError(
        401, f"missing or wrong bearer token for the sandbox {service} service"
    )
    refused.headers["WWW-Authenticate"] = f'Bearer realm="{service}"'
    raise refused


async def _json_object(request: Request) -> dict[str, object]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _RequestError(400, "the body is not JSON") from exc
    if not isinstance(data, dict):
        raise _RequestError(400, "the body must be a JSON object")
    return data


def _text(data: dict[str, object], name: str, *, email: bool = False) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _RequestError(422, f"{name!r} must be a non-empty string", field=name)
    if email and "@" not in value:
        raise _RequestError(422, f"{name!r} must be an email address", field=name)
    return value


def _number(request: Request, name: str, default: int, most: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) > most:
        raise _RequestError(400, f"{name!r} must be a whole number from 0 to {most}")
    return int(text)


# ---------------------------------------------------------------- endpoints


@final
class _Api:
    """The endpoints, over one ``SandboxState``."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "services": sorted(TOKENS)})

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return Response(status_code=204)

    async def create_contact(self, request: Request) -> Response:
        _authorize(request, "crm")
        data = await _json_object(request)
        name, email = _text(data, "name"), _text(data, "email", email=True)
        for contact in self.state.contacts.values():
            if contact["email"].lower() == email.lower():
                message = f"a contact with email {email} already exists"
                raise _RequestError(409, message, id=contact["id"])
        contact = {"id": f"c{len(self.state.contacts) + 1}", "name": name}
        contact["email"] = email
        self.state.contacts[contact["id"]] = contact
        location = f"/crm/v1/contacts/{contact['id']}"
        return JSONResponse(contact, status_code=201, headers={"Location": location})

    async def list_contacts(self, request: Request) -> Response:
        _authorize(request, "crm")
        return JSONResponse(list(self.state.contacts.values()))

    async def get_contact(self, request: Request) -> Response:
        _authorize(request, "crm")
        contact_id = request.path_params["contact_id"]
        contact = self.state.contacts.get(contact_id)
        if contact is None:
            raise _RequestError(404, f"no contact with id {contact_id}")
        return JSONResponse(contact)

    async def send_message(self, request: Request) -> Response:
        _authorize(request, "mail")
        data = await _json_object(request)
        to, subject = _text(data, "to", email=True), _text(data, "subject")
        body = data.get("body", "")
        if not isinstance(body, str):
            raise _RequestError(422, "'body' must be a string", field="body")
        message = {"id": f"m{len(self.state.outbox) + 1}", "to": to}
        message.update(subject=subject, body=body, status="queued")
        self.state.outbox.append(message)
        return JSONResponse(message, status_code=202)

    async def list_messages(self, request: Request) -> Response:
        _authorize(request, "mail")
        return JSONResponse(self.state.outbox)

    async def flaky(self, request: Request) -> Response:
        _authorize(request, "flaky")
        failures = _number(request, "failures", DEFAULT_FAILURES, MAX_FAILURES)
        retry_after = _number(request, "retry_after", 0, MAX_RETRY_AFTER)
        key = request.path_params["key"]
        calls = self.state.flaky_calls[key] = self.state.flaky_calls.get(key, 0) + 1
        if calls <= failures:
            refused = _RequestError(503, "temporarily unavailable", key=key, call=calls)
            refused.headers["Retry-After"] = str(retry_after)
            raise refused
        return JSONResponse({"key": key, "calls": calls, "status": "ok"})

    async def reset_flaky(self, request: Request) -> Response:
        _authorize(request, "flaky")
        self.state.flaky_calls.pop(request.path_params["key"], None)
        return Response(status_code=204)


def _answering(endpoint: Endpoint) -> Endpoint:
    """Turn a ``_RequestError`` raised by an endpoint into its JSON error response."""

    async def answer(request: Request) -> Response:
        try:
            return await endpoint(request)
        except _RequestError as refused:
            response = JSONResponse(refused.body, status_code=refused.status)
            response.headers.update(refused.headers)
            return response

    return answer


def create_app(state: SandboxState | None = None) -> Starlette:
    """Return the sandbox API as an ASGI app, over ``state`` (a fresh one by default).

    The state is ``app.state.sandbox``; read it from the server's thread only
    once the requests you care about have been answered.

    Examples:
        >>> app = create_app()
        >>> app.state.sandbox.contacts
        {}
    """
    api = _Api(state or SandboxState())
    table: list[tuple[str, str, Endpoint]] = [
        ("GET", "/health", api.health),
        ("POST", "/reset", api.reset),
        ("POST", "/crm/v1/contacts", api.create_contact),
        ("GET", "/crm/v1/contacts", api.list_contacts),
        ("GET", "/crm/v1/contacts/{contact_id}", api.get_contact),
        ("POST", "/mail/v1/messages", api.send_message),
        ("GET", "/mail/v1/messages", api.list_messages),
        ("GET", "/flaky/v1/{key}", api.flaky),
        ("DELETE", "/flaky/v1/{key}", api.reset_flaky),
    ]
    routes = [
        Route(path, _answering(endpoint), methods=[method])
        for method, path, endpoint in table
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = api.state
    return app
