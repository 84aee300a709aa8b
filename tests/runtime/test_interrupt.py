"""Ctrl-C during a sync task: the run stops at once and the process exits at once.

A thread cannot be stopped, so the sync task's body is abandoned: the run
is cancelled (``KeyboardInterrupt`` reaches the caller), and the body's
daemon thread does not hold up the exit. Each test runs
``interrupt_flow.py`` in a subprocess, sends it a real SIGINT while its
task sleeps for two minutes, and gives it 20 seconds to exit.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

from fiscus_dsl import SQLiteRunStore, TaskStatus, task, workflow
from fiscus_dsl._runtime import sync_calls
from fiscus_dsl._runtime.executor import DaemonThreads
from fiscus_dsl._runtime.sync_calls import _RunStop, run_sync

from . import interrupt_flow

if TYPE_CHECKING:
    from collections.abc import Iterator

EXIT_WITHIN: Final = 20.0

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="sends SIGINT to a child process"
)


def _interrupt(path: Path, how: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import interrupt_flow; "
        "interrupt_flow.main(sys.argv[2], sys.argv[3])"
    )
    folder = str(Path(interrupt_flow.__file__).parent)
    # The with block closes the pipes however the test ends.
    with subprocess.Popen(
        [sys.executable, "-c", code, folder, str(path), how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline() == "hanging\n"
            child.send_signal(signal.SIGINT)
            out, err = child.communicate(timeout=EXIT_WITHIN)
        finally:
            child.kill()  # a no-op once it exited
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


@pytest.mark.parametrize("how", ["sync", "loop", "hook"])
def test_ctrl_c_during_a_sync_task_stops_the_run_and_exits_at_once(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / "runs.sqlite3"

    ended = _interrupt(path, how)

    assert ended.returncode == -signal.SIGINT, ended.stderr
    assert ended.stderr.rstrip().endswith("KeyboardInterrupt"), ended.stderr
    with SQLiteRunStore(path) as store:
        (run,) = store.list_runs()
        record = store.load_run(run.run_id)
    assert record is not None
    # Recorded as interrupted, resumable from what finished; the hung task
    # is not recorded.
    assert record.status == "interrupted"
    assert {key: task.status for key, task in record.tasks.items()} == {
        "fetch": TaskStatus.SUCCEEDED
    }


# ---------------------------------------------------------------- in process


@contextmanager
def a_loop_with_python_ctrl_c() -> Iterator[asyncio.AbstractEventLoop]:
    """Give a fresh event loop, with Python's own SIGINT handler in place."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.close()
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_while_a_loop_waits_cancels_the_run_in_its_thread() -> None:
    started = threading.Event()
    finished: list[str] = []

    @task
    def interrupted() -> int:
        started.set()
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, handled by the main thread
        time.sleep(0.3)
        finished.append("body")  # the body goes on in its thread, abandoned
        return 1

    @task
    def after(n: int) -> int:
        finished.append("after")  # pragma: no cover  (the run was cancelled)
        return n  # pragma: no cover

    @workflow
    def flow() -> int:
        return after(interrupted())

    async def inside_a_loop() -> None:
        flow.run()

    with a_loop_with_python_ctrl_c() as loop, pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(inside_a_loop())

    assert started.is_set()
    assert "after" not in finished


@pytest.mark.parametrize("inside_a_loop", [False, True], ids=["sync", "loop"])
def test_ctrl_c_taken_by_another_thread_still_stops_the_run_at_once(
    inside_a_loop: bool,
) -> None:
    # The kernel may hand a process's SIGINT to any of its threads (and one
    # that lands just before the main thread blocks is in the same state):
    # Python runs the handler in the main thread, which must wake for it,
    # whether it runs the loop or waits for a run in a worker thread.
    started, release = threading.Event(), threading.Event()

    @task
    def hang() -> int:
        started.set()
        release.wait(10)
        return 1

    @workflow
    def flow() -> int:
        return hang()

    def interrupt_from_another_thread() -> None:
        started.wait(5)
        time.sleep(0.1)  # the main thread waits by now
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)

    async def in_a_loop() -> None:
        flow.run()

    def run(loop: asyncio.AbstractEventLoop) -> None:
        if inside_a_loop:
            loop.run_until_complete(in_a_loop())
        else:
            flow.run()

    helper = threading.Thread(target=interrupt_from_another_thread)
    began = time.monotonic()
    helper.start()
    try:
        with a_loop_with_python_ctrl_c() as loop, pytest.raises(KeyboardInterrupt):
            run(loop)
        waited = time.monotonic() - began
    finally:
        release.set()
        helper.join(5)

    assert waited < 5


def test_ctrl_c_while_the_run_thread_starts_cancels_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On a loaded machine the worker can start the run before ``submit``
    # returns in the caller, and Ctrl-C then lands inside ``submit``.
    outcome: list[str] = []

    class InterruptedOnSubmit(ThreadPoolExecutor):
        def submit(self, *args: Any, **kwargs: Any) -> Future[Any]:
            super().submit(*args, **kwargs)
            while not outcome:  # the run is under way in the worker
                time.sleep(0.01)
            raise KeyboardInterrupt

    monkeypatch.setattr(sync_calls, "ThreadPoolExecutor", InterruptedOnSubmit)

    async def long_run() -> None:
        outcome.append("started")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        outcome.append("finished")  # pragma: no cover  (what the bug did)

    async def inside_a_loop() -> None:
        run_sync(long_run)

    started = time.monotonic()
    with a_loop_with_python_ctrl_c() as loop, pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(inside_a_loop())

    assert outcome == ["started", "cancelled"]
    assert time.monotonic() - started < 5


def test_a_run_stopped_before_its_loop_starts_never_runs() -> None:
    stop = _RunStop()
    ran: list[str] = []

    async def work() -> None:
        ran.append("work")  # pragma: no cover  (never started)

    stop.cancel()

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(stop.guard(work()))
    assert ran == []


def test_stopping_a_run_that_ended_does_nothing() -> None:
    stop = _RunStop()

    async def work() -> int:
        return 7

    assert asyncio.run(stop.guard(work())) == 7
    stop.cancel()  # the loop is closed: nothing is scheduled on it


# ---------------------------------------------------------------- the threads


def test_daemon_threads_run_calls_and_hand_back_errors() -> None:
    pool = DaemonThreads(2, name="test-pool")

    def boom() -> object:
        raise LookupError("no such thing")

    assert pool.submit(lambda: 41 + 1).result(timeout=5) == 42
    with pytest.raises(LookupError, match="no such thing"):
        pool.submit(boom).result(timeout=5)
    names = [t.name for t in threading.enumerate() if t.name.startswith("test-pool")]
    assert names == ["test-pool_1"]  # the idle thread was reused
    assert all(t.daemon for t in threading.enumerate() if t.name in names)


def test_daemon_threads_stay_within_max_threads_and_skip_cancelled_calls() -> None:
    pool = DaemonThreads(1, name="one-thread")
    release = threading.Event()
    ran: list[str] = []

    first = pool.submit(lambda: release.wait(5))
    second = pool.submit(lambda: ran.append("second"))
    assert second.cancel()  # still queued: the one thread is busy
    release.set()

    assert first.result(timeout=5) is True
    assert pool.submit(lambda: "third").result(timeout=5) == "third"
    assert ran == []
    assert [
        t.name for t in threading.enumerate() if t.name.startswith("one-thread")
    ] == ["one-thread_1"]


def test_daemon_threads_end_when_their_pool_is_collected() -> None:
    pool = DaemonThreads(3, name="collected-pool")
    barrier = threading.Barrier(3)
    futures = [pool.submit(lambda: barrier.wait(5)) for _ in range(3)]
    for future in futures:
        future.result(timeout=5)
    threads = [t for t in threading.enumerate() if t.name.startswith("collected-pool")]
    assert len(threads) == 3

    del pool, futures
    gc.collect()

    for thread in threads:
        thread.join(5)
    assert not any(thread.is_alive() for thread in threads)
