"""The run's writer thread: group commits, a renewed lease, and a lease lost mid-run.

Every run here records into a real SQLite file; the event loop never
waits for a commit, so these tests read the file after the run (or from
another connection while it runs).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from fiscus_dsl import (
    Lease,
    RunLocked,
    Runner,
    RunRecord,
    RunStatus,
    SQLiteRunStore,
    TaskStatus,
    task,
    workflow,
)
from fiscus_dsl._runtime.store import LIVE_OWNERS, new_owner

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "runs.db"


@task
async def tick(i: int) -> int:
    await asyncio.sleep(0)
    return i


@workflow
def fan(n: int) -> list[int]:
    return [tick(i) for i in range(n)]


def test_a_fan_out_is_committed_in_groups_with_every_task(path: Path) -> None:
    with SQLiteRunStore(path) as store:
        result = Runner(store=store).run(fan, n=2000)
        record = store.load_run(result.run_id)

    assert record is not None
    assert record.status == "succeeded"
    assert len(record.tasks) == 2000
    assert {task.value for task in record.tasks.values()} == set(range(2000))
    with sqlite3.connect(path) as connection:
        (batches,) = connection.execute(
            "SELECT count(*) FROM task_batches WHERE run_id = ?", (result.run_id,)
        ).fetchone()
    connection.close()
    assert 1 <= batches < 2000  # grouped: far fewer commits than tasks


@task
async def slow(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@workflow
def waits(seconds: float) -> float:
    return slow(seconds)


def test_a_run_longer_than_its_lease_renews_it_and_keeps_the_run(path: Path) -> None:
    """A 0.3 s lease and a 1 s task: renewed every 0.1 s, never taken."""
    taken: list[BaseException] = []
    with SQLiteRunStore(path, lease_seconds=0.3) as store:
        runner = Runner(store=store)

        def intrude() -> None:
            (running,) = store.list_runs()
            try:
                store.start_run(running, Lease(running.run_id, "intruder:1:cafe"))
            except RunLocked as exc:
                taken.append(exc)

        timer = threading.Timer(0.7, intrude)  # past two lease lengths
        timer.start()
        result = runner.run(waits, seconds=1.0)
        timer.join()

    assert result.status is RunStatus.SUCCEEDED
    (refused,) = taken
    assert isinstance(refused, RunLocked)
    assert refused.owner is not None
    assert refused.owner.split(":")[:2] == new_owner().split(":")[:2]
    assert refused.expires_in is not None
    assert 0 < refused.expires_in <= 0.3
    assert "is locked" in str(refused)
    assert "resume the run once `fiscus runs list` shows it as interrupted" in str(
        refused
    )


def test_a_run_whose_lease_another_process_took_stops_with_run_locked(
    path: Path,
) -> None:
    """Its lease lapsed (a long pause), another owner took the run: it stops."""
    with SQLiteRunStore(path, lease_seconds=0.2) as store:

        def take_over() -> None:
            (running,) = store.list_runs()
            with sqlite3.connect(path) as connection:  # as if its lease lapsed
                connection.execute("UPDATE runs SET lease_expires_at = 0")
            connection.close()
            store.start_run(running, Lease(running.run_id, "other-host:1:beef"))

        @task
        async def first() -> int:
            await asyncio.to_thread(take_over)
            return 1

        @task
        async def second(x: int) -> int:
            await asyncio.sleep(0.3)  # the writer learns of the loss meanwhile
            return x + 1

        @task
        def third(x: int) -> int:
            raise AssertionError("started after the run lost its lease")

        @workflow
        def taken(x: int) -> int:
            return third(second(first()))

        result = Runner(store=store).run(taken, x=1)
        record = store.load_run(result.run_id)

    assert result.status is RunStatus.FAILED
    error = result.error
    assert isinstance(error, RunLocked)
    assert error.owner == "other-host:1:beef"
    assert result["third"].status is TaskStatus.NOT_RUN
    assert record is not None
    assert record.owner == "other-host:1:beef"  # nothing of the old owner after
    assert record.tasks == {}


def test_resume_refuses_a_run_another_live_owner_holds(path: Path) -> None:
    with SQLiteRunStore(path) as store:
        first = Runner(store=store).run(waits, seconds=0.0)
        owner = new_owner()  # an owner of this process that is still running
        LIVE_OWNERS.add(owner)
        try:
            record = store.load_run(first.run_id)
            assert record is not None
            store.start_run(record, Lease(first.run_id, owner))
            with pytest.raises(RunLocked) as caught:
                Runner(store=store).resume(waits, first.run_id)
        finally:
            LIVE_OWNERS.discard(owner)
        # Its owner gone, the run shows as interrupted and resumes.
        (listed,) = store.list_runs(status="interrupted")
        resumed = Runner(store=store).resume(waits, first.run_id)

    assert caught.value.owner == owner
    assert caught.value.run_id == first.run_id
    assert listed.run_id == first.run_id
    assert resumed.status is RunStatus.SUCCEEDED


def _record(run_id: str) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        workflow="waits",
        status="running",
        inputs_json='{"seconds": 0}',
        started_at=datetime.now(UTC),
    )


def test_a_lapsed_lease_shows_as_interrupted_and_can_be_taken(path: Path) -> None:
    with SQLiteRunStore(path, lease_seconds=0.05) as store:
        store.start_run(_record("r1"), Lease("r1", "far-host:7:aa", 0.05))
        (live,) = store.list_runs()
        threading.Event().wait(0.1)
        (lapsed,) = store.list_runs()
        store.start_run(_record("r1"), Lease("r1", "near-host:8:bb"))
        (taken,) = store.list_runs()

    assert (live.status, lapsed.status, taken.status) == (
        "running",
        "interrupted",
        "running",
    )
    assert taken.owner == "near-host:8:bb"
