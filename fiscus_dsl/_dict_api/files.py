"""Task files: Fiscus task lists read from YAML or JSON, checked, never run as code.

``load_tasks("examples/onboarding.yaml")`` returns the task dicts that
``FiscusClient.execute(tasks=...)`` takes. A file is data: its size is
capped before parsing; YAML is scanned as events first (values, bytes of
text and nesting counted as aliases repeat them, so a small file cannot
stand for a huge document; aliases that are undefined or inside what they
name) and then built by ``yaml.safe_load`` (tags such as
``!!python/object/apply`` are errors there; a repeated key keeps its last
value); JSON goes through ``json.loads`` (no repeated keys, no NaN). The
result is walked without recursion for size, depth and JSON-only values,
and each task is checked by pydantic models that forbid unknown keys. The
limits: ``max_bytes``, ``max_depth``, ``max_tasks``, ``MAX_NODES`` values,
``MAX_STRING`` characters per string, and ``MAX_EXPANDED_BYTES`` of text
after aliases (or ``max_bytes``, when larger). Functions come only from
``registry``, by name; nothing is imported or evaluated. A bad file is a
``TaskDefinitionError`` naming the task's index and the field, before
anything is sent.

The file is a list of tasks or ``{"tasks": [...]}``. A task has
``connector``, ``operation``, ``params`` (JSON values; ``"{{id.path}}"``
templates are left for the run to fill), ``id``, ``depends_on``,
``custom_logic`` and ``callbacks`` (registered names), the policies
``retries``, ``timeout``, ``on_error`` and ``on_skip`` (``"run"`` by
default for a task with a condition: its condition names outcomes), and
``conditions: {"if": EXPR}``, EXPR being ``{"succeeded"|"failed"|"skipped":
name}``, ``{"eq"|"ne"|"lt"|"le"|"gt"|"ge": [a, b]}``, ``{"in": [a, [b,
...]]}``, ``{"and": [EXPR, ...]}``, ``{"or": [EXPR, ...]}``, ``{"not": EXPR}``
or ``{"fn": name}`` (a registered predicate, given the context). Operands
are JSON literals or templates; a template in a condition reads the
context, so it sees what ``custom_logic`` returned where a task has it, and
raises when the task is absent (the dict API then skips the guarded task).
A template path reads mapping keys, list indexes and pydantic fields, and
never a name that starts with ``_``; a predicate gets a copy of the context.
A name (in a template, a condition or ``depends_on``) must be the id or
operation of exactly one task, and that task must come earlier.

How outcomes are decided is told in file_conditions.py, which compiles
conditions and resolves names; file_schema.py holds the models of a task
and the shape of every error. This module reads and parses: it imports
yaml, and from fiscus_dsl only the dict API's ``spec``, ``file_schema``,
``file_conditions`` and ``errors``; it runs nothing and sends nothing.

Examples:
    >>> from fiscus_dsl import load_tasks_text
    >>> tasks = load_tasks_text(
    ...     '''
    ... - {connector: CRMSystem, operation: create_contact, params: {name: Ann}}
    ... - connector: Gmail
    ...   operation: send_email
    ...   params: {to: "{{create_contact.email}}"}
    ...   conditions: {if: {succeeded: create_contact}}
    ... ''',
    ...     format="yaml",
    ... )
    >>> tasks[1]["params"]
    {'to': '{{create_contact.email}}'}
    >>> tasks[1]["conditions"]["if"]({"create_contact": {"email": "ann@example.com"}})
    True
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, final

import yaml

from fiscus_dsl._dict_api.file_conditions import Registry, compile_tasks
from fiscus_dsl._dict_api.file_schema import (
    FieldPath,
    excerpt,
    file_error,
    kind,
    located_error,
    policy_keys,
    shorten,
    task_list,
    validate_task,
)
from fiscus_dsl._dict_api.spec import read_tasks
from fiscus_dsl.errors import ConfigurationError, TaskDefinitionError

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable

MAX_NODES: Final = 100_000
MAX_STRING: Final = 65_536
MAX_EXPANDED_BYTES: Final = 10_000_000
"""The most bytes of text a YAML file may expand to through its aliases
(or ``max_bytes``, when that is larger)."""
_FORMATS: Final = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def load_tasks(
    source: str | os.PathLike[str],
    *,
    registry: Registry | None = None,
    max_bytes: int = 1_000_000,
    max_depth: int = 32,
    max_tasks: int = 1_000,
) -> list[dict[str, object]]:
    """Read a YAML or JSON task file into the task dicts ``execute`` takes.

    Args:
        source: The file: ``.yaml`` or ``.yml`` is YAML, ``.json`` is JSON.
        registry: The functions the file may name, by name.
        max_bytes: The largest file read, checked before parsing.
        max_depth: The deepest nesting of lists and mappings.
        max_tasks: The most tasks in one file.

    Returns:
        One dict per task, for ``FiscusClient(...).execute(tasks=...)``.

    Raises:
        TaskDefinitionError: The file is too big, not valid YAML or JSON, or
            a task is malformed; the message names the index and the field.
        OSError: The file cannot be read.

    Examples:
        >>> from fiscus_dsl import load_tasks
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = Path(folder, "tasks.json")
        ...     _ = path.write_text('[{"connector": "CRM", "operation": "ping"}]')
        ...     load_tasks(path)
        [{'connector': 'CRM', 'operation': 'ping', 'params': {}}]
    """
    path = Path(source)
    where = f"file {str(path)!r}"
    file_format = _FORMATS.get(path.suffix.lower())
    if file_format is None:
        problem = (
            f"has the extension {path.suffix!r}; name it .yaml, .yml or .json, "
            "or call load_tasks_text(text, format=...)"
        )
        raise file_error(where, "file", problem)
    _check_limits(max_bytes, max_depth, max_tasks)
    with path.open("rb") as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise file_error(where, "file", _too_big(max_bytes))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        raise file_error(where, "file", problem) from exc
    return _load(text, file_format, where, registry, (max_bytes, max_depth, max_tasks))


def load_tasks_text(
    text: str,
    *,
    format: Literal["yaml", "json"],
    registry: Registry | None = None,
    max_bytes: int = 1_000_000,
    max_depth: int = 32,
    max_tasks: int = 1_000,
) -> list[dict[str, object]]:
    """Read YAML or JSON task text into the task dicts ``execute`` takes.

    The options are those of ``load_tasks``; ``max_bytes`` counts UTF-8 bytes.

    Raises:
        TaskDefinitionError: As ``load_tasks``, or an unknown ``format``.

    Examples:
        >>> from fiscus_dsl import load_tasks_text
        >>> load_tasks_text("- {connector: CRM, operation: ping, id: p}", format="yaml")
        [{'connector': 'CRM', 'operation': 'ping', 'params': {}, 'id': 'p'}]
    """
    where = f"the given {str(format).upper()} text"
    if format not in ("yaml", "json"):
        problem = "has an unknown format; pass format='yaml' or format='json'"
        raise file_error(where, "format", problem)
    _check_limits(max_bytes, max_depth, max_tasks)
    if len(text) > max_bytes or len(text.encode("utf-8", "replace")) > max_bytes:
        raise file_error(where, "file", _too_big(max_bytes))
    return _load(text, format, where, registry, (max_bytes, max_depth, max_tasks))


def _check_limits(max_bytes: int, max_depth: int, max_tasks: int) -> None:
    if min(max_bytes, max_depth, max_tasks) < 1:
        msg = (
            f"max_bytes={max_bytes!r}, max_depth={max_depth!r} and "
            f"max_tasks={max_tasks!r} must each be at least 1"
        )
        option = next(
            name
            for name, value in (
                ("max_bytes", max_bytes),
                ("max_depth", max_depth),
                ("max_tasks", max_tasks),
            )
            if value < 1
        )
        raise ConfigurationError(msg, option=option)


def _too_big(max_bytes: int) -> str:
    return f"is over max_bytes={max_bytes:,}; split the tasks or raise max_bytes"


def _load(
    text: str,
    file_format: str,
    where: str,
    registry: Registry | None,
    limits: tuple[int, int, int],
) -> list[dict[str, object]]:
    max_bytes, max_depth, max_tasks = limits
    entries: Iterable[tuple[object, object]] = (registry or {}).items()
    for name, function in entries:  # typed, but checked: a bad entry fails here
        if not isinstance(name, str) or not callable(function):
            msg = (
                f"The registry maps {name!r} to a {type(function).__name__}; "
                "map names to functions"
            )
            raise TaskDefinitionError(msg, index=None, field="registry")
    text = text.removeprefix("\ufeff")
    if file_format == "yaml":
        document = _parse_yaml(text, where, max_depth, max_bytes)
    else:
        document = _parse_json(text, where)
    _check_values(document, where, max_depth)
    raw = task_list(document, where, max_tasks)
    models = [validate_task(index, task, where) for index, task in enumerate(raw)]
    tasks = compile_tasks(models, registry or {}, where)
    for task, model in zip(tasks, models, strict=True):
        task.update(policy_keys(model))
    read_tasks(tasks)  # the dict API's own check: this is the list execute takes
    return tasks


# ---------------------------------------------------------------- parsing


def _parse_yaml(text: str, where: str, max_depth: int, max_bytes: int) -> object:
    try:
        _scan_yaml(text, where, max_depth, max(MAX_EXPANDED_BYTES, max_bytes))
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = ""  # first, so that cutting a long problem keeps it
        if isinstance(exc, yaml.MarkedYAMLError):
            mark = exc.problem_mark or exc.context_mark
            line = "" if mark is None else f" (line {mark.line + 1})"
            problem = exc.problem or exc.context or "a syntax error"
        else:
            problem = str(exc).splitlines()[0]
        problem = f"is not valid YAML{line}: {shorten(problem, 200)}; write plain YAML"
        raise file_error(where, "file", problem) from exc
    except TaskDefinitionError:  # the scan's own, a ValueError too
        raise
    except ValueError as exc:  # an int of more digits than Python converts
        raise file_error(where, "file", f"is not valid YAML: {exc}") from exc


@final
@dataclass(slots=True)
class _Open:
    """A YAML collection the scan is inside: its anchor, and what it holds so far."""

    anchor: str | None
    size: int = 1
    text: int = 0
    height: int = 1


@final
@dataclass(frozen=True, slots=True)
class _Named:
    """What an anchor's node stands for wherever an alias repeats it."""

    size: int  # values
    text: int  # UTF-8 bytes of its scalars (keys too)
    height: int  # collections nested in it, itself included; 0 for a scalar


@final
@dataclass(slots=True)
class _Totals:
    """The document as building will expand it: values, text bytes."""

    size: int = 0
    text: int = 0


def _scan_yaml(text: str, where: str, max_depth: int, max_expanded: int) -> None:
    """Bound what building costs: values, text and depth, as aliases repeat them."""
    opened: list[_Open] = []
    named: dict[str, _Named] = {}
    totals = _Totals()
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionEndEvent):
            done = opened.pop()
            if done.anchor is not None:
                named[done.anchor] = _Named(done.size, done.text, done.height)
            if opened:
                _add(opened[-1], _Named(done.size, done.text, done.height))
        elif isinstance(event, yaml.NodeEvent):
            node = _scan_node(event, named, where)
            depth = len(opened) + node.height
            if depth > max_depth:
                raise file_error(where, "file", _too_deep(max_depth))
            totals.size += node.size
            totals.text += node.text
            _check_totals(totals, where, max_expanded)
            if isinstance(event, yaml.CollectionStartEvent):
                opened.append(_Open(event.anchor))
            elif opened:
                _add(opened[-1], node)


def _add(into: _Open, node: _Named) -> None:
    into.size += node.size
    into.text += node.text
    into.height = max(into.height, node.height + 1)


def _check_totals(totals: _Totals, where: str, max_expanded: int) -> None:
    if totals.size > MAX_NODES:
        problem = (
            f"holds more than {MAX_NODES:,} values, counting what each "
            "alias repeats; write the tasks out plainly"
        )
        raise file_error(where, "file", problem)
    if totals.text > max_expanded:
        problem = (
            f"expands to more than {max_expanded:,} bytes of text, counting "
            "what each alias repeats; write the tasks out plainly or raise "
            "max_bytes"
        )
        raise file_error(where, "file", problem)


def _scan_node(event: yaml.NodeEvent, named: dict[str, _Named], where: str) -> _Named:
    """Return what a node stands for: an alias, all that its anchor repeats."""
    if isinstance(event, yaml.ScalarEvent):
        node = _Named(1, len(event.value.encode("utf-8", "surrogatepass")), 0)
        if event.anchor is not None:
            named[event.anchor] = node
        return node
    if isinstance(event, yaml.CollectionStartEvent):
        return _Named(1, 0, 1)
    found = named.get(event.anchor or "")
    if found is None:
        mark = event.start_mark
        line = "" if mark is None else f" (line {mark.line + 1})"
        problem = (
            f"has the alias {excerpt('*' + (event.anchor or ''))}{line}, which is "
            "undefined or inside what it names; define the anchor before the alias"
        )
        raise file_error(where, "file", problem)
    return found


def _parse_json(text: str, where: str) -> object:
    try:
        return json.loads(text, object_pairs_hook=_unique, parse_constant=_no_nan)
    except json.JSONDecodeError as exc:
        problem = f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise file_error(where, "file", f"is not valid JSON: {problem}") from exc
    except RecursionError as exc:
        raise file_error(where, "file", _too_deep(None)) from exc
    except ValueError as exc:  # a duplicate key, NaN, an int too long to convert
        raise file_error(where, "file", f"is not valid JSON: {exc}") from exc


def _unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    mapping: dict[str, object] = {}
    for key, value in pairs:
        if key in mapping:
            msg = f"the key {excerpt(key)} appears twice in one object; keep one"
            raise ValueError(msg)
        mapping[key] = value
    return mapping


def _no_nan(name: str) -> object:
    msg = f"{name} is not a JSON number; write a finite number or a string"
    raise ValueError(msg)


def _check_values(document: object, where: str, max_depth: int) -> None:
    """Walk the document without recursion: count, depth, keys and scalars."""
    stack: list[tuple[object, FieldPath]] = [(document, ())]
    seen = 0
    while stack:
        seen += 1
        if seen > MAX_NODES:
            problem = f"holds more than {MAX_NODES:,} values; split the tasks"
            raise file_error(where, "file", problem)
        value, path = stack.pop()
        if isinstance(value, dict | list) and len(path) >= max_depth:
            raise located_error(where, path, _too_deep(max_depth))
        if isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    problem = f"has a key that is {kind(key)}, not text; quote it"
                    raise located_error(where, path, problem)
                stack.append((item, (*path, key)))
        elif not _is_json_scalar(value):
            problem = (
                f"is {kind(value)} a task file cannot hold: JSON values only, text "
                f"of at most {MAX_STRING:,} characters, finite numbers; quote dates"
            )
            raise located_error(where, path, problem)


def _is_json_scalar(value: object) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_STRING
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, int)


def _too_deep(max_depth: int | None) -> str:
    limit = "too deeply" if max_depth is None else f"deeper than max_depth={max_depth}"
    return f"is nested {limit}; flatten it"
