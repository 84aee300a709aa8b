"""The tasks and workflows of ``bench_dask.py``, in a module Dask workers can import.

A ``DaskExecutor`` ships a task by its import path, so the benchmark's
tasks cannot live in the script being run (``__main__``). The workers of
``bench_dask.py``'s ``LocalCluster`` import this module as ``dask_tasks``:
they are processes spawned with the script's ``sys.path``, on which the
script put this folder. The HTTP connector's base URL is read from the
environment variable ``BENCH_DASK_URL`` when this module is imported (in
the script and on every worker), so the script sets it before it imports
this module and before the cluster starts. ``noop`` and ``increment`` are
plain functions: what the same work costs through Dask itself.

Two connectors reach the same server: ``api`` declares
``max_concurrency=1000`` (on a worker, each request then also takes a
lease of the cluster-wide semaphore), ``unlimited`` declares none (100
pooled connections per event loop, no lease).
"""

from __future__ import annotations

import os
from typing import Final

from pydantic import BaseModel

from fiscus_dsl import Connector, task, workflow

URL_VARIABLE: Final = "BENCH_DASK_URL"
#: As bench_http.py: 1,000 requests in flight at once, in one process.
CONCURRENCY: Final = 1000

# ---------------------------------------------------------------- no-op work


@task
async def leaf(index: int) -> int:
    """Return the index: a no-op leaf of the fan-out."""
    return index


@task
async def join(values: list[int]) -> int:
    """Count the leaves: the one task that takes them all."""
    return len(values)


@task
async def step(value: int) -> int:
    """Add one to the previous link's value: a no-op link of the chain."""
    return value + 1


@workflow
def fan_out(n: int) -> int:
    """Map ``leaf`` over ``n`` indexes and join them."""
    return join(leaf.map(index=list(range(n))))


@workflow
def chain(n: int) -> int:
    """Run ``n`` links, each taking the previous one's value."""
    value = step(0)
    for _ in range(n - 1):
        value = step(value)
    return value


def noop(index: int) -> int:
    """Return the index: the fan-out's leaf as a plain Dask task."""
    return index


def increment(value: int) -> int:
    """Add one: the chain's link as a plain Dask task."""
    return value + 1


# ---------------------------------------------------------------- HTTP


class Item(BaseModel):
    """What the benchmark's server answers."""

    id: int
    pad: str


BASE_URL: Final = os.environ[URL_VARIABLE]
api = Connector("bench-dask", BASE_URL, max_concurrency=CONCURRENCY)
unlimited = Connector("bench-dask-unlimited", BASE_URL, max_concurrency=None)


@api.operation("GET /item/{index}")
def get_item(index: int) -> Item:
    """Fetch one item; the server answers 50 ms after reading the request."""
    raise NotImplementedError  # the connector sends the request


@unlimited.operation("GET /item/{index}")
def get_item_unlimited(index: int) -> Item:
    """Fetch one item through the connector that declares no limit."""
    raise NotImplementedError  # the connector sends the request


@workflow
def fetch_all(n: int) -> list[Item]:
    """Fetch ``n`` items at once."""
    return get_item.map(index=list(range(n)))


@workflow
def fetch_all_unlimited(n: int) -> list[Item]:
    """Fetch ``n`` items at once through ``unlimited``."""
    return get_item_unlimited.map(index=list(range(n)))


async def close_connections() -> None:
    """Close the connectors' pools on this event loop (a worker's, by client.run).

    A run closes what it opened in its own process; on a worker the pools
    outlive the batches, so the script closes them before the cluster stops.
    """
    await api.aclose()
    await unlimited.aclose()
