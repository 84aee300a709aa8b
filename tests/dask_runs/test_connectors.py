"""Connectors on workers: the same Idempotency-Key, limits across the cluster.

Requests go from the worker processes to a real HTTP server on 127.0.0.1
(``server.py``), which counts what it saw.
"""

from __future__ import annotations

import pickle
import uuid
from typing import TYPE_CHECKING

from distributed import SchedulerPlugin

from dask_runs import flows
from dask_runs.conftest import RUNNER_TOKEN, TOKEN
from fiscus_dsl import Runner, RunStatus
from fiscus_dsl._connectors.operation import IDEMPOTENCY_NAMESPACE

if TYPE_CHECKING:
    from dask.typing import Key
    from distributed import Client, Scheduler

    from dask_runs.server import ApiServer
    from fiscus_dsl.executors import DaskExecutor


def expected_key(run_id: str, task_id: str) -> str:
    """Return the key a connector sends for a task of a run, in any process."""
    return f'"{uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{run_id}/{task_id}")}"'


def test_a_retried_request_sends_the_same_key_from_any_worker(
    executor: DaskExecutor, api: ApiServer
) -> None:
    labels = [f"item-{n}" for n in range(6)]
    for label in labels:
        api.fail_first[label] = 2  # two 503s: three attempts, each shipped anew

    result = Runner(executor=executor).run(flows.recorded, labels=labels)

    assert result.status is RunStatus.SUCCEEDED
    assert result.output is not None
    for index, label in enumerate(labels):
        task_id = f"record[{index}]"
        assert result[task_id].attempts == 3
        assert api.requests[label] == 3
        assert api.keys[label] == {expected_key(result.run_id, task_id)}
        assert result.output[index].key == expected_key(result.run_id, task_id)


def test_max_concurrency_holds_across_workers(
    executor: DaskExecutor, api: ApiServer
) -> None:
    api.slow_seconds = 0.2

    result = Runner(executor=executor).run(flows.limited_fan, n=12)

    assert result.status is RunStatus.SUCCEEDED
    assert len(api.slow_pids) == 2  # both workers sent requests
    # Each worker alone would allow 2; the cluster allows 2 in all.
    assert api.most_in_flight == 2


def test_a_rate_limit_holds_across_workers(
    executor: DaskExecutor, api: ApiServer
) -> None:
    api.slow_seconds = 0.01

    result = Runner(executor=executor).run(flows.paced_fan, n=25)

    assert result.status is RunStatus.SUCCEEDED
    assert len(api.slow_pids) == 2
    starts = sorted(api.slow_starts)
    # 10 a second for the cluster: 10 now, 10 a second later, 5 after two.
    assert starts[-1] - starts[0] >= 1.9
    window = 0.95  # the server's clock sees a lease's start a little late
    most = max(
        sum(1 for later in starts if start <= later < start + window)
        for start in starts
    )
    assert most <= 10


class SpecRecorder(SchedulerPlugin):
    """Keep every task the scheduler starts, its spec pickled and shown, as bytes."""

    name = "fiscus-test-specs"

    def __init__(self) -> None:
        self.seen: list[bytes] = []
        self.scheduler: Scheduler | None = None

    async def start(self, scheduler: Scheduler) -> None:
        """Remember the scheduler, to read each task's spec."""
        self.scheduler = scheduler

    def transition(
        self, key: Key, start: str, finish: str, *args: object, **kwargs: object
    ) -> None:
        """Keep the spec of a task that starts running."""
        task = None if self.scheduler is None else self.scheduler.tasks.get(key)
        if finish == "processing" and task is not None:
            spec = task.run_spec
            self.seen.append(pickle.dumps(spec) + repr(spec).encode())


def _seen(dask_scheduler: Scheduler) -> list[bytes]:
    plugin = dask_scheduler.plugins[SpecRecorder.name]
    assert isinstance(plugin, SpecRecorder)
    return plugin.seen


def test_secrets_resolve_on_the_workers_and_never_travel(
    executor: DaskExecutor, api: ApiServer, client: Client
) -> None:
    client.register_plugin(SpecRecorder())
    try:
        result = Runner(executor=executor).run(flows.recorded, labels=["s1", "s2"])
        specs = client.run_on_scheduler(_seen)
    finally:
        client.unregister_scheduler_plugin(SpecRecorder.name)

    assert result.status is RunStatus.SUCCEEDED
    assert api.authorizations == {f"Bearer {TOKEN}"}  # read on the workers
    # The Dask tasks of the run (their specs, pickled arguments included)
    # never hold a credential: connectors are made where they run.
    assert any(b"fiscus-batch-" in spec for spec in specs)
    for token in (TOKEN, RUNNER_TOKEN):
        assert not any(token.encode() in spec for spec in specs)


def _open_pools() -> int:
    """Return how many event loops the ``DaskApi`` connector has a client on."""
    return len(flows.api._states)  # what the test checks: a private table


def test_a_worker_closes_its_connection_pools_when_it_closes(
    executor: DaskExecutor, client: Client
) -> None:
    result = Runner(executor=executor).run(flows.recorded, labels=["p1", "p2"])
    assert result.status is RunStatus.SUCCEEDED
    assert sum(client.run(_open_pools).values()) >= 1  # kept for the next batches

    client.unregister_worker_plugin("fiscus-worker-cleanup")  # as a worker closing

    assert sum(client.run(_open_pools).values()) == 0
