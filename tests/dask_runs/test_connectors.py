"""Connectors on workers: the same Idempotency-Key, limits across the cluster.

Requests go from the worker processes to a real HTTP server on 127.0.0.1
(``server.py``), which counts what it saw.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from dask_runs import flows
from fiscus_dsl import Runner, RunStatus
from fiscus_dsl._connectors.operation import IDEMPOTENCY_NAMESPACE

if TYPE_CHECKING:
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
