"""The worker side's bookkeeping, in this process: landings and forgotten batches."""

from __future__ import annotations

import asyncio
import pickle

from fiscus_dsl._runtime import dask_worker
from fiscus_dsl.errors import ClusterError


async def _value(value: bytes, wait: float = 0.0) -> bytes:
    await asyncio.sleep(wait)
    return value


async def test_a_landing_brings_what_finished_and_keeps_the_rest() -> None:
    running = {
        0: asyncio.ensure_future(_value(b"quick")),
        1: asyncio.ensure_future(_value(b"slow", 30.0)),
    }
    dask_worker._RUNNING["k"] = running
    dask_worker._STARTED["k"] = 0.0
    try:
        address, outcomes, left = await dask_worker._land("k", running, "tcp://w", None)
    finally:
        dask_worker.forget("k")

    assert (address, outcomes, left) == ("tcp://w", {0: b"quick"}, [1])
    assert "k" not in dask_worker._RUNNING
    await asyncio.sleep(0)
    assert running[1].cancelled()  # forgotten: what still ran is cancelled


async def test_batches_nobody_collects_are_dropped_once_done() -> None:
    done = asyncio.ensure_future(_value(b"x"))
    busy = asyncio.ensure_future(_value(b"y", 30.0))
    await done
    dask_worker._RUNNING.update({"old": {0: done}, "busy": {0: busy}, "new": {0: done}})
    dask_worker._STARTED.update({"old": 0.0, "busy": 0.0, "new": 1000.0})
    try:
        dask_worker._drop_uncollected(now=1000.0)

        assert set(dask_worker._RUNNING) >= {"busy", "new"}
        assert "old" not in dask_worker._RUNNING
    finally:
        for key in ("old", "busy", "new"):
            dask_worker.forget(key)


def test_a_value_that_does_not_pickle_becomes_a_cluster_error() -> None:
    packed = dask_worker._pack(lambda: None, None, "tcp://w", ok=True)

    ok, error = pickle.loads(packed)
    assert ok is False
    assert isinstance(error, ClusterError)
    assert "could not be sent back from Dask worker tcp://w" in str(error)
