"""What a resume compares to serve a recorded task: its inputs and its code.

``inputs_digest`` digests the arguments a task was called with (as JSON,
with anything JSON cannot hold rendered by ``str``, so an object whose text
changes from run to run never matches and the task runs again).
``code_version`` digests a task's code: the bytecode, constants and names of
its function and of the functions defined in it, and, for a connector
operation, its route. A change to the function's body, its defaults or its
route changes it; so does a new Python version (its bytecode differs), and
then a resume runs every task again. Knows no HTTP.
"""

from __future__ import annotations

import hashlib
from types import CodeType
from typing import TYPE_CHECKING, Any, Final

from pydantic_core import PydanticSerializationError, to_json

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_SIZE: Final = 12


def inputs_digest(arguments: Mapping[str, object]) -> str | None:
    """Return a digest of a task's arguments, or ``None`` if they cannot be rendered.

    Examples:
        >>> inputs_digest({"x": 1}) == inputs_digest({"x": 1})
        True
        >>> inputs_digest({"x": 1}) == inputs_digest({"x": 2})
        False
    """
    try:
        text = to_json(arguments, serialize_unknown=True)
    except (PydanticSerializationError, ValueError, TypeError):  # a str() that raised
        return None
    return hashlib.blake2b(text, digest_size=_SIZE).hexdigest()


def code_version(function: Callable[..., object], declared: object) -> str:
    """Return a digest of a task's code: its body's and its declared function's.

    ``function`` is what runs (a connector operation's sender); ``declared``
    is the function the user decorated.
    """
    digest = hashlib.blake2b(digest_size=_SIZE)
    for part in (declared, function):
        owner = getattr(part, "__self__", None)
        version_text = getattr(owner, "version_text", None)
        if callable(version_text):
            digest.update(str(version_text()).encode())
        code = getattr(getattr(part, "__func__", part), "__code__", None)
        if isinstance(code, CodeType):
            _feed(digest, code)
        else:
            digest.update(
                getattr(part, "__qualname__", type(part).__qualname__).encode()
            )
        defaults = getattr(part, "__defaults__", None)
        if defaults:
            digest.update(to_json(defaults, serialize_unknown=True))
    return digest.hexdigest()


def _feed(digest: Any, code: CodeType) -> None:
    digest.update(code.co_code)
    digest.update(" ".join(code.co_names).encode())
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            _feed(digest, constant)
        else:
            digest.update(repr(constant).encode())
