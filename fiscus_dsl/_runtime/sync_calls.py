"""Run a coroutine to completion from sync code, and stop it at a Ctrl-C.

``wf.run()`` and every other sync entry point come through ``run_sync``.
Outside a running loop it is ``asyncio.run``; inside one (a notebook, an
async framework) the coroutine runs on a fresh loop in a worker thread
while the caller waits. Either way a Ctrl-C stops the run at once, which
needs two things the standard library leaves open:

- ``asyncio.run`` handles SIGINT with ``signal.signal`` alone. Python's
  handler runs when the main thread next executes bytecode, and a signal
  that lands just before the loop blocks in ``select`` (or that the kernel
  hands to another thread) does not wake the loop: a run whose only task
  is a sync body that hangs would wait for it. For the run, the loop gets
  a wakeup file descriptor (``signal.set_wakeup_fd``), so any signal wakes
  it and the handler runs.
- The caller waiting for a worker thread wakes every ``WAKE_EVERY``
  seconds for the same reason, and a Ctrl-C at any point after the run was
  handed over (even while the thread starts) cancels the run.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import signal
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any, Final, TypeVar, final

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

T = TypeVar("T")

#: How often a caller waiting for a run in a worker thread checks for Ctrl-C.
WAKE_EVERY: Final = 0.1


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running loop.

    Inside a running loop, the coroutine runs on a fresh loop in a worker
    thread, with the caller's context. A ``KeyboardInterrupt`` (``Ctrl-C``)
    while the caller waits cancels that run, as ``asyncio.run`` does on the
    caller's own thread, instead of waiting for it to finish.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_woken_by_signals(make()))
    context = contextvars.copy_context()
    stop = _RunStop()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fiscus-run") as pool:
        try:
            # Inside the try: a Ctrl-C may land while submit waits for the
            # worker to start, when the run may already be under way there.
            running = pool.submit(context.run, lambda: asyncio.run(stop.guard(make())))
            while True:
                try:
                    return running.result(timeout=WAKE_EVERY)
                except FutureTimeout:
                    continue
        except BaseException:  # Ctrl-C while waiting: the run unwinds, then raise
            stop.cancel()
            raise


def _signals_can_wake(loop: asyncio.AbstractEventLoop) -> bool:
    """Tell whether a wakeup descriptor can be given to ``loop`` here."""
    return (
        sys.platform != "win32"  # the proactor loop has no add_reader
        and threading.current_thread() is threading.main_thread()
        and isinstance(loop, asyncio.SelectorEventLoop)
    )


async def _woken_by_signals(work: Coroutine[Any, Any, T]) -> T:
    """Await ``work`` while every signal this process gets wakes the loop."""
    loop = asyncio.get_running_loop()
    if not _signals_can_wake(loop):
        return await work
    reader, writer = socket.socketpair()
    reader.setblocking(False)  # noqa: FBT003  # the socket API's flag
    writer.setblocking(False)  # noqa: FBT003
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    loop.add_reader(reader.fileno(), _drain, reader)
    try:
        return await work
    finally:
        loop.remove_reader(reader.fileno())
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()


def _drain(reader: socket.socket) -> None:
    """Read the signal numbers written to the wakeup descriptor: the wake is all."""
    try:
        while reader.recv(4096):
            pass
    except BlockingIOError:
        return


@final
class _RunStop:
    """Cancel a coroutine on another thread's loop, before it starts or as it runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancel: Callable[[], object] | None = None
        self._cancelled = False

    async def guard(self, work: Coroutine[Any, Any, T]) -> T:
        task = asyncio.current_task()
        assert task is not None  # asyncio.run runs this as a task
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._cancelled:
                work.close()
                raise asyncio.CancelledError
            self._cancel = functools.partial(loop.call_soon_threadsafe, task.cancel)
        try:
            return await work
        finally:
            with self._lock:  # the loop closes next: nothing to cancel any more
                self._cancel = None

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._cancel is not None:
                self._cancel()
