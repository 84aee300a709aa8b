"""Leases between real processes, on SQLite and on PostgreSQL.

Each process is ``python lease_flow.py ...`` (see that module) on the same
store: a file under ``tmp_path``, or a database of the test's own. Tasks
wait on marker files, so the tests decide who holds a run and when it
ends, and count every call, with its pid, in a file: a resume is shown to
serve what finished rather than assumed to.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest.mock import ANY

import pytest

from fiscus_dsl import Lease, PostgresRunStore, RunLocked, RunRecord, SQLiteRunStore

from . import lease_flow

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

FLOW = str(Path(lease_flow.__file__))
DEADLINE = 60.0
WORKERS = 4
RUNS = 3

Store = SQLiteRunStore | PostgresRunStore


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.sqlite3'}"
    database: str = request.getfixturevalue("postgres_database")
    return database


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    folder = tmp_path / "marks"
    folder.mkdir()
    return folder


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """The processes a test starts; any still running at its end is killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    opened = lease_flow.open_store(url, 30.0)
    yield opened
    opened.close()


def _start(
    processes: list[subprocess.Popen[str]], *arguments: str | Path
) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, FLOW, *map(str, arguments)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(process)
    return process


def _answer(process: subprocess.Popen[str]) -> Any:
    """Wait for a process to end well; return the JSON it printed last."""
    out, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 0, err
    return json.loads(out.splitlines()[-1])


def _until(condition: Callable[[], object]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _pid(owner: object) -> int:
    """Return the pid of a lease owner, ``host:pid:token``."""
    assert isinstance(owner, str)
    return int(owner.split(":")[1])


def _killed_while_holding(
    url: str,
    store: Store,
    processes: list[subprocess.Popen[str]],
    marks: Path,
    *extra: str,
) -> tuple[int, str]:
    """Start a ``gated`` run, wait until ``first`` is recorded, SIGKILL it.

    Returns:
        The killed process's pid, and the run's id.
    """
    first = _start(processes, "run", url, marks, *extra)
    _until(lambda: (marks / f"holding-{first.pid}").exists())
    _until(lambda: [run.task_count for run in store.list_runs()] == [1])
    first.send_signal(signal.SIGKILL)
    first.wait(DEADLINE)
    (run,) = store.list_runs()
    return first.pid, run.run_id


def test_of_two_processes_resuming_a_killed_run_at_once_exactly_one_runs_it(
    url: str, store: Store, processes: list[subprocess.Popen[str]], marks: Path
) -> None:
    killed, run_id = _killed_while_holding(url, store, processes, marks)

    racers = [_start(processes, "resume", url, marks, run_id) for _ in range(2)]
    # The one that took the lease waits in ``hold`` for the release; the
    # other finds the lease live, and ends.
    _until(lambda: any(racer.poll() is not None for racer in racers))
    loser = next(racer for racer in racers if racer.poll() is not None)
    winner = next(racer for racer in racers if racer is not loser)
    _until(lambda: (marks / f"holding-{winner.pid}").exists())
    lost = _answer(loser)
    (marks / "release").touch()
    won = _answer(winner)

    assert _pid(lost["locked"]) == winner.pid
    assert won == {"status": "succeeded", "output": [killed, winner.pid]}
    assert lease_flow.calls(str(marks)) == [
        ("first", "-", killed),  # once: the resume served it
        ("hold", "-", killed),
        ("hold", "-", winner.pid),
    ]
    (run,) = store.list_runs()
    assert (run.run_id, run.status) == (run_id, "succeeded")
    assert _pid(run.owner) == winner.pid


def test_a_killed_process_of_another_host_holds_its_run_until_the_lease_lapses(
    url: str, store: Store, processes: list[subprocess.Popen[str]], marks: Path
) -> None:
    # Its owner names another host: no pid check can tell that it died.
    killed, run_id = _killed_while_holding(
        url, store, processes, marks, "1.5", "far-away"
    )
    (held,) = store.list_runs()
    record = RunRecord(
        run_id=run_id,
        workflow="gated",
        status="running",
        inputs_json=None,
        started_at=datetime.now(UTC),
    )

    with pytest.raises(RunLocked, match=r"is locked: far-away:") as caught:
        store.start_run(record, Lease(run_id, "probe:1:feed"))
    _until(lambda: store.list_runs()[0].status == "interrupted")
    (marks / "release").touch()
    resumer = _start(processes, "resume", url, marks, run_id)
    resumed = _answer(resumer)

    assert held.status == "running"
    assert held.owner is not None
    assert held.owner.startswith(f"far-away:{killed}:")
    assert caught.value.owner == held.owner
    assert resumed == {"status": "succeeded", "output": [killed, resumer.pid]}
    assert lease_flow.calls(str(marks)) == [
        ("first", "-", killed),
        ("hold", "-", killed),
        ("hold", "-", resumer.pid),
    ]


@pytest.mark.parametrize("url", ["postgres"], indirect=True)
def test_processes_sharing_a_database_run_and_resume_only_their_own_runs(
    url: str, store: Store, processes: list[subprocess.Popen[str]], marks: Path
) -> None:
    workers = [
        _start(processes, "own", url, marks, str(index), str(RUNS))
        for index in range(WORKERS)
    ]
    _until(lambda: all((marks / f"fail-{i}").exists() for i in range(WORKERS)))
    (marks / "go").touch()  # all at once, on one database
    answers = [_answer(worker) for worker in workers]

    for worker, answer in zip(workers, answers, strict=True):
        assert (
            answer
            == [
                {
                    "run_id": ANY,
                    "status": "succeeded",
                    "output": [worker.pid, worker.pid],
                }
            ]
            * RUNS
        )
    calls = lease_flow.calls(str(marks))
    for index, worker in enumerate(workers):
        for n in range(RUNS):
            key = f"{index}.{n}"
            # begin ran once (served on resume), end twice: all in one process.
            assert [(name, pid) for name, k, pid in calls if k == key] == [
                ("begin", worker.pid),
                ("end", worker.pid),
                ("end", worker.pid),
            ]
    runs = store.list_runs()
    assert len(runs) == WORKERS * RUNS
    owners = {
        answer["run_id"]: worker.pid
        for worker, of_worker in zip(workers, answers, strict=True)
        for answer in of_worker
    }
    for run in runs:
        assert run.status == "succeeded"
        assert _pid(run.owner) == owners[run.run_id]
        loaded = store.load_run(run.run_id)
        assert loaded is not None
        assert loaded.tasks["begin"].value == owners[run.run_id]
