"""Where a task's body runs: in this process, on the event loop or in a thread.

The scheduler keeps retries, hooks and spans; an executor only calls the
function. ``InProcessExecutor`` awaits async functions and sends sync ones
to worker threads (with the current context, so spans nest). Other
executors (``fiscus_dsl.executors.DaskExecutor``) plug in behind the same
protocol: ``prepare`` sees the plan before a run submits anything, and
``call`` gets the ``Task`` beside its function, so that an executor that
ships bodies elsewhere sends the task's import path, never the function.

The worker threads are daemon threads, unlike ``ThreadPoolExecutor``'s:
a sync body the run gave up on (a timeout, ``Ctrl-C``) cannot be stopped,
and the interpreter would otherwise wait for it at exit, for ever if it
hangs. A body that still runs when the process exits is abandoned.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import queue
import threading
import weakref
from concurrent.futures import Executor as FuturesExecutor
from concurrent.futures import Future
from typing import TYPE_CHECKING, Protocol, final

from fiscus_dsl.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from fiscus_dsl._dsl.plan import Plan
    from fiscus_dsl._dsl.task import Task


class Executor(Protocol):
    """Where the bodies of a run's tasks run.

    The runner keeps the plan, scheduling, hooks, retries, timeouts, spans
    and the run store; an executor only runs bodies. Inside ``call`` the
    task's attempt (``fiscus_dsl`` sets it for connectors) and the task
    span are current, so an executor that runs the body elsewhere can
    send the attempt's ids and the trace context along.
    """

    async def prepare(self, plan: Plan) -> None:
        """Check a run's plan before anything is submitted; raise to refuse it.

        Called once per run, before its first task starts. An executor that
        ships bodies to other processes checks here that every task can be
        referenced by its import path, and connects to where it runs them.
        """
        ...

    async def call(
        self,
        function: Callable[..., object],
        args: Sequence[object],
        kwargs: Mapping[str, object],
        *,
        is_async: bool,
        task: Task[..., Any],
    ) -> object:
        """Call ``function(*args, **kwargs)``, awaiting it when ``is_async``.

        ``function`` is the body of ``task`` (an operation's body is the
        connector's request, not the declared function); an executor that
        runs it in another process ships ``task``, which pickles as its
        import path, and runs ``task.plan.function`` there.
        """
        ...


@final
class InProcessExecutor:
    """Await async functions on the loop; run sync ones in worker threads.

    The threads belong to the executor, not to the event loop, so a sync
    task that outlives its ``timeout`` keeps its thread without holding up
    the end of ``wf.run()`` (a thread cannot be stopped from outside). They
    are daemon threads: such a task does not hold up the process's exit
    either, after ``Ctrl-C`` or at the end of the program.

    Args:
        max_threads: The most sync task bodies running at once.
    """

    def __init__(self, *, max_threads: int = 32) -> None:
        if max_threads < 1:
            msg = (
                f"InProcessExecutor(max_threads={max_threads!r}) must be at least 1; "
                "pass 1 or more threads"
            )
            raise ConfigurationError(msg, option="max_threads")
        self.max_threads = max_threads
        self._pool: DaemonThreads | None = None

    def _threads(self) -> DaemonThreads:
        if self._pool is None:
            self._pool = DaemonThreads(self.max_threads, name="fiscus-task")
        return self._pool

    async def prepare(self, plan: Plan) -> None:
        """Accept every plan: bodies run in this process, nothing is shipped."""

    async def call(
        self,
        function: Callable[..., object],
        args: Sequence[object],
        kwargs: Mapping[str, object],
        *,
        is_async: bool,
        task: Task[..., Any] | None = None,
    ) -> object:
        """Call ``function(*args, **kwargs)``, awaiting it when ``is_async``."""
        del task  # the function itself runs here
        if is_async:
            return await function(*args, **kwargs)  # type: ignore[misc]  # is_async says it returns an awaitable
        context = contextvars.copy_context()  # spans and context reach the thread
        call = functools.partial(context.run, function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._threads(), call)


_Work = tuple["Future[object]", "Callable[[], object]"]


@final
class DaemonThreads(FuturesExecutor):
    """A pool of at most ``max_threads`` daemon threads, started as work comes.

    What ``loop.run_in_executor`` needs of ``ThreadPoolExecutor`` (``submit``
    of a call, idle threads reused, threads that end when the pool is
    collected), with threads the interpreter does not wait for at exit.
    """

    def __init__(self, max_threads: int, *, name: str) -> None:
        self.max_threads = max_threads
        self.name = name
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._started = 0
        # The threads hold the queue, not the pool: when the pool goes, a
        # None per thread ends them once they are idle.
        weakref.finalize(self, _wake, self._work, max_threads)

    def submit(  # type: ignore[override]  # one call, no arguments: all run_in_executor sends
        self, fn: Callable[[], object], /
    ) -> Future[object]:
        """Queue ``fn()``; start a thread for it unless one is idle."""
        future: Future[object] = Future()
        self._work.put((future, fn))
        if not self._idle.acquire(blocking=False):
            with self._lock:
                if self._started < self.max_threads:
                    self._started += 1
                    threading.Thread(
                        target=_serve,
                        args=(self._work, self._idle),
                        name=f"{self.name}_{self._started}",
                        daemon=True,
                    ).start()
        return future


def _serve(work: queue.SimpleQueue[_Work | None], idle: threading.Semaphore) -> None:
    """Run queued calls until a ``None`` says the pool is gone."""
    while (item := work.get()) is not None:
        future, fn = item
        if future.set_running_or_notify_cancel():
            try:
                value = fn()
            # Whatever the call raised is handed to the task awaiting it, as
            # ThreadPoolExecutor does.
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(value)
        del item, future, fn  # drop the call's references while idle
        idle.release()


def _wake(work: queue.SimpleQueue[_Work | None], threads: int) -> None:
    for _ in range(threads):
        work.put(None)
