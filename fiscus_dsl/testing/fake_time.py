"""``FakeSleep`` and ``FakeClock``: time a test controls, for a runner or a block.

Pass one to a runner (``Runner(sleep=FakeSleep(), clock=FakeClock())``),
or use it as a context manager: inside ``with FakeSleep() as sleep:``
every run started in that thread or asyncio task waits with it, whatever
its runner, and the previous sleep comes back when the block ends. The
override lives in a ``ContextVar`` (``fiscus_dsl._runtime.overrides``), so
another thread or a concurrent task keeps its own time. Nothing is patched.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final, final

from fiscus_dsl._runtime.overrides import CLOCK_OVERRIDE, SLEEP_OVERRIDE

if TYPE_CHECKING:
    from contextvars import Token
    from types import TracebackType

    from fiscus_dsl._types import Clock, Sleep

#: Where a ``FakeClock`` starts unless told otherwise.
FAKE_EPOCH: Final = datetime(2024, 1, 1, tzinfo=UTC)


@final
class FakeSleep:
    """A sleep that returns at once and records every delay it was asked for.

    It still yields to the event loop once, as a real sleep would, so the
    other tasks of a run go on while a retry "waits".

    Attributes:
        delays: Every delay asked for, in seconds, in order.

    Examples:
        >>> from fiscus_dsl import Retry, task
        >>> from fiscus_dsl.testing import FakeSleep
        >>> attempts: list[int] = []
        >>> @task(retry=Retry(attempts=3, backoff=0.5, jitter=False))
        ... def flaky() -> str:
        ...     attempts.append(1)
        ...     if len(attempts) < 3:
        ...         raise ConnectionError("try again")
        ...     return "done"
        >>> with FakeSleep() as sleep:
        ...     flaky()
        'done'
        >>> sleep.delays
        [0.5, 1.0]
    """

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._tokens: list[Token[Sleep | None]] = []

    def __repr__(self) -> str:
        return f"<FakeSleep, {len(self.delays)} delay(s)>"

    async def __call__(self, seconds: float, /) -> None:
        """Record ``seconds`` and return at once (after yielding to the loop)."""
        self.delays.append(seconds)
        await asyncio.sleep(0)

    def __enter__(self) -> FakeSleep:
        """Make every run started in this context wait with this sleep."""
        self._tokens.append(SLEEP_OVERRIDE.set(self))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Give the runs back the sleep they had before the block."""
        SLEEP_OVERRIDE.reset(self._tokens.pop())


@final
class FakeClock:
    """A clock that moves ``step`` forward on every reading, from ``start``.

    The first reading is ``start + step``, so every time a run records
    (its start, each task's start and end, its end) differs and is known.

    Args:
        start: The time before the first reading; aware, in UTC.
        step: How far each reading moves the clock; one second by default.

    Attributes:
        now: The time the last reading returned (``start`` before any).
        readings: How many times the clock was read.

    Examples:
        >>> from fiscus_dsl import task, workflow
        >>> from fiscus_dsl.testing import FakeClock
        >>> @task
        ... def hello() -> str:
        ...     return "hi"
        >>> @workflow
        ... def greet() -> str:
        ...     return hello()
        >>> with FakeClock() as clock:
        ...     result = greet.run()
        >>> result.started_at.isoformat()
        '2024-01-01T00:00:01+00:00'
        >>> result.started_at < result["hello"].started_at < result.ended_at
        True
    """

    def __init__(
        self,
        start: datetime = FAKE_EPOCH,
        *,
        step: timedelta = timedelta(seconds=1),
    ) -> None:
        self.now = start
        self.step = step
        self.readings = 0
        self._tokens: list[Token[Clock | None]] = []

    def __repr__(self) -> str:
        return f"<FakeClock at {self.now.isoformat()}, {self.readings} reading(s)>"

    def __call__(self) -> datetime:
        """Move the clock one step forward and return the new time."""
        self.readings += 1
        self.now += self.step
        return self.now

    def __enter__(self) -> FakeClock:
        """Make every run started in this context tell time with this clock."""
        self._tokens.append(CLOCK_OVERRIDE.set(self))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Give the runs back the clock they had before the block."""
        CLOCK_OVERRIDE.reset(self._tokens.pop())
