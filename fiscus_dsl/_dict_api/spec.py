"""Task dicts as the Fiscus SDK takes them, checked and normalized.

A task dict names a connector and an operation, gives ``params`` (literal
values, ``"{{task.field}}"`` references to earlier results, or callables of
the context), and may carry ``conditions: {"if": ...}``, ``custom_logic``,
``callbacks``, an ``id``, ``depends_on`` and the policies of policies.py
(``retries``, ``timeout``, ``on_error``, ``on_skip``). ``read_tasks``
checks every dict before anything runs; a bad one is a
``TaskDefinitionError`` naming the task's index and field, and nothing is
sent. A name (in a template or ``depends_on``) must be the id or operation
of exactly one earlier task (``named``). A template reaches data
only: its path reads mapping keys, list indexes and pydantic model fields
(``child``), never an attribute of any other object and never a name that
starts with ``_``, and what it reads must be data all through
(``not_data``): a raw ``httpx.Response`` or anything holding one is
refused. A message shows at most 40 characters of a bad value's ``repr``,
with its type.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import re
import reprlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, NoReturn, TypeAlias, final, get_args

from pydantic import BaseModel

from fiscus_dsl._dict_api.policies import POLICY_KEYS, TaskPolicies, read_policies
from fiscus_dsl._runtime.symbols import Symbol
from fiscus_dsl.errors import TaskDefinitionError

#: The Fiscus callback names, and ``fiscus_pre`` (called before a task runs).
CallbackName: TypeAlias = Literal[
    "fiscus_on_success",
    "fiscus_on_error",
    "fiscus_on_log",
    "fiscus_on_auth",
    "fiscus_on_stream",
    "fiscus_pre",
]
CALLBACK_NAMES: Final[tuple[str, ...]] = get_args(CallbackName)
TASK_KEYS: Final = frozenset(
    {
        "connector",
        "operation",
        "params",
        "callbacks",
        "custom_logic",
        "conditions",
        "id",
        "depends_on",
        *POLICY_KEYS,
    }
)
TEMPLATE: Final = re.compile(
    r"\{\{\s*([A-Za-z_][\w#-]*)((?:\.[A-Za-z_]\w*|\[\d+\])*)\s*\}\}"
)
_STEP: Final = re.compile(r"\.([A-Za-z_]\w*)|\[(\d+)\]")
_SHOWN: Final = 40  # the most characters of a value a message echoes
_REPR: Final = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = _SHOWN

#: Values a template may give besides containers: JSON scalars and the
#: values pydantic models hold and write as JSON (dates, UUIDs, decimals, enums).
_DATA_SCALARS: Final = (
    str,
    int,
    float,
    bytes,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    decimal.Decimal,
    enum.Enum,
)

Callback = Callable[[dict[str, object]], object]
Params = Mapping[str, object] | Callable[[Mapping[str, object]], Mapping[str, object]]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskSpec:
    """One checked task dict."""

    index: int
    connector: str
    operation: str
    params: Params = field(default_factory=dict)
    callbacks: Mapping[str, Callback] = field(default_factory=dict)
    custom_logic: Callable[[object], object] | None = None
    condition: Callable[[Mapping[str, object]], object] | None = None
    id: str | None = None
    depends_on: tuple[str, ...] = ()
    policies: TaskPolicies = field(default_factory=TaskPolicies)
    source: Mapping[str, object] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Return the name the task goes by: its ``id``, else its operation."""
        return self.id or self.operation

    def names(self) -> frozenset[str]:
        """Return every name the task goes by: its ``id`` and its operation."""
        return frozenset(
            {self.operation} if self.id is None else {self.id, self.operation}
        )

    def references(self) -> list[str]:
        """Return the tasks named by ``{{...}}`` templates in the params."""
        if callable(self.params):
            return []
        return [
            match.group(1)
            for value in self.params.values()
            for match in _templates(value)
        ]


def _templates(value: object) -> list[re.Match[str]]:
    """Return the ``{{...}}`` templates in a value and the lists and dicts in it."""
    if isinstance(value, str):
        return list(TEMPLATE.finditer(value))
    if isinstance(value, Mapping):
        return [match for item in value.values() for match in _templates(item)]
    if isinstance(value, list | tuple):
        return [match for item in value for match in _templates(item)]
    return []


def child(value: object, key: str | int) -> tuple[bool, object]:
    """Return whether ``value`` has ``key`` (a key, an index or a model field).

    Only data is read: a mapping's key, a list's or tuple's index, a
    pydantic model's declared field. Any other object has nothing here.

    Examples:
        >>> child({"id": 7}, "id"), child([1, 2], 5), child("text", "upper")
        ((True, 7), (False, None), (False, None))
    """
    if isinstance(value, Symbol):  # a plan without the sample response
        return True, value[key] if isinstance(key, int) else getattr(value, key)
    if isinstance(value, Mapping):
        return key in value, value.get(key)
    if isinstance(value, list | tuple) and isinstance(key, int):
        return 0 <= key < len(value), value[key] if 0 <= key < len(value) else None
    if isinstance(value, BaseModel) and key in type(value).model_fields:
        return True, getattr(value, str(key))
    return False, None


def not_data(value: object) -> str | None:
    """Return what in ``value`` is not data (e.g. "an httpx.Response"), or ``None``.

    Data is ``None``, booleans, numbers, text, the values pydantic writes as
    JSON (dates, UUIDs, decimals, enums), and mappings, lists, tuples and
    pydantic models of data. Walked without recursion, each object once.

    Examples:
        >>> not_data({"ids": [1, 2.5, None, "x"]}) is None
        True
        >>> not_data({"send": print})
        'a builtin_function_or_method'
    """
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, (*_DATA_SCALARS, Symbol)):
            continue  # a symbol: data a plan does not know yet
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, BaseModel):
            stack.extend(getattr(item, name) for name in type(item).model_fields)
            stack.extend((item.model_extra or {}).values())
        else:
            kind = type(item)
            module = kind.__module__.split(".")[0]
            name = (
                kind.__qualname__
                if module == "builtins"
                else f"{module}.{kind.__qualname__}"
            )
            return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"
    return None


def template_path(text: str) -> list[str | int]:
    """Split a template's projection (``.contact.id[0]``) into keys and indexes."""
    # findall gives "" (not None) for the group that did not match.
    return [name or int(index) for name, index in _STEP.findall(text)]


def has_private_step(text: str) -> bool:
    """Return whether a template's projection names something starting with ``_``.

    Examples:
        >>> has_private_step(".__class__.__init__"), has_private_step(".id[0]")
        (True, False)
    """
    return any(
        isinstance(step, str) and step.startswith("_") for step in template_path(text)
    )


def read_tasks(tasks: object) -> list[TaskSpec]:
    """Check a list of task dicts and return them normalized.

    Raises:
        TaskDefinitionError: A task is not a dict, has an unknown key, or a
            field of the wrong kind; the message names the index and field.
    """
    if not isinstance(tasks, Sequence) or isinstance(tasks, str | bytes):
        msg = f"tasks must be a list of task dicts, got {type(tasks).__name__}"
        raise TaskDefinitionError(msg, index=None, field="tasks")
    specs = [_read_task(index, task) for index, task in enumerate(tasks)]
    _check_names(specs)
    return specs


def _read_task(index: int, task: object) -> TaskSpec:
    if not isinstance(task, Mapping):
        _fail(index, "task", f"must be a dict, got {type(task).__name__}")
    unknown = sorted(str(key) for key in task if key not in TASK_KEYS)
    if unknown:  # keys as text: a dict's keys may be of any mix of types
        _fail(index, unknown[0], f"is not a task key; use {sorted(TASK_KEYS)}")
    connector = _required_text(index, task, "connector")
    operation = _required_text(index, task, "operation")
    params = task.get("params", {})
    if params is None:
        params = {}
    if not (isinstance(params, Mapping) or callable(params)):
        _fail(
            index,
            "params",
            f"must be a dict or a function of the context, got {type(params).__name__}",
        )
    if isinstance(params, Mapping):
        _check_templates(index, params)
    return TaskSpec(
        index=index,
        connector=connector,
        operation=operation,
        params=params,
        callbacks=read_callbacks(task.get("callbacks"), index=index),
        custom_logic=_optional_callable(index, task, "custom_logic"),
        condition=_condition(index, task.get("conditions")),
        id=_optional_text(index, task, "id"),
        depends_on=_depends_on(index, task.get("depends_on")),
        policies=read_policies(index, task),
        source=task,
    )


def _check_templates(index: int, params: Mapping[str, object]) -> None:
    """Refuse a template whose path reaches past a result's fields."""
    for value in params.values():
        for match in _templates(value):
            if has_private_step(match.group(2)):
                problem = (
                    f"has the template {_excerpt(match.group(0))}, whose path has "
                    "a name starting with '_'; use the fields of the task's result"
                )
                _fail(index, "params", problem)


def read_callbacks(callbacks: object, *, index: int | None) -> dict[str, Callback]:
    """Check a callbacks dict: Fiscus names to functions."""
    if callbacks is None:
        return {}
    if not isinstance(callbacks, Mapping):
        _fail(
            index,
            "callbacks",
            f"must be a dict of {list(CALLBACK_NAMES)}, got {type(callbacks).__name__}",
        )
    checked: dict[str, Callback] = {}
    for name, function in callbacks.items():
        if name not in CALLBACK_NAMES:
            _fail(
                index,
                "callbacks",
                f"has {_excerpt(name)}; the callbacks are {list(CALLBACK_NAMES)}",
            )
        if not callable(function):
            _fail(
                index, "callbacks", f"{name!r} must be a function taking the info dict"
            )
        checked[name] = function
    return checked


def _condition(
    index: int, conditions: object
) -> Callable[[Mapping[str, object]], object] | None:
    if conditions is None:
        return None
    if not isinstance(conditions, Mapping) or set(conditions) != {"if"}:
        _fail(index, "conditions", "must be {'if': function of the context}")
    function = conditions["if"]
    if not callable(function):
        _fail(
            index,
            "conditions",
            "'if' must be a function of the context, e.g. lambda ctx: ...",
        )
    return function  # type: ignore[no-any-return]  # checked callable


def _depends_on(index: int, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return _fail(index, "depends_on", "must be a task id or a list of task ids")


def _required_text(index: int, task: Mapping[str, object], key: str) -> str:
    value = task.get(key)
    if not isinstance(value, str) or not value:
        _fail(index, key, f"is required and must be a name, got {_got(value)}")
    return value


def _optional_text(index: int, task: Mapping[str, object], key: str) -> str | None:
    value = task.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        _fail(index, key, f"must be a name, got {_got(value)}")
    return value


def _optional_callable(
    index: int, task: Mapping[str, object], key: str
) -> Callable[[object], object] | None:
    value = task.get(key)
    if value is not None and not callable(value):
        _fail(
            index,
            key,
            f"must be a function of the task's response, got {type(value).__name__}",
        )
    return value


def _check_names(specs: list[TaskSpec]) -> None:
    ids = [spec.id for spec in specs if spec.id is not None]
    for spec in specs:
        if spec.id is not None and ids.count(spec.id) > 1:
            _fail(
                spec.index,
                "id",
                f"{_excerpt(spec.id)} is used by two tasks; ids must be unique",
            )
    for spec in specs:
        for name in (*spec.depends_on, *spec.references()):
            found = named(specs[: spec.index], name)
            field_name = "depends_on" if name in spec.depends_on else "params"
            if not found:
                _fail(
                    spec.index,
                    field_name,
                    f"refers to {_excerpt(name)}, not an earlier task's id or "
                    "operation",
                )
            if len(found) > 1:
                tasks = ", ".join(f"{other.index} ({other.key!r})" for other in found)
                _fail(
                    spec.index,
                    field_name,
                    f"refers to {_excerpt(name)}, the operation of tasks {tasks}; "
                    "give each an 'id' and refer to that",
                )


def named(specs: Sequence[TaskSpec], name: str) -> list[TaskSpec]:
    """Return the tasks among ``specs`` that go by ``name`` (an id or an operation)."""
    return [spec for spec in specs if name in spec.names()]


def _fail(index: int | None, field_name: str, problem: str) -> NoReturn:
    where = "The call" if index is None else f"Task {index}"
    msg = f"{where}: field {_excerpt(field_name)} {problem}"
    raise TaskDefinitionError(msg, index=index, field=field_name)


def _excerpt(value: object) -> str:
    """Return a value as a message shows it: ``_SHOWN`` characters of its ``repr``."""
    # A string is cut before repr, so that only its start shows; other values
    # go through reprlib, which never builds the repr of a whole large list.
    if isinstance(value, str):
        cut = value if len(value) <= _SHOWN else value[: _SHOWN - 1] + "…"
        text = repr(cut)
    else:
        try:
            text = _REPR.repr(value)
        except ValueError:  # an int of more digits than Python converts to text
            text = "<too long to show>"
    limit = _SHOWN + 2  # a string's quotes
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _got(value: object) -> str:
    """Return what a message says it got instead: a short ``repr`` and the type."""
    if value is None:
        return "None"
    return f"{_excerpt(value)} ({type(value).__name__})"
