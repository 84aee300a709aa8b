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
from typing import TYPE_CHECKING, ClassVar, Final, Generic, Self, TypeVar, final

from fiscus_dsl._runtime.overrides import CLOCK_OVERRIDE, SLEEP_OVERRIDE
from fiscus_dsl._types import Clock, Sleep

if TYPE_CHECKING:
    from contextvars import ContextVar, Token
    from types import TracebackType

#: Where a ``FakeClock`` starts unless told otherwise.
FAKE_EPOCH: Final = datetime(2024, 1, 1, tzinfo=UTC)

T = TypeVar("T")


class _Override(Generic[T]):
    """A context manager that makes itself the runs' ``_override`` in its block."""

    _override: ClassVar[ContextVar[T | None]]
    _tokens: list[Token[T | None]]

    def __enter__(self) -> Self:
        """Make every run started in this context use this one."""
        self._tokens.append(self._override.set(self))  # type: ignore[arg-type]  # self is a T
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Give the runs back what they had before the block."""
        self._override.reset(self._tokens.pop())


@final
class FakeSleep(_Override[Sleep]):
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

    _override = SLEEP_OVERRIDE

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._tokens = []

    def __repr__(self) -> str:
        return f"<FakeSleep, {len(self.delays)} delay(s)>"

    async def __call__(self, seconds: float, /) -> None:
        """Record ``seconds`` and return at once (after yielding to the loop)."""
        self.delays.append(seconds)
        await asyncio.sleep(0)


@final
class FakeClock(_Override[Clock]):
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

    _override = CLOCK_OVERRIDE

    def __init__(
        self,
        start: datetime = FAKE_EPOCH,
        *,
        step: timedelta = timedelta(seconds=1),
    ) -> None:
        self.now = start
        self.step = step
        self.readings = 0
        self._tokens = []

    def __repr__(self) -> str:
        return f"<FakeClock at {self.now.isoformat()}, {self.readings} reading(s)>"

    def __call__(self) -> datetime:
        """Move the clock one step forward and return the new time."""
        self.readings += 1
        self.now += self.step
        return self.now
