"""What ``FiscusClient`` makes of the Fiscus SDK's options that have no server here.

The Fiscus client talked to Fiscus's servers; fiscus_dsl runs every task
in this process. Options that only steered that server (``api_key``,
``connection_type``, ``initialization_mode``, ``initialization_async``,
``llm``, ``memory``, ``custom_options``) are accepted with one
``FiscusWarning`` each saying so, never silently. The others act here:
``logging_level`` and the log file configure the ``fiscus_dsl`` logger,
``context_loader`` and ``context_saver`` are called around each call,
``user=`` is checked, and ``FiscusResponseType.TEXT`` turns results into
text. Imports the runtime's logging and end users, the response, errors.
"""

from __future__ import annotations

import inspect
import logging
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeGuard, final

from fiscus_dsl._dict_api.enums import read_log_level
from fiscus_dsl._dict_api.response_fields import as_text
from fiscus_dsl._dsl.options import is_number
from fiscus_dsl._runtime.logs import ROOT, ScrubFilter
from fiscus_dsl.errors import (
    ConfigurationError,
    FiscusWarning,
    OptionTypeError,
    TaskDefinitionError,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fiscus_dsl._connectors.connector import Connector
    from fiscus_dsl._dict_api.enums import FiscusResponseType
    from fiscus_dsl._dict_api.response import FiscusResponse
    from fiscus_dsl._runtime.end_user import EndUser

#: The file ``log_to_file=True`` writes when no ``log_file_path`` is given.
DEFAULT_LOG_FILE: Final = "fiscus_dsl.log"
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: What each Fiscus server option did, and what to do here instead.
SERVER_ONLY: Final = {
    "api_key": (
        "authenticated with Fiscus's servers; fiscus_dsl runs tasks in this "
        "process and keeps no key: give each Connector its own auth"
    ),
    "connection_type": (
        "chose REST or WebSocket to reach Fiscus's servers; fiscus_dsl runs "
        "tasks in this process and each connector speaks HTTP itself"
    ),
    "initialization_mode": (
        "chose when to connect to Fiscus's servers; fiscus_dsl has nothing to "
        "connect, so the client is ready at once"
    ),
    "initialization_async": (
        "chose how to connect to Fiscus's servers; fiscus_dsl has nothing to "
        "connect, so the client is ready at once"
    ),
    "llm": (
        "served Fiscus's AI execution, which fiscus_dsl does not have; it is not used"
    ),
    "memory": (
        "served Fiscus's AI memory, which fiscus_dsl does not have; it is not used"
    ),
    "custom_options": (
        "were options for Fiscus's servers; fiscus_dsl runs tasks in this "
        "process, and an operation's own options (timeout=, retry=) act instead"
    ),
}

#: The options ``FiscusClient`` takes, in the order of its signature.
OPTIONS: Final = (
    "connectors",
    "api_key",
    "user_id",
    "logging_level",
    "log_to_file",
    "log_file_path",
    "enable_audit_logging",
    "connection_type",
    "response_format",
    "retries",
    "backoff_factor",
    "context_loader",
    "context_saver",
    "initialization_mode",
    "initialization_async",
    "llm",
    "memory",
    "callbacks",
    "runner",
)


#: ``context_loader``: the user's id (or ``None``), or nothing → the context.
ContextLoader = Callable[..., Mapping[str, object]]
#: ``context_saver``: the user's id and the final context, or the context alone.
ContextSaver = Callable[..., object]


def warn_server_only(owner: str, name: str, *, stacklevel: int) -> None:
    """Warn that ``name`` was given and what it did on the Fiscus server.

    ``stacklevel`` counts from the caller of this function, so that the
    warning points at user code.
    """
    msg = f"{owner} got {name}=, which {SERVER_ONLY[name]}"
    warnings.warn(msg, FiscusWarning, stacklevel=stacklevel + 1)


def refuse_unknown(options: Mapping[str, object]) -> None:
    """Refuse options ``FiscusClient`` does not have, naming each one.

    Raises:
        OptionTypeError: ``options`` is not empty (also a ``TypeError``).
    """
    if not options:
        return
    names = ", ".join(sorted(options))
    msg = f"FiscusClient got unknown options: {names}; it takes {', '.join(OPTIONS)}"
    raise OptionTypeError(msg, option=sorted(options)[0])


def check_flag(name: str, value: object) -> bool:
    """Return a boolean option, refusing anything but ``True`` and ``False``.

    Raises:
        OptionTypeError: ``value`` is not a bool.
    """
    if not isinstance(value, bool):
        msg = f"FiscusClient got {name}={value!r}; pass True or False"
        raise OptionTypeError(msg, option=name)
    return value


def configure_logging(
    level: object, *, to_file: bool, path: str | os.PathLike[str] | None
) -> logging.FileHandler | None:
    """Set the ``fiscus_dsl`` logger's level, and add a log file to it.

    ``level`` ``None`` leaves the level as it is. The file is added when
    ``to_file`` is true or a ``path`` is given (``DEFAULT_LOG_FILE`` in the
    working directory otherwise), once per file: a second client logging
    to the same file shares its handler. Records reach the file scrubbed.

    Raises:
        OptionTypeError: ``level`` is no level, or ``path`` is not a path.
    """
    logger = logging.getLogger(ROOT)
    if level is not None:
        logger.setLevel(read_log_level(level))
    if not to_file and path is None:
        return None
    given: object = path  # annotated a path; callers may pass anything
    if given is not None and not isinstance(given, str | os.PathLike):
        msg = f"FiscusClient got log_file_path={path!r}; pass a file path"
        raise OptionTypeError(msg, option="log_file_path")
    target = Path(path if path is not None else DEFAULT_LOG_FILE).resolve()
    for handler in logger.handlers:
        if (
            isinstance(handler, logging.FileHandler)
            and Path(handler.baseFilename) == target
        ):
            return handler
    handler = logging.FileHandler(target, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(ScrubFilter())
    logger.addHandler(handler)
    return handler


def read_user(user: object) -> EndUser | None:
    """Return the end user of ``execute(user=...)``.

    Raises:
        TaskDefinitionError: ``user`` has no ``user_id`` text or no
            ``authorize`` method (field ``"user"``).
    """
    if user is None or _is_end_user(user):
        return user
    msg = (
        f"execute got user={type(user).__name__}, not an end user; pass a "
        "FiscusUser (an object with a user_id and an authorize method), or "
        "leave user out to act for the client's user"
    )
    raise TaskDefinitionError(msg, index=None, field="user")


def _is_end_user(user: object) -> TypeGuard[EndUser]:
    user_id = getattr(user, "user_id", None)
    return isinstance(user_id, str) and callable(getattr(user, "authorize", None))


# ---------------------------------------------------------------- plain options


def check_retries(retries: int, backoff_factor: float) -> None:
    """Refuse ``retries`` and ``backoff_factor`` that are not numbers of 0 or more.

    Raises:
        OptionTypeError: One is not a number (``retries`` not an int).
        ConfigurationError: One is below 0.
    """
    given: object = retries  # annotated int; callers may pass anything
    if not isinstance(given, int) or isinstance(given, bool):
        msg = f"FiscusClient got retries={retries!r}; pass an int, e.g. retries=3"
        raise OptionTypeError(msg, option="retries")
    if not is_number(backoff_factor):
        msg = (
            f"FiscusClient got backoff_factor={backoff_factor!r}; pass seconds as "
            "a number, e.g. backoff_factor=0.5"
        )
        raise OptionTypeError(msg, option="backoff_factor")
    if retries < 0 or backoff_factor < 0:
        msg = (
            f"FiscusClient(retries={retries!r}, backoff_factor={backoff_factor!r}) "
            "takes numbers of 0 or more"
        )
        option = "retries" if retries < 0 else "backoff_factor"
        raise ConfigurationError(msg, option=option)


def read_connectors(connectors: Sequence[Connector]) -> list[Connector]:
    """Return the client's connectors, refusing text (a Fiscus API key there)."""
    given: object = connectors  # annotated a sequence; callers may pass anything
    if isinstance(given, str | bytes):
        msg = (
            "FiscusClient takes its connectors first, and got text; pass "
            "connectors=[...] (a Fiscus API key goes in api_key=, unused here)"
        )
        raise OptionTypeError(msg, option="connectors")
    return list(connectors)


def read_user_id(user_id: object) -> str | None:
    """Return ``user_id``, refusing anything but ``None`` or non-empty text."""
    if user_id is None or (isinstance(user_id, str) and user_id.strip()):
        return user_id
    msg = f"FiscusClient got user_id={user_id!r}; pass the user's id as non-empty text"
    raise OptionTypeError(msg, option="user_id")


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class CallOptions:
    """One call's options: whom it acts for, its context and its result format."""

    user: EndUser | None
    user_id: str | None
    response_format: FiscusResponseType
    initial_context: dict[str, object]


# ---------------------------------------------------------------- context


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class ContextHooks:
    """The client's ``context_loader`` and ``context_saver``, with how to call them."""

    loader: ContextLoader | None = None
    loader_takes_user: bool = True
    saver: ContextSaver | None = None
    saver_takes_user: bool = True

    def load(self, user_id: str | None) -> dict[str, object]:
        """Return the context the loader gives for ``user_id`` (``{}`` without one).

        Raises:
            ConfigurationError: The loader returned no mapping.
        """
        if self.loader is None:
            return {}
        # annotated a mapping; a loader may return anything
        made: object = self.loader(user_id) if self.loader_takes_user else self.loader()
        if not isinstance(made, Mapping):
            msg = (
                f"context_loader returned {type(made).__name__}, not a dict; "
                "return a dict of the values tasks share (the context)"
            )
            raise ConfigurationError(msg, option="context_loader")
        return dict(made)

    def save(self, user_id: str | None, context: Mapping[str, object]) -> None:
        """Hand the final context to the saver, if there is one."""
        if self.saver is None:
            return
        if self.saver_takes_user:
            self.saver(user_id, dict(context))
        else:
            self.saver(dict(context))


def context_hooks(
    loader: ContextLoader | None, saver: ContextSaver | None
) -> ContextHooks:
    """Check ``context_loader`` and ``context_saver`` and say how to call them.

    A loader takes the user's id, ``loader(user_id)``, or nothing, as the
    Fiscus SDK's did; a saver takes ``saver(user_id, context)`` or
    ``saver(context)``.

    Raises:
        OptionTypeError: One is not callable, or takes neither form.
    """
    loader_user = loader is None or _takes("context_loader", loader, 1, 0)
    saver_user = saver is None or _takes("context_saver", saver, 2, 1)
    return ContextHooks(
        loader=loader,
        loader_takes_user=loader_user,
        saver=saver,
        saver_takes_user=saver_user,
    )


def _takes(name: str, function: object, count: int, other: int) -> bool:
    """Tell whether ``function`` takes ``count`` arguments (else it takes ``other``).

    Raises:
        OptionTypeError: ``function`` is not callable, or takes neither.
    """
    forms = {
        "context_loader": "loader(user_id) or loader()",
        "context_saver": "saver(user_id, context) or saver(context)",
    }[name]
    if not callable(function):
        msg = f"FiscusClient got {name}={function!r}; pass a function, {forms}"
        raise OptionTypeError(msg, option=name)
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # no signature (a builtin): take the first form
        return True
    for arguments, answer in ((count, True), (other, False)):
        try:
            signature.bind(*([None] * arguments))
        except TypeError:
            continue
        return answer
    msg = f"FiscusClient got a {name} that takes neither form; write {forms}"
    raise OptionTypeError(msg, option=name)


# ---------------------------------------------------------------- text results


def as_text_responses(
    responses: Sequence[FiscusResponse], response_format: FiscusResponseType
) -> None:
    """Turn each task's result into text, in place, for ``FiscusResponseType.TEXT``."""
    if response_format.value != "text":
        return
    for response in responses:
        response.result = as_text(response.result)
