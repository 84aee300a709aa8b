"""Per-user limits (``limit_per="user"``) against a live server on 127.0.0.1.

The server records when each request arrived (``time.monotonic``, the
clock the tests read too), for which user (the ``X-User`` header), and how
many of a user's requests it holds at once. Each test runs one user's
workflow beside another's on the same event loop, each inside
``acting_for`` its own end user, so both share the connector's limits on
that loop; the same tests with ``limit_per="connector"`` show one user
waiting behind the other. Timings compare arrivals with each other, with
margins far wider than a loaded machine's delays.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Final, Literal, TypeVar

import pytest
from loopback import serving
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from fiscus_dsl import (
    ConfigurationError,
    Connector,
    Header,
    OptionTypeError,
    Runner,
    Task,
    TaskStatus,
    failed,
    task,
    when,
    workflow,
)
from fiscus_dsl._connectors.limits import Limits, Rate, UserLimits
from fiscus_dsl._runtime.cluster_limits import CLUSTER_LIMITS
from fiscus_dsl._runtime.end_user import acting_for

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    import httpx
    from starlette.requests import Request

    from fiscus_dsl._dsl.task import OnError

T = TypeVar("T")

#: How late a wait may end, or a request arrive, on a busy two-core machine.
LATE: Final = 0.5


# ---------------------------------------------------------------- the server


@dataclass(frozen=True, slots=True)
class Arrival:
    """One request the server saw: when, for which user, which number."""

    at: float
    user: str
    n: int


@dataclass
class Seen:
    """What the server saw, by test key (each test has its own)."""

    arrivals: dict[str, list[Arrival]] = field(
        default_factory=lambda: defaultdict(list)
    )
    in_flight: dict[tuple[str, str], int] = field(
        default_factory=lambda: defaultdict(int)
    )
    most: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    most_total: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: Set at a key's first request (the test makes it beforehand).
    begun: dict[str, threading.Event] = field(default_factory=dict)

    def of(self, key: str, user: str) -> list[Arrival]:
        """Return the arrivals of ``user``'s requests, in order."""
        return [arrival for arrival in self.arrivals[key] if arrival.user == user]


def build_app(seen: Seen) -> Starlette:
    """``GET /hit/{key}/{n}?hold=s&status=c``: record, hold, answer ``{"n": n}``."""

    async def hit(request: Request) -> JSONResponse:
        key, n = request.path_params["key"], int(request.path_params["n"])
        user = request.headers.get("x-user", "")
        seen.arrivals[key].append(Arrival(time.monotonic(), user, n))
        if key in seen.begun:
            seen.begun[key].set()
        status = int(request.query_params.get("status", "200"))
        if status == 429:
            return JSONResponse({}, status_code=429, headers={"Retry-After": "1"})
        seen.in_flight[key, user] += 1
        seen.most[key, user] = max(seen.most[key, user], seen.in_flight[key, user])
        total = sum(count for (k, _), count in seen.in_flight.items() if k == key)
        seen.most_total[key] = max(seen.most_total[key], total)
        try:
            await asyncio.sleep(float(request.query_params.get("hold", "0")))
        finally:
            seen.in_flight[key, user] -= 1
        return JSONResponse({"n": n})

    return Starlette(routes=[Route("/hit/{key}/{n:int}", hit)])


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    seen: Seen


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    seen = Seen()
    with serving(build_app(seen), name="per-user-limits") as port:
        yield Server(f"http://127.0.0.1:{port}", seen)


@pytest.fixture
def key() -> str:
    return uuid.uuid4().hex


# ---------------------------------------------------------------- end users


class StandIn:
    """A minimal end user: an id, and a policy that allows everything."""

    def __init__(self, user_id: str) -> None:
        self._user_id = user_id

    @property
    def user_id(self) -> str:
        return self._user_id

    def authorize(self, connector: str, operation: str | None) -> None:
        """Allow every operation."""


ALICE: Final = StandIn("alice")
BOB: Final = StandIn("bob")


async def acting(user: StandIn, run: Awaitable[T]) -> T:
    """Await ``run`` (a coroutine not started yet) for ``user``."""
    with acting_for(user):
        return await run


class Hit(BaseModel):
    n: int


def hits(
    connector: Connector, *, on_error: OnError = "fail"
) -> tuple[Task[..., Hit], Task[..., Hit]]:
    """Declare the operation and the hand-written task sending ``GET /hit``."""

    @connector.operation("GET /hit/{key}/{n}", on_error=on_error)
    def hit(
        key: str,
        n: int,
        user: Annotated[str, Header(alias="X-User")],
        hold: float = 0.0,
        status: int = 200,
    ) -> Hit:
        raise NotImplementedError  # the connector sends the request

    @connector.task
    async def hit_by_hand(
        client: httpx.AsyncClient, key: str, n: int, user: str, hold: float = 0.0
    ) -> Hit:
        response = await client.get(
            f"/hit/{key}/{n}", params={"hold": hold}, headers={"X-User": user}
        )
        response.raise_for_status()
        return Hit.model_validate(response.json())

    return hit, hit_by_hand


# ---------------------------------------------------------------- rate


BURST: Final = 20


@pytest.mark.parametrize("limit_per", ["user", "connector"])
async def test_one_users_burst_does_not_queue_another_users_request(
    server: Server, key: str, limit_per: Literal["user", "connector"]
) -> None:
    api = Connector(
        "perUser",
        server.url,
        rate_limit="5/s",
        max_concurrency=None,
        retry=None,
        limit_per=limit_per,
    )
    hit, _ = hits(api)

    @workflow
    def burst(key: str, user: str) -> list[Hit]:
        return hit.partial(key=key, user=user).map(n=list(range(BURST)))

    @workflow
    def one(key: str, user: str) -> Hit:
        return hit(key, n=99, user=user)

    runner = Runner(max_concurrency=None)
    begun = server.seen.begun[key] = threading.Event()
    alice = asyncio.create_task(
        acting(ALICE, runner.arun(burst, key=key, user="alice"))
    )
    assert await asyncio.to_thread(begun.wait, 10.0)  # Alice's burst has begun
    bob = await acting(BOB, runner.arun(one, key=key, user="bob"))
    alices = await alice

    assert alices.success, alices.error_message
    assert bob.success, bob.error_message
    arrived = server.seen.of(key, "alice")
    (bobs,) = server.seen.of(key, "bob")
    assert len(arrived) == BURST
    # 5 at once, then one each 0.2 s: the 8th at 0.6 s, the 20th at 3.0 s.
    assert arrived[-1].at - arrived[0].at >= 3.0 - 0.1
    if limit_per == "user":
        assert bobs.at < arrived[7].at
        assert bobs.at - arrived[0].at < LATE
    else:  # one bucket: Bob's request queues behind Alice's
        assert bobs.at > arrived[7].at


# ---------------------------------------------------------------- concurrency


PER_USER: Final = 2
CALLS: Final = 6
HOLD: Final = 0.25


@pytest.mark.parametrize("path", ["operation", "hand-written task"])
async def test_max_concurrency_holds_per_user(
    server: Server, key: str, path: str
) -> None:
    api = Connector("perUser", server.url, max_concurrency=PER_USER, limit_per="user")
    hit, hit_by_hand = hits(api)
    sender = hit if path == "operation" else hit_by_hand

    @workflow
    def calls(key: str, user: str) -> list[Hit]:
        return sender.partial(key=key, user=user, hold=HOLD).map(n=list(range(CALLS)))

    runner = Runner(max_concurrency=None)
    results = await asyncio.gather(
        acting(ALICE, runner.arun(calls, key=key, user="alice")),
        acting(BOB, runner.arun(calls, key=key, user="bob")),
    )

    assert all(result.success for result in results), [
        result.error_message for result in results
    ]
    seen = server.seen
    assert len(seen.of(key, "alice")) == len(seen.of(key, "bob")) == CALLS
    assert seen.most[key, "alice"] == PER_USER
    assert seen.most[key, "bob"] == PER_USER
    assert seen.most_total[key] == 2 * PER_USER


# ---------------------------------------------------------------- 429


@pytest.mark.parametrize(
    ("limit_per", "transport"),
    [("user", None), ("user", "httpx"), ("connector", None)],
)
async def test_a_429_cools_down_only_the_user_who_got_it(
    server: Server,
    key: str,
    limit_per: Literal["user", "connector"],
    transport: Literal["httpx"] | None,
) -> None:
    api = Connector(
        "perUser", server.url, retry=None, limit_per=limit_per, transport=transport
    )
    hit, _ = hits(api, on_error="continue")
    throttled = asyncio.Event()

    @task
    async def say_throttled() -> int:
        throttled.set()  # after the 429 reached the connector
        return 1

    @task
    async def wait_for_throttle() -> int:
        await throttled.wait()
        return 1

    @workflow
    def alice_flow(key: str) -> None:
        limited = hit(key, n=0, user="alice", status=429)
        with when(failed(limited)):
            say_throttled()
            hit(key, n=1, user="alice")

    @workflow
    def bob_flow(key: str) -> Hit:
        return hit(key, n=wait_for_throttle(), user="bob")

    runner = Runner(max_concurrency=None)  # real sleep: the cool-down really waits
    alices, bobs = await asyncio.gather(
        acting(ALICE, runner.arun(alice_flow, key=key)),
        acting(BOB, runner.arun(bob_flow, key=key)),
    )

    assert alices["hit"].status is TaskStatus.FAILED
    assert alices["hit#2"].status is TaskStatus.SUCCEEDED
    assert bobs["hit"].status is TaskStatus.SUCCEEDED
    limited, again = server.seen.of(key, "alice")
    (bob,) = server.seen.of(key, "bob")
    assert again.at - limited.at >= 1.0  # Alice waited out her Retry-After
    if limit_per == "user":
        assert bob.at < again.at
        assert bob.at - limited.at < LATE
    else:  # one set of limits: Bob waits out Alice's 429 too
        assert bob.at - limited.at >= 1.0


# ---------------------------------------------------------------- the buckets


async def test_each_user_and_no_user_get_limits_of_their_own() -> None:
    api = Connector("perUser", "https://api.example.test", limit_per="user")

    anonymous = api.limits()
    with acting_for(ALICE):
        alices = api.limits()
        assert api.limits() is alices
    with acting_for(BOB):
        bobs = api.limits()

    assert len({id(anonymous), id(alices), id(bobs)}) == 3
    state = api.state().limits
    assert isinstance(state, UserLimits)
    assert state.anonymous is anonymous
    assert len(state) == 2
    await api.aclose()


async def test_a_user_connector_keeps_one_set_of_limits() -> None:
    api = Connector("perConnector", "https://api.example.test")

    anonymous = api.limits()
    with acting_for(ALICE):
        assert api.limits() is anonymous
    assert isinstance(api.state().limits, Limits)
    await api.aclose()


async def test_the_least_recently_used_idle_users_are_dropped() -> None:
    limits = UserLimits(
        name="perUser", max_concurrency=1, rate=None, connections=10, max_users=2
    )
    busy = limits.of("busy")
    release = await busy.acquire()  # a request in flight: never dropped
    idle = limits.of("idle")

    limits.of("new")  # the table is full: the idle user goes

    assert len(limits) == 2
    assert limits.of("busy") is busy
    assert limits.of("idle") is not idle  # made again, with fresh limits
    release()


async def test_a_cooling_user_is_not_dropped() -> None:
    clock = [100.0]
    limits = UserLimits(
        name="perUser",
        max_concurrency=None,
        rate=None,
        connections=10,
        max_users=1,
        clock=lambda: clock[0],
    )
    cooling = limits.of("cooling")
    cooling.cool_down(5.0)

    limits.of("other")
    assert limits.of("cooling") is cooling  # kept while it cools down

    clock[0] += 10.0
    limits.of("third")
    assert limits.of("cooling") is not cooling


class Leases:
    """Stands in for a Dask worker's ``ClusterLimits``: records what is asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int | None, tuple[float, float] | None]] = []

    async def acquire(
        self,
        connector: str,
        *,
        max_concurrency: int | None,
        rate: tuple[float, float] | None,
    ) -> Callable[[], None]:
        self.asked.append((connector, max_concurrency, rate))
        return lambda: None


async def test_on_a_worker_only_requests_for_no_user_take_cluster_leases() -> None:
    limits = UserLimits(
        name="perUser", max_concurrency=3, rate=Rate(5, 1), connections=10
    )
    leases = Leases()
    token = CLUSTER_LIMITS.set(leases)  # type: ignore[arg-type]  # a stand-in
    try:
        (await limits.anonymous.acquire())()
        with acting_for(ALICE):
            (await limits.current().acquire())()
    finally:
        CLUSTER_LIMITS.reset(token)

    assert leases.asked == [("perUser", 3, (5.0, 1.0))]


# ---------------------------------------------------------------- the option


def test_limit_per_is_checked_where_the_connector_is_made() -> None:
    with pytest.raises(ConfigurationError, match=r"'crm' got limit_per='users'") as got:
        Connector("crm", "https://crm.example.test", limit_per="users")  # type: ignore[arg-type]  # the wrong value under test
    assert got.value.option == "limit_per"
    assert "limit_per='connector' (the default) or limit_per='user'" in str(got.value)

    with pytest.raises(OptionTypeError, match=r"'crm' got limit_per of type bool"):
        Connector("crm", "https://crm.example.test", limit_per=True)  # type: ignore[arg-type]  # the wrong type under test


def test_from_openapi_passes_limit_per_on() -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "CRM", "version": "1"},
        "servers": [{"url": "https://crm.example.test/v1"}],
        "paths": {},
    }
    crm = Connector.from_openapi(document, name="crm", limit_per="user")

    assert crm.limit_per == "user"
    assert Connector("crm", "https://crm.example.test").limit_per == "connector"
