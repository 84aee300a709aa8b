"""A connector's limits: requests in flight, request rate, and 429 cool-downs.

Concurrency is an ``asyncio.Semaphore``; the rate is aiolimiter's leaky
bucket (asyncio-native, small, no dependencies: the waiting is exact and
needs no polling, which ``limits`` would, and ``pyrate-limiter`` brings
sync-first buckets and backends a connector does not need). After a 429,
the connector's next requests wait out the server's ``Retry-After``, at
most the connector's retry ``max_delay``.
asyncio primitives belong to one event loop, so a connector keeps one
``Limits`` per loop: every run on that loop shares it. On a Dask worker
running a ``DaskExecutor``'s batch, the connector's declared limits also
take cluster-wide leases (``_runtime/cluster_limits.py``) after the
worker's own, so they hold across every worker of the cluster.

With ``limit_per="user"`` a connector keeps ``UserLimits`` instead: one
``Limits`` per end user (``current_end_user().user_id``), made on first
use, so that one user's burst never queues another's requests, and a 429
cools down only the user who got it. Requests acting for no end user share
one ``Limits`` of their own. Every user's requests also share one
semaphore as large as the transport's pool, so that a request with a slot
always has a connection. The least recently used users' limits are
dropped once ``MAX_USERS`` are kept, never those of a user with a request
waiting, in flight or cooling down. Per-user limits hold in each process:
on a Dask worker they take no cluster-wide leases (a ``distributed``
semaphore per user would be a lease-refreshing object per user on every
worker and the scheduler, never dropped); those of no end user do.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, final

from aiolimiter import AsyncLimiter

from fiscus_dsl._connectors.transports import DEFAULT_POOL
from fiscus_dsl._runtime.attempts import current_attempt
from fiscus_dsl._runtime.cluster_limits import CLUSTER_LIMITS
from fiscus_dsl._runtime.end_user import current_end_user
from fiscus_dsl._runtime.logs import cooling_down
from fiscus_dsl.errors import ConfigurationError, OptionTypeError

if TYPE_CHECKING:
    from collections.abc import Callable

    from fiscus_dsl._connectors.connector import Connector
    from fiscus_dsl._runtime.cluster_limits import ClusterLimits

_UNITS: Final = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}
LimitPer = Literal["connector", "user"]
LIMIT_PER: Final = ("connector", "user")
#: The most end users whose limits a ``UserLimits`` keeps before it drops the
#: least recently used idle ones.
MAX_USERS: Final = 4096
_RATE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*$")


@final
@dataclass(frozen=True, slots=True)
class Rate:
    """``count`` requests per ``period`` seconds."""

    count: float
    period: float

    def __str__(self) -> str:
        return f"{self.count:g}/{self.period:g}s"


def parse_rate(text: str) -> Rate:
    """Read ``"10/s"``, ``"600/min"``, ``"100/h"`` or ``"5/10s"`` into a ``Rate``.

    Raises:
        ConfigurationError: The text is not of that form, or the rate is not
            positive.
    """
    match = _RATE.match(text.lower())
    unit = _UNITS.get(match.group(3)) if match else None
    if match is None or unit is None:
        msg = (
            f"rate_limit={text!r} is not a rate; write requests per unit, "
            "such as '10/s', '600/min' or '100/h'"
        )
        raise ConfigurationError(msg, option="rate_limit")
    count = float(match.group(1))
    period = float(match.group(2) or 1) * unit
    if count <= 0 or period <= 0:
        msg = (
            f"rate_limit={text!r} must allow more than 0 requests per period; "
            "write a positive rate, such as '10/s'"
        )
        raise ConfigurationError(msg, option="rate_limit")
    return Rate(count, period)


def _limiter(rate: Rate) -> AsyncLimiter:
    """Return the bucket for ``rate``; one request must fit in it ("0.5/s": 1/2s)."""
    if rate.count < 1:
        return AsyncLimiter(1, rate.period / rate.count)
    return AsyncLimiter(rate.count, rate.period)


@final
class Limits:
    """The limits of one connector (or one of its end users) on one event loop."""

    def __init__(
        self,
        *,
        name: str = "",
        max_concurrency: int | None,
        rate: Rate | None,
        clock: Callable[[], float] = time.monotonic,
        max_cool_down: float = 30.0,
        declared_concurrency: int | None = None,
        pool: asyncio.Semaphore | None = None,
        shared: bool = True,
    ) -> None:
        """Make the limits; ``declared_concurrency`` is what holds across a cluster.

        ``max_concurrency`` may be a pool's size where the user declared
        none; only ``declared_concurrency`` and ``rate`` take cluster leases,
        and only when ``shared``. ``pool`` is a semaphore several ``Limits``
        share (one per end user), taken after this one's own.
        """
        self._semaphore = (
            asyncio.Semaphore(max_concurrency) if max_concurrency else None
        )
        self._pool = pool
        self._limiter = _limiter(rate) if rate else None
        self._shared = (
            None
            if not shared or (declared_concurrency is None and rate is None)
            else (
                declared_concurrency,
                None if rate is None else (rate.count, rate.period),
            )
        )
        self._name = name
        self._clock = clock
        self._max_cool_down = max_cool_down
        self._cool_until = 0.0
        self._waiting = 0
        self.in_flight = 0
        self.most_in_flight = 0

    @property
    def name(self) -> str:
        """Return the connector's name."""
        return self._name

    def current(self) -> Limits:
        """Return the limits a request sent now takes: these."""
        return self

    def is_idle(self) -> bool:
        """Tell whether no request waits or is in flight here, and no 429 cools it."""
        return (
            self._waiting == 0
            and self.in_flight == 0
            and self._cool_until <= self._clock()
        )

    async def acquire(self) -> Callable[[], None]:
        """Wait for a cool-down, the rate and a free slot; return the release."""
        self._waiting += 1
        try:
            await self._wait_turn()
            give_back = await self._take_slots()
        finally:
            self._waiting -= 1
        self._count_in()
        semaphores = self._semaphore is not None or self._pool is not None
        release = self._release if semaphores else self._count_out
        if give_back is None:
            return release

        def both() -> None:
            give_back()
            release()

        return both

    async def _wait_turn(self) -> None:
        """Wait out a 429's cool-down, then the rate."""
        delay = self._cool_until - self._clock()
        if delay > 0:  # with the runner's sleep, so tests need not wait
            attempt = current_attempt()
            await (asyncio.sleep if attempt is None else attempt.sleep)(delay)
        if self._limiter is not None:
            await self._limiter.acquire()

    async def _take_slots(self) -> Callable[[], None] | None:
        """Take this slot, the pool's, then the cluster's leases (their release)."""
        semaphore, pool = self._semaphore, self._pool
        if semaphore is not None:
            await semaphore.acquire()
        try:
            if pool is not None:
                await pool.acquire()
            try:
                cluster = CLUSTER_LIMITS.get() if self._shared is not None else None
                if cluster is None:
                    return None
                return await self._shared_leases(cluster)  # on a Dask worker
            except BaseException:
                if pool is not None:
                    pool.release()
                raise
        except BaseException:
            if semaphore is not None:
                semaphore.release()
            raise

    async def _shared_leases(self, cluster: ClusterLimits) -> Callable[[], None]:
        """Take the cluster's leases, after this process's; return their release."""
        assert self._shared is not None  # only called with declared limits
        concurrency, rate = self._shared
        return await cluster.acquire(self._name, max_concurrency=concurrency, rate=rate)

    def cool_down(self, seconds: float) -> None:
        """Hold the next requests back for ``seconds`` (a 429 said so).

        The wait is clamped to ``max_cool_down``, as a retry's wait is to its
        policy's ``max_delay``: a ``Retry-After`` of a day stalls nothing for a day.
        """
        seconds = min(max(0.0, seconds), self._max_cool_down)
        self._cool_until = max(self._cool_until, self._clock() + seconds)
        cooling_down(self._name, seconds)

    def _count_in(self) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def _count_out(self) -> None:
        self.in_flight -= 1

    def _release(self) -> None:
        self.in_flight -= 1
        if self._semaphore is not None:
            self._semaphore.release()
        if self._pool is not None:
            self._pool.release()


@final
class UserLimits:
    """A connector's limits per end user on one event loop (``limit_per="user"``).

    Each end user gets a ``Limits`` of the connector's ``max_concurrency``
    and rate, made on first use; requests acting for no end user share one.
    All of them share one semaphore of ``connections``, the transport's
    pool. Once ``max_users`` users' limits are kept, a new user's drops
    the least recently used that are idle (see ``Limits.is_idle``): a user
    dropped so starts again with a full burst, as a new one does.
    """

    def __init__(
        self,
        *,
        name: str,
        max_concurrency: int | None,
        rate: Rate | None,
        connections: int,
        clock: Callable[[], float] = time.monotonic,
        max_cool_down: float = 30.0,
        max_users: int = MAX_USERS,
    ) -> None:
        """Make the limits of no user yet; ``connections`` bounds all users together."""
        self._name = name
        self._max_concurrency = max_concurrency
        self._rate = rate
        self._clock = clock
        self._max_cool_down = max_cool_down
        self._max_users = max_users
        self._pool = asyncio.Semaphore(connections)
        self._users: OrderedDict[str, Limits] = OrderedDict()
        # For no end user: on a Dask worker, cluster-wide as a connector's own.
        self.anonymous = self._make(shared=True)

    @property
    def name(self) -> str:
        """Return the connector's name."""
        return self._name

    def current(self) -> Limits:
        """Return the limits of the end user the code acts for (or of no user)."""
        user = current_end_user()
        if user is None:
            return self.anonymous
        return self.of(user.user_id)

    def of(self, user_id: str) -> Limits:
        """Return the limits of the end user ``user_id``, made on first use."""
        users = self._users
        found = users.get(user_id)
        if found is not None:
            users.move_to_end(user_id)
            return found
        if len(users) >= self._max_users:
            self._drop_idle(len(users) - self._max_users + 1)
        found = users[user_id] = self._make(shared=False)
        return found

    def __len__(self) -> int:
        """Return how many end users' limits are kept."""
        return len(self._users)

    def _drop_idle(self, count: int) -> None:
        """Drop up to ``count`` idle users' limits, least recently used first.

        A busy one met on the way moves to the back, as if just used, so
        that each drop looks at few entries however many users are busy.
        """
        users = self._users
        for _ in range(len(users)):
            if count == 0:
                return
            user_id, limits = next(iter(users.items()))
            if limits.is_idle():
                del users[user_id]
                count -= 1
            else:
                users.move_to_end(user_id)

    def _make(self, *, shared: bool) -> Limits:
        return Limits(
            name=self._name,
            max_concurrency=self._max_concurrency,
            rate=self._rate,
            clock=self._clock,
            max_cool_down=self._max_cool_down,
            declared_concurrency=self._max_concurrency,
            pool=self._pool,
            shared=shared,
        )


def check_limit_per(connector: str, value: object) -> LimitPer:
    """Return ``limit_per``: ``"connector"`` or ``"user"``.

    Raises:
        ConfigurationError: It is another value (``OptionTypeError``: not a str).
    """
    allowed = "limit_per='connector' (the default) or limit_per='user'"
    if not isinstance(value, str):
        msg = (
            f"Connector {connector!r} got limit_per of type {type(value).__name__}; "
            f"pass {allowed}"
        )
        raise OptionTypeError(msg, option="limit_per")
    if value not in LIMIT_PER:
        msg = (
            f"Connector {connector!r} got limit_per={value!r}; pass {allowed} "
            "(one set of limits per end user)"
        )
        raise ConfigurationError(msg, option="limit_per")
    return "user" if value == "user" else "connector"


def pool_connections(limit_per: LimitPer, max_concurrency: int | None) -> int | None:
    """Return the connections of a connector's pool (``None``: the transport's own).

    Per user, ``max_concurrency`` bounds each user: the pool holds at least
    ``DEFAULT_POOL`` connections, so that several users fit in it at once.
    """
    if limit_per == "connector":
        return max_concurrency
    return max(max_concurrency or 0, DEFAULT_POOL)


def make_limits(
    connector: Connector, *, max_cool_down: float
) -> tuple[Limits | UserLimits, int | None]:
    """Return a connector's limits for a new event loop, and its pool's connections."""
    limit_per, max_concurrency = connector.limit_per, connector.max_concurrency
    connections = pool_connections(limit_per, max_concurrency)
    if limit_per == "user":
        limits: Limits | UserLimits = UserLimits(
            name=connector.name,
            max_concurrency=max_concurrency,
            rate=connector.rate,
            connections=connections or DEFAULT_POOL,
            max_cool_down=max_cool_down,
        )
    else:
        limits = Limits(
            name=connector.name,
            max_concurrency=connections or DEFAULT_POOL,
            rate=connector.rate,
            max_cool_down=max_cool_down,
            declared_concurrency=max_concurrency,
        )
    return limits, connections
