"""Faults of the cluster: a worker killed mid-run, a scheduler that goes away.

A worker SIGKILLed in the middle of a batch loses no task: Dask runs the
batch again on another worker, its calls send the same Idempotency-Keys,
and the API applies each once. A scheduler that goes away fails the run
with a ``ClusterError`` at once; its run store lets it be resumed on a
new cluster, the tasks that succeeded served, not run again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from loopback import free_port

from dask_runs import flows
from dask_runs.test_connectors import expected_key
from fiscus_dsl import ClusterError, Runner, RunStatus, SQLiteRunStore
from fiscus_dsl.executors import DaskExecutor

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from distributed import Client

    from dask_runs.server import ApiServer
    from fiscus_dsl import RunResult

TESTS = Path(__file__).resolve().parents[1]
WAIT = 60.0


def test_a_killed_worker_loses_no_task(
    executor: DaskExecutor, api: ApiServer, client: Client
) -> None:
    labels = [f"entry-{n}" for n in range(40)]
    undisturbed = Runner(executor=executor).run(flows.recorded, labels=labels)
    api.reset()
    api.kill_after = 10  # SIGKILL the worker that sent the 10th call, mid-batch
    workers = set(client.run(os.getpid).values())

    result = Runner(executor=executor).run(flows.recorded, labels=labels)

    assert len(api.killed) == 1
    assert api.killed[0] in workers
    assert result.status is RunStatus.SUCCEEDED
    assert result.output is not None
    assert undisturbed.output is not None
    same = [(r.label, r.applied) for r in result.output]
    assert same == [(r.label, r.applied) for r in undisturbed.output]
    resent = [label for label in labels if api.requests[label] > 1]
    assert resent  # the killed worker's batch ran again elsewhere
    for index, label in enumerate(labels):
        assert api.keys[label] == {expected_key(result.run_id, f"record[{index}]")}
    assert len(api.answers) == len(labels)  # each applied once


def _until(done: Callable[[], bool]) -> None:
    until = time.monotonic() + WAIT
    while not done():
        assert time.monotonic() < until, "gave up waiting"
        time.sleep(0.02)


def _recorded(store: SQLiteRunStore, task_id: str) -> bool:
    """Tell whether the store's one run has ``task_id`` recorded as succeeded."""
    runs = store.list_runs()
    record = store.load_run(runs[0].run_id) if runs else None
    task = None if record is None else record.tasks.get(task_id)
    return task is not None and task.status == "succeeded"


@pytest.fixture
def doomed(api_server: ApiServer) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start a scheduler and a worker process; yield the address and the scheduler."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(TESTS), "FISCUS_DASK_API": api_server.url}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        **quiet,  # type: ignore[call-overload]  # the keywords of Popen
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_worker",
            address,
            "--nworkers",
            "1",
            "--nthreads",
            "2",
            "--no-dashboard",
        ],
        **quiet,  # type: ignore[call-overload]  # the keywords of Popen
    )
    try:
        yield address, scheduler
    finally:
        for process in (worker, scheduler):
            process.kill()
            process.wait(10)


def test_a_scheduler_that_goes_away_fails_the_run_and_it_resumes_elsewhere(
    doomed: tuple[str, subprocess.Popen[bytes]],
    executor: DaskExecutor,
    tmp_path: Path,
) -> None:
    address, scheduler = doomed
    store = SQLiteRunStore(tmp_path / "runs.db")
    gate = tmp_path / "gate"
    finished: list[RunResult[int]] = []
    with DaskExecutor(address) as remote:
        remote.client.wait_for_workers(1, timeout=WAIT)
        run = threading.Thread(
            target=lambda: finished.append(
                Runner(executor=remote, store=store).run(flows.held, path=str(gate))
            )
        )
        run.start()
        _until(lambda: _recorded(store, "double"))  # landed while wait_for runs
        assert Path(f"{gate}.started").exists()
        os.kill(scheduler.pid, signal.SIGKILL)
        run.join(WAIT)

    (failed,) = finished
    assert failed.status is RunStatus.FAILED
    assert isinstance(failed.error, ClusterError)
    assert "went away during the run" in str(failed.error)
    assert "fiscus runs resume" in str(failed.error)
    assert failed["double"].status.value == "succeeded"

    gate.touch()
    resumed = Runner(executor=executor, store=store).resume(flows.held, failed.run_id)

    assert resumed.status is RunStatus.SUCCEEDED
    assert resumed.output == 26
    assert resumed["double"].reason is not None
    assert "resumed" in resumed["double"].reason
    assert resumed["wait_for"].reason is None  # it ran again, on the new cluster
