"""Per-task policies of a dict task (retries, timeout, on_error, on_skip) and who wins.

A task dict may set ``retries`` (a whole number of 0 or more), ``timeout``
(seconds, a number above 0), ``on_error`` (``"continue"``, ``"fail"`` or
``"skip"``) and ``on_skip`` (``"skip"`` or ``"run"``). ``read_policies``
checks them before anything is sent: a bad value is a
``TaskDefinitionError`` naming the task's index and the field.

Precedence, for the retry policy and the timeout alike: the task's own
setting, then the operation's own (``@crm.operation(..., retry=Retry(...),
timeout=...)``, or its connector's ``Connector(..., retry=...)``), then the
client's (``FiscusClient(retries=, backoff_factor=)``), then the
connector's built-in default. So the client's retries apply only to
operations that declare no retry (and a declared ``retry=None`` is
honoured: no retries). A task's ``retries`` keeps the rest of the policy
it replaces (backoff, the errors it retries), changing only how many
tries. Imports the runtime's ``Retry`` and the connectors' default policy.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, NoReturn, TypeGuard, final

from fiscus_dsl._connectors.connector import DEFAULT_RETRY
from fiscus_dsl.errors import TaskDefinitionError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fiscus_dsl._runtime.retry import Retry

OnError = Literal["continue", "fail", "skip"]
OnSkip = Literal["skip", "run"]
ON_ERROR: Final[tuple[OnError, ...]] = ("continue", "fail", "skip")
ON_SKIP: Final[tuple[OnSkip, ...]] = ("skip", "run")
POLICY_KEYS: Final = ("retries", "timeout", "on_error", "on_skip")
_REPR: Final = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 40


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskPolicies:
    """The policies one task dict sets; ``None``: the task leaves it to others.

    Attributes:
        retries: Retries after a failed attempt (tries = retries + 1).
        timeout: Seconds per attempt.
        on_error: ``"continue"``: report the failure, run the rest;
            ``"fail"``: the failure stops the call, tasks not started do not
            run; ``"skip"``: report the failure as a skip.
        on_skip: ``"skip"``: a condition or context function that reads a
            skipped task skips its own task; ``"run"``: it decides anyway.
    """

    retries: int | None = None
    timeout: float | None = None
    on_error: OnError = "continue"
    on_skip: OnSkip = "skip"


def read_policies(index: int, task: Mapping[object, object]) -> TaskPolicies:
    """Check the policy keys of task dict ``index`` and return them.

    Raises:
        TaskDefinitionError: A value of the wrong type or out of range,
            naming the task's index and the field.
    """
    retries = task.get("retries")
    if retries is not None and (
        not isinstance(retries, int) or isinstance(retries, bool) or retries < 0
    ):
        _fail(index, "retries", "must be a whole number of 0 or more", retries, "2")
    timeout = task.get("timeout")
    if timeout is not None and not _is_seconds(timeout):
        _fail(index, "timeout", "must be seconds, a number above 0", timeout, "10")
    on_error = task.get("on_error", "continue")
    if on_error not in ON_ERROR:
        _fail(index, "on_error", f"must be one of {list(ON_ERROR)}", on_error, "'fail'")
    on_skip = task.get("on_skip", "skip")
    if on_skip not in ON_SKIP:
        _fail(index, "on_skip", f"must be one of {list(ON_SKIP)}", on_skip, "'run'")
    return TaskPolicies(
        retries=retries,
        timeout=None if timeout is None else float(timeout),
        on_error=on_error,
        on_skip=on_skip,
    )


def step_retry(
    policies: TaskPolicies, declared: Retry | None, client: Retry | None
) -> Retry | None:
    """Return the retry policy of a task's step (see the module doc for the order).

    ``declared`` is the operation's ``options.retry``: the connector's
    built-in ``DEFAULT_RETRY`` when neither the operation nor its connector
    set one. ``client`` is the client's policy, ``None`` without a client.

    Examples:
        >>> from fiscus_dsl import Retry
        >>> client = Retry(attempts=4, backoff=0.5, jitter=False)
        >>> step_retry(TaskPolicies(), Retry(attempts=2), client).attempts
        2
        >>> step_retry(TaskPolicies(), DEFAULT_RETRY, client).attempts
        4
        >>> step_retry(TaskPolicies(retries=0), Retry(attempts=2), client).attempts
        1
    """
    # DEFAULT_RETRY itself: neither the operation nor its connector chose one.
    base = client if declared is DEFAULT_RETRY and client is not None else declared
    if policies.retries is None:
        return base
    template = base or client or DEFAULT_RETRY
    return dataclasses.replace(template, attempts=policies.retries + 1)


def step_timeout(policies: TaskPolicies, declared: float | None) -> float | None:
    """Return the timeout of a task's step: the task's, else the operation's."""
    return declared if policies.timeout is None else policies.timeout


def _is_seconds(value: object) -> TypeGuard[int | float]:
    """Tell whether ``value`` is a number of seconds above 0 (bools aside)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        return False
    return math.isfinite(seconds) and seconds > 0


def _fail(index: int, field: str, expected: str, got: object, example: str) -> NoReturn:
    try:
        shown = _REPR.repr(got)
    except ValueError:  # an int of more digits than Python converts to text
        shown = "<too long to show>"
    msg = (
        f"Task {index}: field {field!r} {expected}, got {shown} "
        f"({type(got).__name__}); e.g. {field!r}: {example}"
    )
    raise TaskDefinitionError(msg, index=index, field=field)
