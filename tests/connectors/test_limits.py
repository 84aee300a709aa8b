"""Limits: requests in flight, the request rate, and the cool-down after a 429.

A connector's limits live on one event loop and are shared by every run
there. Waits that would take real time are observed, not waited out: a
request held back is a task still pending after the loop had turns to
spare, then cancelled.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx
import pytest

from fiscus_dsl import ConfigurationError, Connector, Retry, RunStatus, workflow
from fiscus_dsl._connectors.connector import DEFAULT_RETRY
from fiscus_dsl._connectors.http import _ReleasingStream
from fiscus_dsl._connectors.limits import Limits, Rate, parse_rate

from .conftest import BASE

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import respx

    from fiscus_dsl import Runner
    from fiscus_dsl.testing import FakeSleep

TURNS = 20


async def is_held_back(pending: asyncio.Task[object]) -> bool:
    """Give the loop turns to spare; tell whether ``pending`` is still waiting."""
    for _ in range(TURNS):
        await asyncio.sleep(0)
    return not pending.done()


async def cancel(pending: asyncio.Task[object]) -> None:
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending


def start(awaitable: Awaitable[object]) -> asyncio.Task[object]:
    async def run() -> object:
        return await awaitable

    return asyncio.create_task(run())


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- rates


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("10/s", Rate(10, 1)),
        ("600/min", Rate(600, 60)),
        ("100/h", Rate(100, 3600)),
        ("5/10s", Rate(5, 10)),
        (" 2 / 3 minute ", Rate(2, 180)),
        ("1.5/sec", Rate(1.5, 1)),
        ("10/S", Rate(10, 1)),
        ("7/hour", Rate(7, 3600)),
        ("3/second", Rate(3, 1)),
        ("4/m", Rate(4, 60)),
        ("0.5/s", Rate(0.5, 1)),
    ],
)
def test_parse_rate_reads_requests_per_unit(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["ten/s", "10/fortnight", "10", "/s", "-1/s", ""])
def test_parse_rate_refuses_what_is_not_a_rate(text: str) -> None:
    with pytest.raises(
        ValueError,
        match=rf"^rate_limit={text!r} is not a rate; write requests per unit, such "
        r"as '10/s', '600/min' or '100/h'$",
    ):
        parse_rate(text)


@pytest.mark.parametrize("text", ["0/s", "10/0s"])
def test_parse_rate_refuses_a_rate_of_nothing(text: str) -> None:
    with pytest.raises(
        ConfigurationError,
        match=rf"^rate_limit={text!r} must allow more than 0 requests per period; "
        r"write a positive rate, such as '10/s'$",
    ) as info:
        parse_rate(text)

    assert info.value.option == "rate_limit"


def test_a_rate_reads_as_count_per_seconds() -> None:
    assert str(Rate(10, 1)) == "10/1s"
    assert str(Rate(0.5, 60)) == "0.5/60s"


def test_a_connector_parses_its_rate_limit() -> None:
    assert Connector("CRM", BASE, rate_limit="600/min").rate == Rate(600, 60)
    assert Connector("CRM", BASE).rate is None


# ---------------------------------------------------------------- Limits


async def test_without_limits_acquire_counts_requests_in_flight() -> None:
    limits = Limits(max_concurrency=None, rate=None)

    releases = [await limits.acquire() for _ in range(3)]
    in_flight = limits.in_flight
    for release in releases:
        release()

    assert (in_flight, limits.in_flight, limits.most_in_flight) == (3, 0, 3)


async def test_max_concurrency_holds_a_request_until_a_slot_frees() -> None:
    limits = Limits(max_concurrency=1, rate=None)
    release = await limits.acquire()

    waiting = start(limits.acquire())

    assert await is_held_back(waiting)
    release()
    second = await waiting
    assert callable(second)
    assert (limits.in_flight, limits.most_in_flight) == (1, 1)


@pytest.mark.parametrize("rate", [Rate(1, 3600), Rate(0.5, 3600)], ids=str)
async def test_the_rate_holds_the_request_after_the_allowance(rate: Rate) -> None:
    limits = Limits(max_concurrency=None, rate=rate)
    (await limits.acquire())()

    waiting = start(limits.acquire())

    assert await is_held_back(waiting)
    await cancel(waiting)


async def test_a_rate_allows_a_burst_of_its_count() -> None:
    limits = Limits(max_concurrency=None, rate=Rate(3, 3600))

    for _ in range(3):
        (await limits.acquire())()

    waiting = start(limits.acquire())
    assert await is_held_back(waiting)
    await cancel(waiting)


async def test_a_cool_down_holds_requests_until_it_is_over() -> None:
    clock = Clock()
    limits = Limits(max_concurrency=None, rate=None, clock=clock)
    limits.cool_down(5.0)

    waiting = start(limits.acquire())
    assert await is_held_back(waiting)
    await cancel(waiting)

    clock.now += 5.0
    release = await limits.acquire()
    release()


async def test_a_shorter_cool_down_does_not_cut_a_longer_one() -> None:
    clock = Clock()
    limits = Limits(max_concurrency=None, rate=None, clock=clock)
    limits.cool_down(10.0)
    limits.cool_down(2.0)
    clock.now += 3.0

    waiting = start(limits.acquire())

    assert await is_held_back(waiting)
    await cancel(waiting)


async def test_a_cool_down_is_clamped_to_max_cool_down() -> None:
    clock = Clock()
    limits = Limits(max_concurrency=None, rate=None, clock=clock, max_cool_down=5.0)
    limits.cool_down(86400.0)

    waiting = start(limits.acquire())
    assert await is_held_back(waiting)
    await cancel(waiting)

    clock.now += 5.0
    (await limits.acquire())()


@pytest.mark.parametrize(
    ("retry", "clamp"),
    [(Retry(max_delay=2.0), 2.0), (None, 30.0), (DEFAULT_RETRY, 30.0)],
    ids=["own-policy", "no-policy", "default-policy"],
)
async def test_a_connectors_cool_down_is_clamped_to_its_max_delay(
    retry: Retry | None, clamp: float
) -> None:
    shop = Connector("Shop", BASE, retry=retry)

    limits = shop.limits()
    await shop.aclose()

    assert limits._max_cool_down == clamp


async def test_a_negative_cool_down_holds_nothing() -> None:
    limits = Limits(max_concurrency=None, rate=None, clock=Clock())
    limits.cool_down(-3.0)

    (await limits.acquire())()

    assert limits.in_flight == 0


async def test_a_body_frees_its_slot_once_however_often_it_is_closed() -> None:
    released: list[bool] = []
    stream = _ReleasingStream(
        httpx.ByteStream(b"{}"), lambda: released.append(True), None
    )

    assert [chunk async for chunk in stream] == [b"{}"]
    await stream.aclose()
    await stream.aclose()

    assert released == [True]


# ---------------------------------------------------------------- through a connector


def concurrency_probe() -> tuple[
    list[int], Callable[[httpx.Request], Awaitable[httpx.Response]]
]:
    """Return ``[active, most]`` and a respx side effect that keeps them."""
    counts = [0, 0]

    async def answer(request: httpx.Request) -> httpx.Response:
        counts[0] += 1
        counts[1] = max(counts[1], counts[0])
        for _ in range(TURNS):
            await asyncio.sleep(0)
        counts[0] -= 1
        return httpx.Response(200, json=1)

    return counts, answer


@pytest.mark.parametrize(("limit", "most"), [(2, 2), (None, 6)])
def test_max_concurrency_bounds_the_requests_of_a_run(
    runner: Runner, api: respx.MockRouter, limit: int | None, most: int
) -> None:
    counts, answer = concurrency_probe()
    api.get(name="item").mock(side_effect=answer)
    shop = Connector("Shop", BASE, max_concurrency=limit)

    @shop.operation("GET /items/{item_id}")
    def get_item(item_id: int) -> int:
        """Fetch one item."""
        raise NotImplementedError

    @workflow
    def fetch_all(ids: list[int]) -> list[int]:
        return get_item.map(item_id=ids)

    result = runner.run(fetch_all, ids=list(range(6)))

    assert result.output == [1] * 6
    assert counts[1] == most


async def test_runs_on_one_loop_share_the_limit(
    runner: Runner, api: respx.MockRouter
) -> None:
    counts, answer = concurrency_probe()
    api.get("/ping").mock(side_effect=answer)
    shop = Connector("Shop", BASE, max_concurrency=1)

    @shop.operation("GET /ping")
    def ping() -> int:
        """Ping."""
        raise NotImplementedError

    @workflow
    def flow() -> int:
        return ping()

    results = await asyncio.gather(*(runner.arun(flow) for _ in range(3)))

    assert [result.output for result in results] == [1, 1, 1]
    assert counts[1] == 1


def test_a_failed_request_frees_its_slot(runner: Runner, api: respx.MockRouter) -> None:
    shop = Connector("Shop", BASE, max_concurrency=1)
    route = api.get("/ping").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=1)]
    )

    @shop.task
    async def ping_twice(client: httpx.AsyncClient) -> int:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{BASE}/ping")
        response = await client.get(f"{BASE}/ping")
        return int(response.json()) + shop.limits().in_flight

    @workflow
    def flow() -> int:
        return ping_twice()

    result = runner.run(flow)

    assert result.status is RunStatus.SUCCEEDED
    assert result.output == 1
    assert route.call_count == 2


def test_a_streamed_body_holds_its_slot_until_closed(
    runner: Runner, api: respx.MockRouter
) -> None:
    shop = Connector("Shop", BASE, max_concurrency=1)
    api.get("/export").respond(200, text="a,b\n")

    @shop.task
    async def export(client: httpx.AsyncClient) -> list[int]:
        limits = shop.limits()
        async with client.stream("GET", f"{BASE}/export") as response:
            held = limits.in_flight
            await response.aread()
        return [held, limits.in_flight]

    @workflow
    def flow() -> list[int]:
        return export()

    assert runner.run(flow).output == [1, 0]


def test_the_rate_limit_holds_a_connectors_requests(
    runner: Runner, api: respx.MockRouter
) -> None:
    shop = Connector("Shop", BASE, rate_limit="1/h")
    route = api.get("/ping").respond(204)

    @shop.task
    async def ping_twice(client: httpx.AsyncClient) -> bool:
        await client.get(f"{BASE}/ping")
        second = start(client.get(f"{BASE}/ping"))
        held = await is_held_back(second)
        await cancel(second)
        return held

    @workflow
    def flow() -> bool:
        return ping_twice()

    assert runner.run(flow).output is True
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("headers", "cool_down"),
    [
        ({"Retry-After": "3600"}, 30.0),  # clamped to the retry's max_delay
        ({}, 1.0),  # no Retry-After: a second of cool-down
        ({"Retry-After": "0"}, None),
    ],
    ids=["retry-after-3600", "no-retry-after", "retry-after-0"],
)
def test_a_429_holds_back_the_connectors_next_requests(
    runner: Runner,
    fake_sleep: FakeSleep,
    api: respx.MockRouter,
    headers: dict[str, str],
    cool_down: float | None,
) -> None:
    shop = Connector("Shop", BASE, retry=None)
    route = api.get("/ping").mock(
        side_effect=[httpx.Response(429, headers=headers), httpx.Response(204)]
    )

    @shop.task
    async def ping_twice(client: httpx.AsyncClient) -> int:
        await client.get(f"{BASE}/ping")
        response = await client.get(f"{BASE}/ping")  # waits with the runner's sleep
        return response.status_code

    @workflow
    def flow() -> int:
        return ping_twice()

    assert runner.run(flow).output == 204
    assert route.call_count == 2
    if cool_down is None:
        assert fake_sleep.delays == []
    else:
        (waited,) = fake_sleep.delays
        assert cool_down - 0.5 < waited <= cool_down


def test_a_429_with_an_unreadable_retry_after_frees_its_slot(
    runner: Runner, api: respx.MockRouter
) -> None:
    shop = Connector("Shop", BASE, max_concurrency=1, retry=None)
    api.get("/ping").respond(429, headers=[(b"Retry-After", "²".encode("latin-1"))])

    @shop.task
    async def ping(client: httpx.AsyncClient) -> list[int]:
        response = await client.get(f"{BASE}/ping")
        return [response.status_code, shop.limits().in_flight]

    @workflow
    def flow() -> list[int]:
        return ping()

    assert runner.run(flow).output == [429, 0]
