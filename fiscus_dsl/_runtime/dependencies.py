"""What a slot waits for and what it cannot do without, at run time.

The scheduler counts a slot's dependencies to know when it may start; a
dependency whose *value* is missing (failed or skipped) skips it, while one
it only tests the outcome of does not. This module also evaluates a
workflow's output, where a missing value reads as ``None``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fiscus_dsl._graph.model import (
    ArgSpec,
    DictArg,
    ListArg,
)
from fiscus_dsl._runtime.resolve import Unavailable, resolve
from fiscus_dsl._runtime.results import TaskStatus

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fiscus_dsl._runtime.slots import Scope, Slot


def inside(slot: Slot, scope: Scope) -> bool:
    """Tell whether a slot belongs to a scope, directly or in a nested one."""
    current: Slot | None = slot
    while current is not None:
        if current.scope is scope:
            return True
        current = current.owner or current.scope.owner
    return False


def value_dependencies(slot: Slot) -> Iterator[Slot]:
    """Yield the slots whose values a slot's arguments cannot do without."""
    scope_slots = slot.scope.slots
    for dep_id in slot.node.value_deps:
        yield scope_slots[dep_id]


def past_tense(status: TaskStatus | None) -> str:
    """Say what happened to a task whose value is missing."""
    if status is TaskStatus.FAILED:
        return "failed"
    if status is TaskStatus.SKIPPED:
        return "was skipped"
    return "did not run"


def output_value(spec: ArgSpec, probe: Slot) -> object:
    """Evaluate an output spec; what depends on a missing value is ``None``."""
    if isinstance(spec, ListArg):
        items = [output_value(item, probe) for item in spec.items]
        return tuple(items) if spec.is_tuple else items
    if isinstance(spec, DictArg):
        return {
            key: output_value(value, probe)
            for key, value in zip(spec.keys, spec.values, strict=True)
        }
    try:
        return resolve(spec, probe)
    except Unavailable:
        return None
