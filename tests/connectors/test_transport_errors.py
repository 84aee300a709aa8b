"""Every failure of a connector request is a ``ConnectorError`` with its code.

Hand-written tasks and operations alike: the connector's deadline, a
redirect loop, a URL httpx refuses, a header HTTP forbids, an undecodable
body. Only a failure that another attempt may cure is retryable, so the
connector's default ``Retry`` tries the others once. Messages lead with the
key detail (the status, the failure's kind), so a cut keeps it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Final

import httpx
import pytest

from fiscus_dsl import (
    Connector,
    ConnectorError,
    FiscusErrorCode,
    Header,
    HTTPStatusError,
    Retry,
)
from fiscus_dsl._connectors.connector import _request_of

from .conftest import BASE

if TYPE_CHECKING:
    from collections.abc import Callable

    import respx

    from fiscus_dsl.testing import FakeSleep

pytestmark = pytest.mark.usefixtures("runner")

RETRY: Final = Retry(attempts=3, backoff=0.0)
TOO_LONG: Final = "x" * 70_000


def _connector(handler: Callable[[httpx.Request], httpx.Response]) -> Connector:
    return Connector("CRM", BASE, retry=RETRY, transport=httpx.MockTransport(handler))


class Counter:
    """A mock handler that counts its calls and answers with ``answer``."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.calls = 0
        self.answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return self.answer(request)


def _raise(error: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        raise error

    return answer


# ---------------------------------------------------------------- hand-written tasks


async def test_a_hand_written_tasks_deadline_is_a_timeout_connector_error() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")  # pragma: no cover (never woken)

    slow = Connector(
        "Slow", BASE, timeout=1e-6, retry=None, transport=httpx.MockTransport(hang)
    )

    @slow.task
    async def fetch(client: httpx.AsyncClient) -> object:
        return (await client.get("/slow")).json()

    with pytest.raises(
        ConnectorError,
        match=r"^Timed out after the connector's timeout in operation 'fetch' of "
        r"connector 'Slow' \(GET https://api\.example\.test/v1/slow\)",
    ) as info:
        await fetch.arun()

    assert type(info.value) is ConnectorError
    assert info.value.code is FiscusErrorCode.TIMEOUT
    assert (info.value.method, info.value.retryable) == ("GET", True)
    assert isinstance(info.value.__cause__, TimeoutError)


async def test_a_hand_written_tasks_own_timeout_stays_a_timeout_error() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")  # pragma: no cover (never woken)

    slow = Connector("Slow", BASE, retry=None, transport=httpx.MockTransport(hang))

    @slow.task
    async def fetch(client: httpx.AsyncClient) -> object:
        async with asyncio.timeout(0.01):
            return (await client.get("/slow")).json()

    with pytest.raises(TimeoutError) as info:
        await fetch.arun()

    assert not isinstance(info.value, ConnectorError)


def test_a_redirect_loop_of_a_hand_written_task_is_not_retried(
    fake_sleep: FakeSleep,
) -> None:
    counter = Counter(lambda r: httpx.Response(302, headers={"Location": "/v1/loop"}))
    crm = _connector(counter)

    @crm.task
    async def fetch(client: httpx.AsyncClient) -> object:
        return (await client.get("/loop", follow_redirects=True)).json()

    with pytest.raises(
        ConnectorError,
        match=r"^TooManyRedirects \(Exceeded maximum allowed redirects\.\) in "
        r"operation 'fetch' of connector 'CRM' \(GET https://api\.example\.test/v1/"
        r"loop\); the API redirects in a loop or too often; request the final URL "
        r"directly; not retried, it would fail the same way$",
    ) as info:
        fetch()

    assert info.value.code is FiscusErrorCode.INVALID_REQUEST
    assert info.value.retryable is False
    assert counter.calls == 21  # one attempt: 1 request and 20 redirects
    assert fake_sleep.delays == []


def test_a_url_httpx_refuses_in_a_hand_written_task_is_not_retried() -> None:
    counter = Counter(lambda r: httpx.Response(200, json={}))
    crm = _connector(counter)

    @crm.task
    async def fetch(client: httpx.AsyncClient, name: str) -> object:
        return (await client.get(f"/contacts/{name}")).json()

    with pytest.raises(
        ConnectorError,
        match=r"^InvalidURL \(URL too long\) in operation 'fetch' of connector 'CRM' "
        r"\(\? https://api\.example\.test/v1\); shorten or fix",
    ) as info:
        fetch(name=TOO_LONG)

    assert info.value.code is FiscusErrorCode.INVALID_REQUEST
    assert (info.value.retryable, info.value.method) == (False, "?")
    assert counter.calls == 0


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (httpx.LocalProtocolError("Illegal header value"), 1002),
        (httpx.UnsupportedProtocol("Request URL has an unsupported protocol"), 1002),
        (httpx.DecodingError("Error -3 while decompressing data"), 1004),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else "",
)
def test_a_failure_another_attempt_cannot_cure_is_not_retried(
    error: Exception, code: int
) -> None:
    counter = Counter(_raise(error))
    crm = _connector(counter)

    @crm.task
    async def fetch(client: httpx.AsyncClient) -> object:
        return (await client.get("/contacts")).json()

    with pytest.raises(
        ConnectorError, match=rf"^{type(error).__name__} \({error}\) in operation"
    ) as info:
        fetch()

    assert int(info.value.code) == code
    assert info.value.retryable is False
    assert counter.calls == 1


def test_a_dropped_get_of_a_hand_written_task_is_retried(fake_sleep: FakeSleep) -> None:
    counter = Counter(_raise(httpx.ReadError("connection reset")))
    crm = _connector(counter)

    @crm.task
    async def fetch(client: httpx.AsyncClient) -> object:
        return (await client.get("/contacts")).json()

    with pytest.raises(ConnectorError, match=r"^ReadError \(connection reset\)"):
        fetch()

    assert counter.calls == 3
    assert len(fake_sleep.delays) == 2


def test_a_redirect_a_hand_written_task_raises_for_names_its_location(
    api: respx.MockRouter,
) -> None:
    api.get("/moved").respond(301, headers={"Location": "https://new.example.test/x"})
    crm = Connector("CRM", BASE, retry=RETRY)

    @crm.task
    async def fetch(client: httpx.AsyncClient) -> object:
        return (await client.get("/moved")).raise_for_status().json()

    with pytest.raises(
        HTTPStatusError,
        match=r"^HTTP 301 Moved Permanently from operation 'fetch' .*a redirect "
        r"\(Location https://new\.example\.test/x\) is not a success",
    ) as info:
        fetch()

    assert (info.value.code, info.value.retryable) == (
        FiscusErrorCode.INVALID_REQUEST,
        False,
    )
    assert api.calls.call_count == 1


# ---------------------------------------------------------------- operations


def test_an_operation_with_a_path_value_over_the_url_limit_sends_nothing() -> None:
    counter = Counter(lambda r: httpx.Response(200, json={}))
    crm = _connector(counter)

    @crm.operation("GET /contacts/{contact_id}")
    def get_contact(contact_id: str) -> dict[str, str]:
        """Fetch one contact."""
        raise NotImplementedError

    with pytest.raises(
        ConnectorError,
        match=r"^Unsendable value: operation 'get_contact' of connector 'CRM' got a "
        r"URL httpx refuses \(URL component 'path' too long\); its longest value "
        r"is parameter "
        r"'contact_id', 70000 characters; nothing was sent",
    ) as info:
        get_contact(contact_id=TOO_LONG)

    assert type(info.value) is ConnectorError
    assert info.value.code is FiscusErrorCode.INVALID_REQUEST
    assert info.value.retryable is False
    assert counter.calls == 0


def test_an_operation_with_a_query_value_over_the_url_limit_sends_nothing() -> None:
    counter = Counter(lambda r: httpx.Response(200, json={}))
    crm = _connector(counter)

    @crm.operation("GET /contacts")
    def search(q: str, page: int = 1) -> list[str]:
        """Search contacts."""
        raise NotImplementedError

    with pytest.raises(ConnectorError, match=r"parameter 'q', 70000 characters"):
        search(q=TOO_LONG)

    assert counter.calls == 0


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "nul\x00", "naïve"])
def test_an_operation_refuses_a_header_value_http_cannot_carry(value: str) -> None:
    counter = Counter(lambda r: httpx.Response(200, json={}))
    crm = _connector(counter)

    @crm.operation("GET /contacts")
    def search(trace: Annotated[str, Header(alias="X-Trace")]) -> list[str]:
        """Search contacts, traced."""
        raise NotImplementedError

    with pytest.raises(
        ConnectorError,
        match=r"^Unsendable value: operation 'search' of connector 'CRM' got header "
        r"'X-Trace' \(parameter 'trace'\) holding a control character",
    ) as info:
        search(trace=value)

    assert info.value.code is FiscusErrorCode.INVALID_REQUEST
    assert info.value.retryable is False
    assert counter.calls == 0


def test_an_operation_sends_a_header_value_with_a_tab() -> None:
    counter = Counter(lambda r: httpx.Response(200, json=[r.headers["X-Trace"]]))
    crm = _connector(counter)

    @crm.operation("GET /contacts")
    def search(trace: Annotated[str, Header(alias="X-Trace")]) -> list[str]:
        """Search contacts, traced."""
        raise NotImplementedError

    assert search(trace="a\tb ~") == ["a\tb ~"]


@pytest.mark.parametrize("status", [300, 301, 302, 303, 304, 307, 308])
def test_a_3xx_is_no_success_for_an_operation(
    api: respx.MockRouter, status: int
) -> None:
    api.get("/contacts/42").respond(status, headers={"Location": "/v1/people/42"})
    crm = Connector("CRM", BASE, retry=RETRY)

    @crm.operation("GET /contacts/{contact_id}")
    def get_contact(contact_id: str) -> dict[str, str]:
        """Fetch one contact."""
        raise NotImplementedError

    with pytest.raises(HTTPStatusError, match=rf"^HTTP {status} ") as info:
        get_contact(contact_id="42")

    assert info.value.code is FiscusErrorCode.INVALID_REQUEST
    assert info.value.retryable is False
    assert "Location https://api.example.test/v1/people/42" in str(info.value)
    assert api.calls.call_count == 1


def test_a_3xx_without_a_location_says_so(api: respx.MockRouter) -> None:
    api.get("/contacts/42").respond(304)
    crm = Connector("CRM", BASE, retry=None)

    @crm.operation("GET /contacts/{contact_id}")
    def get_contact(contact_id: str) -> dict[str, str]:
        """Fetch one contact."""
        raise NotImplementedError

    with pytest.raises(HTTPStatusError, match=r"a redirect \(no Location\)"):
        get_contact(contact_id="42")


def test_an_operation_returning_the_raw_response_gets_a_3xx(
    api: respx.MockRouter,
) -> None:
    api.get("/contacts/42").respond(303, headers={"Location": "/v1/people/42"})
    crm = Connector("CRM", BASE, retry=RETRY)

    @crm.operation("GET /contacts/{contact_id}")
    def get_contact(contact_id: str) -> httpx.Response:
        """Fetch one contact, raw."""
        raise NotImplementedError

    assert get_contact(contact_id="42").status_code == 303


def test_an_operation_returning_the_raw_response_still_fails_on_a_4xx(
    api: respx.MockRouter,
) -> None:
    api.get("/contacts/42").respond(404)
    crm = Connector("CRM", BASE, retry=None)

    @crm.operation("GET /contacts/{contact_id}")
    def get_contact(contact_id: str) -> httpx.Response:
        """Fetch one contact, raw."""
        raise NotImplementedError

    with pytest.raises(HTTPStatusError, match=r"^HTTP 404 "):
        get_contact(contact_id="42")


# ---------------------------------------------------------------- messages


def test_the_status_survives_a_cut_at_200_characters_of_a_long_url(
    api: respx.MockRouter,
) -> None:
    long_id = "c" * 3000
    api.get(f"/contacts/{long_id}").respond(404, json={"error": "no such contact"})
    crm = Connector("CRM", BASE, retry=None)

    @crm.operation("GET /contacts/{contact_id}")
    def get_contact(contact_id: str) -> dict[str, str]:
        """Fetch one contact."""
        raise NotImplementedError

    with pytest.raises(HTTPStatusError) as info:
        get_contact(contact_id=long_id)

    message = str(info.value)
    assert message[:200].startswith(
        "HTTP 404 Not Found from operation 'get_contact' of connector 'CRM' (GET "
    )
    assert '\u2026): \'{"error":"no such contact"}\'' in message
    assert len(message) < 400
    assert info.value.url == f"{BASE}/contacts/{long_id}"


def test_a_request_error_httpx_raised_without_its_request_names_none() -> None:
    assert _request_of(httpx.ReadError("reset")) is None
