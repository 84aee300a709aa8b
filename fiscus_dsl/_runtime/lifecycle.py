"""Run-scoped clean-up: what code inside a run asks to have done when it ends.

The runtime knows no HTTP, yet connectors keep clients open while runs use
them. A run opens a ``RunExit``; code running inside it (a connector
sending a request) registers an async callback under a key, once; the
runner awaits every callback when the run ends, whatever its outcome.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar, Token
from typing import final

from fiscus_dsl.errors import FiscusWarning

Cleanup = Callable[[], Awaitable[None]]


@final
class RunExit:
    """The callbacks to await when one run ends, by key."""

    __slots__ = ("_callbacks",)

    def __init__(self) -> None:
        self._callbacks: dict[Hashable, Cleanup] = {}

    def register(self, key: Hashable, callback: Cleanup) -> None:
        """Await ``callback`` when the run ends; a key already registered is kept."""
        self._callbacks.setdefault(key, callback)

    async def aclose(self) -> None:
        """Await every callback; one that raises is reported as a warning."""
        callbacks, self._callbacks = self._callbacks, {}
        for key, callback in callbacks.items():
            try:
                await callback()
            except Exception as exc:  # a clean-up must not fail a finished run
                msg = f"Clean-up {key!r} at the end of a run raised {exc!r}"
                warnings.warn(msg, FiscusWarning, stacklevel=2)


_CURRENT: ContextVar[RunExit | None] = ContextVar("fiscus_run_exit", default=None)


def current_run_exit() -> RunExit | None:
    """Return the clean-ups of the run in progress, or ``None`` outside runs."""
    return _CURRENT.get()


def enter_run(run_exit: RunExit) -> Token[RunExit | None]:
    """Make ``run_exit`` the current run's; return the token for ``leave_run``."""
    return _CURRENT.set(run_exit)


def leave_run(token: Token[RunExit | None]) -> None:
    """Undo ``enter_run``."""
    _CURRENT.reset(token)
