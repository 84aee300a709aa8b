"""``Retry``: the policy that decides whether a failed attempt is tried again.

The policy returns a decision (give up, or wait this long) and never sleeps
itself; the scheduler's attempt loop executes the decision with its
injected ``Sleep``, so tests run retries without real waiting.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeAlias, final

from fiscus_dsl.errors import ConfigurationError, OptionTypeError

RetryOn: TypeAlias = (
    type[BaseException]
    | tuple[type[BaseException], ...]
    | Callable[[BaseException], bool]
)
GIVE_UP: Final = -1.0


def _default_retry_on(error: BaseException) -> bool:
    return bool(getattr(error, "retryable", True))


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Retry:
    """How many times a task is tried, and how long to wait between tries.

    Args:
        attempts: Tries in all, the first one included (``1`` never retries).
        backoff: The first retry's delay ceiling in seconds; it doubles per retry.
        max_delay: No wait is longer than this, ``Retry-After`` included.
        jitter: Wait a uniform random time up to the ceiling (full jitter)
            instead of the ceiling itself.
        retry_on: Exception types, or a predicate of the error, that may be
            retried. By default every error except those marked not
            retryable (validation errors, tracing errors, ``SkipTask``).

    Raises:
        ConfigurationError: An option is out of range (``OptionTypeError``
            when it is of the wrong type, e.g. ``attempts="3"``).

    Examples:
        >>> from fiscus_dsl import Retry
        >>> policy = Retry(attempts=3, backoff=0.5, jitter=False)
        >>> policy.decide(1, ConnectionError("reset"))
        0.5
        >>> policy.decide(3, ConnectionError("reset"))
        -1.0
    """

    attempts: int = 3
    backoff: float = 0.5
    max_delay: float = 30.0
    jitter: bool = True
    retry_on: RetryOn | None = None

    def __post_init__(self) -> None:
        self._check_types()
        if self.attempts < 1:
            msg = (
                f"Retry(attempts={self.attempts!r}) must be at least 1 "
                "(the first try counts)"
            )
            raise ConfigurationError(msg, option="attempts")
        if self.backoff < 0 or self.max_delay < 0:
            msg = (
                f"Retry(backoff={self.backoff!r}, max_delay={self.max_delay!r}) "
                "takes seconds of 0 or more"
            )
            option = "backoff" if self.backoff < 0 else "max_delay"
            raise ConfigurationError(msg, option=option)

    def _check_types(self) -> None:
        """Refuse options of the wrong type, e.g. ``Retry(attempts="3")``."""
        wrong = [
            f"{name}={value!r}"
            for name, value, ok in (
                ("attempts", self.attempts, _is_int(self.attempts)),
                ("backoff", self.backoff, _is_number(self.backoff)),
                ("max_delay", self.max_delay, _is_number(self.max_delay)),
                ("jitter", self.jitter, isinstance(self.jitter, bool)),
                ("retry_on", self.retry_on, _is_retry_on(self.retry_on)),
            )
            if not ok
        ]
        if wrong:
            msg = (
                f"Retry({', '.join(wrong)}) takes attempts as an int, backoff and "
                "max_delay as seconds, jitter as a bool and retry_on as exception "
                "classes or a function; e.g. Retry(attempts=3, backoff=0.5)"
            )
            raise OptionTypeError(msg, option=wrong[0].partition("=")[0])

    def should_retry(self, error: BaseException) -> bool:
        """Tell whether ``error`` may be retried at all, attempts aside."""
        retry_on = self.retry_on
        if retry_on is None:
            return _default_retry_on(error)
        if isinstance(retry_on, type | tuple):
            return isinstance(error, retry_on)
        return bool(retry_on(error))

    def backoff_delay(
        self, attempt: int, uniform: Callable[[float, float], float] = random.uniform
    ) -> float:
        """Return the backoff wait after failed attempt number ``attempt``."""
        ceiling = min(self.max_delay, self.backoff * 2 ** (attempt - 1))
        return uniform(0.0, ceiling) if self.jitter else ceiling

    def decide(
        self,
        attempt: int,
        error: BaseException,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> float:
        """Decide what follows failed attempt ``attempt``: a delay, or ``GIVE_UP`` (-1).

        The delay is ``max(backoff, Retry-After)`` (an error's ``retry_after``
        attribute, in seconds), at most ``max_delay``.
        """
        if attempt >= self.attempts or not self.should_retry(error):
            return GIVE_UP
        delay = self.backoff_delay(attempt, uniform)
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float):
            delay = max(delay, float(retry_after))
        return min(delay, self.max_delay)

    def describe_retry_on(self) -> str:
        """Describe ``retry_on`` for the graph: type names or the predicate's name."""
        retry_on = self.retry_on
        if retry_on is None:
            return "retryable errors"
        if isinstance(retry_on, type):
            return retry_on.__name__
        if isinstance(retry_on, tuple):
            return ", ".join(kind.__name__ for kind in retry_on)
        return getattr(retry_on, "__name__", repr(retry_on))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_retry_on(value: object) -> bool:
    if value is None or (callable(value) and not isinstance(value, type)):
        return True
    classes = value if isinstance(value, tuple) else (value,)
    return all(
        isinstance(item, type) and issubclass(item, BaseException) for item in classes
    )
