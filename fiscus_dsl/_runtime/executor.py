"""Where a task's body runs: in this process, on the event loop or in a thread.

The scheduler keeps retries, hooks and spans; an executor only calls the
function. ``InProcessExecutor`` awaits async functions and sends sync ones
to worker threads (with the current context, so spans nest). Other
executors (Dask ``distributed``) plug in behind the same protocol.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol, final

from fiscus_dsl.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence


class Executor(Protocol):
    """Run one call of a task's function and return its value."""

    async def call(
        self,
        function: Callable[..., object],
        args: Sequence[object],
        kwargs: Mapping[str, object],
        *,
        is_async: bool,
    ) -> object:
        """Call ``function(*args, **kwargs)``, awaiting it when ``is_async``."""
        ...


@final
class InProcessExecutor:
    """Await async functions on the loop; run sync ones in worker threads.

    The threads belong to the executor, not to the event loop, so a sync
    task that outlives its ``timeout`` keeps its thread without holding up
    the end of ``wf.run()`` (a thread cannot be stopped from outside).

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
        self._pool: ThreadPoolExecutor | None = None

    def _threads(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.max_threads, thread_name_prefix="fiscus-task"
            )
        return self._pool

    async def call(
        self,
        function: Callable[..., object],
        args: Sequence[object],
        kwargs: Mapping[str, object],
        *,
        is_async: bool,
    ) -> object:
        """Call ``function(*args, **kwargs)``, awaiting it when ``is_async``."""
        if is_async:
            return await function(*args, **kwargs)  # type: ignore[misc]  # is_async says it returns an awaitable
        context = contextvars.copy_context()  # spans and context reach the thread
        call = functools.partial(context.run, function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._threads(), call)
