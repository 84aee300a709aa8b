"""The trace context: what a workflow function records while it is traced.

Tracing means calling a workflow function once with a ``TraceContext`` in a
``ContextVar``; every task call records a node and returns a future. This
module owns that context, the deterministic ids (``name``, ``name#2``), the
guard stack of ``when`` blocks, and the ``Plan`` it compiles. It
builds graphs and runs nothing: no asyncio, no opentelemetry.
"""

from __future__ import annotations

import functools
import os
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, NoReturn, final

import wrapt

from fiscus_dsl._dsl.plan import Plan
from fiscus_dsl._graph.specs import AndCondition, ArgSpec, Condition, predicate_keys
from fiscus_dsl.errors import TracingError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import FrameType

    from fiscus_dsl._dsl.hooks import Hooks
    from fiscus_dsl._dsl.plan import PlanNode
    from fiscus_dsl._types import NodeId

_SKIPPED_DIRS: Final = (
    str(Path(__file__).resolve().parent.parent) + os.sep,  # fiscus_dsl itself
    str(Path(wrapt.__file__).resolve().parent) + os.sep,
)


@functools.cache
def _basename(filename: str) -> str:
    return Path(filename).name


@functools.cache
def _is_ours(filename: str) -> bool:
    """Tell whether a frame of this file belongs to fiscus_dsl or wrapt."""
    return filename.startswith(_SKIPPED_DIRS)


def user_location(frame: FrameType | None = None) -> str | None:
    """Return ``file.py:LINE`` of the innermost caller outside fiscus_dsl and wrapt."""
    current: FrameType | None = frame or sys._getframe(1)  # noqa: SLF001  (as inspect.currentframe does)
    while current is not None:
        filename = current.f_code.co_filename
        if not _is_ours(filename):
            return f"{_basename(filename)}:{current.f_lineno}"
        current = current.f_back
    return None  # pragma: no cover  (there is always a caller outside the package)


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
    nodes: list[PlanNode] = field(default_factory=list)
    predicates: dict[str, Callable[..., object]] = field(default_factory=dict)
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

    def add(self, node: PlanNode) -> None:
        """Record a step in call order, with the predicates its guard calls."""
        if node.guard is not None and self.predicates:
            node.predicates = {
                key: self.predicates[key] for key in predicate_keys(node.guard)
            }
        self.nodes.append(node)
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
    ) -> Plan:
        """Freeze what was recorded into a ``Plan``."""
        return Plan(
            name=self.workflow,
            nodes=tuple(self.nodes),
            inputs=inputs,
            output=output,
            hooks=hooks,
            standalone=self.direct,
        )


_CURRENT: ContextVar[TraceContext | None] = ContextVar("fiscus_trace", default=None)

current_trace_var: Final = _CURRENT
"""The trace being recorded, for the hot path of a task call (``.get()``)."""


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
