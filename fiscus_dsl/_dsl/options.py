"""Checks of the options given to decorators, runners and connectors.

Each check runs where the option is given (``@task(...)``,
``@workflow(...)``, ``Runner(...)``, ``Connector(...)``), so a wrong option
fails at once with a ``ConfigurationError`` (an ``OptionTypeError`` for a
wrong type) that shows the form that works, instead of an AttributeError in
the middle of a run. Options take one form only: ``retry=Retry(attempts=3)``
rather than ``retry=3``, and ``timeout=5.0`` seconds rather than ``"5s"``,
so that there is one spelling to read, to type-check and to document.
Imports only ``errors``; runs nothing.
"""

from __future__ import annotations

import math
import re
from typing import Final, TypeGuard

from fiscus_dsl.errors import ConfigurationError, OptionTypeError

_DURATION: Final = re.compile(
    r"\s*(\d+(?:\.\d*)?)\s*(ms|s|sec|secs|seconds?|m|min|mins|minutes?|h)?\s*",
    re.IGNORECASE,
)
_UNIT_SECONDS: Final = {"ms": 0.001, "m": 60.0, "min": 60.0, "h": 3600.0}


def _seconds_hint(value: object) -> float:
    """Guess the seconds meant by a wrong ``timeout``, to show the right form."""
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return 5.0
    unit = (match.group(2) or "s").lower()
    scale = _UNIT_SECONDS.get(unit[:3] if unit.startswith("min") else unit, 1.0)
    return float(match.group(1)) * scale


def is_number(value: object) -> TypeGuard[int | float]:
    """Tell whether ``value`` is an int or a float, ``bool`` aside."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_name(owner: str, name: object) -> None:
    """Refuse a ``name=`` that is not a non-empty str.

    Raises:
        OptionTypeError: It is not a str.
        ConfigurationError: It is empty or blank.
    """
    if not isinstance(name, str):
        msg = (
            f"{owner} got name={name!r}; pass the name as a str, "
            "e.g. name='create_contact'"
        )
        raise OptionTypeError(msg, option="name")
    if not name.strip():
        msg = f"{owner} got name={name!r}; pass a non-empty name, or leave it out"
        raise ConfigurationError(msg, option="name")


def check_seconds(owner: str, option: str, value: object) -> None:
    """Refuse a duration that is not a number of seconds above 0 (``None`` passes).

    Raises:
        OptionTypeError: It is not a number (``"5s"``, a ``timedelta``).
        ConfigurationError: It is 0, negative, or not finite.
    """
    if value is None:
        return
    if not is_number(value):
        msg = (
            f"{owner} got {option}={value!r}; pass the seconds as a number, "
            f"e.g. {option}={_seconds_hint(value)!r}"
        )
        raise OptionTypeError(msg, option=option)
    if not (math.isfinite(value) and value > 0):
        msg = (
            f"{owner} got {option}={value!r}; pass a number of seconds above 0, or None"
        )
        raise ConfigurationError(msg, option=option)


def check_count_type(owner: str, option: str, value: object) -> None:
    """Refuse a count (``max_concurrency``) that is not an int or ``None``.

    Raises:
        OptionTypeError: It is not an int.
    """
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return
    shown = value.strip() if isinstance(value, str) else ""
    example = shown if shown.isdigit() else "10"
    msg = (
        f"{owner} got {option}={value!r}; pass a whole number of 1 or more, "
        f"e.g. {option}={example}, or None for no limit"
    )
    raise OptionTypeError(msg, option=option)


def is_retry(value: object) -> bool:
    """Tell whether ``value`` looks like a ``Retry`` (the DSL cannot import it)."""
    return isinstance(getattr(value, "attempts", None), int) and callable(
        getattr(value, "describe_retry_on", None)
    )


def check_retry(owner: str, value: object, *, allowed: str = "") -> None:
    """Refuse a ``retry=`` that is not a ``Retry`` or ``None``.

    ``allowed`` names one more accepted value in the message (``'connector'``).

    Raises:
        OptionTypeError: It is something else, such as ``retry=3``.
    """
    if value is None or is_retry(value):
        return
    count = value if isinstance(value, int) and not isinstance(value, bool) else 0
    others = f", {allowed}" if allowed else ""
    msg = (
        f"{owner} got retry={value!r}; pass a Retry policy, e.g. "
        f"retry=Retry(attempts={count if count >= 1 else 3}){others}, "
        "or None for no retries"
    )
    raise OptionTypeError(msg, option="retry")


def check_on_error(owner: str, value: object) -> None:
    """Refuse an ``on_error=`` other than ``"fail"`` and ``"continue"``.

    Raises:
        ConfigurationError: It is anything else.
    """
    if value not in ("fail", "continue"):
        msg = f"{owner} got on_error={value!r}; pass 'fail' or 'continue'"
        raise ConfigurationError(msg, option="on_error")


def check_decorated(decorator: str, function: object) -> None:
    """Refuse to decorate something that is not a function.

    ``@task("name")`` puts the name where the function goes: the message
    says to pass options by keyword.

    Raises:
        OptionTypeError: ``function`` is not callable.
    """
    if callable(function):
        return
    msg = (
        f"{decorator} takes the function to wrap, got {type(function).__name__} "
        f"{function!r}; pass options by keyword, e.g. {decorator}(name='fetch') "
        "above a def"
    )
    raise OptionTypeError(msg, option="function")


#: What ``Runner(...)`` needs of its pluggable parts, by the methods it calls.
_RUNNER_PARTS: Final = {
    "tracer_provider": (("get_tracer",), "an opentelemetry TracerProvider"),
    "executor": (("call", "prepare"), "an Executor such as InProcessExecutor()"),
    "store": (("start_run",), "a RunStore such as SQLiteRunStore('runs.sqlite3')"),
}


def check_runner(max_concurrency: object, parts: dict[str, object]) -> None:
    """Refuse ``Runner(...)`` options of the wrong type or value.

    ``parts`` maps ``tracer_provider``, ``executor``, ``store``, ``sleep``
    and ``clock`` to what was given (``None``: the default).

    Raises:
        ConfigurationError: An option is wrong (``OptionTypeError``: its type).
    """
    check_count_type("Runner", "max_concurrency", max_concurrency)
    if isinstance(max_concurrency, int) and max_concurrency < 1:
        msg = (
            f"Runner(max_concurrency={max_concurrency!r}) must be at least 1, "
            "or None for no limit"
        )
        raise ConfigurationError(msg, option="max_concurrency")
    for option, value in parts.items():
        if value is None:
            continue
        methods, example = _RUNNER_PARTS.get(option, (("__call__",), "a function"))
        for method in methods:
            if not callable(getattr(value, method, None)):
                msg = (
                    f"Runner got {option}={value!r}, which has no {method}(); "
                    f"pass {example}, or leave it out for the default"
                )
                raise OptionTypeError(msg, option=option)
