"""The task graph as frozen pydantic models, and the rules that keep it sound.

A ``WorkflowGraph`` is data only: which tasks a workflow calls, with which
arguments (literal values, references to other tasks' values with a
projection path, or containers of those), under which guards and policies.
Sub-workflows nest as whole graphs; a mapped task is one node that becomes
many at run time. A connector's task names its connector, and an
operation its HTTP method and URL template too. The graph knows no
callables: the tracer keeps those next to it. This module imports no
asyncio and no opentelemetry.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias, final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fiscus_dsl._graph.render import render_dot, render_mermaid
from fiscus_dsl._graph.specs import (
    DEFAULT_POLICY as DEFAULT_POLICY,
)
from fiscus_dsl._graph.specs import (
    AndCondition as AndCondition,
)
from fiscus_dsl._graph.specs import (
    ArgSpec as ArgSpec,
)
from fiscus_dsl._graph.specs import (
    CoalesceArg as CoalesceArg,
)
from fiscus_dsl._graph.specs import (
    CompareCondition as CompareCondition,
)
from fiscus_dsl._graph.specs import (
    CompareOp as CompareOp,
)
from fiscus_dsl._graph.specs import (
    Condition as Condition,
)
from fiscus_dsl._graph.specs import (
    ConstCondition as ConstCondition,
)
from fiscus_dsl._graph.specs import (
    DictArg as DictArg,
)
from fiscus_dsl._graph.specs import (
    InputArg as InputArg,
)
from fiscus_dsl._graph.specs import (
    ListArg as ListArg,
)
from fiscus_dsl._graph.specs import (
    NotCondition as NotCondition,
)
from fiscus_dsl._graph.specs import (
    OperationRef as OperationRef,
)
from fiscus_dsl._graph.specs import (
    OrCondition as OrCondition,
)
from fiscus_dsl._graph.specs import (
    OutcomeArg as OutcomeArg,
)
from fiscus_dsl._graph.specs import (
    OutcomeCondition as OutcomeCondition,
)
from fiscus_dsl._graph.specs import (
    Policy as Policy,
)
from fiscus_dsl._graph.specs import (
    PredicateCondition as PredicateCondition,
)
from fiscus_dsl._graph.specs import (
    RefArg as RefArg,
)
from fiscus_dsl._graph.specs import (
    RetrySpec as RetrySpec,
)
from fiscus_dsl._graph.specs import (
    Step as Step,
)
from fiscus_dsl._graph.specs import (
    ValueArg as ValueArg,
)
from fiscus_dsl._graph.specs import (
    arg_refs as arg_refs,
)
from fiscus_dsl._graph.specs import (
    condition_refs as condition_refs,
)
from fiscus_dsl._graph.specs import (
    construct_trusted as construct_trusted,
)
from fiscus_dsl._graph.specs import (
    format_path as format_path,
)
from fiscus_dsl._graph.specs import (
    node_args as node_args,
)
from fiscus_dsl._graph.specs import (
    node_dependencies as node_dependencies,
)
from fiscus_dsl._graph.specs import (
    value_refs as value_refs,
)
from fiscus_dsl._types import NodeId

_FROZEN = ConfigDict(frozen=True, extra="forbid")

# ---------------------------------------------------------------- nodes


class _NodeFields(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    id: NodeId
    args: dict[str, ArgSpec] = Field(default_factory=dict)
    guard: Condition | None = None
    location: str | None = None


@final
class TaskNode(_NodeFields):
    """One call of a task; ``operation`` says which connector's API it calls."""

    kind: Literal["task"] = "task"
    task: str
    policy: Policy = DEFAULT_POLICY
    operation: OperationRef | None = None


@final
class MapNode(_NodeFields):
    """A task run once per item of ``mapped`` lists (``task.map``).

    ``args`` holds the arguments bound with ``partial``; instances get the ids
    ``{id}[0]``, ``{id}[1]``, ... ``operation`` is as for a ``TaskNode``.
    """

    kind: Literal["map"] = "map"
    task: str
    mapped: dict[str, ArgSpec]
    policy: Policy = DEFAULT_POLICY
    operation: OperationRef | None = None


@final
class WorkflowNode(_NodeFields):
    """A sub-workflow: its graph nests here; ``mapped`` makes it a fan-out."""

    kind: Literal["workflow"] = "workflow"
    workflow: str
    graph: WorkflowGraph
    mapped: dict[str, ArgSpec] | None = None


Node: TypeAlias = Annotated[
    TaskNode | MapNode | WorkflowNode, Field(discriminator="kind")
]

# ---------------------------------------------------------------- the graph


@final
class WorkflowGraph(BaseModel):
    """The traced graph of one workflow.

    Nodes are in the order they were called, so every reference points to an
    earlier node; validation rejects duplicate ids and dangling references.

    Examples:
        >>> from fiscus_dsl import task, workflow
        >>> @task
        ... def fetch(n: int) -> int:
        ...     return n
        >>> @workflow
        ... def flow(n: int) -> int:
        ...     return fetch(n)
        >>> graph = flow.graph()
        >>> graph.inputs, [node.id for node in graph.nodes]
        (('n',), ['fetch'])
        >>> graph.node("fetch").task
        'fetch'
        >>> graph.to_mermaid().splitlines()[0]
        'flowchart TD'
    """

    model_config = _FROZEN
    name: str
    inputs: tuple[str, ...] = ()
    nodes: tuple[Node, ...] = ()
    output: ArgSpec | None = None

    @model_validator(mode="after")
    def _check_references(self) -> WorkflowGraph:
        seen: set[NodeId] = set()
        for node in self.nodes:
            if node.id in seen:
                msg = (
                    f"Graph of workflow {self.name!r} has two nodes with id "
                    f"{node.id!r}; node ids must be unique: trace the workflow again"
                )
                raise ValueError(msg)
            for ref in node_dependencies(node):
                if ref not in seen:
                    msg = (
                        f"Node {node.id!r} of workflow {self.name!r} refers to "
                        f"{ref!r}, which is not an earlier node"
                    )
                    raise ValueError(msg)
            seen.add(node.id)
        if self.output is not None:
            missing = set(arg_refs(self.output)) - seen
            if missing:
                msg = (
                    f"Output of workflow {self.name!r} refers to unknown nodes "
                    f"{sorted(missing)}"
                )
                raise ValueError(msg)
        return self

    def node(self, node_id: NodeId) -> Node:
        """Return the node with this id, or raise ``KeyError``."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def to_mermaid(self) -> str:
        """Draw the graph as a Mermaid flowchart; guards label the edges."""
        return render_mermaid(self)

    def to_dot(self) -> str:
        """Draw the graph in Graphviz DOT; guards label the edges."""
        return render_dot(self)


TaskNode.model_rebuild()
MapNode.model_rebuild()
WorkflowNode.model_rebuild()
WorkflowGraph.model_rebuild()
