"""A Dask ``LocalCluster`` of 2 worker processes and the API its tests call.

The API server starts first and its URL goes into ``FISCUS_DASK_API``, so
the worker processes the cluster spawns inherit it and import
``dask_runs.flows`` with connectors to it (they inherit ``sys.path`` too).
The workers get their own ``FISCUS_DASK_TOKEN``, another than the one
this process read when it imported ``flows``.
One cluster serves this folder's tests, and stops before other folders'
(whose audits would see its heartbeats); ``api`` is reset before each test.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import pytest

from dask_runs import server

if TYPE_CHECKING:
    from collections.abc import Iterator

    from distributed import Client, LocalCluster

    from fiscus_dsl.executors import DaskExecutor

distributed = pytest.importorskip("distributed")
#: The bearer token the workers read from their environment.
TOKEN = "tok-dask-workers-only"
#: The runner's own, read when it imports ``flows``; never sent.
RUNNER_TOKEN = "tok-runner-never-sent"
os.environ["FISCUS_DASK_TOKEN"] = RUNNER_TOKEN  # before the tests import flows


@pytest.fixture(scope="package")
def api_server() -> Iterator[server.ApiServer]:
    """Serve the tests' API on 127.0.0.1 for the session."""
    yield from server.serve()


@pytest.fixture
def api(api_server: server.ApiServer) -> server.ApiServer:
    """Return the API server, with what it saw forgotten."""
    api_server.reset()
    return api_server


@pytest.fixture(scope="package")
def cluster(api_server: server.ApiServer) -> Iterator[LocalCluster]:
    """Start 2 worker processes of one thread each, with the API's URL."""
    # Dask logs a worker's death and the client's reconnects: the tests
    # cause both on purpose, and assert on what the run says instead.
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    os.environ["FISCUS_DASK_API"] = api_server.url
    os.environ["FISCUS_DASK_TOKEN"] = TOKEN  # the workers' credential
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # a free port: never a clash with another cluster
        silence_logs=logging.CRITICAL,
    ) as local:
        yield local


@pytest.fixture(scope="package")
def client(cluster: LocalCluster) -> Iterator[Client]:
    """Return a synchronous client of the cluster."""
    with distributed.Client(cluster, set_as_default=False) as made:
        yield made


@pytest.fixture
def executor(client: Client) -> DaskExecutor:
    """Return a ``DaskExecutor`` on the session's cluster, both workers up."""
    from fiscus_dsl.executors import DaskExecutor

    client.wait_for_workers(2, timeout=60)
    return DaskExecutor(client)
