"""The Fiscus SDK's option enums, string-valued as in Fiscus, and how they are read.

``FiscusResponseType``, ``FiscusConnectionType``, ``FiscusLogLevel``,
``FiscusInitType``, ``FiscusExecutionType`` and ``FiscusRestType`` carry
the values the Fiscus SDK gave them (``"text"``, ``"websocket"``,
``"Debug"``, ...), so code that compares or stores those values keeps
working. ``read_response_format`` and ``read_log_level`` turn what a
caller passes (the enum, its value or name, a ``logging`` number) into
what ``FiscusClient`` uses, refusing anything else with an error naming
the option. Imports only the standard library and ``fiscus_dsl.errors``.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Final, final

from fiscus_dsl.errors import OptionTypeError

#: The ``logging`` number of ``FiscusLogLevel.TRACE``, below ``DEBUG`` as in Fiscus.
TRACE: Final = 5


@final
class FiscusResponseType(StrEnum):
    """The form of a response's ``result``: the data itself, or its text.

    ``JSON`` (the default) keeps each task's data as the operation returned
    it; ``TEXT`` turns it into text (see ``FiscusClient.execute``).
    """

    TEXT = "text"
    JSON = "json"


@final
class FiscusConnectionType(StrEnum):
    """How the Fiscus SDK reached its server; fiscus_dsl has no server to reach.

    Accepted by ``FiscusClient`` and ``execute`` with a ``FiscusWarning``:
    tasks run in this process, and each connector speaks HTTP itself.
    """

    REST = "rest"
    WEBSOCKET = "websocket"


@final
class FiscusLogLevel(StrEnum):
    """A level for the ``fiscus_dsl`` logger, by the Fiscus SDK's names.

    ``FATAL`` is ``logging.CRITICAL``; ``TRACE`` is 5, below ``DEBUG``, as
    in Fiscus (fiscus_dsl logs nothing at 5, so it shows what ``DEBUG``
    shows).

    Examples:
        >>> from fiscus_dsl import FiscusLogLevel
        >>> FiscusLogLevel.FATAL.to_logging_level(), FiscusLogLevel("Debug").name
        (50, 'DEBUG')
    """

    TRACE = "Trace"
    DEBUG = "Debug"
    INFO = "Info"
    WARNING = "Warning"
    ERROR = "Error"
    FATAL = "Fatal"

    def to_logging_level(self) -> int:
        """Return the ``logging`` number of this level."""
        return _LOGGING_LEVELS[self]


_LOGGING_LEVELS: Final = {
    FiscusLogLevel.TRACE: TRACE,
    FiscusLogLevel.DEBUG: logging.DEBUG,
    FiscusLogLevel.INFO: logging.INFO,
    FiscusLogLevel.WARNING: logging.WARNING,
    FiscusLogLevel.ERROR: logging.ERROR,
    FiscusLogLevel.FATAL: logging.CRITICAL,
}


@final
class FiscusInitType(StrEnum):
    """When the Fiscus SDK opened its server connection; fiscus_dsl opens none.

    Accepted by ``FiscusClient(initialization_mode=...)`` with a ``FiscusWarning``.
    """

    LAZY = "lazy"
    EAGER = "eager"


@final
class FiscusExecutionType(StrEnum):
    """Whether the Fiscus SDK's AI execution ran tasks at once or in turn.

    fiscus_dsl runs independent tasks at once and a task after the tasks
    it waits for, whatever this says.
    """

    PARALLEL = "parallel"
    SEQUENTIAL = "sequential"


@final
class FiscusRestType(StrEnum):
    """An HTTP method, by the Fiscus SDK's names (``"get"``, ``"post"``, ...)."""

    GET = "get"
    POST = "post"
    PUT = "put"
    DELETE = "delete"


def read_response_format(value: object, *, option: str) -> FiscusResponseType:
    """Return the ``FiscusResponseType`` that ``value`` names.

    Takes the enum, or its value or name in any case (``"text"``, ``"TEXT"``).

    Raises:
        OptionTypeError: ``value`` names no response format; ``option``
            names the argument at fault.
    """
    if isinstance(value, FiscusResponseType):
        return value
    if isinstance(value, str):
        for member in FiscusResponseType:
            if value.lower() == member.value:
                return member
    msg = (
        f"FiscusClient got {option}={value!r}; pass FiscusResponseType.JSON "
        "(the data as the operation returns it) or FiscusResponseType.TEXT"
    )
    raise OptionTypeError(msg, option=option)


def read_log_level(value: object) -> int:
    """Return the ``logging`` number of a ``logging_level``.

    Takes a ``FiscusLogLevel``, its value or name in any case (``"Debug"``,
    ``"debug"``), a ``logging`` level name (``"CRITICAL"``, ``"NOTSET"``) or
    a ``logging`` number of 0 or more.

    Raises:
        OptionTypeError: ``value`` is none of those.
    """
    if isinstance(value, FiscusLogLevel):
        return value.to_logging_level()
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        for member in FiscusLogLevel:
            if value.lower() == member.value.lower():
                return member.to_logging_level()
        number = logging.getLevelNamesMapping().get(value.upper())
        if number is not None:
            return number
    names = ", ".join(member.name for member in FiscusLogLevel)
    msg = (
        f"FiscusClient got logging_level={value!r}; pass a FiscusLogLevel "
        f"({names}), its name, or a logging level such as logging.INFO"
    )
    raise OptionTypeError(msg, option="logging_level")
