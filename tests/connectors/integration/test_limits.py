"""A connector's limits against the live server: concurrency, rate, 429 cool-down.

The server counts the requests it holds at once and logs when each one
arrived (``time.monotonic``, the clock the tests read too); a request's
CLIENT span starts when it passes the connector's limits. The runner's
sleep is fake, so every real wait below is the connector's own.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final, Literal

import pytest
from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from fiscus_dsl import (
    Connector,
    HTTPStatusError,
    Runner,
    TaskStatus,
    failed,
    task,
    when,
    workflow,
)
from fiscus_dsl._connectors.http import InstrumentedTransport

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    from fiscus_dsl.testing import FakeSleep

    from .conftest import LiveServer

#: How late a wait may end on a busy two-core machine, in seconds.
LATE: Final = 1.5
#: How long the OS or a thread switch (the server shares the GIL) may hold
#: a request between passing the limiter and starting its span.
SWITCH: Final = 0.05


class Item(BaseModel):
    """What ``/items/{key}/{item}`` answers."""

    item: int


class Call(BaseModel):
    """What ``/flaky/{key}`` answers once it succeeds."""

    call: int


# ---------------------------------------------------------------- concurrency

REQUESTS: Final = 200
MAX_CONCURRENCY: Final = 20
HOLD: Final = 0.03  # seconds the server holds each request
INNER_TRANSPORTS: Final = {
    None: "DefaultTransport",
    "httpx": "AsyncHTTPTransport",
    "aiohttp": "AiohttpTransport",
}


@pytest.mark.parametrize("transport", [None, "httpx", "aiohttp"])
def test_two_hundred_requests_never_have_more_than_twenty_in_flight(
    live_server: LiveServer,
    key: str,
    fake_sleep: FakeSleep,
    transport: Literal["httpx", "aiohttp"] | None,
) -> None:
    api = Connector(
        "loopback",
        live_server.url,
        max_concurrency=MAX_CONCURRENCY,
        transport=transport,
    )

    @api.operation("GET /items/{key}/{item}")
    def get_item(key: str, item: int, hold: float) -> Item:
        raise NotImplementedError  # the connector sends the request

    @task
    async def inspect_connector(items: list[Item]) -> tuple[int, str]:
        """Read, inside the run, the connector's count and its client's transport."""
        transport = api.client()._transport  # httpx keeps it private
        assert isinstance(transport, InstrumentedTransport)
        return api.limits().most_in_flight, type(transport._inner).__name__

    @workflow
    def flow(key: str) -> tuple[int, str]:
        items = get_item.partial(key=key, hold=HOLD).map(item=list(range(REQUESTS)))
        return inspect_connector(items)

    result = Runner(max_concurrency=None, sleep=fake_sleep).run(flow, key=key)

    assert result.success, result.error_message
    assert result["get_item"].value == [Item(item=n) for n in range(REQUESTS)]
    assert len(live_server.state.requests(key)) == REQUESTS
    server_most = live_server.state.most_in_flight(key)
    assert 1 < server_most <= MAX_CONCURRENCY
    assert result.output is not None
    connector_most, inner = result.output
    assert server_most <= connector_most <= MAX_CONCURRENCY
    assert inner == INNER_TRANSPORTS[transport]
    assert fake_sleep.delays == []


# ---------------------------------------------------------------- rate


RATE: Final = 20  # requests per second, and the leaky bucket's burst
RATED_REQUESTS: Final = 60
#: The bucket lets a burst of RATE through, then one request per 1/RATE s.
REQUIRED: Final = (RATED_REQUESTS - RATE) / RATE


def test_a_rate_limit_holds_its_rate(
    live_server: LiveServer,
    key: str,
    fake_sleep: FakeSleep,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    api = Connector(
        "loopback", live_server.url, max_concurrency=None, rate_limit=f"{RATE}/s"
    )

    @api.operation("GET /items/{key}/{item}")
    def get_item(key: str, item: int) -> Item:
        raise NotImplementedError  # the connector sends the request

    @workflow
    def flow(key: str) -> list[Item]:
        return get_item.partial(key=key).map(item=list(range(RATED_REQUESTS)))

    runner = Runner(max_concurrency=None, sleep=fake_sleep, tracer_provider=provider)
    started = time.monotonic()
    result = runner.run(flow, key=key)
    elapsed = time.monotonic() - started

    assert result.success, result.error_message
    assert len(live_server.state.requests(key)) == RATED_REQUESTS
    # A request's CLIENT span starts as it passes the limiter. The event
    # loop wakes a waiter late, never early, so these bounds need no slack
    # for load, only for a pause between limiter and span.
    starts = sorted(
        (span.start_time or 0) / 1e9
        for span in exporter.get_finished_spans()
        if span.kind is SpanKind.CLIENT
    )
    assert len(starts) == RATED_REQUESTS
    first = starts[0]
    for number, start in enumerate(starts[RATE:], start=1):
        # The burst of RATE, then ``number`` more: not before number / RATE s.
        assert start - first >= number / RATE - SWITCH, (number, start - first)
    assert REQUIRED <= elapsed < REQUIRED + LATE
    assert starts[-1] - first < REQUIRED + LATE


# ---------------------------------------------------------------- 429


def test_a_429_makes_the_next_request_wait_out_its_retry_after(
    live_server: LiveServer, key: str
) -> None:
    api = Connector("loopback", live_server.url)

    @api.operation("GET /flaky/{key}", retry=None, on_error="continue")
    def get_limited(key: str, failures: int, status: int, retry_after: int) -> Call:
        raise NotImplementedError  # the connector sends the request

    @api.operation("GET /echo/{key}")
    def get_echo(key: str) -> dict[str, object]:
        raise NotImplementedError  # the connector sends the request

    @workflow
    def flow(key: str) -> None:
        limited = get_limited(key, failures=1, status=429, retry_after=1)
        with when(failed(limited)):
            get_echo(key)

    started = time.monotonic()
    result = Runner().run(flow, key=key)  # real sleep: the cool-down really waits
    elapsed = time.monotonic() - started

    assert result["get_limited"].status is TaskStatus.FAILED
    error = result["get_limited"].error
    assert isinstance(error, HTTPStatusError)
    assert error.status_code == 429
    assert error.retry_after == 1.0
    assert result["get_echo"].status is TaskStatus.SUCCEEDED
    limited, echoed = live_server.state.requests(key)
    assert (limited.path, echoed.path) == (f"/flaky/{key}", f"/echo/{key}")
    assert echoed.at - limited.at >= 1.0
    assert elapsed < 1.0 + LATE


def test_a_retried_429_with_a_fake_sleep_asks_for_the_waits_without_waiting(
    live_server: LiveServer, key: str, fake_sleep: FakeSleep
) -> None:
    api = Connector("loopback", live_server.url)

    @api.operation("GET /flaky/{key}")
    def get_limited(key: str, failures: int, status: int, retry_after: int) -> Call:
        raise NotImplementedError  # the connector sends the request

    @workflow
    def flow(key: str) -> Call:
        return get_limited(key, failures=1, status=429, retry_after=1)

    result = Runner(sleep=fake_sleep).run(flow, key=key)

    assert result.output == Call(call=2)
    assert result["get_limited"].attempts == 2
    # The retry's wait, then what is left of the connector's cool-down: both
    # go through the runner's sleep, which returns at once here.
    retry_wait, cool_down = fake_sleep.delays
    assert retry_wait == 1.0
    assert 0.5 < cool_down <= 1.0
    first, second = live_server.state.requests(key)
    assert second.at - first.at < 1.0
