"""The default transport: aiohttp's pool, and httpcore whenever respx mocks it.

A connector made with no ``transport=`` sends through aiohttp; every form a
user writes respx in (``respx.mock`` bare or with ``base_url=``, as a
decorator, as respx's pytest fixture, as a context manager sync or async,
entered before or after the client was made) still answers its requests,
with the connector's limits, auth and CLIENT spans applied around it.
aiohttp's failures keep their meaning on the way up.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

import aiohttp
import httpx
import pytest
import respx
from aiohttp.client_reqrep import ConnectionKey
from opentelemetry.trace import SpanKind

from fiscus_dsl import BearerAuth, Connector, Runner, Secret, workflow
from fiscus_dsl._connectors.aio import AiohttpTransport, renamed
from fiscus_dsl._connectors.transports import (
    DEFAULT_POOL,
    DefaultTransport,
    inner_transport,
    is_httpcore_mocked,
    tls_context,
)

from .conftest import BASE, attributes

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

TOKEN: Final = "sk_live_transport_CANARY_c0ffee"

shop = Connector("Shop", BASE, auth=BearerAuth(Secret(TOKEN)), max_concurrency=2)


@shop.operation("GET /items/{item}")
def get_item(item: int) -> dict[str, int]:
    """Fetch one item."""
    raise NotImplementedError  # the connector sends the request


@workflow
def fetch_all(items: list[int]) -> list[dict[str, int]]:
    return get_item.map(item=items)


def _in_flight_answers(
    seen: list[int],
) -> Callable[[httpx.Request, str], Awaitable[httpx.Response]]:
    """Return a respx side effect that records how many requests overlap."""
    state = {"now": 0}

    async def answer(request: httpx.Request, item: str) -> httpx.Response:
        state["now"] += 1
        seen.append(state["now"])
        await asyncio.sleep(0.01)  # a real pause, so that requests can overlap
        state["now"] -= 1
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        return httpx.Response(200, json={"item": int(item)})

    return answer


def _route_items(router: respx.MockRouter) -> list[int]:
    """Answer ``/items/{item}`` on ``router``; return the overlaps it records."""
    seen: list[int] = []
    router.get(path__regex=r"/items/(?P<item>\d+)").mock(
        side_effect=_in_flight_answers(seen)
    )
    return seen


def _assert_sent_with_limits_and_spans(
    runner: Runner, exporter: InMemorySpanExporter
) -> None:
    result = runner.run(fetch_all, items=[1, 2, 3, 4, 5])

    assert result.success, result.error_message
    assert result.output == [{"item": n} for n in range(1, 6)]
    client_spans = [
        s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT
    ]
    assert sorted(str(attributes(s)["url.full"]) for s in client_spans) == [
        f"{BASE}/items/{n}" for n in range(1, 6)
    ]
    assert {s.name for s in client_spans} == {"GET /v1/items/{item}"}


# ---------------------------------------------------------------- respx forms


def test_a_bare_respx_mock_answers_the_default_transport(
    runner: Runner, exporter: InMemorySpanExporter
) -> None:
    seen: list[int] = []
    with respx.mock(assert_all_called=True) as router:
        router.get(url__regex=rf"{BASE}/items/(?P<item>\d+)").mock(
            side_effect=_in_flight_answers(seen)
        )
        _assert_sent_with_limits_and_spans(runner, exporter)

    assert len(seen) == 5
    assert max(seen) == 2  # max_concurrency=2 held around the mock


def test_respx_mock_with_a_base_url_as_a_context_manager(
    runner: Runner, exporter: InMemorySpanExporter
) -> None:
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        seen = _route_items(router)
        _assert_sent_with_limits_and_spans(runner, exporter)

    assert max(seen) == 2


@respx.mock(base_url=BASE, assert_all_called=True)
def test_respx_mock_as_a_decorator(
    respx_mock: respx.MockRouter, runner: Runner, exporter: InMemorySpanExporter
) -> None:
    seen = _route_items(respx_mock)

    _assert_sent_with_limits_and_spans(runner, exporter)

    assert max(seen) == 2


@pytest.mark.respx(base_url=BASE, assert_all_called=True)
def test_respx_pytest_fixture(
    respx_mock: respx.MockRouter, runner: Runner, exporter: InMemorySpanExporter
) -> None:
    seen = _route_items(respx_mock)

    _assert_sent_with_limits_and_spans(runner, exporter)

    assert max(seen) == 2


def test_the_suites_respx_fixture(
    api: respx.MockRouter, runner: Runner, exporter: InMemorySpanExporter
) -> None:
    seen = _route_items(api)

    _assert_sent_with_limits_and_spans(runner, exporter)

    assert max(seen) == 2


async def test_an_async_respx_block_entered_after_the_client_was_made() -> None:
    client = shop.client()
    try:
        inner = client._transport._inner  # type: ignore[attr-defined]  # the instrumented transport's own
        assert isinstance(inner, DefaultTransport)
        assert not is_httpcore_mocked()
        async with respx.mock(base_url=BASE, assert_all_called=True) as router:
            assert is_httpcore_mocked()
            router.get("/items/7").respond(json={"item": 7})
            response = await client.get("/items/7")
        assert response.json() == {"item": 7}
        assert not is_httpcore_mocked()
        assert inner._httpcore is not None  # made for the mocked request only
    finally:
        await shop.aclose()


def test_respx_using_httpx_answers_too(runner: Runner) -> None:
    with respx.mock(base_url=BASE, using="httpx", assert_all_called=True) as router:
        router.get("/items/3").respond(json={"item": 3})
        result = runner.run(fetch_all, items=[3])

    assert result.output == [{"item": 3}]


# ---------------------------------------------------------------- the pools


async def test_the_default_transport_is_aiohttp_with_one_tls_context() -> None:
    default = inner_transport(None, None)
    named = inner_transport("aiohttp", 7)
    own = inner_transport("httpx", 7)
    try:
        assert isinstance(default, DefaultTransport)
        assert isinstance(default._aiohttp, AiohttpTransport)
        assert default._aiohttp.limits.max_connections == DEFAULT_POOL
        assert isinstance(named, AiohttpTransport)
        assert named.limits.max_connections == 7
        assert named.ssl_context is tls_context()
        assert default._aiohttp.ssl_context is tls_context()
        assert isinstance(own, httpx.AsyncHTTPTransport)
    finally:
        for transport in (default, named, own):
            await transport.aclose()


async def test_a_transport_passed_in_is_used_as_given() -> None:
    given = httpx.MockTransport(lambda request: httpx.Response(204))

    assert inner_transport(given, 3) is given


def test_no_max_concurrency_still_hands_the_transport_one_pool_at_a_time() -> None:
    async def probe() -> int:
        api = Connector("Wide", BASE, max_concurrency=None)
        try:
            return api.limits()._semaphore._value  # type: ignore[union-attr]  # asyncio keeps the count private
        finally:
            await api.aclose()

    assert asyncio.run(probe()) == DEFAULT_POOL


async def test_aiohttp_does_not_resend_a_request_on_its_own() -> None:
    transport = AiohttpTransport()
    try:
        session = transport.get_client()
        assert session._retry_connection is False
        transport.client = session
    finally:
        await transport.aclose()


class _Closing(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


async def test_closing_the_default_transport_closes_both_pools() -> None:
    transport = DefaultTransport(2)
    with respx.mock(base_url=BASE) as router:
        router.get("/ping").respond(204)
        response = await transport.handle_async_request(
            httpx.Request("GET", f"{BASE}/ping")
        )
    assert response.status_code == 204
    assert isinstance(transport._httpcore, httpx.AsyncHTTPTransport)
    aiohttp_side = transport._aiohttp
    assert isinstance(aiohttp_side, AiohttpTransport)
    aiohttp_side.client = aiohttp_side.get_client()
    httpcore_side = transport._httpcore = _Closing()  # type: ignore[assignment]  # records its closing

    await transport.aclose()

    assert isinstance(aiohttp_side.client, aiohttp.ClientSession)
    assert aiohttp_side.client.closed
    assert httpcore_side.closed


# ---------------------------------------------------------------- aiohttp failures


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("cut"), httpx.ReadError),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
        (aiohttp.ClientConnectionResetError("closing"), httpx.WriteError),
        (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
        (aiohttp.ConnectionTimeoutError("pool"), httpx.ConnectTimeout),
    ],
)
def test_aiohttp_failures_get_the_httpx_name_of_what_happened(
    cause: BaseException, expected: type[httpx.TransportError]
) -> None:
    error = httpx.ConnectTimeout(str(cause))  # what httpx-aiohttp raises for them
    error.__cause__ = cause

    found = renamed(error)

    assert type(found) is expected
    assert str(found) == (str(cause) or type(cause).__name__)


def test_a_failure_already_named_right_is_kept() -> None:
    error = httpx.ReadTimeout("read")
    error.__cause__ = aiohttp.SocketTimeoutError("read")
    unknown = httpx.ConnectError("other")
    unknown.__cause__ = ValueError("not aiohttp")

    assert renamed(error) is error
    assert renamed(unknown) is unknown


class _Content:
    """A body that gives one chunk, then fails with ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def iter_chunked(self, size: int) -> AsyncIterator[bytes]:
        yield b"{"
        raise self.error


class _Answer:
    """What aiohttp's session answers, as far as the transport reads it."""

    status = 200
    reason = "OK"
    raw_headers = ((b"Content-Type", b"application/json"),)

    def __init__(self, error: BaseException) -> None:
        self.content = _Content(error)
        self.released = False

    def release(self) -> None:
        self.released = True

    async def wait_for_close(self) -> None:
        return None


class _Session:
    """aiohttp's session, faked: it answers ``outcome`` or raises it."""

    def __init__(self, outcome: _Answer | BaseException) -> None:
        self.outcome = outcome

    async def request(self, *args: object, **kwargs: object) -> _Answer:
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def _through(
    monkeypatch: pytest.MonkeyPatch, outcome: _Answer | BaseException
) -> AiohttpTransport:
    """Return an ``AiohttpTransport`` whose session is faked (no sockets)."""
    monkeypatch.setattr(AiohttpTransport, "_session", lambda self: _Session(outcome))
    return AiohttpTransport()


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("cut"), httpx.ReadError),
        (ValueError("not aiohttp"), ValueError),  # not aiohttp's: as it is
    ],
)
async def test_a_body_cut_off_is_named_by_what_happened(
    monkeypatch: pytest.MonkeyPatch,
    cause: BaseException,
    expected: type[Exception],
) -> None:
    answer = _Answer(cause)
    transport = _through(monkeypatch, answer)

    response = await transport.handle_async_request(httpx.Request("GET", BASE))

    with pytest.raises(expected) as caught:
        await response.aread()
    assert caught.value is cause or caught.value.__cause__ is cause
    await response.aclose()
    assert answer.released


async def test_a_request_failure_is_named_by_what_happened(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dropped = aiohttp.ServerDisconnectedError()
    transport = _through(monkeypatch, dropped)
    with pytest.raises(httpx.RemoteProtocolError, match="Server disconnected") as sent:
        await transport.handle_async_request(httpx.Request("GET", BASE))
    assert sent.value.__cause__ is dropped

    key = ConnectionKey(
        "api.example.test", 443, True, True, None, None, None
    )  # aiohttp's tuple
    refused = aiohttp.ClientConnectorError(
        connection_key=key, os_error=OSError(111, "refused")
    )
    transport = _through(monkeypatch, refused)
    with pytest.raises(httpx.ConnectError) as not_sent:
        await transport.handle_async_request(httpx.Request("GET", BASE))
    assert not_sent.value.__cause__ is refused

    refusing = ValueError("header value holds a newline")
    transport = _through(monkeypatch, refusing)
    with pytest.raises(httpx.LocalProtocolError, match="newline"):
        await transport.handle_async_request(httpx.Request("GET", BASE))
