"""HTTP errors: status errors, transport errors and deadlines, with their codes.

Every error names the method, the URL without credentials, the status and
at most 200 scrubbed characters of the body, and carries the Fiscus code:
1001 for 401/403, 1002 for another 4xx, 1003 for 404, 1004 for 5xx and
failed connections, 1005 for timeouts. The connector here never retries,
so each test sees one attempt.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import httpx
import pytest

from fiscus_dsl import (
    Connector,
    ConnectorError,
    FiscusErrorCode,
    HTTPStatusError,
    Query,
    Secret,
)

from .conftest import BASE, attributes

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import respx
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

pytestmark = pytest.mark.usefixtures("runner")

CANARY = "sk_live_errors_CANARY_0a1b2c3d4e"

crm = Connector("CRM", BASE, retry=None)


@crm.operation("GET /contacts/{contact_id}")
def get_contact(
    contact_id: str, token: Annotated[str | None, Query()] = None
) -> dict[str, str]:
    """Fetch one contact."""
    raise NotImplementedError


@crm.operation("POST /contacts", idempotency_key=False)
def create_contact(name: str) -> dict[str, str]:
    """Create a contact, without an Idempotency-Key."""
    raise NotImplementedError


@crm.operation("POST /keyed")
def create_keyed(name: str) -> dict[str, str]:
    """Create something, with an Idempotency-Key."""
    raise NotImplementedError


# ---------------------------------------------------------------- status errors


@pytest.mark.parametrize(
    ("status", "code", "fix"),
    [
        (
            400,
            FiscusErrorCode.INVALID_REQUEST,
            "fix the request; a 4xx is never retried",
        ),
        (401, FiscusErrorCode.AUTH_FAILURE, "check the connector's credentials"),
        (403, FiscusErrorCode.AUTH_FAILURE, "check the connector's credentials"),
        (404, FiscusErrorCode.NOT_FOUND, "fix the request; a 4xx is never retried"),
        (409, FiscusErrorCode.INVALID_REQUEST, "fix the request"),
        (422, FiscusErrorCode.INVALID_REQUEST, "fix the request"),
        (500, FiscusErrorCode.INTERNAL_ERROR, "retryable: the task's Retry policy"),
        (502, FiscusErrorCode.INTERNAL_ERROR, "retryable"),
        (503, FiscusErrorCode.INTERNAL_ERROR, "retryable"),
        (504, FiscusErrorCode.INTERNAL_ERROR, "retryable"),
        (408, FiscusErrorCode.TIMEOUT, "retryable"),
    ],
)
def test_a_status_error_carries_its_fiscus_code(
    api: respx.MockRouter, status: int, code: FiscusErrorCode, fix: str
) -> None:
    api.get("/contacts/42").respond(status, json={"error": "nope"})

    with pytest.raises(HTTPStatusError, match=rf"^HTTP {status} .*; {fix}") as caught:
        get_contact(contact_id="42")

    error = caught.value
    assert error.code is code
    assert error.status_code == status
    assert error.retryable is (status in (408, 500, 502, 503, 504))


def test_a_status_error_names_method_url_status_and_body(
    api: respx.MockRouter,
) -> None:
    api.get("/contacts/42").respond(404, json={"error": "no such contact"})

    with pytest.raises(
        HTTPStatusError,
        match=(
            r"^HTTP 404 Not Found from operation 'get_contact' of connector 'CRM' "
            r"\(GET https://api\.example\.test/v1/contacts/42\): "
            r"'\{\"error\":\"no such contact\"\}'; fix the request; a 4xx is "
            r"never retried$"
        ),
    ) as caught:
        get_contact(contact_id="42")

    error = caught.value
    assert (error.connector, error.operation) == ("CRM", "get_contact")
    assert (error.method, error.url) == ("GET", f"{BASE}/contacts/42")
    assert (error.status_code, error.body) == (404, '{"error":"no such contact"}')
    assert error.retry_after is None
    assert isinstance(error, ConnectorError)


def test_a_429_is_retryable_and_carries_retry_after(api: respx.MockRouter) -> None:
    api.post("/contacts").respond(429, headers={"Retry-After": "0"})

    with pytest.raises(HTTPStatusError, match=r"^HTTP 429 Too Many Requests") as caught:
        create_contact(name="Ada")

    error = caught.value
    assert error.code is FiscusErrorCode.INVALID_REQUEST
    assert error.retryable is True
    assert error.retry_after == 0.0


def test_a_5xx_of_a_post_without_key_says_it_may_have_had_an_effect(
    api: respx.MockRouter,
) -> None:
    api.post("/contacts").respond(503)

    with pytest.raises(
        HTTPStatusError,
        match=r"^HTTP 503 Service Unavailable from .*: ''; not retried: the request "
        r"may have had an effect \(send an Idempotency-Key\)$",
    ) as caught:
        create_contact(name="Ada")

    assert caught.value.retryable is False
    assert caught.value.code is FiscusErrorCode.INTERNAL_ERROR


def test_a_5xx_of_a_keyed_post_is_retryable(api: respx.MockRouter) -> None:
    api.post("/keyed").respond(503)

    with pytest.raises(HTTPStatusError, match=r"^HTTP 503") as caught:
        create_keyed(name="Ada")

    assert caught.value.retryable is True


def test_the_body_excerpt_is_at_most_200_characters(api: respx.MockRouter) -> None:
    api.get("/contacts/42").respond(500, text="x" * 500)

    with pytest.raises(HTTPStatusError, match=r": 'x{200}'; ") as caught:
        get_contact(contact_id="42")

    assert caught.value.body == "x" * 200


def test_a_secret_across_the_excerpt_cut_leaves_no_part_behind(
    api: respx.MockRouter,
) -> None:
    secret = Secret(CANARY)
    api.get("/contacts/42").respond(500, text="a" * 190 + secret.reveal())

    with pytest.raises(HTTPStatusError) as caught:
        get_contact(contact_id="42")

    assert caught.value.body == "a" * 190 + "*" * 10
    assert CANARY[:6] not in str(caught.value)


def test_secret_looking_values_in_the_body_are_redacted(
    api: respx.MockRouter,
) -> None:
    api.get("/contacts/42").respond(
        401, json={"error": "expired", "access_token": "at-unregistered-77"}
    )

    with pytest.raises(HTTPStatusError, match=r"access_token") as caught:
        get_contact(contact_id="42")

    assert caught.value.body == '{"error":"expired","access_token":"REDACTED"}'
    assert "at-unregistered-77" not in str(caught.value)


def test_the_url_of_an_error_has_secret_looking_query_values_redacted(
    api: respx.MockRouter,
) -> None:
    api.get("/contacts/42").respond(404)

    with pytest.raises(
        HTTPStatusError, match=r"contacts/42\?token=REDACTED\)"
    ) as caught:
        get_contact(contact_id="42", token="tk-unregistered-55")

    assert caught.value.url == f"{BASE}/contacts/42?token=REDACTED"
    assert "tk-unregistered-55" not in str(caught.value)


# ---------------------------------------------------------------- transport errors


def test_a_connection_error_is_code_1004_and_retryable(api: respx.MockRouter) -> None:
    cause = httpx.ConnectError("connection refused")
    api.post("/contacts").mock(side_effect=cause)

    with pytest.raises(
        ConnectorError,
        match=(
            r"^ConnectError \(connection refused\) in operation 'create_contact' of "
            r"connector 'CRM' \(POST https://api\.example\.test/v1/contacts\); the "
            r"request was not sent, so the task's Retry policy may try again$"
        ),
    ) as caught:
        create_contact(name="Ada")

    error = caught.value
    assert type(error) is ConnectorError
    assert error.code is FiscusErrorCode.INTERNAL_ERROR
    assert error.retryable is True
    assert (error.method, error.url) == ("POST", f"{BASE}/contacts")
    assert error.__cause__ is cause


@pytest.mark.parametrize(
    "kind", [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.PoolTimeout]
)
def test_a_timeout_is_code_1005(
    api: respx.MockRouter, kind: type[httpx.TimeoutException]
) -> None:
    api.get("/contacts/42").mock(side_effect=kind("timed out"))

    with pytest.raises(
        ConnectorError, match=rf"^{kind.__name__} \(timed out\) in "
    ) as caught:
        get_contact(contact_id="42")

    assert caught.value.code is FiscusErrorCode.TIMEOUT
    assert caught.value.retryable is True


def test_a_read_timeout_of_an_idempotent_request_is_retryable(
    api: respx.MockRouter,
) -> None:
    api.get("/contacts/42").mock(side_effect=httpx.ReadTimeout(""))

    with pytest.raises(
        ConnectorError,
        match=r"^ReadTimeout \(no detail\) in .*; the request is idempotent, so "
        r"the task's Retry policy may try again$",
    ) as caught:
        get_contact(contact_id="42")

    assert caught.value.retryable is True


def test_an_ambiguous_failure_of_a_post_without_key_is_not_retryable(
    api: respx.MockRouter,
) -> None:
    api.post("/contacts").mock(side_effect=httpx.RemoteProtocolError("peer closed"))

    with pytest.raises(
        ConnectorError,
        match=r"^RemoteProtocolError \(peer closed\) in .*; not retried: the "
        r"request may have had an effect \(send an Idempotency-Key\)$",
    ) as caught:
        create_contact(name="Ada")

    assert caught.value.retryable is False
    assert caught.value.code is FiscusErrorCode.INTERNAL_ERROR


def test_a_transport_error_message_is_scrubbed(api: respx.MockRouter) -> None:
    Secret(CANARY)
    api.get("/contacts/42").mock(
        side_effect=httpx.ConnectError(f"proxy refused {BASE}?api_key={CANARY}")
    )

    with pytest.raises(
        ConnectorError, match=r"proxy refused .*api_key=\*{10}"
    ) as caught:
        get_contact(contact_id="42")

    assert CANARY not in str(caught.value)


# ---------------------------------------------------------------- deadlines


class Dribble(httpx.AsyncByteStream):
    """A body whose first chunk comes at once and whose second never does."""

    def __init__(self) -> None:
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"id": '
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        self.closed = True


async def test_the_deadline_bounds_a_request_that_never_answers() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")  # pragma: no cover (never woken)

    slow = Connector(
        "Slow", BASE, timeout=1e-6, retry=None, transport=httpx.MockTransport(hang)
    )

    @slow.operation("GET /slow")
    def fetch() -> dict[str, str]:
        """Fetch something slowly."""
        raise NotImplementedError

    with pytest.raises(
        ConnectorError,
        match=r"^Timed out after the connector's timeout in operation 'fetch' of "
        r"connector 'Slow' \(GET https://api\.example\.test/v1/slow\); the "
        r"request is idempotent, so the task's Retry policy may try again$",
    ) as caught:
        await fetch.arun()

    assert caught.value.code is FiscusErrorCode.TIMEOUT
    assert isinstance(caught.value.__cause__, TimeoutError)


async def test_the_deadline_bounds_reading_the_body_too(
    exporter: InMemorySpanExporter,
) -> None:
    stream = Dribble()

    def dribble(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=stream)

    slow = Connector(
        "Slow", BASE, timeout=1e-6, retry=None, transport=httpx.MockTransport(dribble)
    )

    @slow.operation("GET /dribble")
    def fetch() -> dict[str, str]:
        """Fetch a body that never ends."""
        raise NotImplementedError

    with pytest.raises(
        ConnectorError, match=r"^Timed out after the connector's timeout"
    ) as caught:
        await fetch.arun()

    assert caught.value.code is FiscusErrorCode.TIMEOUT
    assert stream.closed
    (client_span,) = [
        s for s in exporter.get_finished_spans() if s.name.startswith("GET")
    ]
    assert attributes(client_span)["http.response.status_code"] == 200, (
        "the headers came in time; the body did not"
    )


async def test_without_a_timeout_a_slow_answer_is_awaited() -> None:
    async def answer_later(request: httpx.Request) -> httpx.Response:
        for _ in range(3):
            await asyncio.sleep(0)
        return httpx.Response(200, json={"ok": "yes"})

    patient = Connector(
        "Patient", BASE, timeout=None, transport=httpx.MockTransport(answer_later)
    )

    @patient.operation("GET /later")
    def fetch() -> dict[str, str]:
        """Fetch something that takes a few loop turns."""
        raise NotImplementedError

    assert await fetch.arun() == {"ok": "yes"}
