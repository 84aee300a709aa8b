"""What ``FiscusResponse`` derives from its result and its error, as Fiscus did.

The ``data`` unwrapping, the nested ``{"success", "message", "data"}``
reading, the walk of ``get_field``, the details of an error, the Fiscus
error code of a message (``FiscusResponse.map_error``) and the text of a
result (``FiscusResponseType.TEXT``). Plain functions on plain values:
imports pydantic, the connectors' scrubber and ``fiscus_dsl.errors`` only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from fiscus_dsl._connectors.scrub import scrub_text
from fiscus_dsl.errors import FiscusError, FiscusErrorCode

#: The keys a result must all have to be a nested Fiscus answer.
NESTED_KEYS: Final = ("success", "message", "data")

# ``map_error``: the first pattern the message matches (case-insensitive) gives
# the code. Fiscus matched its own server's phrases ("Invalid API key", "API
# configuration not found", "Timeout occurred", "Invalid parameters",
# "connector already exists", "User operation error"); these patterns
# match those and the usual wording of other services.
MESSAGE_CODES: Final = (
    (
        re.compile(
            r"\bauth(?:enticat\w*|ori[sz]\w*)?\b|unauthori[sz]ed|unauthenticated"
            r"|forbidden|invalid api key",
            re.IGNORECASE,
        ),
        FiscusErrorCode.AUTH_FAILURE,
    ),
    (
        re.compile(r"not found|does not exist|no such", re.IGNORECASE),
        FiscusErrorCode.NOT_FOUND,
    ),
    (re.compile(r"\btimed?[ -]?out\b", re.IGNORECASE), FiscusErrorCode.TIMEOUT),
    (
        re.compile(r"\binvalid\b|already exists|bad request", re.IGNORECASE),
        FiscusErrorCode.INVALID_REQUEST,
    ),
    (
        re.compile(r"user operation error", re.IGNORECASE),
        FiscusErrorCode.USER_OPERATION_ERROR,
    ),
)


def code_for_message(message: str) -> FiscusErrorCode:
    """Return the Fiscus error code an error message describes.

    Auth words (auth, authentication, authorization, unauthorized,
    forbidden, invalid API key) give ``AUTH_FAILURE``; "not found", "does
    not exist" or "no such" ``NOT_FOUND``; "timeout" or "timed out"
    ``TIMEOUT``; "invalid", "already exists" or "bad request"
    ``INVALID_REQUEST``; "user operation error" ``USER_OPERATION_ERROR``;
    anything else ``UNKNOWN_ERROR``. The first that matches wins, in
    that order, so "Invalid API key" is an auth failure.
    """
    for pattern, code in MESSAGE_CODES:
        if pattern.search(message):
            return code
    return FiscusErrorCode.UNKNOWN_ERROR


def reported_error(code: FiscusErrorCode | int | None, message: str) -> FiscusError:
    """Return an exception for an error given as a code and a message.

    An int that is no Fiscus number, or no code, is ``UNKNOWN_ERROR``, as
    in Fiscus.
    """
    error = FiscusError(message)
    known = {int(member) for member in FiscusErrorCode}
    error.code = (
        FiscusErrorCode(code)
        if isinstance(code, int) and code in known
        else FiscusErrorCode.UNKNOWN_ERROR
    )
    error.retryable = False
    return error


def read_error(
    error: BaseException | str | Mapping[str, object],
) -> tuple[BaseException, str | None, dict[str, object]]:
    """Return the exception, its message and its extra details for ``error``.

    A str is an ``UNKNOWN_ERROR`` with that message; a mapping is read as
    Fiscus's error dict, ``{"code": 1001, "message": ..., "details": {...}}``.
    """
    if isinstance(error, BaseException):
        return error, None, {}
    if isinstance(error, str):
        message = scrub_text(error)
        return reported_error(None, message), message, {}
    code = error.get("code")
    message = scrub_text(str(error.get("message", "An error occurred")))
    details = error.get("details")
    extra = dict(details) if isinstance(details, Mapping) else {}
    known = code if isinstance(code, int) and not isinstance(code, bool) else None
    return reported_error(known, message), message, extra


def message_of(error: BaseException) -> str:
    """Return an exception's text, scrubbed, or its type's name when it has none."""
    return scrub_text(str(error)) or type(error).__name__


def error_facts(error: BaseException | None) -> dict[str, object]:
    """Return what an exception says of where it happened: connector, user, status."""
    facts: dict[str, object] = {}
    for name in ("connector", "user_id"):
        value = getattr(error, name, None)
        if isinstance(value, str):
            facts[name] = value
    status = getattr(error, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool):
        facts["status_code"] = status
    url = getattr(error, "authorization_url", None)
    if isinstance(url, str):
        facts["authorization_url"] = url
    return facts


def unwrap_data(value: object) -> object:
    """Return ``value["data"]`` if there is one, else ``value``, as plain data.

    Pydantic models become dicts (``model_dump()``), inside lists and
    dicts too, as Fiscus's JSON answers were; a model's ``data`` field is
    then unwrapped like a ``"data"`` key.
    """
    plain = plain_data(value)
    if isinstance(plain, dict):
        return plain.get("data", plain)
    return plain


def plain_data(value: object) -> object:
    """Return ``value`` with every pydantic model in it turned into a dict."""
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, Mapping):
        return {key: plain_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_data(item) for item in value]
    return value


def nested_parts(value: object) -> tuple[object, object, object] | None:
    """Return ``(success, message, data)`` of a nested Fiscus answer, else ``None``."""
    if isinstance(value, Mapping) and all(key in value for key in NESTED_KEYS):
        return value["success"], value["message"], value["data"]
    return None


def step(value: object, key: str | int, default: object) -> object:
    """Go one key or index into ``value``; ``default`` if it has none."""
    if isinstance(value, Mapping):
        return value.get(key, default)
    if isinstance(key, int):
        if isinstance(value, list | tuple) and -len(value) <= key < len(value):
            return value[key]
        return default
    if isinstance(value, BaseModel) or hasattr(value, "__dict__"):
        return getattr(value, key, default)
    return default


def as_text(value: object) -> str | None:
    """Return a result as text: a str as it is, bytes decoded, the rest as JSON.

    ``None`` (no result) stays ``None``. Bytes are decoded as UTF-8 (an
    invalid byte becomes U+FFFD); dicts, lists, models and numbers become
    their JSON text.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return json.dumps(to_jsonable_python(value, fallback=repr))
