"""The dependency edges of a dry-run plan, read from the run's slots.

A plan lists the steps that were called, skipped, invalid or not run, not
the whole of a map or of a sub-workflow that succeeded. ``with_dependencies``
gives each listed step the ids of the listed steps it waits for: a
dependency on a map stands for its instances, one on a sub-workflow for the
last steps of its instances, and one on a step the plan does not list (an
empty map) for what that step waited for. A map's instances and a
sub-workflow's first steps wait for what their owner waited for. It reads
slots only and runs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fiscus_dsl._runtime.slots import Scope

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator, Sequence

    from fiscus_dsl._connectors.plan_model import Plan
    from fiscus_dsl._runtime.slots import Slot


def with_dependencies(plan: Plan, slots: Sequence[Slot]) -> Plan:
    """Return ``plan`` with each step's ``depends_on`` filled in from ``slots``."""
    listed = {step.task_id for step in plan.steps}
    by_id = {slot.id: slot for slot in slots}
    steps = []
    for step in plan.steps:
        upstream = _upstream(by_id[step.task_id])  # every step is a slot's
        depends_on = _unique(_standing_for(upstream, listed))
        steps.append(step.model_copy(update={"depends_on": depends_on}))
    return plan.model_copy(update={"steps": steps})


def _upstream(slot: Slot) -> list[Slot]:
    """Return the slots ``slot`` waits for, its owner's included."""
    deps = list(slot.deps)
    if slot.owner is not None:  # a map's instance: what the map waited for
        deps += _upstream(slot.owner)
    elif not deps and slot.scope.owner is not None:  # a sub-workflow's first step
        deps += _upstream(slot.scope.owner)
    return deps


def _standing_for(deps: Iterable[Slot], listed: Collection[str]) -> Iterator[str]:
    """Yield the listed step ids that stand for a dependency on each of ``deps``."""
    for dep in deps:
        if dep.id in listed:
            yield dep.id
        elif dep.children:
            yield from _standing_for(_last_steps(dep.children), listed)
        else:  # not listed and nothing inside it: pass through to what it waited for
            yield from _standing_for(_upstream(dep), listed)


def _last_steps(children: Sequence[Slot] | Sequence[Scope]) -> Iterator[Slot]:
    """Yield a map's instances, or the slots no other slot of a scope waits for."""
    for child in children:
        if isinstance(child, Scope):
            yield from (
                slot for slot in child.slots.values() if slot.dependents is None
            )
        else:
            yield child


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))
