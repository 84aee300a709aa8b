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
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

from aiolimiter import AsyncLimiter

from fiscus_dsl._runtime.attempts import current_attempt
from fiscus_dsl._runtime.cluster_limits import CLUSTER_LIMITS
from fiscus_dsl._runtime.logs import cooling_down
from fiscus_dsl.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

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
    """The limits of one connector on one event loop."""

    def __init__(
        self,
        *,
        name: str = "",
        max_concurrency: int | None,
        rate: Rate | None,
        clock: Callable[[], float] = time.monotonic,
        max_cool_down: float = 30.0,
        declared_concurrency: int | None = None,
    ) -> None:
        """Make the limits; ``declared_concurrency`` is what holds across a cluster.

        ``max_concurrency`` may be a pool's size where the user declared
        none; only ``declared_concurrency`` and ``rate`` take cluster leases.
        """
        self._semaphore = (
            asyncio.Semaphore(max_concurrency) if max_concurrency else None
        )
        self._limiter = _limiter(rate) if rate else None
        self._shared = (
            None
            if declared_concurrency is None and rate is None
            else (
                declared_concurrency,
                None if rate is None else (rate.count, rate.period),
            )
        )
        self._name = name
        self._clock = clock
        self._max_cool_down = max_cool_down
        self._cool_until = 0.0
        self.in_flight = 0
        self.most_in_flight = 0

    async def acquire(self) -> Callable[[], None]:
        """Wait for a cool-down, the rate and a free slot; return the release."""
        delay = self._cool_until - self._clock()
        if delay > 0:  # with the runner's sleep, so tests need not wait
            attempt = current_attempt()
            await (asyncio.sleep if attempt is None else attempt.sleep)(delay)
        if self._limiter is not None:
            await self._limiter.acquire()
        semaphore = self._semaphore
        if semaphore is not None:
            await semaphore.acquire()
        give_back = None
        cluster = CLUSTER_LIMITS.get() if self._shared is not None else None
        if cluster is not None:  # on a Dask worker: the cluster's leases too
            try:
                give_back = await self._shared_leases(cluster)
            except BaseException:
                if semaphore is not None:
                    semaphore.release()
                raise
        self._count_in()
        release = self._count_out if semaphore is None else self._release
        if give_back is None:
            return release

        def both() -> None:
            give_back()
            release()

        return both

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
        assert self._semaphore is not None  # only handed out with a semaphore
        self._semaphore.release()
