"""Context-scoped replacements of what a task runs: the testing kit's stubs.

A stub changes the plan the runner calls for one task, and must do so for
the code of one test only: not for another thread, nor for a concurrent
asyncio task. The replacements live in a ``ContextVar`` (copied on write),
and ``Task.plan`` asks here first. Builds nothing and runs nothing.
"""

from __future__ import annotations

from contextvars import ContextVar
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fiscus_dsl._dsl.task import TaskPlan

# By the task's id; the entry holds the task itself, so that the id cannot be
# reused by another task while the entry is there.
_PLANS: Final[ContextVar[Mapping[int, tuple[object, TaskPlan]]]] = ContextVar(
    "fiscus_plan_overrides", default=MappingProxyType({})
)


def plan_override(task: object) -> TaskPlan | None:
    """Return the plan that replaces ``task``'s in this context, if any."""
    entry = _PLANS.get().get(id(task))
    return None if entry is None else entry[1]


def set_plan_override(task: object, plan: TaskPlan | None) -> None:
    """Make ``task`` run ``plan`` in this context from now on (``None``: its own)."""
    plans = dict(_PLANS.get())
    if plan is None:
        plans.pop(id(task), None)
    else:
        plans[id(task)] = (task, plan)
    _PLANS.set(MappingProxyType(plans))
