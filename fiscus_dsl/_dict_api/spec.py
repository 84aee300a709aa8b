"""Task dicts as the Fiscus SDK takes them, checked and normalized.

A task dict names a connector and an operation, gives ``params`` (literal
values, ``"{{task.field}}"`` references to earlier results, or callables of
the context), and may carry ``conditions: {"if": ...}``, ``custom_logic``,
``callbacks``, an ``id`` and ``depends_on``. ``read_tasks`` checks every
dict before anything runs; a bad one is a ``TaskDefinitionError`` naming
the task's index and field, and nothing is sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, NoReturn, final

from fiscus_dsl.errors import TaskDefinitionError

CALLBACK_NAMES: Final = ("fiscus_on_success", "fiscus_on_error", "fiscus_on_log")
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
    }
)
TEMPLATE: Final = re.compile(
    r"\{\{\s*([A-Za-z_][\w#-]*)((?:\.[A-Za-z_]\w*|\[\d+\])*)\s*\}\}"
)
_STEP: Final = re.compile(r"\.([A-Za-z_]\w*)|\[(\d+)\]")

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
    source: Mapping[str, object] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Return the name the task goes by: its ``id``, else its operation."""
        return self.id or self.operation

    def references(self) -> list[str]:
        """Return the tasks named by ``{{...}}`` templates in the params."""
        if callable(self.params):
            return []
        names: list[str] = []
        for value in self.params.values():
            names.extend(_template_names(value))
        return names


def _template_names(value: object) -> list[str]:
    if isinstance(value, str):
        return [match.group(1) for match in TEMPLATE.finditer(value)]
    if isinstance(value, Mapping):
        return [name for item in value.values() for name in _template_names(item)]
    if isinstance(value, list | tuple):
        return [name for item in value for name in _template_names(item)]
    return []


def template_path(text: str) -> list[str | int]:
    """Split a template's projection (``.contact.id[0]``) into keys and indexes."""
    # findall gives "" (not None) for the group that did not match.
    return [name or int(index) for name, index in _STEP.findall(text)]


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
    unknown = sorted(set(task) - TASK_KEYS)
    if unknown:
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
        source=task,
    )


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
                f"has {name!r}; the callbacks are {list(CALLBACK_NAMES)}",
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
        _fail(index, key, f"is required and must be a name, got {value!r}")
    return value


def _optional_text(index: int, task: Mapping[str, object], key: str) -> str | None:
    value = task.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        _fail(index, key, f"must be a name, got {value!r}")
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
                f"{spec.id!r} is used by two tasks; ids must be unique",
            )
    for spec in specs:
        earlier = {other.key for other in specs[: spec.index]} | {
            other.operation for other in specs[: spec.index]
        }
        for name in (*spec.depends_on, *spec.references()):
            if name not in earlier:
                _fail(
                    spec.index,
                    "depends_on" if name in spec.depends_on else "params",
                    f"refers to {name!r}, not an earlier task's id or operation",
                )


def _fail(index: int | None, field_name: str, problem: str) -> NoReturn:
    where = "The call" if index is None else f"Task {index}"
    msg = f"{where}: field {field_name!r} {problem}"
    raise TaskDefinitionError(msg, index=index, field=field_name)
