"""The trace context: what a workflow function records while it is traced.

Tracing means calling a workflow function once with a ``TraceContext`` in a
``ContextVar``; every task call records a node and returns a future. This
module owns that context, the deterministic ids (``name``, ``name#2``), the
guard stack of ``when`` blocks, and the ``TracedWorkflow`` it produces. It
builds graphs and runs nothing: no asyncio, no opentelemetry.
"""

from __future__ import annotations

import functools
import inspect
import os
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn, final

import wrapt

from fiscus_dsl._graph.model import (
    AndCondition,
    ArgSpec,
    Condition,
    Node,
    WorkflowGraph,
    construct_trusted,
)
from fiscus_dsl.errors import ArgumentValidationError, TracingError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from types import FrameType

    from fiscus_dsl._dsl.hooks import Hooks
    from fiscus_dsl._dsl.task import Task
    from fiscus_dsl._types import NodeId

_SKIPPED_DIRS: Final = (
    str(Path(__file__).resolve().parent.parent) + os.sep,  # fiscus_dsl itself
    str(Path(wrapt.__file__).resolve().parent) + os.sep,
)


@functools.cache
def _basename(filename: str) -> str:
    return Path(filename).name


def user_location(frame: FrameType | None = None) -> str | None:
    """Return ``file.py:LINE`` of the innermost caller outside fiscus_dsl and wrapt."""
    current = frame or inspect.currentframe()
    while current is not None:
        filename = current.f_code.co_filename
        if not filename.startswith(_SKIPPED_DIRS):
            return f"{_basename(filename)}:{current.f_lineno}"
        current = current.f_back
    return None  # pragma: no cover  (there is always a caller outside the package)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TracedWorkflow:
    """A traced graph together with the callables it names.

    Attributes:
        name: The workflow's name.
        graph: The data-only graph.
        tasks: The task behind each task and map node.
        children: The traced sub-workflow behind each workflow node.
        predicates: The functions of ``when(predicate, ...)`` guards, by key.
        invalid: Nodes whose literal arguments failed validation while tracing.
        hooks: Hooks registered on the workflow.
        standalone: True for the one-task run of a task called outside a workflow.
    """

    name: str
    graph: WorkflowGraph
    tasks: Mapping[NodeId, Task[..., Any]]
    children: Mapping[NodeId, TracedWorkflow]
    predicates: Mapping[str, Callable[..., object]]
    invalid: Mapping[NodeId, ArgumentValidationError]
    hooks: tuple[Hooks, ...] = ()
    standalone: bool = False

    def as_standalone(self) -> TracedWorkflow:
        """Return a copy marked as the one-task run of a direct task call."""
        return replace(self, standalone=True)


@final
@dataclass(slots=True, kw_only=True)
class _ClosedBlock:
    depth: int
    condition: Condition


@final
@dataclass(slots=True)
class TraceContext:
    """The mutable state of one tracing pass over a workflow function."""

    workflow: str
    nodes: list[Node] = field(default_factory=list)
    tasks: dict[NodeId, Task[..., Any]] = field(default_factory=dict)
    children: dict[NodeId, TracedWorkflow] = field(default_factory=dict)
    predicates: dict[str, Callable[..., object]] = field(default_factory=dict)
    invalid: dict[NodeId, ArgumentValidationError] = field(default_factory=dict)
    guards: list[Condition] = field(default_factory=list)
    last_closed: _ClosedBlock | None = None
    #: Tracing the one-task graph of a task called outside any workflow.
    direct: bool = False
    _counts: dict[str, int] = field(default_factory=dict)

    def next_id(self, name: str) -> NodeId:
        """Return ``name`` for the first call of a task, then ``name#2``, ``name#3``."""
        count = self._counts.get(name, 0) + 1
        self._counts[name] = count
        return name if count == 1 else f"{name}#{count}"

    def predicate_key(self, name: str) -> str:
        """Return a unique key for a guard predicate."""
        return self.next_id(f"when:{name}")

    def current_guard(self) -> Condition | None:
        """Return the AND of every open ``when`` block, or ``None`` outside them."""
        if not self.guards:
            return None
        if len(self.guards) == 1:
            return self.guards[0]
        return AndCondition(operands=tuple(self.guards))

    def add(self, node: Node, task: Task[..., Any] | None = None) -> None:
        """Record a node (and its task) in call order."""
        self.nodes.append(node)
        if task is not None:
            self.tasks[node.id] = task
        self.last_closed = None

    def fail(
        self,
        message: str,
        *,
        fix: str,
        location: str | None = None,
        cause: BaseException | None = None,
    ) -> NoReturn:
        """Raise the ``TracingError`` of ``error(...)``, chained to ``cause``."""
        raise self.error(message, fix=fix, location=location) from cause

    def error(
        self, message: str, *, fix: str, location: str | None = None
    ) -> TracingError:
        """Build a ``TracingError`` naming the workflow, the user's line and the fix."""
        where = location or user_location()
        scope = (
            f"in a direct call of task {self.workflow!r}"
            if self.direct
            else f"in workflow {self.workflow!r}"
        )
        return TracingError(
            f"{message} {scope} ({where}); {fix}",
            workflow=self.workflow,
            location=where,
        )

    def finish(
        self,
        *,
        inputs: tuple[str, ...],
        output: ArgSpec | None,
        hooks: tuple[Hooks, ...],
    ) -> TracedWorkflow:
        """Freeze what was recorded into a ``TracedWorkflow``."""
        # Traced graphs are sound by construction (every reference is to an
        # earlier node), so the validator that guards loaded graphs is skipped.
        graph = construct_trusted(
            WorkflowGraph,
            {
                "name": self.workflow,
                "inputs": inputs,
                "nodes": tuple(self.nodes),
                "output": output,
            },
        )
        return TracedWorkflow(
            name=self.workflow,
            graph=graph,
            tasks=self.tasks,
            children=self.children,
            predicates=self.predicates,
            invalid=self.invalid,
            hooks=hooks,
        )


_CURRENT: ContextVar[TraceContext | None] = ContextVar("fiscus_trace", default=None)


def current_trace() -> TraceContext | None:
    """Return the trace being recorded, or ``None`` outside a workflow."""
    return _CURRENT.get()


@contextmanager
def tracing(context: TraceContext) -> Iterator[TraceContext]:
    """Make ``context`` the current trace for the duration of the block."""
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)


def outside_workflow_error(what: str, *, fix: str) -> TracingError:
    """Build the error for DSL calls that only make sense while tracing."""
    where = user_location()
    return TracingError(
        f"{what} can only be used inside a @workflow function ({where}); {fix}",
        location=where,
    )
