"""Argument values as a request carries them: path, query, header and JSON body.

Path values are quoted whole (never a new segment or a query), scalars
become the text a path, a query or a header carries, a JSON body is built
with every ``Secret`` revealed (this is what is sent), and ``json_size``
counts a body's bytes, no further than the connector's limit, before
anything is sent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Final
from urllib.parse import quote

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from fiscus_dsl._connectors.auth import Secret

_DOT_SEGMENTS: Final = {".": "%2E", "..": "%2E%2E"}
_EXACT_INT: Final = 10**18  # written by str() well within its digit limit
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def quote_segment(value: object) -> str:
    """Quote a path value whole, so it can never add a segment or a query.

    Raises:
        ValueError: The value is ``None`` or empty, which would change the path.
    """
    text = "" if value is None else plain_text(value)
    if not text:
        msg = "a path parameter must not be None or empty"
        raise ValueError(msg)
    return _DOT_SEGMENTS.get(text) or quote(text, safe="")


def plain_text(value: object) -> str:
    """Return a scalar as it is sent in a path, a query or a header."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def query_texts(value: object) -> list[str]:
    """Return a query parameter's texts: one per item of a list, ``None`` left out."""
    if isinstance(value, list | tuple | set | frozenset):
        return [plain_text(item) for item in value if item is not None]
    return [plain_text(value)]


def revealed(value: object) -> object:
    """Return JSON-ready data with secrets revealed: this is what is sent."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, BaseModel):  # its JSON dump would send a Secret masked
        return revealed(value.model_dump(by_alias=True))
    if isinstance(value, Mapping):
        return {key: revealed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [revealed(item) for item in value]
    return to_jsonable_python(value)


def json_size(value: object, limit: int) -> int:
    """Return the bytes of ``value`` as compact JSON, counted no further than ``limit``.

    Walked without recursion and without building the JSON, so a value
    that repeats one large object many times costs only up to ``limit``.
    The count is exact for JSON data and close for models (field names).

    Examples:
        >>> json_size({"a": [1, "é", None]}, 100) == len('{"a":[1,"é",null]}'.encode())
        True
    """
    stack = [value]
    size = 0
    while stack and size <= limit:
        item = stack.pop()
        kind = type(item)
        if kind in _SCALARS:  # the common case first: exact classes, no ABCs
            size += _scalar_size(item)
            continue
        if isinstance(item, Secret):
            item = item.reveal()
        elif isinstance(item, BaseModel):
            item = {name: getattr(item, name) for name in type(item).model_fields}
        if isinstance(item, Mapping):
            size += 2 + max(2 * len(item) - 1, 0)  # braces, colons, commas
            for key, each in item.items():
                size += _scalar_size(str(key))
                if type(each) in _SCALARS:  # inline: most values are scalars
                    size += _scalar_size(each)
                else:
                    stack.append(each)
        elif isinstance(item, list | tuple | set | frozenset):
            size += 2 + max(len(item) - 1, 0)  # brackets, commas
            stack.extend(item)
        else:
            size += _scalar_size(item)
    return size


def _scalar_size(item: object) -> int:
    """Return the bytes of one JSON scalar: the common cases without encoding it."""
    if isinstance(item, str):
        if (
            item.isascii()
            and item.isprintable()
            and '"' not in item
            and "\\" not in item
        ):
            return len(item) + 2  # nothing escaped: the text and its quotes
    elif item is None or item is True:
        return 4
    elif item is False:
        return 5
    elif type(item) is int and -_EXACT_INT < item < _EXACT_INT:
        return len(str(item))
    elif type(item) is float and math.isfinite(item):
        return len(repr(item))  # how json writes a float
    text = json.dumps(to_jsonable_python(item), ensure_ascii=False)
    return len(text.encode("utf-8", "surrogatepass"))
