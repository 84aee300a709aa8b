"""A run store that fails: the run ends failed and says why, it never hangs or raises.

Every failure here is a real SQLite failure on a real file: the store's
connection made read-only (``PRAGMA query_only``, what a file the process
may read but not write gives), a table dropped by another connection, a
missing folder, a file that is not a database. Runs are awaited under a
deadline, so a run that hangs fails its test instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from typing import TYPE_CHECKING

import pytest

from fiscus_dsl import (
    Hooks,
    RunContext,
    Runner,
    RunResult,
    RunStatus,
    RunStoreError,
    SQLiteRunStore,
    TaskStatus,
    task,
    workflow,
)
from fiscus_dsl.errors import FiscusErrorCode

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from datetime import datetime
    from pathlib import Path

    from fiscus_dsl import Lease, RunRecord, TaskRecord
    from fiscus_dsl.testing import SpanCapture

DEADLINE = 10.0

called: list[str] = []


@pytest.fixture(autouse=True)
def _fresh_calls() -> Iterator[None]:
    called.clear()
    yield
    called.clear()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteRunStore]:
    with SQLiteRunStore(tmp_path / "runs.sqlite3") as opened:
        yield opened


def _read_only(store: SQLiteRunStore, *, on: bool) -> None:
    """Make the store's own connection refuse writes, as a read-only file does."""
    with store._lock:
        store._connection.execute(f"PRAGMA query_only = {'ON' if on else 'OFF'}")


async def _run(runner: Runner, wf: object, **inputs: object) -> RunResult[object]:
    """Run under a deadline: a hang fails the test with TimeoutError."""
    return await asyncio.wait_for(runner.arun(wf, **inputs), DEADLINE)  # type: ignore[arg-type]  # any workflow of this file


# ---------------------------------------------------------------- a chain

# The store being written is what ``lock`` makes read-only (set per test).
target: list[SQLiteRunStore] = []


@task
def fetch(x: int) -> int:
    called.append("fetch")
    return x + 1


@task
async def lock_store(x: int) -> int:
    """Make the store read-only from the middle of the run, on the loop.

    It first waits for the writer to commit ``fetch``, so that the first
    record the read-only store refuses is this task's own.
    """
    called.append("lock_store")
    await asyncio.sleep(0.2)
    _read_only(target[0], on=True)
    return x * 2


@task
async def publish(x: int) -> int:
    """Already ready when ``lock_store`` settles; it runs while the write fails."""
    called.append("publish")
    await asyncio.sleep(0.2)
    return x - 1


@task
def announce(x: int) -> int:
    called.append("announce")
    return x


@workflow
def chain(x: int) -> int:
    return announce(publish(lock_store(fetch(x))))


@workflow
def plain(x: int) -> int:
    return publish(fetch(x))


# ---------------------------------------------------------------- in the middle


async def test_a_store_failing_mid_run_fails_the_run_with_the_finished_tasks(
    store: SQLiteRunStore,
) -> None:
    target[:] = [store]

    result = await _run(Runner(store=store, max_concurrency=1), chain, x=1)

    assert result.status is RunStatus.FAILED
    assert result.output is None
    error = result.error
    assert isinstance(error, RunStoreError)
    assert (error.store, error.run_id, error.task_id) == (
        repr(store),
        result.run_id,
        "lock_store",
    )
    assert error.code is FiscusErrorCode.INTERNAL_ERROR
    assert isinstance(error.__cause__, sqlite3.OperationalError)
    assert result.error_message == (
        f"Workflow 'chain' stopped: Run store {store!r} "
        f"could not record task 'lock_store' of run {result.run_id!r}: "
        "OperationalError: attempt to write a readonly database; check that the "
        "file and its folder are writable and the disk has room, or give the "
        "runner another file"
    )
    # The tasks that finished are reported; the first to settle after the
    # failure stopped the run, and nothing new started.
    assert (result["fetch"].status, result["fetch"].value) == (TaskStatus.SUCCEEDED, 2)
    assert (result["lock_store"].status, result["lock_store"].value) == (
        TaskStatus.SUCCEEDED,
        4,
    )
    assert (result["publish"].status, result["publish"].value) == (
        TaskStatus.SUCCEEDED,
        3,
    )
    assert result["announce"].status is TaskStatus.NOT_RUN
    assert result["announce"].reason == "the run stopped before it started"
    assert called == ["fetch", "lock_store", "publish"]


async def test_after_a_mid_run_failure_the_store_holds_a_killed_runs_record(
    store: SQLiteRunStore,
) -> None:
    target[:] = [store]
    runner = Runner(store=store, max_concurrency=1)
    first = await _run(runner, chain, x=1)

    _read_only(store, on=False)  # the fix: the file is writable again
    record = store.load_run(first.run_id)
    assert record is not None
    assert record.status == "interrupted"  # its owner, in this process, ended
    assert list(record.tasks) == ["fetch"]

    called.clear()
    target[:] = [SQLiteRunStore(":memory:")]  # lock_store now locks another store
    resumed = await asyncio.wait_for(runner.aresume(chain, first.run_id), DEADLINE)

    assert resumed.status is RunStatus.SUCCEEDED
    assert resumed.output == 3
    assert called == ["lock_store", "publish", "announce"]  # fetch was served


async def test_a_map_whose_store_fails_lets_the_tasks_in_flight_finish(
    store: SQLiteRunStore,
) -> None:
    @task
    async def item(i: int) -> int:
        called.append(f"item{i}")
        if i == 2:
            _read_only(store, on=True)
        await asyncio.sleep(0.05)  # the writer fails before the next ones settle
        return i

    @workflow
    def fan(items: list[int]) -> list[int]:
        return item.map(i=items)

    result = await _run(
        Runner(store=store, max_concurrency=3), fan, items=list(range(30))
    )

    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, RunStoreError)
    statuses = {result[f"item[{i}]"].status for i in range(30)}
    assert statuses == {TaskStatus.SUCCEEDED, TaskStatus.NOT_RUN}
    started = [i for i in range(30) if f"item{i}" in called]
    assert len(started) < 30
    for i in started:  # every task that started finished and is reported
        assert result[f"item[{i}]"].value == i


async def test_a_store_failing_at_the_runs_end_fails_the_run(
    store: SQLiteRunStore, span_capture: SpanCapture
) -> None:
    def lock(context: RunContext, result: RunResult[object]) -> None:
        time.sleep(0.2)  # the writer commits the last task first: only the end fails
        _read_only(store, on=True)

    runner = Runner(
        store=store,
        hooks=Hooks(after_workflow=lock),
        tracer_provider=span_capture.provider,
    )

    result = await _run(runner, plain, x=1)

    assert result.status is RunStatus.FAILED
    assert result.output is None
    assert isinstance(result.error, RunStoreError)
    assert result.error.task_id is None
    assert f"could not record the end of run {result.run_id!r}" in str(
        result.error_message
    )
    assert {task.status for task in result.tasks.values()} == {TaskStatus.SUCCEEDED}
    (span,) = [s for s in span_capture.spans if s.name == "workflow plain"]
    assert (span.attributes or {})["fiscus.run.status"] == "failed"


async def test_a_store_failing_while_tasks_are_queued_at_the_end_fails_the_run(
    store: SQLiteRunStore,
) -> None:
    """The hook locks the store while the last records may still be queued."""

    def lock(context: RunContext, result: RunResult[object]) -> None:
        _read_only(store, on=True)

    runner = Runner(store=store, hooks=Hooks(after_workflow=lock))

    result = await _run(runner, plain, x=1)

    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, RunStoreError)
    assert str(result.error_message).startswith(
        f"Workflow 'plain' stopped: Run store {store!r} could not record "
    )
    assert {task.status for task in result.tasks.values()} == {TaskStatus.SUCCEEDED}


# ---------------------------------------------------------------- at the start


def test_a_read_only_store_gives_a_failed_result_and_runs_nothing(
    store: SQLiteRunStore,
) -> None:
    _read_only(store, on=True)

    result = Runner(store=store).run(plain, x=1)

    assert result.status is RunStatus.FAILED
    error = result.error
    assert isinstance(error, RunStoreError)
    assert (error.run_id, error.task_id) == (result.run_id, None)
    assert result.error_message == (
        f"Workflow 'plain' stopped: Run store {store!r} "
        f"could not record the start of run {result.run_id!r}: OperationalError: "
        "attempt to write a readonly database; check that the file and its folder "
        "are writable and the disk has room, or give the runner another file"
    )
    assert called == []
    assert result.tasks == {}  # as when a before_workflow hook refuses the run


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root writes a file whatever its mode",
)
def test_a_file_without_write_permission_gives_a_failed_result(
    tmp_path: Path,
) -> None:  # pragma: no cover  (skipped where tests run as root)
    path = tmp_path / "runs.sqlite3"
    SQLiteRunStore(path).close()
    path.chmod(0o444)

    with SQLiteRunStore(path) as store:
        result = Runner(store=store).run(plain, x=1)

    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, RunStoreError)
    assert called == []


class _RefusingStore:
    """A custom store whose disk is gone: every write raises ``OSError``."""

    def start_run(self, run: RunRecord, lease: Lease) -> None:
        raise OSError(28, "No space left on device")

    def renew_lease(self, lease: Lease) -> None:
        raise AssertionError("not called after a failed start")  # pragma: no cover

    def record_tasks(self, lease: Lease, tasks: Sequence[TaskRecord]) -> None:
        raise AssertionError("not called after a failed start")  # pragma: no cover

    def finish_run(self, lease: Lease, **ended: object) -> None:
        raise AssertionError("not called after a failed start")  # pragma: no cover

    def load_run(self, run_id: str) -> RunRecord | None:
        return None  # pragma: no cover  (never resumed)

    def list_runs(self, **filters: object) -> list[RunRecord]:
        return []  # pragma: no cover  (never listed)

    def delete_runs(self, *, started_before: datetime) -> int:
        return 0  # pragma: no cover  (never pruned)

    def __repr__(self) -> str:
        return "RefusingStore()"


def test_a_custom_stores_error_is_wrapped_naming_the_store() -> None:
    result = Runner(store=_RefusingStore()).run(plain, x=1)

    error = result.error
    assert isinstance(error, RunStoreError)
    assert str(error) == (
        f"Run store RefusingStore() could not record the start of run "
        f"{result.run_id!r}: OSError: [Errno 28] No space left on device; fix the "
        "store, then resume the run"
    )
    assert error.store == "RefusingStore()"
    assert isinstance(error.__cause__, OSError)
    assert called == []


# ---------------------------------------------------------------- SQLite errors


def test_a_store_in_a_missing_folder_raises_a_run_store_error(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "runs.sqlite3"

    with pytest.raises(RunStoreError, match="could not open the file") as caught:
        SQLiteRunStore(path)

    assert caught.value.store == f"SQLiteRunStore({str(path)!r})"
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)


def test_a_file_that_is_not_a_database_raises_a_run_store_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.sqlite3"
    path.write_bytes(b"not a database, " * 512)

    with pytest.raises(
        RunStoreError, match=r"could not open the file: DatabaseError: file is not"
    ) as caught:
        SQLiteRunStore(path)

    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_reading_a_damaged_store_raises_a_run_store_error(
    store: SQLiteRunStore,
) -> None:
    with sqlite3.connect(store.path) as other:
        other.execute("DROP TABLE runs")
    other.close()
    runner = Runner(store=store)

    with pytest.raises(RunStoreError, match="could not list its runs"):
        store.list_runs()
    with pytest.raises(RunStoreError, match="could not read run 'r1'") as caught:
        runner.resume(plain, "r1")

    assert caught.value.run_id == "r1"


def test_closing_twice_is_harmless(tmp_path: Path) -> None:
    store = SQLiteRunStore(tmp_path / "runs.sqlite3")
    store.close()
    store.close()

    with pytest.raises(RunStoreError, match="could not list its runs"):
        store.list_runs()
