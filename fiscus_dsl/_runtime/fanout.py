"""Fan-out at run time: the instances of a mapped task and of sub-workflows.

A mapped task becomes one slot per item of its lists (``name[0]``,
``name[1]``, ...), each owned by the map's slot; a sub-workflow becomes one
scope per instance (``sub/`` or ``sub[0]/`` before its tasks' ids), owned
by the sub-workflow's slot. The scheduler settles the owner once every
instance has. Knows no HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fiscus_dsl._runtime.hooks import merge_hooks
from fiscus_dsl._runtime.slots import Scope, Slot

if TYPE_CHECKING:
    from collections.abc import Sequence


def map_instances(slot: Slot, items: Sequence[dict[str, object]]) -> list[Slot]:
    """Make one slot per item of a mapped task, owned by ``slot``."""
    children = []
    for index, item in enumerate(items):
        child = Slot(f"{slot.id}[{index}]", slot.node, slot.scope, slot.task_plan)
        child.owner = slot
        child.item = item
        children.append(child)
    slot.children = children
    slot.children_left = len(children)
    return children


def workflow_instances(
    slot: Slot,
    inputs: dict[str, object],
    items: Sequence[dict[str, object]] | None,
) -> list[Scope]:
    """Make the scopes of a sub-workflow node: one, or one per mapped item."""
    node = slot.node
    scope = slot.scope
    assert node.kind == "workflow"  # workflow slots only
    if items is None:
        instances = [(f"{slot.id}/", inputs)]
    else:
        instances = [
            (f"{slot.id}[{i}]/", {**inputs, **item}) for i, item in enumerate(items)
        ]
    child_plan = node.child
    assert child_plan is not None  # a sub-workflow step always has its plan
    scopes = [
        Scope(
            child_plan,
            prefix=prefix,
            inputs=values,
            owner=slot,
            hooks=merge_hooks(scope.hooks, child_plan.hooks),
        )
        for prefix, values in instances
    ]
    slot.children = scopes
    slot.children_left = len(scopes)
    return scopes
