"""Where a task's body runs: in this process, on the event loop or in a thread.

The scheduler keeps retries, hooks and spans; an executor only calls the
function. ``InProcessExecutor`` awaits async functions and sends sync ones
to worker threads (with the current context, so spans nest). Other
executors (Dask ``distributed``) plug in behind the same protocol.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol, final

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
    """Await async functions on the loop; run sync ones in worker threads."""

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
        return await asyncio.to_thread(function, *args, **kwargs)
