"""Why a call does not bind to a signature: every reason, not only the first.

``inspect.Signature.bind`` stops at the first problem; a task call, a
sub-workflow call, a ``.map``, a workflow's inputs and a dict-API task are
reported with all of theirs at once: too many positional arguments,
unknown keywords (with the closest name), arguments given twice, and the
missing ones. Runs nothing; imports nothing from fiscus_dsl.
"""

from __future__ import annotations

import difflib
import inspect
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
_POSITIONAL = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def binding_problems(
    signature: inspect.Signature,
    args: tuple[object, ...],
    kwargs: Mapping[str, object],
    *,
    partial: bool = False,
) -> tuple[str, ...]:
    """Return every reason a call does not bind (empty if it binds).

    ``partial`` allows missing arguments, as ``Signature.bind_partial`` does.
    """
    parameters = list(signature.parameters.values())
    positional = [p for p in parameters if p.kind in _POSITIONAL]
    takes_more = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    problems: list[str] = []
    if len(args) > len(positional) and not takes_more:
        problems.append(
            f"{_plural(len(args), 'positional argument')} given, but it takes "
            f"{len(positional)}"
        )
    by_position = {p.name for p in positional[: len(args)]}
    problems.extend(_keyword_problems(parameters, kwargs, by_position))
    missing = [] if partial else _missing(parameters, kwargs, by_position)
    if missing:
        problems.append("missing " + ", ".join(repr(name) for name in missing))
    return tuple(problems) or _inspect_problem(signature, args, kwargs, partial=partial)


def _keyword_problems(
    parameters: list[inspect.Parameter],
    kwargs: Mapping[str, object],
    by_position: set[str],
) -> list[str]:
    """Return the problems of the keywords: unknown, positional-only, repeated."""
    named = {p.name: p for p in parameters if p.kind not in _VARIADIC}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    problems = []
    for key in kwargs:
        found = named.get(key)
        if found is not None and found.kind is inspect.Parameter.POSITIONAL_ONLY:
            if not takes_any:
                problems.append(f"{key!r} is positional-only, but was given by keyword")
        elif found is None and not takes_any:
            problems.append(_unknown(key, list(named)))
        elif key in by_position:
            problems.append(f"{key!r} given twice, by position and by keyword")
    return problems


def _missing(
    parameters: list[inspect.Parameter],
    kwargs: Mapping[str, object],
    by_position: set[str],
) -> list[str]:
    """Return the required parameters that got no argument."""
    return [
        p.name
        for p in parameters
        if p.kind not in _VARIADIC
        and p.default is inspect.Parameter.empty
        and p.name not in by_position
        and (p.name not in kwargs or p.kind is inspect.Parameter.POSITIONAL_ONLY)
    ]


def _unknown(key: str, names: list[str]) -> str:
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown keyword {key!r}{hint}"


def _inspect_problem(
    signature: inspect.Signature,
    args: tuple[object, ...],
    kwargs: Mapping[str, object],
    *,
    partial: bool,
) -> tuple[str, ...]:
    """Ask ``inspect`` as a last resort, for a case the rules above do not cover."""
    try:
        if partial:
            signature.bind_partial(*args, **kwargs)
        else:
            signature.bind(*args, **kwargs)
    except TypeError as exc:  # pragma: no cover  (the rules above cover Python's)
        return (str(exc),)
    return ()
