"""The schema of a task file: pydantic models of a task, and errors that name the path.

``task_list`` finds the list of tasks in a parsed document and
``validate_task`` checks one task against ``TaskModel`` (``policy_keys``
gives its policies as task-dict keys), whose models
forbid unknown keys and hold every condition expression as one closed
form (``Outcome``, ``Compare``, ``In``, ``Junction``, ``Not``, ``Fn``). A
pydantic error becomes a ``TaskDefinitionError`` naming the task's index
and the dotted field of the input, with a hint on how to write it. The
message builders here (``task_error``, ``file_error``, ``located_error``,
``excerpt``, ``kind``) give every task-file error its shape, so the reader
(files.py) and the condition compiler (file_conditions.py) use them too.
This module imports pydantic, and from fiscus_dsl only the dict API's
``spec``, ``policies`` and ``errors``; it must not import the other task-file modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    StringConstraints,
    Tag,
    ValidationError,
)

from fiscus_dsl._dict_api.policies import POLICY_KEYS
from fiscus_dsl._dict_api.spec import TASK_KEYS, CallbackName, child
from fiscus_dsl.errors import TaskDefinitionError

if TYPE_CHECKING:
    from collections.abc import Sequence

_FORMS: Final = (
    "{'succeeded'|'failed'|'skipped': name}, {'eq'|'ne'|'lt'|'le'|'gt'|'ge': [a, b]}, "
    "{'in': [a, [b, ...]]}, {'and': [...]}, {'or': [...]}, {'not': EXPR}, "
    "{'fn': registered name}"
)
_HINTS: Final = {
    "conditions": f"write conditions as {{'if': EXPR}}, EXPR one of {_FORMS}",
    "callbacks": "callbacks map 'fiscus_on_success', 'fiscus_on_error', "
    "'fiscus_on_log', 'fiscus_on_auth', 'fiscus_on_stream' or 'fiscus_pre' to "
    "registered names",
    "params": "params map parameter names (a letter, then letters, digits or _) "
    "to JSON values or '{{task.field}}' templates",
    "depends_on": "depends_on is a task id or a list of task ids",
    "retries": "retries is a whole number of 0 or more, e.g. retries: 2",
    "timeout": "timeout is seconds, a number above 0, e.g. timeout: 10",
    "on_error": "on_error is 'continue', 'fail' or 'skip'",
    "on_skip": "on_skip is 'skip' or 'run'",
}

FieldPath = tuple[str | int, ...]  # keys and indexes from the document's root

# ---------------------------------------------------------------- the models

_CONFIG: Final = ConfigDict(extra="forbid", hide_input_in_errors=True, frozen=True)
_Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
_Param = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,199}$")]
_Pair = tuple[JsonValue, JsonValue]
_Retries = Annotated[int, Field(ge=0, strict=True)]
_Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]


class Form(BaseModel):
    """One expression: a mapping with one key (the discriminator checks that)."""

    model_config = _CONFIG

    def form(self) -> tuple[str, object]:
        """Return the expression's key and value."""
        (name,) = self.model_fields_set
        return name.rstrip("_"), getattr(self, name)


class Outcome(Form):
    """``{succeeded|failed|skipped: name}``: an earlier task's outcome."""

    succeeded: _Name | None = None
    failed: _Name | None = None
    skipped: _Name | None = None


class Compare(Form):
    """``{eq|ne|lt|le|gt|ge: [a, b]}``: two operands compared."""

    eq: _Pair | None = None
    ne: _Pair | None = None
    lt: _Pair | None = None
    le: _Pair | None = None
    gt: _Pair | None = None
    ge: _Pair | None = None


class In(Form):
    """``{in: [a, [b, ...]]}``: an operand among a list."""

    in_: _Pair = Field(alias="in")


class Junction(Form):
    """``{and|or: [EXPR, ...]}``: all or any of the expressions."""

    and_: list[_Expr] | None = Field(None, alias="and", min_length=1)
    or_: list[_Expr] | None = Field(None, alias="or", min_length=1)


class Not(Form):
    """``{not: EXPR}``: the expression negated."""

    not_: _Expr = Field(alias="not")


class Fn(Form):
    """``{fn: name}``: a registered predicate of the context."""

    fn: _Name


def _form_of(value: object) -> str | None:
    if isinstance(value, Form):  # when dumping
        return value.form()[0]
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    return None


_Expr = Annotated[
    Annotated[Outcome, Tag("succeeded")]
    | Annotated[Outcome, Tag("failed")]
    | Annotated[Outcome, Tag("skipped")]
    | Annotated[Compare, Tag("eq")]
    | Annotated[Compare, Tag("ne")]
    | Annotated[Compare, Tag("lt")]
    | Annotated[Compare, Tag("le")]
    | Annotated[Compare, Tag("gt")]
    | Annotated[Compare, Tag("ge")]
    | Annotated[In, Tag("in")]
    | Annotated[Junction, Tag("and")]
    | Annotated[Junction, Tag("or")]
    | Annotated[Not, Tag("not")]
    | Annotated[Fn, Tag("fn")],
    Discriminator(_form_of, custom_error_type="expression", custom_error_message="-"),
]
Junction.model_rebuild()
Not.model_rebuild()


class _Conditions(BaseModel):
    model_config = _CONFIG
    if_: _Expr = Field(alias="if")


_Callbacks = dict[CallbackName, _Name]


class TaskModel(BaseModel):
    """One task of a task file, checked: names, JSON params, one condition."""

    model_config = _CONFIG
    connector: _Name
    operation: _Name
    params: dict[_Param, JsonValue] = Field(default_factory=dict)
    id: _Name | None = None
    depends_on: _Name | list[_Name] | None = None
    custom_logic: _Name | None = None
    callbacks: _Callbacks = Field(default_factory=dict)
    conditions: _Conditions | None = None
    retries: _Retries | None = None
    timeout: _Seconds | None = None
    on_error: Literal["continue", "fail", "skip"] | None = None
    on_skip: Literal["skip", "run"] | None = None


def policy_keys(model: TaskModel) -> dict[str, object]:
    """Return the policies a task of a file sets, as its task dict's keys.

    A file's condition names outcomes itself (``{skipped: X}``, ``{failed:
    X}``), so a task with one decides even when a task it reads was
    skipped: ``on_skip`` is ``"run"`` unless the file says otherwise.
    """
    keys: dict[str, object] = {
        key: getattr(model, key)
        for key in POLICY_KEYS
        if getattr(model, key) is not None
    }
    if model.conditions is not None:
        keys.setdefault("on_skip", "run")
    return keys


# ---------------------------------------------------------------- validation


def task_list(document: object, where: str, max_tasks: int) -> list[object]:
    """Return the tasks of a document: a list, or the list under ``tasks``."""
    if isinstance(document, dict):
        extra = sorted(set(document) - {"tasks"})
        if extra:
            problem = "is not a key of a task file; write {'tasks': [...]} or a list"
            raise located_error(where, (extra[0],), problem)
        document = document.get("tasks")
    if document is None or document == []:
        problem = "has no tasks; write a list of tasks, or {'tasks': [...]}"
        raise file_error(where, "tasks", problem)
    if not isinstance(document, list):
        problem = f"holds {kind(document)}; write a list of tasks or {{'tasks': [...]}}"
        raise file_error(where, "tasks", problem)
    if len(document) > max_tasks:
        problem = f"has {len(document):,} tasks, over max_tasks={max_tasks:,}"
        raise file_error(where, "tasks", f"{problem}; split the file")
    return document


def validate_task(index: int, task: object, where: str) -> TaskModel:
    """Check one task; a bad one names its index and the field of the input."""
    try:
        return TaskModel.model_validate(task)
    except ValidationError as exc:
        error = exc.errors(include_input=False, include_url=False)[0]
        path = _input_path(task, error["loc"])
        named = error["type"] == "missing" and isinstance(error["loc"][-1], str)
        if named:  # a missing key is not in the input: name it
            path = (*path, error["loc"][-1])
        head = str(path[0]) if path and path[0] in TASK_KEYS else ""
        hint = _HINTS.get(head, "give a name of 1 to 200 characters")
        if not head:
            hint = f"a task's keys are {sorted(TASK_KEYS)}"
        problems = {
            "missing": "is required" if named else "lacks an item",
            "extra_forbidden": "is not allowed here",
            "expression": "is not one expression",
            "model_type": "must be a mapping",
        }
        problem = problems.get(error["type"], f"is invalid: {error['msg']}")
        field = _dotted(path) or "task"
        raise task_error(where, index, field, f"{problem}; {hint}") from exc


def _input_path(value: object, loc: tuple[str | int, ...]) -> FieldPath:
    """Keep the parts of pydantic's ``loc`` that are keys or indexes of the input."""
    path: list[str | int] = []
    for part in loc:
        found, item = child(value, part)
        if found:  # else a union member's tag, or a field name pydantic repeats
            value = item
            path.append(part)
    return tuple(path)


# ---------------------------------------------------------------- messages


def task_error(
    where: str, index: int | None, field: str, problem: str
) -> TaskDefinitionError:
    """Return the error for ``field`` of task ``index`` (or of the file)."""
    head = _capital(where) if index is None else f"Task {index} in {where}"
    return TaskDefinitionError(
        f"{head}: field {field!r} {problem}", index=index, field=field
    )


def file_error(where: str, field: str, problem: str) -> TaskDefinitionError:
    """Return the error for the file as a whole, e.g. its size or syntax."""
    return TaskDefinitionError(f"{_capital(where)} {problem}", index=None, field=field)


def located_error(where: str, path: FieldPath, problem: str) -> TaskDefinitionError:
    """Name the task and the field at ``path`` (from the document's root)."""
    if path[:1] == ("tasks",):
        path = path[1:]
    if path and isinstance(path[0], int):
        return task_error(where, path[0], _dotted(path[1:]) or "task", problem)
    return task_error(where, None, _dotted(path) or "tasks", problem)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _dotted(path: Sequence[str | int]) -> str:
    return ".".join(shorten(str(part), 40) for part in path)


def excerpt(text: str, limit: int = 40) -> str:
    """Return the ``repr`` of at most ``limit`` characters of ``text``."""
    return repr(shorten(text, limit))


def shorten(text: str, limit: int) -> str:
    """Return ``text``, cut to ``limit`` characters with an ellipsis if longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def kind(value: object) -> str:
    """Return what a value is, in words: "a mapping", "an integer", "null"."""
    kinds = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    kinds.update({int: "an integer", float: "a number"})
    if value is None:
        return "null"
    return kinds.get(type(value), f"a {type(value).__name__}")
