"""JSON for any value a user hands fiscus_dsl: never raises, never shows a secret.

Graph literals, task values and run outputs can be anything. What pydantic
can serialise is written as it would be; a value that declares a mask (a
``Secret``) is written masked; anything else is written as its type name in
angle brackets (``"<Connection>"``), never its ``repr``, which could hold a
credential. The CLI prints with the same rule. Imports no asyncio and no
opentelemetry.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic_core import to_json, to_jsonable_python

MASK_ATTRIBUTE: Final = "__fiscus_mask__"
"""A class attribute holding the text a value is written as (``Secret`` sets it)."""


def describe_unserialisable(value: object) -> str:
    """Return what a value pydantic cannot serialise is written as.

    Examples:
        >>> describe_unserialisable(object())
        '<object>'
    """
    mask = getattr(type(value), MASK_ATTRIBUTE, None)
    if isinstance(mask, str):
        return mask
    return f"<{type(value).__qualname__}>"


def to_jsonable(value: object) -> Any:
    """Return ``value`` as JSON-compatible Python data; see the module docstring.

    Examples:
        >>> to_jsonable({"n": 1, "when": object()})
        {'n': 1, 'when': '<object>'}
    """
    return to_jsonable_python(value, fallback=describe_unserialisable)


def to_json_bytes(value: object, *, indent: int | None = None) -> bytes:
    """Return ``value`` as JSON text in UTF-8; see the module docstring."""
    return to_json(value, indent=indent, fallback=describe_unserialisable)
