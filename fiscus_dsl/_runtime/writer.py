"""A run's store writer: one thread that records its settled tasks in groups.

The event loop never waits for the store. When a task settles, the loop
appends it to the writer's queue (and wakes the thread if it sleeps); the
thread takes everything queued, records it in one ``record_tasks`` call,
and goes back for more, so tasks that settle while a commit is under way
share the next one. The same thread takes the run's lease at the start,
renews it every third of its length, and records the run's end.

The durability rule: a settled task is recorded one commit after it
settles (a millisecond or so on SQLite), in settle order, so what is on
disk is always a prefix of what settled: never a task without the tasks
whose values it used. A crash loses at most the tasks of the commit under
way and of the queue; a resume runs them again, and connector calls carry
the same ``Idempotency-Key`` as before. Tasks do not wait for their
inputs' records: that would cost a commit per link of a chain.

The first failure of the store is kept as ``error``: ``RunLocked`` (another
process took the run) or a ``RunStoreError`` as it is, anything else a
custom store raises wrapped in a ``RunStoreError`` naming the store and
what the thread was doing. Nothing more is written, and the loop, which
reads ``error`` as tasks settle, stops the run. Knows no HTTP.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from contextlib import suppress
from typing import TYPE_CHECKING, Final, final

from fiscus_dsl._runtime.store import LIVE_OWNERS
from fiscus_dsl.errors import RunLocked, RunStoreError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from fiscus_dsl._runtime.store import Lease, RunRecord, RunStore, TaskRecord

# How long closing a run waits for its records when the run was cancelled.
_CANCEL_WAIT: Final = 10.0


@final
class StoreWriter:
    """Record one run in its store from a thread of its own (see the module)."""

    __slots__ = (
        "_awake",
        "_ended",
        "_finish",
        "_loop",
        "_signal",
        "_started",
        "_wake",
        "error",
        "lease",
        "pending",
        "store",
    )

    def __init__(self, store: RunStore, lease: Lease) -> None:
        self.store = store
        self.lease = lease
        self.pending: deque[TaskRecord] = deque()
        #: The store's first failure, set by the thread; the loop reads it.
        self.error: RunStoreError | RunLocked | None = None
        self._wake = threading.Event()
        self._awake = False
        self._finish: Callable[[Sequence[TaskRecord]], None] | None = None
        self._ended = threading.Event()
        #: The thread took the lease and runs until the run's end.
        self._started = False
        self._loop: asyncio.AbstractEventLoop | None = None
        #: What the loop awaits: the start, then the end, set from the thread.
        self._signal: asyncio.Future[None] | None = None

    async def start(self, run: RunRecord) -> None:
        """Take the run's lease and record its start, then start the thread.

        A failure is kept as ``error`` (``RunLocked`` among them).
        """
        # The thread signals the loop through a future, not the loop's
        # executor, whose workers a run's synchronous tasks may all hold.
        self._loop = loop = asyncio.get_running_loop()
        self._signal = signal = loop.create_future()
        thread = threading.Thread(
            target=self._work, args=(run,), name=f"fiscus-store-{run.run_id}"
        )
        thread.daemon = True
        thread.start()
        await signal
        self._started = self.error is None

    def put(self, record: TaskRecord) -> None:
        """Queue one settled task's record (from the loop; never blocks)."""
        self.pending.append(record)
        if not self._awake:
            self._awake = True
            self._wake.set()

    async def finish(self, finish: Callable[[Sequence[TaskRecord]], None]) -> None:
        """Record what is queued, then call ``finish`` with the rest, in the thread."""
        if not self._started:
            return
        assert self._loop is not None  # set by start
        self._signal = signal = self._loop.create_future()
        self._finish = finish
        self._wake.set()
        await signal

    def finish_now(self, finish: Callable[[Sequence[TaskRecord]], None]) -> None:
        """``finish`` from a cancelled run: wait for the thread without the loop."""
        if not self._started:
            return
        self._finish = finish
        self._wake.set()
        self._ended.wait(_CANCEL_WAIT)

    def _tell_loop(self) -> None:
        """Resolve the future the loop awaits (start or end), from the thread."""
        signal, loop = self._signal, self._loop
        if signal is None or loop is None:
            return
        self._signal = None
        with suppress(RuntimeError):  # the loop closed: nobody awaits it
            loop.call_soon_threadsafe(_resolve, signal)

    def _failed(self, exc: Exception, doing: str) -> None:
        """Keep the store's failure, a custom store's wrapped to name the store."""
        if isinstance(exc, RunStoreError | RunLocked):
            self.error = exc
            return
        store = repr(self.store)
        msg = (
            f"Run store {store} could not {doing} of run {self.lease.run_id!r}: "
            f"{type(exc).__name__}: {exc}; fix the store, then resume the run"
        )
        self.error = RunStoreError(msg, store=store, run_id=self.lease.run_id)
        self.error.__cause__ = exc

    def _work(self, run_record: RunRecord) -> None:
        try:
            self.store.start_run(run_record, self.lease)
        except Exception as exc:  # a RunStore is user code at the run's edge
            self._failed(exc, "record the start")
            self._ended.set()
            self._tell_loop()
            return
        LIVE_OWNERS.add(self.lease.owner)
        self._tell_loop()
        every = self.lease.seconds / 3
        renew_at = time.monotonic() + every
        wake, pending = self._wake, self.pending
        doing = ""
        try:
            while True:
                wake.wait(max(renew_at - time.monotonic(), 0.0))
                wake.clear()
                self._awake = False
                # As many as are queued now; later ones wait for the next round.
                records = [pending.popleft() for _ in range(len(pending))]
                if self._finish is not None:
                    doing = "record the end"
                    self._finish(records)
                    return
                if records:
                    doing = f"record {len(records)} tasks"
                    self.store.record_tasks(self.lease, records)
                if time.monotonic() >= renew_at:
                    doing = "renew the lease"
                    self.store.renew_lease(self.lease)
                    renew_at = time.monotonic() + every
        except Exception as exc:  # a RunStore is user code at the run's edge
            self._failed(exc, doing)
            if self._finish is None:
                self._wait_for_finish()
        finally:
            LIVE_OWNERS.discard(self.lease.owner)
            self._ended.set()
            self._tell_loop()

    def _wait_for_finish(self) -> None:
        """After a failure, wait for the run's end; nothing more is written."""
        while self._finish is None:
            self._wake.wait()
            self._wake.clear()
            self.pending.clear()


def _resolve(signal: asyncio.Future[None]) -> None:
    if not signal.done():
        signal.set_result(None)
