"""Connector limits shared by every worker of a Dask cluster.

In one process a connector's ``max_concurrency`` is an asyncio semaphore
and its ``rate_limit`` a leaky bucket. On a Dask cluster each worker
process has its own, so the cluster would allow the limit once per worker.
While a worker runs a batch of task calls, ``CLUSTER_LIMITS`` holds a
``ClusterLimits``; a connector then also takes leases of two
``distributed.Semaphore``s named after it, which the scheduler keeps for
the whole cluster:

- ``fiscus-concurrency-{connector}`` with ``max_concurrency`` leases, held
  while a request is in flight;
- ``fiscus-rate-{connector}`` for a rate of ``count`` per ``period``:
  ``max(1, floor(count))`` leases, each held for its share of the period
  after the request starts, so no window of ``period`` seconds starts more
  than ``count`` requests anywhere in the cluster (a sliding window).

A lease is a round trip to the scheduler, so limits add about a
millisecond per request, and only where a connector sets them. The first
worker to use a name fixes its number of leases. Imports ``distributed``
only on a worker, when a limit is first taken.
"""

from __future__ import annotations

import asyncio
import math
from contextvars import ContextVar
from typing import TYPE_CHECKING, Final, final

if TYPE_CHECKING:
    from collections.abc import Callable

    from distributed import Semaphore


@final
class ClusterLimits:
    """The cluster-wide leases of this worker's connectors, by semaphore name."""

    def __init__(self) -> None:
        self._semaphores: dict[str, Semaphore] = {}
        self._releasing: set[asyncio.Task[object]] = set()

    def _semaphore(self, name: str, leases: int) -> Semaphore:
        semaphore = self._semaphores.get(name)
        if semaphore is None:
            from distributed import Semaphore  # on a worker: distributed is there

            semaphore = self._semaphores[name] = Semaphore(max_leases=leases, name=name)
        return semaphore

    async def acquire(
        self,
        connector: str,
        *,
        max_concurrency: int | None,
        rate: tuple[float, float] | None,
    ) -> Callable[[], None]:
        """Take the connector's cluster leases for one request; return the release.

        ``rate`` is ``(count, period)``. The rate lease goes back by itself
        after its share of the period; the release returned gives back the
        concurrency lease.
        """
        if rate is not None:
            count, period = rate
            leases = max(1, math.floor(count))
            hold = period * leases / count
            semaphore = self._semaphore(f"fiscus-rate-{connector}", leases)
            await semaphore.acquire()
            loop = asyncio.get_running_loop()
            loop.call_later(hold, self._give_back, semaphore)
        if not max_concurrency:
            return _nothing
        semaphore = self._semaphore(f"fiscus-concurrency-{connector}", max_concurrency)
        await semaphore.acquire()
        return lambda: self._give_back(semaphore)

    def _give_back(self, semaphore: Semaphore) -> None:
        """Release one lease from the event loop (releasing is a message)."""
        task = asyncio.ensure_future(semaphore.release())
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)


def _nothing() -> None:
    """The release of a request that took no concurrency lease."""


CLUSTER_LIMITS: Final[ContextVar[ClusterLimits | None]] = ContextVar(
    "fiscus_cluster_limits", default=None
)
