"""Context-scoped overrides of the sleep and clock every run uses.

``LOCAL_OVERRIDE`` names an override that only reaches this process (the
connectors' transport override under the testing kit's mocks): an
executor that runs task bodies in other processes refuses to start a run
while one is set, rather than let the bodies reach the real API.

A runner owns a ``sleep`` and a ``clock``; code that must change them for a
block (the testing kit's ``FakeSleep`` and ``FakeClock``, entered as
context managers) sets an override here, with a token to reset it,
instead of touching any runner. Overrides live in ``contextvars``, so
a block in one thread or asyncio task never changes the runs of another.
A run reads them once, when it starts. Imports no HTTP and no asyncio.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from fiscus_dsl._types import Clock, Sleep

SLEEP_OVERRIDE: Final[ContextVar[Sleep | None]] = ContextVar(
    "fiscus_sleep_override", default=None
)
CLOCK_OVERRIDE: Final[ContextVar[Clock | None]] = ContextVar(
    "fiscus_clock_override", default=None
)


def effective_sleep(own: Sleep) -> Sleep:
    """Return the sleep a run starting now uses: the override, else ``own``."""
    override = SLEEP_OVERRIDE.get()
    return own if override is None else override


def effective_clock(own: Clock) -> Clock:
    """Return the clock a run starting now uses: the override, else ``own``."""
    override = CLOCK_OVERRIDE.get()
    return own if override is None else override


LOCAL_OVERRIDE: Final[ContextVar[str | None]] = ContextVar(
    "fiscus_local_override", default=None
)
