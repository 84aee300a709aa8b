"""Turning argument specs and guards into values and decisions at run time.

A spec resolves against the slots of its scope: a reference to a task that
did not succeed is *unavailable* (the consumer is skipped), a projection
that finds nothing is a ``ProjectionError``. Guards are decided in
three-valued logic: true, false, or undecidable (``None``) when they need a
value that does not exist; undecidable guards skip both branches.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from fiscus_dsl._graph.model import (
    AndCondition,
    ArgSpec,
    CoalesceArg,
    CompareCondition,
    Condition,
    ConstCondition,
    DictArg,
    InputArg,
    ListArg,
    NotCondition,
    OrCondition,
    OutcomeArg,
    OutcomeCondition,
    PredicateCondition,
    RefArg,
    Step,
    ValueArg,
    format_path,
)
from fiscus_dsl._runtime.results import TaskOutcome, TaskStatus
from fiscus_dsl._runtime.slots import OUTPUT_ID
from fiscus_dsl._runtime.symbols import Symbol, Undecided, first_symbol
from fiscus_dsl.errors import ArgumentValidationError, GuardError, ProjectionError

if TYPE_CHECKING:
    from fiscus_dsl._runtime.slots import Slot

#: The comparisons of guards, by the names the graph gives them.
OPERATORS: Final[dict[str, Callable[[Any, Any], object]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "in": lambda left, right: operator.contains(right, left),
}


class Unavailable(Exception):  # noqa: N818  (a control-flow signal users never see)
    """A spec needs the value of a task that did not succeed."""

    def __init__(self, source: Slot | None) -> None:
        super().__init__()
        self.source = source


def _step(value: object, step: Step) -> object:
    key = step.key
    if step.kind == "attr":
        if isinstance(value, Mapping):
            return value[key]
        return getattr(value, str(key))
    return value[key]  # type: ignore[index]  # a TypeError becomes a ProjectionError


def project(
    value: object, path: tuple[Step, ...], consumer: Slot, source: str
) -> object:
    """Apply a projection path to a value, or raise ``ProjectionError``."""
    for index, step in enumerate(path):
        try:
            value = _step(value, step)
        except (LookupError, AttributeError, TypeError) as exc:
            done = format_path(path[:index])
            where = f" at {source}{done}" if done else ""
            reason = f"the {type(value).__name__} value{where} has no {step}"
            raise ProjectionError(
                workflow=consumer.scope.workflow,
                task_id=None if consumer.node.id == OUTPUT_ID else consumer.id,
                source=source,
                path=format_path(path),
                reason=reason,
            ) from exc
    return value


def resolve(spec: ArgSpec, consumer: Slot) -> object:
    """Return the value of ``spec`` in the consumer's scope.

    Raises:
        Unavailable: A referenced task did not succeed.
        ProjectionError: A projection found nothing.
    """
    kind = type(spec)
    if kind is RefArg:
        source = consumer.scope.slots[spec.node]  # type: ignore[union-attr]  # kind checked above
        if source.status is not TaskStatus.SUCCEEDED:
            raise Unavailable(source)
        path = spec.path  # type: ignore[union-attr]  # kind checked above
        return (
            project(source.value, path, consumer, source.id) if path else source.value
        )
    if kind is ValueArg:
        return spec.value  # type: ignore[union-attr]  # kind checked above
    if isinstance(spec, OutcomeArg):
        source = consumer.scope.slots[spec.node]
        status = source.status
        assert status is not None  # the consumer waited for it to settle
        result = TaskOutcome(status, source.value, source.error)
        return project(result, spec.path, consumer, source.id) if spec.path else result
    if isinstance(spec, InputArg):
        value = consumer.scope.inputs[spec.name]
        return project(value, spec.path, consumer, spec.name) if spec.path else value
    if isinstance(spec, ListArg):
        items = [resolve(item, consumer) for item in spec.items]
        return tuple(items) if spec.is_tuple else items
    if isinstance(spec, DictArg):
        return {
            key: resolve(value, consumer)
            for key, value in zip(spec.keys, spec.values, strict=True)
        }
    assert isinstance(spec, CoalesceArg)
    for option in spec.options:
        try:
            return resolve(option, consumer)
        except Unavailable:
            continue
    raise Unavailable(None)


def decide(cond: Condition, consumer: Slot) -> bool | None:
    """Decide a guard: ``True``, ``False``, or ``None`` when it cannot be decided.

    Raises:
        GuardError: A comparison or predicate raised.
        ProjectionError: A projection in the guard found nothing.
    """
    if isinstance(cond, OutcomeCondition):
        source = consumer.scope.slots[cond.node]
        if isinstance(source.value, Symbol):  # a plan: it may succeed or fail
            raise Undecided(source.value)
        return source.status.value == cond.test  # type: ignore[union-attr]  # settled before the consumer
    if isinstance(cond, ConstCondition):
        return cond.value
    if isinstance(cond, NotCondition):
        decided = decide(cond.operand, consumer)
        return None if decided is None else not decided
    if isinstance(cond, AndCondition | OrCondition):
        return _combine(cond, consumer)
    if isinstance(cond, CompareCondition):
        return _compare(cond, consumer)
    return _predicate(cond, consumer)


def _combine(cond: AndCondition | OrCondition, consumer: Slot) -> bool | None:
    deciding = isinstance(cond, OrCondition)  # the value that settles it at once
    result: bool | None = not deciding
    undecided: Undecided | None = None  # in a plan: an operand needs a symbol
    for operand in cond.operands:
        try:
            decided = decide(operand, consumer)
        except Undecided as exc:
            undecided = exc
            continue
        if decided is deciding:
            return deciding
        if decided is None:
            result = None
    if undecided is not None:
        raise undecided
    return result


def _compare(cond: CompareCondition, consumer: Slot) -> bool | None:
    try:
        left = resolve(cond.left, consumer)
        right = resolve(cond.right, consumer)
    except Unavailable:
        return None
    symbol = first_symbol(left, right)
    if symbol is not None:  # a plan without the sample response
        raise Undecided(symbol)
    try:
        return bool(OPERATORS[cond.op](left, right))
    except Exception as exc:  # the values' own __eq__, __lt__...: user code
        raise GuardError(
            workflow=consumer.scope.workflow,
            task_id=consumer.id,
            predicate=f"<{cond.op} comparison>",
        ) from exc


def _predicate(cond: PredicateCondition, consumer: Slot) -> bool | None:
    function = consumer.node.predicates[cond.key]
    try:
        values = [resolve(arg, consumer) for arg in cond.args]
    except Unavailable:
        return None
    symbol = first_symbol(*values)
    if symbol is not None:  # a plan without the sample response
        raise Undecided(symbol)
    try:
        decided = function(*values)
    except Exception as exc:  # the predicate is user code: a GuardError names it
        raise GuardError(
            workflow=consumer.scope.workflow, task_id=consumer.id, predicate=cond.name
        ) from exc
    if inspect.isawaitable(decided):
        if inspect.iscoroutine(decided):
            decided.close()
        msg = (
            "when() predicates must be plain functions; this one returned an awaitable"
        )
        raise GuardError(
            workflow=consumer.scope.workflow, task_id=consumer.id, predicate=cond.name
        ) from TypeError(msg)
    return bool(decided)


def mapped_items(slot: Slot) -> list[dict[str, object]]:
    """Return the arguments of each instance of a mapped node, zipping its lists.

    Raises:
        Unavailable: A mapped list's task did not succeed.
        ProjectionError: A projection in a mapped list found nothing.
        ArgumentValidationError: A mapped value is not a list, or the lists
            differ in length.
    """
    node = slot.node
    mapped = node.mapped if node.kind != "task" else None
    assert mapped is not None  # map and mapped workflow slots only
    lists = {name: resolve(spec, slot) for name, spec in mapped.items()}
    if any(isinstance(value, Symbol) for value in lists.values()):
        return _templated(lists)
    problems = [
        (name, f"expected a list to map over, got {type(value).__name__}")
        for name, value in lists.items()
        if not isinstance(value, list | tuple)
    ]
    checked: dict[str, list[object]] = lists  # type: ignore[assignment]  # when no problems
    lengths = set() if problems else {len(value) for value in checked.values()}
    if len(lengths) > 1:
        sizes = ", ".join(f"{name}={len(value)}" for name, value in checked.items())
        problems = [
            (name, f"lists to map differ in length ({sizes})") for name in lists
        ]
    if problems:
        raise ArgumentValidationError(
            workflow=slot.scope.workflow,
            task_id=slot.id,
            errors=problems,
            fix="pass lists (or futures of lists) of the same length to map()",
        )
    count = lengths.pop() if lengths else 0
    return [
        {name: value[index] for name, value in checked.items()}
        for index in range(count)
    ]


def _templated(lists: dict[str, object]) -> list[dict[str, object]]:
    """In a plan, map a list it does not know as one instance, item ``[*]``.

    Lists it knows keep their length; a symbolic list beside them gives
    each instance its item by index.
    """
    known = [len(value) for value in lists.values() if isinstance(value, list | tuple)]
    count = known[0] if known else 1
    return [
        {
            name: value[index]  # type: ignore[index]  # a list, a tuple or a Symbol
            if not isinstance(value, Symbol) or known
            else value.every_item()
            for name, value in lists.items()
        }
        for index in range(count)
    ]
