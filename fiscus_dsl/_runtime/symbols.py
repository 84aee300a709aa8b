"""Symbolic values: what a dry-run plan has where a run would have a response.

A plan (``wf.plan(...)``) runs the scheduler without sending anything; a
task whose sample response was not given has a ``Symbol`` for a value,
``<create_contact>``. Attribute and item access derive symbols
(``<create_contact.id>``, ``<contacts[0]>``), so the arguments of later
steps show where their values come from. A guard that needs a symbol
cannot be decided: deciding raises ``Undecided``, and the plan shows the
guarded step as conditional. Only plans make symbols; a run never sees one.

A symbol's ``str`` is a token of URL-safe characters, ``FISCUSSYM``, its
reference in base32 and ``X``, so that it survives quoting into a path, a
query or a JSON body; ``reveal`` turns the tokens of a built request back
into ``<references>``. Nothing is kept between plans.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Final, NoReturn, final

_TOKEN: Final = re.compile(r"FISCUSSYM([0-9A-V]*)X")


@final
class Undecided(Exception):  # noqa: N818  (a control-flow signal users never see)
    """A guard needs the value of a symbol: a plan cannot decide it."""

    def __init__(self, symbol: Symbol) -> None:
        super().__init__(symbol.ref)
        self.symbol = symbol


@final
class Symbol:
    """A value a plan does not know: a reference to where a run would get it.

    Attributes:
        ref: The reference, such as ``create_contact.id``.
    """

    __slots__ = ("ref",)

    def __init__(self, ref: str) -> None:
        self.ref = ref

    def __getattr__(self, name: str) -> Symbol:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # protocols (copy, pickle) see a plain object
        return Symbol(f"{self.ref}.{name}")

    def __getitem__(self, key: object) -> Symbol:
        shown = repr(key) if isinstance(key, str) else str(key)
        return Symbol(f"{self.ref}[{shown}]")

    def every_item(self) -> Symbol:
        """Return the symbol of any item of this (list) symbol: ``<ref[*]>``."""
        return Symbol(f"{self.ref}[*]")

    def __str__(self) -> str:
        coded = base64.b32hexencode(self.ref.encode()).decode().rstrip("=")
        return f"FISCUSSYM{coded}X"

    def __repr__(self) -> str:
        return f"<{self.ref}>"

    def __bool__(self) -> NoReturn:
        raise Undecided(self)

    def __eq__(self, other: object) -> NoReturn:
        raise Undecided(self)

    def __hash__(self) -> int:
        return hash(self.ref)

    def __iter__(self) -> NoReturn:
        raise Undecided(self)


def contains_symbol(value: object) -> bool:
    """Tell whether ``value`` is, or holds (in lists, tuples, dicts), a symbol."""
    if isinstance(value, Symbol):
        return True
    if isinstance(value, list | tuple | set | frozenset):
        return any(contains_symbol(item) for item in value)
    if isinstance(value, Mapping):
        return any(contains_symbol(item) for item in value.values())
    return False


def first_symbol(*values: object) -> Symbol | None:
    """Return the first symbol among ``values`` (or inside them), if any."""
    for value in values:
        if isinstance(value, Symbol):
            return value
        if isinstance(value, list | tuple | set | frozenset):
            found = first_symbol(*value)
        elif isinstance(value, Mapping):
            found = first_symbol(*value.values())
        else:
            continue
        if found is not None:
            return found
    return None


def reveal(text: str) -> str:
    """Write each symbol token of ``text`` as its ``<reference>``."""
    if "FISCUSSYM" not in text:
        return text
    return _TOKEN.sub(_decoded, text)


def _decoded(match: re.Match[str]) -> str:
    coded = match.group(1)
    padded = coded + "=" * (-len(coded) % 8)
    return f"<{base64.b32hexdecode(padded).decode()}>"
