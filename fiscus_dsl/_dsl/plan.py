"""The compiled plan of a workflow: what tracing produces and every run reads.

A ``Plan`` is the workflow's steps in call order, each a slotted
``PlanNode`` that owns everything needed to run it: the task (pickled by its
import path), its argument specs, the ids it waits for, its guard, its
policy, and the validation error tracing found in its literal arguments. A
sub-workflow's node holds the sub-workflow's own plan. The scheduler, the
journal, the checker and the dict API read plans; the pydantic
``WorkflowGraph`` is drawn from a plan only when asked (``plan.graph()``).

A plan ships to another process with ``pickle`` when every callable it
holds (tasks, guard predicates, hooks) is importable by its module and
qualified name; ``check_shippable`` (run by pickling) says which one is not,
naming the workflow and the task. Builds data; runs nothing: no asyncio,
no opentelemetry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, final

from fiscus_dsl._graph.model import (
    MapNode,
    Node,
    TaskNode,
    WorkflowGraph,
    WorkflowNode,
    construct_trusted,
)
from fiscus_dsl._graph.specs import (
    DEFAULT_POLICY,
    ArgSpec,
    Condition,
    ListArg,
    Policy,
    RefArg,
    ValueArg,
    arg_refs,
    condition_refs,
    value_refs,
)
from fiscus_dsl.errors import PlanShippingError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from fiscus_dsl._dsl.hooks import Hooks
    from fiscus_dsl._dsl.task import Task
    from fiscus_dsl._graph.specs import OperationRef
    from fiscus_dsl._types import NodeId
    from fiscus_dsl.errors import ArgumentValidationError

NodeKind: TypeAlias = Literal["task", "map", "workflow"]
FastArg: TypeAlias = "tuple[str, NodeId | tuple[NodeId, ...] | None, object]"
"""``(parameter, source, literal)``: a ``PlanNode.fast`` argument.

The source is a step id (that step's value), a tuple of step ids (the list
of their values), or ``None`` (the literal).
"""
_EMPTY: Final[dict[str, ArgSpec]] = {}
# Shared by the steps without guard predicates; never changed (a step with
# some gets a dict of its own).
_NO_PREDICATES: Final[dict[str, Callable[..., object]]] = {}


@final
class PlanNode:
    """One step of a plan: a task call, a mapped task, or a sub-workflow.

    Attributes:
        id: The step's id in its workflow (``send``, ``send#2``).
        kind: ``"task"``, ``"map"`` or ``"workflow"``.
        name: The task's or sub-workflow's name.
        task: The task a task or map step calls (``None`` for a sub-workflow).
        args: The argument specs by parameter name (for a map, those bound
            with ``partial``).
        fast: For a call whose arguments are all scalar literals, whole
            values of earlier steps, or lists of those values, a
            ``FastArg`` per argument: what tracing records and a run
            reads, the ``args`` specs being made from it only when asked.
        mapped: The mapped lists of a map step or mapped sub-workflow.
        guard: The condition it runs under, if any.
        policy: Retries, timeout and on_error as data.
        location: ``file.py:LINE`` of the call in the workflow body.
        invalid: The error of literal arguments that failed validation
            while tracing; the step fails with it when the run reaches it.
        child: The plan of a sub-workflow step.
        predicates: The functions its guard's ``when(predicate, ...)`` call,
            by key.
        deps: The ids it waits for (values, outcomes and guard operands).
        value_deps: The ids whose values its arguments cannot do without.
    """

    __slots__ = (
        "_args",
        "child",
        "deps",
        "fast",
        "guard",
        "id",
        "invalid",
        "kind",
        "location",
        "mapped",
        "name",
        "policy",
        "predicates",
        "task",
        "value_deps",
    )

    def __init__(
        self,
        *,
        node_id: NodeId,
        kind: NodeKind,
        name: str,
        args: dict[str, ArgSpec] | None = None,
        fast: tuple[FastArg, ...] | None = None,
        task: Task[..., Any] | None = None,
        mapped: dict[str, ArgSpec] | None = None,
        guard: Condition | None = None,
        policy: Policy = DEFAULT_POLICY,
        location: str | None = None,
        invalid: ArgumentValidationError | None = None,
        child: Plan | None = None,
    ) -> None:
        self.id = node_id
        self.kind = kind
        self.name = name
        self.task = task
        self._args = args
        self.fast = fast
        self.mapped = mapped
        self.guard = guard
        self.policy = policy
        self.location = location
        self.invalid = invalid
        self.child = child
        self.predicates: dict[str, Callable[..., object]] = _NO_PREDICATES
        if fast is not None:
            self.deps, self.value_deps = _fast_dependencies(fast, guard)
        else:
            self.deps, self.value_deps = _dependencies(self.args, mapped, guard)

    @property
    def args(self) -> dict[str, ArgSpec]:
        """Return the argument specs by parameter name (made once from ``fast``)."""
        args = self._args
        if args is None:
            args = self._args = {
                name: _fast_spec(ref, literal) for name, ref, literal in self.fast or ()
            }
        return args

    def to_node(self) -> Node:
        """Return the step as a graph node (sub-workflows with their graph)."""
        common: dict[str, object] = {
            "id": self.id,
            "args": self.args,
            "guard": self.guard,
            "location": self.location,
        }
        if self.kind == "task":
            fields = {**common, "kind": "task", "task": self.name}
            fields.update(policy=self.policy, operation=self._operation())
            return construct_trusted(TaskNode, fields)
        if self.kind == "map":
            assert self.mapped is not None  # a map step always has its lists
            fields = {**common, "kind": "map", "task": self.name}
            fields.update(mapped=self.mapped, policy=self.policy)
            fields.update(operation=self._operation())
            return construct_trusted(MapNode, fields)
        assert self.child is not None  # a sub-workflow step always has its plan
        fields = {**common, "kind": "workflow", "workflow": self.name}
        fields.update(graph=self.child.graph(), mapped=self.mapped)
        return construct_trusted(WorkflowNode, fields)

    def _operation(self) -> OperationRef | None:
        """Return the connector API the step's task calls, read when drawn."""
        return None if self.task is None else self.task.options.operation

    def __repr__(self) -> str:
        return f"<PlanNode {self.kind} {self.id!r}>"


def _fast_spec(source: NodeId | tuple[NodeId, ...] | None, literal: object) -> ArgSpec:
    """Return the spec of one ``fast`` argument: a reference, a list, a literal."""
    if source is None:
        return construct_trusted(ValueArg, {"kind": "value", "value": literal})
    if isinstance(source, tuple):
        items = tuple(_fast_spec(ref, None) for ref in source)
        return construct_trusted(
            ListArg, {"kind": "list", "items": items, "is_tuple": False}
        )
    return construct_trusted(RefArg, {"kind": "ref", "node": source, "path": ()})


def _fast_dependencies(
    fast: tuple[FastArg, ...], guard: Condition | None
) -> tuple[tuple[NodeId, ...], tuple[NodeId, ...]]:
    """Return ``(deps, value_deps)`` of a step recorded in the fast form."""
    needs: list[NodeId] = []
    for _, source, _ in fast:
        if source is None:
            continue
        if isinstance(source, str):
            needs.append(source)
        else:
            needs.extend(source)
    values = tuple(dict.fromkeys(needs)) if len(needs) > 1 else tuple(needs)
    if guard is None:
        return values, values
    return tuple(dict.fromkeys([*values, *condition_refs(guard)])), values


def _dependencies(
    args: Mapping[str, ArgSpec],
    mapped: Mapping[str, ArgSpec] | None,
    guard: Condition | None,
) -> tuple[tuple[NodeId, ...], tuple[NodeId, ...]]:
    """Return ``(deps, value_deps)``: what a step waits for, and needs the value of."""
    if mapped is None and guard is None:  # the common case: plain references
        refs = [spec.node for spec in args.values() if spec.kind == "ref"]
        if len(refs) == sum(spec.kind != "value" for spec in args.values()):
            deps = tuple(dict.fromkeys(refs)) if len(refs) > 1 else tuple(refs)
            return deps, deps
    specs = [*args.values(), *(mapped or _EMPTY).values()]
    waits: dict[NodeId, None] = {}
    needs: dict[NodeId, None] = {}
    for spec in specs:
        waits.update(dict.fromkeys(arg_refs(spec)))
        needs.update(dict.fromkeys(value_refs(spec)))
    if guard is not None:
        waits.update(dict.fromkeys(condition_refs(guard)))
    return tuple(waits), tuple(needs)


@final
class Plan:
    """The compiled plan of one workflow (or of one direct task call).

    Attributes:
        name: The workflow's name (the task's, for a direct call).
        inputs: The inputs left as placeholders while tracing.
        nodes: The steps in call order: every reference is to an earlier step.
        output: The spec of the workflow's return value.
        hooks: The ``Hooks`` registered on the workflow.
        standalone: True for the one-task plan of a task called directly.
    """

    __slots__ = (
        "_graph",
        "_index",
        "hooks",
        "inputs",
        "name",
        "nodes",
        "output",
        "standalone",
    )

    def __init__(
        self,
        *,
        name: str,
        nodes: tuple[PlanNode, ...],
        inputs: tuple[str, ...] = (),
        output: ArgSpec | None = None,
        hooks: tuple[Hooks, ...] = (),
        standalone: bool = False,
    ) -> None:
        self.name = name
        self.nodes = nodes
        self.inputs = inputs
        self.output = output
        self.hooks = hooks
        self.standalone = standalone
        self._graph: WorkflowGraph | None = None
        self._index: dict[NodeId, PlanNode] | None = None

    @property
    def predicates(self) -> dict[str, Callable[..., object]]:
        """Return the guard predicates of this plan's steps, by key (not nested)."""
        found: dict[str, Callable[..., object]] = {}
        for node in self.nodes:
            found.update(node.predicates)
        return found

    def plans(self) -> Iterator[Plan]:
        """Yield this plan and every sub-workflow's plan inside it."""
        yield self
        for node in self.nodes:
            if node.child is not None:
                yield from node.child.plans()

    def node(self, node_id: NodeId) -> PlanNode:
        """Return the step with this id, or raise ``KeyError``."""
        if self._index is None:
            self._index = {node.id: node for node in self.nodes}
        return self._index[node_id]

    def graph(self) -> WorkflowGraph:
        """Return the plan as a ``WorkflowGraph`` (drawn once, on first request)."""
        if self._graph is None:
            # A plan is sound by construction (every reference is to an
            # earlier step), so the validator that guards loaded graphs is
            # skipped.
            self._graph = construct_trusted(
                WorkflowGraph,
                {
                    "name": self.name,
                    "inputs": self.inputs,
                    "nodes": tuple(node.to_node() for node in self.nodes),
                    "output": self.output,
                },
            )
        return self._graph

    def walk(self) -> Iterator[tuple[Plan, PlanNode]]:
        """Yield every step with its plan, sub-workflows' steps included."""
        for node in self.nodes:
            yield self, node
            if node.child is not None:
                yield from node.child.walk()

    def check_shippable(self) -> None:
        """Check that every callable of the plan can be pickled by reference.

        Raises:
            PlanShippingError: A task, guard predicate or hook is a lambda, a
                closure or otherwise not importable by its qualified name.
        """
        for plan, node in self.walk():
            if node.task is not None:
                _check_importable(node.task.__wrapped__, plan, f"task {node.id!r}")
            for key, function in node.predicates.items():
                _check_importable(function, plan, f"guard predicate {key!r}")
        for plan in self.plans():
            for hooks in plan.hooks:
                for kind, function in hooks.functions():
                    _check_importable(function, plan, f"{kind} hook")

    def __getstate__(self) -> dict[str, object]:
        """Pickle the plan's data, after checking it can be shipped."""
        self.check_shippable()
        return {name: getattr(self, name) for name in _SHIPPED}

    def __setstate__(self, state: dict[str, object]) -> None:
        for name in _SHIPPED:
            object.__setattr__(self, name, state[name])
        self._graph = None
        self._index = None

    def __repr__(self) -> str:
        return f"<Plan {self.name!r}: {len(self.nodes)} steps>"


_SHIPPED: Final = (
    "hooks",
    "inputs",
    "name",
    "nodes",
    "output",
    "standalone",
)


def _check_importable(function: object, plan: Plan, what: str) -> None:
    """Raise ``PlanShippingError`` unless ``function`` pickles by reference."""
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    problem = None
    if module is None or qualname is None:
        problem = f"is a {type(function).__name__} without a module and name"
    elif "<lambda>" in qualname:
        problem = "is a lambda"
    elif "<locals>" in qualname:
        problem = f"is defined inside a function ({qualname})"
    if problem is None:
        return
    msg = (
        f"Cannot ship the plan of workflow {plan.name!r} to another process: "
        f"its {what} {problem}; define it at module level so that it is "
        "imported by name where the plan runs"
    )
    raise PlanShippingError(msg, workflow=plan.name)
