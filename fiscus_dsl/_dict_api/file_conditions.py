"""Task-file conditions compiled into functions of the context; names resolved.

``compile_tasks`` turns checked ``TaskModel``s into the task dicts the
dict API takes: every name (in a template, a condition or ``depends_on``)
must be the id or operation of exactly one earlier task, and functions
(``custom_logic``, ``callbacks``, ``{"fn": name}``) come only from the
registry, by name. A ``conditions: {if: EXPR}`` becomes a
``_FileCondition``: a closure over the closed expression forms of
file_schema.py, nothing parsed or evaluated as code. A template in a
condition reads the context, so it sees what ``custom_logic`` returned
where a task has it, and raises when the task is absent (the dict API then
skips the guarded task). A template path reads mapping keys, list indexes
and pydantic fields, and never a name that starts with ``_``; a predicate
gets a copy of the context.

Outcomes are those the run recorded: the dict API's context
(``FiscusContext``) knows how each earlier task ended, so ``skipped: X``
holds for every skip (its condition, a skipped input, ``on_error:
skip``, a ``fiscus_pre`` that skipped it), ``failed: X`` for a failure,
and ``succeeded: X`` for a success, or, when X has ``custom_logic``, for
a success whose value is truthy (the Fiscus idiom is ``lambda response:
response.success``). Given a plain mapping instead, outcomes are inferred:
a task that succeeded is in it; a failed or skipped task is not. So
``skipped: X`` holds when X's own condition is false or raises, or a
template in X's params needs a task that did not succeed; ``succeeded: X``
holds when X was not skipped and is in the context (any value, ``None``
too) or, with ``custom_logic``, when that value is truthy (the Fiscus idiom
is ``lambda response: response.success``); ``failed: X`` is the rest.
Deciding ``skipped`` may evaluate X's condition again, so predicates should
be pure.

This module imports pydantic's types only, and from fiscus_dsl the dict
API's ``spec``, ``file_schema`` and ``errors``; it must not import files.py.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, final

from fiscus_dsl._dict_api.file_schema import (
    Compare,
    Form,
    In,
    Junction,
    Not,
    Outcome,
    TaskModel,
    excerpt,
    kind,
    shorten,
    task_error,
)
from fiscus_dsl._dict_api.spec import (
    TEMPLATE,
    child,
    has_private_step,
    template_path,
)
from fiscus_dsl._runtime.resolve import OPERATORS

if TYPE_CHECKING:
    import re

    from pydantic import JsonValue

    from fiscus_dsl.errors import TaskDefinitionError


Registry = Mapping[str, Callable[..., object]]


def compile_tasks(
    models: list[TaskModel], registry: Registry, where: str
) -> list[dict[str, object]]:
    """Return the task dicts of checked task models, for ``execute``.

    Raises:
        TaskDefinitionError: A name that is not one earlier task, a function
            that is not registered, a template reading a ``_`` name, or an
            operand of the wrong form; the message names the index and field.
    """
    return _Compiler(models, registry, where).compile()


# ---------------------------------------------------------------- conditions


@final
@dataclass(frozen=True, slots=True)
class _Env:
    """What a condition reads: the context, and the outcomes decided for it."""

    context: Mapping[str, object]
    statuses: Mapping[int, str]


_Node = Callable[[_Env], object]
_Ref = tuple[int, str]  # a task's index, and the name it goes by in the context


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class _Facts:
    """What deciding one task's outcome needs to know about it."""

    has_logic: bool
    guard: _Node | None
    tests: tuple[_Ref, ...]
    needs: tuple[_Ref, ...]
    before: frozenset[str]


@final
@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class _FileCondition:
    """A task file's ``conditions: {if: EXPR}``, as a function of the context."""

    expression: _Node
    order: tuple[_Ref, ...]
    facts: Sequence[_Facts]
    text: str

    def __call__(self, context: Mapping[str, object]) -> bool:
        statuses: dict[int, str] = {}
        for index, name in self.order:
            statuses[index] = _status(self.facts[index], name, context, statuses)
        return bool(self.expression(_Env(context, statuses)))

    def __repr__(self) -> str:
        return f"<task file condition {self.text}>"


def _status(
    facts: _Facts, name: str, context: Mapping[str, object], statuses: dict[int, str]
) -> str:
    """Decide an earlier task's outcome from the context (see the module doc)."""
    recorded = _recorded(context, name)
    if recorded is not None:
        if recorded != "succeeded" or not facts.has_logic:
            return recorded
        return "succeeded" if bool(context.get(name)) else "failed"
    if any(statuses[index] != "succeeded" for index, _ in facts.needs):
        return "skipped"
    if facts.guard is not None:
        before = {key: value for key, value in context.items() if key in facts.before}
        try:
            holds = bool(facts.guard(_Env(before, statuses)))
        except Exception:  # as compile.py does: a condition that raises skips
            holds = False
        if not holds:
            return "skipped"
    if name in context and (not facts.has_logic or bool(context[name])):
        return "succeeded"
    return "failed"


def _recorded(context: Mapping[str, object], name: str) -> str | None:
    """Return the outcome the run recorded (a ``FiscusContext``), else ``None``."""
    status = getattr(context, "status", None)
    if not callable(status):
        return None
    try:
        recorded = status(name)
    except KeyError:  # not an earlier task of this context: infer it
        return None
    return str(recorded)


def _read(env: _Env, name: str, steps: Sequence[str | int], text: str) -> object:
    """Return a template's value from the context; raise if it has none."""
    if name not in env.context:
        msg = f"{text} needs task {name!r}, which did not succeed"
        raise LookupError(msg)
    value = env.context[name]
    for step in steps:
        found, item = child(value, step)
        if not found:
            msg = f"{text} found nothing at {step!r} in {kind(value)}"
            raise LookupError(msg)
        value = item
    return value


def _contains(within: object, item: object) -> bool:
    if not isinstance(within, Container):
        msg = f"'in' needs a list to look in, got {kind(within)}"
        raise TypeError(msg)
    return item in within


# ---------------------------------------------------------------- the compiler


@final
class _Compiler:
    """Turn checked task models into task dicts: names resolved, functions found."""

    def __init__(
        self,
        models: list[TaskModel],
        registry: Registry,
        where: str,
    ) -> None:
        self.models = models
        self.registry = registry
        self.where = where
        self.facts: list[_Facts] = []

    def compile(self) -> list[dict[str, object]]:
        return [self._task(index, model) for index, model in enumerate(self.models)]

    def _task(self, index: int, model: TaskModel) -> dict[str, object]:
        task: dict[str, object] = {"connector": model.connector}
        task.update(operation=model.operation, params=dict(model.params))
        if model.id is not None:
            if any(other.id == model.id for other in self.models[:index]):
                problem = f"{excerpt(model.id)} is taken; ids must be unique"
                raise self._error(index, "id", problem)
            task["id"] = model.id
        if model.depends_on is not None:
            names = model.depends_on
            for name in [names] if isinstance(names, str) else names:
                self._resolve(index, name, "depends_on")
            task["depends_on"] = names
        if model.custom_logic is not None:
            logic = self._function(index, model.custom_logic, "custom_logic")
            task["custom_logic"] = logic
        if model.callbacks:
            task["callbacks"] = {
                kind: self._function(index, name, f"callbacks.{kind}")
                for kind, name in model.callbacks.items()
            }
        self._condition(index, model, task)
        return task

    def _condition(self, index: int, model: TaskModel, task: dict[str, object]) -> None:
        """Compile the task's condition, and record how to decide its outcome."""
        needs = self._needs(index, model.params)
        tests: list[_Ref] = []
        guard = None
        if model.conditions is not None:
            if_ = model.conditions.if_
            guard = self._expression(index, if_, "conditions.if", tests)
            task["conditions"] = {
                "if": _FileCondition(
                    expression=guard,
                    order=self._closure(tests),
                    facts=self.facts,
                    text=shorten(
                        if_.model_dump_json(by_alias=True, exclude_unset=True), 200
                    ),
                )
            }
        before = (name for other in self.models[:index] for name in _names(other))
        facts = _Facts(
            has_logic=model.custom_logic is not None,
            guard=guard,
            tests=tuple(tests),
            needs=needs,
            before=frozenset(before),
        )
        self.facts.append(facts)

    def _closure(self, tests: list[_Ref]) -> tuple[_Ref, ...]:
        """Return every task whose outcome deciding ``tests`` needs, in order."""
        found: dict[int, str] = {}
        stack = list(tests)
        while stack:
            index, name = stack.pop()
            if index not in found:
                found[index] = name
                stack.extend(self.facts[index].tests + self.facts[index].needs)
        return tuple(sorted(found.items()))

    def _error(self, index: int, field: str, problem: str) -> TaskDefinitionError:
        return task_error(self.where, index, field, problem)

    def _resolve(self, index: int, name: str, field: str) -> int:
        found = [j for j, model in enumerate(self.models) if name in _names(model)]
        if not found:
            known = sorted({m.id or m.operation for m in self.models[:index]})[:20]
            problem = f"is no task's id or operation; the tasks before go by {known}"
        elif len(found) > 1:
            problem = f"is the name of tasks {found[:20]}; give them ids, and use those"
        elif found[0] >= index:
            problem = f"is task {found[0]}; a task can only name the tasks before it"
        else:
            return found[0]
        raise self._error(index, field, f"names {excerpt(name)}, which {problem}")

    def _function(self, index: int, name: str, field: str) -> Callable[..., object]:
        if name in self.registry:
            return self.registry[name]
        problem = (
            f"names {excerpt(name)}, which is not registered; the registered names "
            f"are {sorted(self.registry)[:20]}; pass registry={{name: function}}"
        )
        raise self._error(index, field, problem)

    def _template(self, index: int, match: re.Match[str], field: str) -> _Ref:
        if has_private_step(match.group(2)):
            problem = (
                f"has the template {excerpt(match.group(0))}, whose path has a name "
                "starting with '_'; use the fields of the task's result"
            )
            raise self._error(index, field, problem)
        return self._resolve(index, match.group(1), field), match.group(1)

    def _needs(self, index: int, params: Mapping[str, JsonValue]) -> tuple[_Ref, ...]:
        needs: list[_Ref] = []
        for key, value in params.items():
            stack: list[JsonValue] = [value]
            while stack:
                item = stack.pop()
                if isinstance(item, str):
                    matches = TEMPLATE.finditer(item)
                    needs.extend(
                        self._template(index, m, f"params.{key}") for m in matches
                    )
                elif isinstance(item, dict | list):
                    stack.extend(item.values() if isinstance(item, dict) else item)
        return tuple(needs)

    def _expression(
        self, index: int, expr: Form, path: str, tests: list[_Ref]
    ) -> _Node:
        key, value = expr.form()
        here = f"{path}.{key}"
        if value is None:
            raise self._error(index, here, "is null; give it a value")
        if isinstance(expr, Outcome):
            target = self._resolve(index, str(value), here)
            tests.append((target, str(value)))
            return lambda env: env.statuses[target] == key
        if isinstance(expr, Compare | In):
            assert isinstance(value, tuple)  # validated as a pair
            left = self._operand(index, value[0], f"{here}.0")
            if isinstance(expr, In):
                within = self._within(index, value[1], f"{here}.1")
                return lambda env: _contains(within(env), left(env))
            right, compare = (
                self._operand(index, value[1], f"{here}.1"),
                OPERATORS[key],
            )
            return lambda env: compare(left(env), right(env))
        if isinstance(expr, Junction):
            assert isinstance(value, list)  # validated as a list of expressions
            parts = [
                self._expression(index, p, f"{here}.{n}", tests)
                for n, p in enumerate(value)
            ]
            junction = all if key == "and" else any
            return lambda env: junction(bool(part(env)) for part in parts)
        if isinstance(expr, Not):
            assert isinstance(value, Form)  # validated as an expression
            negated = self._expression(index, value, here, tests)
            return lambda env: not negated(env)
        function = self._function(index, str(value), here)
        return lambda env: function(dict(env.context))

    def _within(self, index: int, value: JsonValue, field: str) -> _Node:
        if isinstance(value, list):
            items = [
                self._operand(index, v, f"{field}.{n}") for n, v in enumerate(value)
            ]
            return lambda env: [item(env) for item in items]
        if isinstance(value, str) and TEMPLATE.fullmatch(value.strip()):
            return self._operand(index, value, field)
        problem = "must be a list, or a '{{task.field}}' template of one"
        raise self._error(index, field, problem)

    def _operand(self, index: int, value: JsonValue, field: str) -> _Node:
        if not isinstance(value, str) or "{{" not in value:
            return lambda env: value
        matches = list(TEMPLATE.finditer(value))
        if not matches:
            problem = "has '{{' but no template; write '{{task_id.field}}'"
            raise self._error(index, field, problem)
        for match in matches:
            self._template(index, match, field)
        reads = [(m.group(1), template_path(m.group(2)), m.group(0)) for m in matches]
        if len(matches) == 1 and matches[0].group(0) == value.strip():
            name, steps, text = reads[0]
            return lambda env: _read(env, name, steps, text)
        texts = TEMPLATE.split(value)[::3]  # the text around the templates
        pairs = list(zip(texts, reads, strict=False))
        return lambda env: (
            "".join(text + str(_read(env, *read)) for text, read in pairs) + texts[-1]
        )


def _names(model: TaskModel) -> set[str]:
    return {model.operation} if model.id is None else {model.operation, model.id}
