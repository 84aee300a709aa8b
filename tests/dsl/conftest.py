"""Scaffolding the DSL tests share: source lines, futures and graph nodes.

Misuse errors name the line of the user's code, so the tests ask for the
line they are about to run (``next_line``) or the first line of a
function's body (``first_body_line``); ``as_future`` and ``node_of``
narrow what tracing returns to the type a test then reads.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, TypeVar

from fiscus_dsl import TaskFuture

if TYPE_CHECKING:
    from collections.abc import Callable

    from fiscus_dsl import WorkflowGraph

N = TypeVar("N")


def next_line() -> int:
    """Return the number of the line after the caller's current line."""
    frame = inspect.currentframe()
    assert frame is not None
    assert frame.f_back is not None
    return frame.f_back.f_lineno + 1


def first_body_line(function: Callable[..., object]) -> int:
    """Return the line of the first statement of an undecorated ``def``."""
    return function.__code__.co_firstlineno + 1


def as_future(value: object) -> TaskFuture[object]:
    """Return a task call's result as the future it is while tracing."""
    assert isinstance(value, TaskFuture)
    return value


def node_of(graph: WorkflowGraph, node_id: str, kind: type[N]) -> N:
    """Return the node ``node_id`` of ``graph``, asserting it is a ``kind``."""
    node = graph.node(node_id)
    assert isinstance(node, kind)
    return node
