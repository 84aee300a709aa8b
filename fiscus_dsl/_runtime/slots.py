"""The scheduler's records: a ``Slot`` per node instance, a ``Scope`` per graph.

These are slotted classes on the runner's hot path; results are built from
them once the run ends. A scope is the root workflow, or one instance of a
sub-workflow; a slot is a node of a scope, or one instance of a mapped task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, final

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from opentelemetry.context import Context
    from opentelemetry.trace import Span

    from fiscus_dsl._dsl.hooks import Hooks
    from fiscus_dsl._dsl.plan import Plan, PlanNode
    from fiscus_dsl._dsl.task import TaskPlan
    from fiscus_dsl._runtime.results import TaskStatus


OUTPUT_ID: Final = "<output>"
"""The node id of the probe slot that evaluates a workflow's output."""


@final
class Scope:
    """One instance of a graph: the root workflow or a sub-workflow instance."""

    __slots__ = (
        "context",
        "hooks",
        "inputs",
        "output",
        "owner",
        "plan",
        "prefix",
        "remaining",
        "slots",
        "span",
        "workflow",
    )

    def __init__(
        self,
        plan: Plan,
        *,
        prefix: str,
        inputs: dict[str, object],
        owner: Slot | None,
        hooks: tuple[Hooks, ...],
    ) -> None:
        self.plan = plan
        self.workflow = plan.name
        self.prefix = prefix
        self.inputs = inputs
        self.owner = owner
        self.hooks = hooks
        self.slots: dict[str, Slot] = {}
        self.remaining = 0
        self.output: object = None
        self.span: Span | None = None
        self.context: Context | None = None


@final
class Slot:
    """One node instance while a run executes."""

    __slots__ = (
        "attempts",
        "children",
        "children_left",
        "dependents",
        "deps",
        "ended_at",
        "error",
        "id",
        "item",
        "node",
        "owner",
        "reason",
        "scope",
        "started_at",
        "status",
        "task_plan",
        "value",
        "waiting",
    )

    def __init__(
        self, node_id: str, node: PlanNode, scope: Scope, plan: TaskPlan | None
    ) -> None:
        self.id = node_id
        self.node = node
        self.scope = scope
        self.task_plan = plan
        self.waiting = 0
        self.deps: Sequence[Slot] = ()
        #: The slots waiting for this one: one slot, a list of them, or none.
        self.dependents: Slot | list[Slot] | None = None
        self.status: TaskStatus | None = None
        self.value: object = None
        self.error: BaseException | None = None
        self.reason: str | None = None
        self.attempts = 0
        self.started_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.owner: Slot | None = None
        self.item: dict[str, object] | None = None
        self.children: Sequence[Slot] | Sequence[Scope] = ()
        self.children_left = 0

    @property
    def name(self) -> str:
        """Return the task's or sub-workflow's name."""
        return self.node.name
