"""How a task ended: the outcome a slot settles with, and the task boundary's rule.

``failure`` turns what a task raised into its outcome: a ``SkipTask`` (from
a hook or the body) or a ``coalesce`` with no option left skips it,
anything else fails it, scrubbed of secrets before the result, the store, a
span or a log line reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from fiscus_dsl._runtime import logs
from fiscus_dsl._runtime.resolve import Unavailable
from fiscus_dsl._runtime.results import TaskStatus
from fiscus_dsl.errors import SkipTask

if TYPE_CHECKING:
    from fiscus_dsl._runtime.slots import Slot

SUCCEEDED = TaskStatus.SUCCEEDED
FAILED = TaskStatus.FAILED
SKIPPED = TaskStatus.SKIPPED

#: A settled task: its status, its value, its error, and why it was skipped.
Outcome: TypeAlias = tuple[TaskStatus, object, BaseException | None, str | None]


def failure(slot: Slot, error: Exception) -> Outcome:
    """Say how a task ended that raised: skipped by a hook, or failed.

    A failed task's error is scrubbed of secrets, its chain included,
    before the result, the store, a span or a log line reads it.
    """
    if isinstance(error, SkipTask):
        logs.scrub_error(error)  # the message is the reason: never a secret
        said = str(error)
        reason = "it raised SkipTask (from a hook or its body)"
        return SKIPPED, None, None, f"{reason}: {said}" if said else reason
    if isinstance(error, Unavailable):
        return SKIPPED, None, None, "no option of its coalesce(...) succeeded"
    logs.scrub_error(error)
    logs.task_failed(
        slot.scope.workflow, slot.id, attempts=max(slot.attempts, 1), error=error
    )
    return FAILED, None, error, None


def fails_run(slot: Slot) -> bool:
    """Tell whether this slot's failure ends the run (``on_error="fail"``)."""
    node = slot.node
    return node.kind == "workflow" or node.policy.on_error == "fail"
