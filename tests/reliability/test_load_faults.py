"""Load under faults: 10,000 POSTs through ``map`` against a server failing on purpose.

The server (``fault_server.py``, aiohttp.web on 127.0.0.1) answers 5 % of
requests 503, stalls 1 % past the connector's deadline and resets 0.5 % of
connections, and counts requests and bodies by ``Idempotency-Key``. The
workflow maps one POST operation over 10,000 orders at
``max_concurrency=100``, each with ``Retry(attempts=3)``. The test checks
what docs/reliability.md promises: every task ends succeeded, or failed
with a connector error that says why; the server never holds more than 100
requests at once; no task makes more attempts than its policy allows; each
task sends one key, the same on every attempt, always with the same body.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Final

from pydantic import BaseModel

from fiscus_dsl import (
    Connector,
    ConnectorError,
    HTTPStatusError,
    Retry,
    Runner,
    RunResult,
    TaskStatus,
    workflow,
)
from fiscus_dsl._connectors.connector import IDEMPOTENCY_NAMESPACE

from .fault_server import Faults, FaultServer

ORDERS: Final = 10_000
CONCURRENCY: Final = 100
ATTEMPTS: Final = 3
DEADLINE: Final = 0.5
FAULTS: Final = Faults(
    unavailable=0.05,
    stall=0.01,
    reset=0.005,
    stall_seconds=DEADLINE + 0.1,
    latency=0.15,
)
POLICY: Final = Retry(attempts=ATTEMPTS, backoff=0.01, max_delay=0.05)


class Receipt(BaseModel):
    key: str


def _run_orders(url: str) -> tuple[RunResult[list[Receipt]], float]:
    # The connector a user gets by default; its limit (and so its pool) is
    # well above the runner's, so the runner's limit is the one the server
    # measures.
    shop = Connector(
        "Shop",
        url,
        timeout=DEADLINE,
        max_concurrency=10 * CONCURRENCY,
        retry=POLICY,
    )

    @shop.operation("POST /orders", on_error="continue")
    def place_order(order: int, item: str, quantity: int) -> Receipt:
        raise NotImplementedError

    @workflow
    def orders(numbers: list[int]) -> list[Receipt]:
        return place_order.partial(item="widget").map(
            order=numbers, quantity=[n % 7 + 1 for n in numbers]
        )

    runner = Runner(max_concurrency=CONCURRENCY)
    started = time.perf_counter()
    result = runner.run(orders, numbers=list(range(ORDERS)))
    return result, time.perf_counter() - started


def _key(run_id: str, task_id: str) -> str:
    return f'"{uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{run_id}/{task_id}")}"'


def test_ten_thousand_posts_under_faults_keep_every_promise() -> None:
    with FaultServer(FAULTS) as server:
        result, seconds = _run_orders(server.url)
    counts = server.counts

    tasks = [result[f"place_order[{n}]"] for n in range(ORDERS)]
    statuses = Counter(task.status for task in tasks)
    failed = [task for task in tasks if task.status is TaskStatus.FAILED]
    keys = {task.id: _key(result.run_id, task.id) for task in tasks}

    # Every task ended, succeeded or failed with a connector error saying why.
    seen: list[str] = []
    assert set(statuses) <= {TaskStatus.SUCCEEDED, TaskStatus.FAILED}
    for task in failed:  # a fault on each of its attempts
        error = task.error
        assert isinstance(error, ConnectorError), error
        assert (task.attempts, error.retryable) == (ATTEMPTS, True)
        assert "'place_order'" in str(error)
        if isinstance(error, HTTPStatusError):
            assert error.status_code == 503
        seen.append(f"{type(error).__name__}: {error}")
    for task in tasks:
        if task.status is TaskStatus.SUCCEEDED:
            assert task.value == Receipt(key=keys[task.id])

    # Never more than the runner's limit in flight, and the limit was reached.
    assert CONCURRENCY // 2 < counts.most_in_flight <= CONCURRENCY

    # Retries bounded by the policy; one key per task, sent on every attempt.
    assert counts.unkeyed == 0
    assert set(counts.requests) == set(keys.values())
    for task in tasks:
        assert 1 <= task.attempts <= ATTEMPTS
        assert counts.requests[keys[task.id]] <= task.attempts
    sent = sum(counts.requests.values())
    # Each request is answered once or faulted once; no attempt goes unseen.
    assert sent >= statuses[TaskStatus.SUCCEEDED] + sum(counts.faults.values())
    assert sent <= sum(task.attempts for task in tasks)

    # 0 keys seen with two different bodies.
    assert [key for key, bodies in counts.bodies.items() if len(bodies) > 1] == []

    # Every kind of fault happened, and was retried.
    assert min(counts.faults["503"], counts.faults["stall"], counts.faults["reset"]) > 0
    retried = sum(task.attempts - 1 for task in tasks)
    assert retried >= sum(counts.faults.values()) - len(failed) * ATTEMPTS

    print(  # noqa: T201  (the figures docs/reliability.md quotes; shown by pytest -s)
        f"\n{ORDERS} POSTs in {seconds:.1f} s: {statuses[TaskStatus.SUCCEEDED]} "
        f"succeeded, {len(failed)} failed; faults {dict(counts.faults)}; "
        f"{sent} requests, {retried} retries, most "
        f"in flight {counts.most_in_flight}; keys with two bodies: 0",
        *seen,
        sep="\n",
    )
