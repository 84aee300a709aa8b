"""Mermaid and DOT drawings of a workflow graph, and readable text for guards.

This module owns how a ``WorkflowGraph`` looks to people. ``describe_condition``
turns a guard into Python-like text; ``render_mermaid`` and ``render_dot`` lay
the graph out once (boxes, a cluster per sub-workflow, edges labelled with
guards) and write that layout in either syntax, deterministically. Node labels
carry ids and task names, and a connector's task a second line (its
operation's method and URL template, or the connector's name), never
argument values; a guard shows its literals truncated to ``LITERAL_LIMIT``
characters. It reads the graph model only (the graph's own module is
imported for types alone, so that ``WorkflowGraph`` can draw itself) and
must not import asyncio, opentelemetry or httpx.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from fiscus_dsl._graph.specs import (
    AndCondition,
    CompareCondition,
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
    ValueArg,
    condition_refs,
    format_path,
    node_dependencies,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from fiscus_dsl._graph.model import Node, WorkflowGraph
    from fiscus_dsl._graph.specs import ArgSpec, Condition, OperationRef
    from fiscus_dsl._types import NodeId

LITERAL_LIMIT: Final = 40
REDACTED: Final = "..."
"""The most characters a literal value takes in a guard's text."""

_OPERATORS: Final = {
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "in": "in",
}
_INDENT: Final = "    "
# Line breaks and other control characters would end a label's line early.
_CONTROL: Final = dict.fromkeys(
    [*map(chr, range(32)), "\x7f", "\x85", "\u2028", "\u2029"], " "
)
_MERMAID_ESCAPES: Final = str.maketrans(
    {
        **_CONTROL,
        "#": "#35;",
        '"': "#quot;",
        "&": "#amp;",
        "<": "#lt;",
        ">": "#gt;",
        "`": "#96;",
        "|": "#124;",
    }
)
_DOT_ESCAPES: Final = str.maketrans({**_CONTROL, "\\": "\\\\", '"': '\\"'})
_MERMAID_SHAPES: Final = {
    "task": ("[", "]"),
    "map": ("[[", "]]"),
    "inputs": ("([", "])"),
}
_DOT_SHAPES: Final = {"task": "", "map": ", peripheries=2", "inputs": ", shape=ellipse"}

# ---------------------------------------------------------------- guard text


def describe_arg(arg: ArgSpec, *, redact: bool = False) -> str:
    """Return an argument spec as Python-like text.

    References read ``node.path``, inputs ``name.path``; literals are their
    ``repr`` cut to ``LITERAL_LIMIT`` characters, or ``...`` with ``redact``.

    Examples:
        >>> from fiscus_dsl._graph.model import RefArg, Step
        >>> describe_arg(RefArg(node="contact", path=(Step(kind="attr", key="id"),)))
        'contact.id'
    """
    if isinstance(arg, RefArg):
        return arg.node + format_path(arg.path)
    if isinstance(arg, InputArg):
        return arg.name + format_path(arg.path)
    if isinstance(arg, ValueArg):
        return REDACTED if redact else _literal(arg.value)
    if isinstance(arg, ListArg):
        return _describe_list(arg, redact=redact)
    if isinstance(arg, DictArg):
        return _describe_dict(arg, redact=redact)
    if isinstance(arg, OutcomeArg):
        return f"outcome({arg.node}){format_path(arg.path)}"
    return f"coalesce({_describe_args(arg.options, redact=redact)})"


def describe_condition(cond: Condition, *, redact: bool = False) -> str:
    """Return a guard as Python-like text, as it would read in a workflow.

    Comparisons use Python operators (``in`` for ``is_in``), outcome tests and
    predicates read as calls, ``not``/``and``/``or`` combine them, and nested
    ``and``/``or`` groups are parenthesized. ``redact`` hides literal values
    (they may be workflow inputs), for text that reaches spans and results.

    Examples:
        >>> from fiscus_dsl._graph.model import OutcomeCondition, NotCondition
        >>> describe_condition(
        ...     NotCondition(operand=OutcomeCondition(test="succeeded", node="a"))
        ... )
        'not succeeded(a)'
    """
    if isinstance(cond, ConstCondition):
        return repr(cond.value)
    if isinstance(cond, OutcomeCondition):
        return f"{cond.test}({cond.node})"
    if isinstance(cond, PredicateCondition):
        return f"{cond.name}({_describe_args(cond.args, redact=redact)})"
    if isinstance(cond, CompareCondition):
        left = describe_arg(cond.left, redact=redact)
        right = describe_arg(cond.right, redact=redact)
        return f"{left} {_OPERATORS[cond.op]} {right}"
    if isinstance(cond, NotCondition):
        return _negated(cond.operand, redact=redact)
    if not cond.operands:
        return repr(isinstance(cond, AndCondition))
    word = " and " if isinstance(cond, AndCondition) else " or "
    return word.join(_junction_operand(op, redact=redact) for op in cond.operands)


def _negated(cond: Condition, *, redact: bool) -> str:
    """Write ``not x`` for a call-like guard, ``not (...)`` for any other."""
    text = describe_condition(cond, redact=redact)
    if isinstance(cond, ConstCondition | OutcomeCondition | PredicateCondition):
        return f"not {text}"
    return f"not ({text})"


def _junction_operand(cond: Condition, *, redact: bool) -> str:
    """Parenthesize an ``and``/``or`` group nested in another one."""
    text = describe_condition(cond, redact=redact)
    return f"({text})" if isinstance(cond, AndCondition | OrCondition) else text


def describe_operation(operation: OperationRef) -> str:
    """Return the line a connector's task adds to its node's label.

    An operation reads ``METHOD`` and its URL template without the scheme;
    a hand-written connector task, which has no single route, its
    connector's name.

    Examples:
        >>> from fiscus_dsl._graph.model import OperationRef
        >>> describe_operation(
        ...     OperationRef(
        ...         connector="CRMSystem",
        ...         method="GET",
        ...         url="https://crm.example.com/v1/contacts/{contact_id}",
        ...     )
        ... )
        'GET crm.example.com/v1/contacts/{contact_id}'
        >>> describe_operation(OperationRef(connector="CRMSystem"))
        'CRMSystem'
    """
    method, url = operation.method, operation.url
    if method is None or url is None:
        return operation.connector
    _, scheme, rest = url.partition("://")
    return f"{method} {rest if scheme else url}"


def _literal(value: object) -> str:
    text = repr(value)
    if len(text) <= LITERAL_LIMIT:
        return text
    return text[: LITERAL_LIMIT - 3] + "..."


def _describe_args(args: Iterable[ArgSpec], *, redact: bool) -> str:
    return ", ".join(describe_arg(arg, redact=redact) for arg in args)


def _describe_list(arg: ListArg, *, redact: bool) -> str:
    text = _describe_args(arg.items, redact=redact)
    if not arg.is_tuple:
        return f"[{text}]"
    return f"({text},)" if len(arg.items) == 1 else f"({text})"


def _describe_dict(arg: DictArg, *, redact: bool) -> str:
    pairs = zip(arg.keys, arg.values, strict=True)
    items = (f"{_literal(k)}: {describe_arg(v, redact=redact)}" for k, v in pairs)
    return "{" + ", ".join(items) + "}"


# ---------------------------------------------------------------- layout

_Shape = Literal["task", "map", "inputs"]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Box:
    """A drawn node; a sub-workflow box holds its own chart."""

    key: str
    label: str
    #: A second line: a connector task's operation.
    detail: str | None = None
    shape: _Shape = "task"
    inner: _Chart | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Edge:
    tail: str
    head: str
    label: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Chart:
    boxes: tuple[_Box, ...]
    edges: tuple[_Edge, ...]


def _layout(graph: WorkflowGraph, keys: Iterator[str], prefix: str) -> _Chart:
    """Give every node a safe key (``n0``, ``n1``, ...) and collect the edges."""
    inputs_key = f"{prefix}inputs"
    known: dict[NodeId, str] = {}
    boxes: list[_Box] = []
    edges: list[_Edge] = []
    for node in graph.nodes:
        key = known[node.id] = next(keys)
        boxes.append(_box(node, key, keys))
        edges.extend(_edges_into(node, key, known, inputs_key))
    if any(edge.tail == inputs_key for edge in edges):
        boxes.insert(0, _Box(key=inputs_key, label="inputs", shape="inputs"))
    return _Chart(boxes=tuple(boxes), edges=tuple(edges))


def _box(node: Node, key: str, keys: Iterator[str]) -> _Box:
    if node.kind == "workflow":
        label = _label(node.id, node.workflow, is_mapped=node.mapped is not None)
        inner = _layout(node.graph, keys, f"{key}_")
        return _Box(key=key, label=label, inner=inner)
    is_mapped = node.kind == "map"
    return _Box(
        key=key,
        label=_label(node.id, node.task, is_mapped=is_mapped),
        detail=None if node.operation is None else describe_operation(node.operation),
        shape="map" if is_mapped else "task",
    )


def _label(node_id: NodeId, name: str, *, is_mapped: bool) -> str:
    """Label a node ``id`` (``id[*]`` when mapped), then ``(name)`` if it differs."""
    text = f"{node_id}[*]" if is_mapped else node_id
    return text if name == node_id else f"{text} ({name})"


def _edges_into(
    node: Node, key: str, known: dict[NodeId, str], inputs_key: str
) -> Iterator[_Edge]:
    """Yield an edge per dependency; those the guard looks at carry its text."""
    guard = None if node.guard is None else describe_condition(node.guard)
    guard_refs = set() if node.guard is None else set(condition_refs(node.guard))
    for dep in node_dependencies(node):
        label = guard if dep in guard_refs else None
        yield _Edge(tail=known[dep], head=key, label=label)
    if guard is not None and not guard_refs:
        yield _Edge(tail=inputs_key, head=key, label=guard)


def _keys() -> Iterator[str]:
    return (f"n{number}" for number in itertools.count())


# ---------------------------------------------------------------- Mermaid


def render_mermaid(graph: WorkflowGraph) -> str:
    """Draw a graph as a Mermaid ``flowchart TD``.

    Tasks are rectangles, mapped tasks subroutines labelled ``id[*]``,
    sub-workflows ``subgraph`` blocks; a connector's task has its operation
    on a second line (``<br/>``). An edge runs from each dependency; a
    guard labels the edges from the nodes it looks at, or an edge from an
    ``inputs`` node when it looks at none.

    Examples:
        >>> from fiscus_dsl._graph.model import WorkflowGraph, TaskNode
        >>> graph = WorkflowGraph(name="wf", nodes=(TaskNode(id="a", task="a"),))
        >>> print(render_mermaid(graph), end="")
        flowchart TD
            n0["a"]
    """
    lines = ["flowchart TD", *_mermaid_chart(_layout(graph, _keys(), ""), 1)]
    return "\n".join(lines) + "\n"


def _mermaid_chart(chart: _Chart, depth: int) -> Iterator[str]:
    pad = _INDENT * depth
    for box in chart.boxes:
        if box.inner is None:
            opening, closing = _MERMAID_SHAPES[box.shape]
            text = _mermaid_text(box.label, box.detail)
            yield f"{pad}{box.key}{opening}{text}{closing}"
        else:
            yield f"{pad}subgraph {box.key}[{_mermaid_text(box.label)}]"
            yield from _mermaid_chart(box.inner, depth + 1)
            yield f"{pad}end"
    for edge in chart.edges:
        arrow = "-->" if edge.label is None else f"-->|{_mermaid_text(edge.label)}|"
        yield f"{pad}{edge.tail} {arrow} {edge.head}"


def _mermaid_text(text: str, detail: str | None = None) -> str:
    """Quote a label, with entity codes for what Mermaid would parse."""
    lines = [text] if detail is None else [text, detail]
    return '"' + "<br/>".join(line.translate(_MERMAID_ESCAPES) for line in lines) + '"'


# ---------------------------------------------------------------- DOT


def render_dot(graph: WorkflowGraph) -> str:
    """Draw a graph in Graphviz DOT, with the same content as the Mermaid chart.

    Mapped tasks get a double border; a connector's task has its operation
    on a second line; a sub-workflow is a ``cluster_*`` subgraph whose edges
    attach to its border (``compound=true``) through an invisible anchor
    node.

    Examples:
        >>> from fiscus_dsl._graph.model import WorkflowGraph
        >>> render_dot(WorkflowGraph(name="wf")).splitlines()[0]
        'digraph "wf" {'
    """
    lines = [
        f"digraph {_dot_text(graph.name)} {{",
        f"{_INDENT}compound=true;",
        f"{_INDENT}node [shape=box];",
        *_dot_chart(_layout(graph, _keys(), ""), 1),
        "}",
    ]
    return "\n".join(lines) + "\n"


def _dot_chart(chart: _Chart, depth: int) -> Iterator[str]:
    pad = _INDENT * depth
    for box in chart.boxes:
        if box.inner is None:
            shape = _DOT_SHAPES[box.shape]
            label = _dot_text(box.label, box.detail)
            yield f"{pad}{box.key} [label={label}{shape}];"
        else:
            yield f"{pad}subgraph cluster_{box.key} {{"
            yield f"{pad}{_INDENT}label={_dot_text(box.label)};"
            yield f"{pad}{_INDENT}{box.key} [shape=point, style=invis];"
            yield from _dot_chart(box.inner, depth + 1)
            yield f"{pad}}}"
    clusters = {box.key for box in chart.boxes if box.inner is not None}
    for edge in chart.edges:
        yield f"{pad}{edge.tail} -> {edge.head}{_dot_edge_attributes(edge, clusters)};"


def _dot_edge_attributes(edge: _Edge, clusters: set[str]) -> str:
    """Label the edge and clip it at the border of a sub-workflow's cluster."""
    attributes = [] if edge.label is None else [f"label={_dot_text(edge.label)}"]
    if edge.tail in clusters:
        attributes.append(f"ltail=cluster_{edge.tail}")
    if edge.head in clusters:
        attributes.append(f"lhead=cluster_{edge.head}")
    return f" [{', '.join(attributes)}]" if attributes else ""


def _dot_text(text: str, detail: str | None = None) -> str:
    """Quote a DOT string; control characters become spaces."""
    lines = [text] if detail is None else [text, detail]
    return '"' + "\\n".join(line.translate(_DOT_ESCAPES) for line in lines) + '"'
