"""The attempt in progress, for code running inside a task (connectors).

The invoker sets ``CURRENT_ATTEMPT`` around each attempt of a task's body;
a connector reads it (``current_attempt()``) to name the task in its spans,
derive a stable Idempotency-Key and pause with the run's sleep.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from fiscus_dsl._types import Sleep


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """The task attempt in progress, for code running inside it (connectors).

    Attributes:
        run_id: The run's id.
        workflow: The workflow's name.
        task_id: The task's id in the run.
        task_name: The task's name.
        number: The attempt number, 1 for the first try.
        tracer: The runner's tracer, or ``None`` when telemetry is a no-op.
        sleep: The runner's sleep, for any pause inside the attempt.
    """

    run_id: str
    workflow: str
    task_id: str
    task_name: str
    number: int
    tracer: Tracer | None
    sleep: Sleep


CURRENT_ATTEMPT: ContextVar[Attempt | None] = ContextVar("fiscus_attempt", default=None)


def current_attempt() -> Attempt | None:
    """Return the attempt running now, or ``None`` outside a retried task."""
    return CURRENT_ATTEMPT.get()
