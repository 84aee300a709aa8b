"""The calls a ``DaskExecutor`` has on a cluster: batches, landings, collects.

Calls made in one turn of a run's event loop are flushed together, split
into batches of at most ``batch_size`` (more batches only to fill idle
worker threads). Each batch is one Dask task, ``run_batch``, which starts
every call on a worker and lands with the outcomes of the first ones to
finish; the runner then sends ``collect`` tasks to that worker for the
rest, waiting longer each round (up to ``POLL_MAX`` seconds) while none
finish. A worker that does not know the batch any more (the one that ran
it died) says so, and the runner sends those calls again, with the same
payloads: the same attempt ids, so the same ``Idempotency-Key``. A Dask
task that fails as a whole (the scheduler went away, Dask gave up on it)
fails its calls with the ``ClusterError`` the executor makes of it.

Landings arrive in a Dask callback thread, which unpickles the outcomes
there and hands them to the run's loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import itertools
import math
import pickle
import threading
import uuid
from typing import TYPE_CHECKING, Any, Final, final

if TYPE_CHECKING:
    import asyncio

    from distributed import Future as DaskFuture

    from fiscus_dsl._runtime.dask_executor import DaskExecutor

#: How long the first collect of a batch waits on the worker for an outcome.
POLL_FIRST: Final = 0.05
#: The longest a collect waits on the worker (holding one of its slots).
POLL_MAX: Final = 1.0

Outcome = tuple[bool, Any]
_Landing = tuple[str, dict[int, bytes], list[int] | None]


@final
class Batcher:
    """The calls of one event loop waiting to go to the cluster, and those gone."""

    def __init__(self, executor: DaskExecutor, loop: asyncio.AbstractEventLoop) -> None:
        self.executor = executor
        self.loop = loop
        self.payloads: list[bytes] = []
        self.waiters: list[asyncio.Future[Outcome]] = []
        self.in_flight: dict[str, Batch] = {}
        self.ids = itertools.count()
        self.token = uuid.uuid4().hex[:12]
        self.sweeping = False

    def add(self, payload: bytes) -> asyncio.Future[Outcome]:
        """Queue one shipped call; its outcome comes to the future returned."""
        waiter: asyncio.Future[Outcome] = self.loop.create_future()
        if not self.payloads:  # the first of this turn: send them all after it
            self.loop.call_soon(self.flush)
        self.payloads.append(payload)
        self.waiters.append(waiter)
        return waiter

    def flush(self) -> None:
        """Send what this turn queued, in batches."""
        payloads, waiters = self.payloads, self.waiters
        self.payloads, self.waiters = [], []
        count = len(payloads)
        # As many batches as the size allows, more only to fill idle threads:
        # splitting every flush in two would halve the batches down to one
        # call each while a run's concurrency limit feeds them back.
        idle = self.executor.threads - len(self.in_flight)
        chunks = min(count, max(math.ceil(count / self.executor.batch_size), idle, 1))
        size = math.ceil(count / chunks)
        for start in range(0, count, size):
            self.submit(payloads[start : start + size], waiters[start : start + size])

    def submit(
        self, payloads: list[bytes], waiters: list[asyncio.Future[Outcome]]
    ) -> None:
        """Send one batch of calls as a ``run_batch`` Dask task."""
        key = f"fiscus-batch-{self.token}-{next(self.ids)}"
        batch = Batch(self, key, payloads, waiters)
        try:
            from fiscus_dsl._runtime.dask_worker import run_batch

            future = self.executor.client.submit(
                run_batch, key, payloads, key=key, pure=False
            )
        # The client may fail in many ways (closed, no scheduler): each
        # call of the batch gets the reason.
        except Exception as exc:
            self.failed(batch, self.executor.lost(exc, len(payloads)))
            return
        self.in_flight[key] = batch
        batch.follow(future)  # type: ignore[arg-type]  # run_batch's value, once run

    def landed(self, key: str, outcomes: dict[int, Outcome], landing: _Landing) -> None:
        """Settle the calls a landing brought; collect or resend the rest."""
        batch = self.in_flight.get(key)
        if batch is None:  # given up: nobody waits
            return
        address, _, running = landing
        for index, outcome in outcomes.items():
            waiter = batch.waiters[index]
            if not waiter.done():
                waiter.set_result(outcome)
        if running is None:  # the worker that had it died: send the rest again
            del self.in_flight[key]
            left = [i for i in batch.left if not batch.waiters[i].done()]
            if left:
                self.submit(
                    [batch.payloads[i] for i in left], [batch.waiters[i] for i in left]
                )
            return
        batch.left = running
        if not running:
            del self.in_flight[key]
            return
        batch.address = address
        batch.rounds = 0 if outcomes else batch.rounds + 1
        wait = min(POLL_MAX, POLL_FIRST * 2**batch.rounds)
        try:
            from fiscus_dsl._runtime.dask_worker import collect

            future = self.executor.client.submit(
                collect,
                key,
                wait,
                key=f"fiscus-collect-{key.removeprefix('fiscus-batch-')}-{next(self.ids)}",
                workers=[address],
                allow_other_workers=True,  # elsewhere only when it is gone
                pure=False,
            )
        # The client may fail in many ways (closed, no scheduler).
        except Exception as exc:
            self.failed(batch, self.executor.lost(exc, len(running)))
            return
        batch.follow(future)  # type: ignore[arg-type]  # collect's value, once run

    def failed(self, batch: Batch, error: BaseException) -> None:
        """Fail every call of ``batch`` still waited for with ``error``."""
        self.in_flight.pop(batch.key, None)
        for index in batch.left:
            waiter = batch.waiters[index]
            if not waiter.done():
                waiter.set_result((False, error))

    def abandon(self) -> None:
        """A call was cancelled: after this turn, give up batches nobody waits for."""
        if not self.sweeping:
            self.sweeping = True
            self.loop.call_soon(self._sweep)

    def _sweep(self) -> None:
        self.sweeping = False
        for key, batch in list(self.in_flight.items()):
            if all(batch.waiters[i].done() for i in batch.left):
                del self.in_flight[key]
                threading.Thread(target=batch.give_up, daemon=True).start()


@final
class Batch:
    """One batch of calls: the payloads, their waiters and the Dask task followed."""

    __slots__ = (
        "address",
        "batcher",
        "future",
        "key",
        "left",
        "payloads",
        "rounds",
        "waiters",
    )

    def __init__(
        self,
        batcher: Batcher,
        key: str,
        payloads: list[bytes],
        waiters: list[asyncio.Future[Outcome]],
    ) -> None:
        self.batcher = batcher
        self.key = key
        self.payloads = payloads
        self.waiters = waiters
        self.left: list[int] = list(range(len(payloads)))
        self.address: str | None = None
        self.rounds = 0
        self.future: DaskFuture[_Landing] | None = None

    def follow(self, future: DaskFuture[_Landing]) -> None:
        """Wait for ``future`` (a ``run_batch`` or a ``collect``) in a Dask thread."""
        self.future = future
        future.add_done_callback(self._landed)

    def _landed(self, future: DaskFuture[_Landing]) -> None:
        """In a Dask callback thread: fetch and unpickle, then wake the run's loop."""
        batcher = self.batcher
        try:
            landing: _Landing = future.result()
            outcomes = {i: pickle.loads(item) for i, item in landing[1].items()}
            wake: tuple[Any, ...] = (batcher.landed, self.key, outcomes, landing)
        # A lost batch: every call still waited for fails with the reason.
        except BaseException as exc:
            error = batcher.executor.lost(exc, len(self.left))
            wake = (batcher.failed, self, error)
        try:
            batcher.loop.call_soon_threadsafe(*wake)
        except RuntimeError:  # the run's loop is closed: nobody waits any more
            return

    def give_up(self) -> None:
        """Stop the calls of a batch nobody waits for (in a thread: it blocks)."""
        future = self.future
        if future is not None:
            future.cancel()  # a run_batch cancelled forgets its calls itself
        if self.address is not None:
            from fiscus_dsl._runtime.dask_worker import forget

            self.batcher.executor.client.submit(
                forget, self.key, workers=[self.address], pure=False
            )
