"""Guards and joins: ``when``, ``otherwise``, outcome tests and ``coalesce``.

``with when(cond):`` guards every task called in the block; nested blocks
combine with AND; ``with otherwise():`` directly after a ``when`` block
guards with its negation. ``succeeded``, ``failed`` and ``skipped`` test a
task's outcome, which is always decidable. ``coalesce`` joins branches.
Builds graph data only; runs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeVar, final, overload

from fiscus_dsl._dsl.futures import (
    Condition,
    TaskFuture,
    as_condition,
    future_label,
    future_spec,
    input_guard,
    to_arg_spec,
)
from fiscus_dsl._dsl.tracing import (
    TraceContext,
    _ClosedBlock,
    current_trace,
    outside_workflow_error,
)
from fiscus_dsl._graph.model import (
    CoalesceArg,
    NotCondition,
    OutcomeArg,
    OutcomeCondition,
    PredicateCondition,
    RefArg,
)
from fiscus_dsl._graph.model import Condition as ConditionSpec

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from fiscus_dsl._runtime.results import TaskOutcome

T = TypeVar("T")


def _require_trace(what: str, fix: str) -> TraceContext:
    trace = current_trace()
    if trace is None:
        raise outside_workflow_error(what, fix=fix)
    return trace


@final
class GuardBlock:
    """The context manager returned by ``when`` and ``otherwise``."""

    __slots__ = ("_depth", "_is_when", "_spec", "_trace")

    def __init__(
        self, trace: TraceContext, spec: ConditionSpec, *, is_when: bool
    ) -> None:
        self._trace = trace
        self._spec = spec
        self._is_when = is_when
        self._depth = 0

    def __enter__(self) -> None:
        self._trace.guards.append(self._spec)
        self._depth = len(self._trace.guards) - 1
        self._trace.last_closed = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._trace.guards.pop()
        if self._is_when:
            self._trace.last_closed = _ClosedBlock(
                depth=self._depth, condition=self._spec
            )
        else:
            self._trace.last_closed = None


@overload
def when(condition: Condition | bool, /) -> GuardBlock: ...  # noqa: FBT001  (a guard reads like an if)
@overload
def when(predicate: Callable[..., bool], /, *values: object) -> GuardBlock: ...
def when(condition: object, /, *values: object) -> GuardBlock:
    """Guard the tasks called inside the ``with`` block by a condition.

    ``when(cond)`` takes a condition (``f == x``, ``succeeded(f)``, ...), a
    bool, or a workflow input (``when(flag)``, drawn as ``flag == True``
    where the input is not known while tracing). ``when(predicate,
    *futures)`` calls ``predicate`` with the resolved values at run time. A
    task whose guard is false is ``skipped``; so is one whose guard needs the
    value of a failed or skipped task.

    Examples:
        >>> from fiscus_dsl import task, workflow, when, otherwise
        >>> @task
        ... def plan(user: str) -> str:
        ...     return "pro"
        >>> @task
        ... def upsell(user: str) -> str:
        ...     return "upsold"
        >>> @workflow
        ... def grow(user: str) -> str | None:
        ...     tier = plan(user)
        ...     with when(tier == "free"):
        ...         offer = upsell(user)
        ...     return offer
        >>> grow(user="ada") is None
        True
    """
    trace = _require_trace("when(...)", "call it inside the workflow's body")
    if not isinstance(condition, Condition | TaskFuture | bool) and callable(condition):
        name = getattr(condition, "__name__", type(condition).__name__)
        key = trace.predicate_key(name)
        trace.predicates[key] = condition
        spec: ConditionSpec = PredicateCondition(
            name=name, key=key, args=tuple(to_arg_spec(v, trace) for v in values)
        )
        return GuardBlock(trace, spec, is_when=True)
    if values:
        trace.fail(
            "when(condition) got extra values",
            fix="pass values only with a predicate: when(predicate, *futures)",
        )
    if isinstance(condition, TaskFuture) and input_guard(condition) is None:
        trace.fail(
            f"when() got the future {future_label(condition)!r}, not a condition",
            fix=f"compare it (when({future_label(condition)} == ...)) or test "
            f"succeeded({future_label(condition)})",
        )
    guard = as_condition(condition)
    if guard.trace is not None and guard.trace is not trace:
        owner = guard.trace.workflow
        trace.fail(
            f"The condition used in when() belongs to workflow {owner!r}",
            fix="build the condition inside this workflow, from futures passed in "
            "as arguments",
        )
    return GuardBlock(trace, guard.spec, is_when=True)


def otherwise() -> GuardBlock:
    """Guard a block by the negation of the ``when`` block just before it.

    Raises:
        TracingError: If no ``when`` block at the same level closed right
            before, or a task was called between the two blocks.
    """
    trace = _require_trace("otherwise()", "call it inside the workflow's body")
    closed = trace.last_closed
    if closed is None or closed.depth != len(trace.guards):
        trace.fail(
            "otherwise() does not directly follow a when(...) block",
            fix="place `with otherwise():` right after the `with when(...):` block, "
            "with no task call between them",
        )
    return GuardBlock(trace, NotCondition(operand=closed.condition), is_when=False)


def _outcome(
    test: Literal["succeeded", "failed", "skipped"], future: object
) -> Condition:
    trace = _require_trace(f"{test}(...)", "call it inside the workflow's body")
    if not isinstance(future, TaskFuture):
        trace.fail(
            f"{test}() expects the future of a task call, got {type(future).__name__}",
            fix=f"pass what the task call returned: {test}(contact)",
        )
    spec = future_spec(future, trace)
    if not isinstance(spec, RefArg):
        trace.fail(
            f"{test}() needs a task's future, and {future_label(future)!r} is not one",
            fix="test the task call itself, not a workflow input or a coalesce",
        )
    return Condition(OutcomeCondition(test=test, node=spec.node), trace)


def succeeded(future: object) -> Condition:
    """Build the condition "the task behind ``future`` succeeded"."""
    return _outcome("succeeded", future)


def failed(future: object) -> Condition:
    """Build the condition "the task behind ``future`` failed"."""
    return _outcome("failed", future)


def skipped(future: object) -> Condition:
    """Build the condition "the task behind ``future`` was skipped"."""
    return _outcome("skipped", future)


def outcome(future: object) -> TaskOutcome:
    """Return how a task ended, as a value another task can take.

    The consumer runs whether the task succeeded, failed or was skipped:
    its argument is a ``TaskOutcome`` with ``status``, ``value`` and
    ``error``. Use it for clean-ups and reports that must always run.

    Examples:
        >>> from fiscus_dsl import task, workflow, outcome, TaskOutcome
        >>> @task(on_error="continue")
        ... def charge(amount: int) -> int:
        ...     raise ValueError("card declined")
        >>> @task
        ... def report(charged: TaskOutcome) -> str:
        ...     return str(charged.status)
        >>> @workflow
        ... def checkout(amount: int) -> str:
        ...     return report(outcome(charge(amount)))
        >>> checkout(amount=5)
        'failed'
    """
    trace = _require_trace("outcome(...)", "call it inside the workflow's body")
    if not isinstance(future, TaskFuture):
        trace.fail(
            f"outcome() expects the future of a task call, got {type(future).__name__}",
            fix="pass what the task call returned: outcome(contact)",
        )
    spec = future_spec(future, trace)
    if not isinstance(spec, RefArg) or spec.path:
        trace.fail(
            f"outcome() needs a task's own future, not {future_label(future)!r}",
            fix="pass the task call itself, not a projection, an input or a coalesce",
        )
    return TaskFuture(trace, OutcomeArg(node=spec.node))  # type: ignore[return-value]  # statically the outcome


def coalesce(*options: T) -> T:
    """Return the first option whose task succeeded, to join branches.

    A ``None`` value counts; plain values always count as succeeded. If no
    option succeeded, the result counts as skipped.

    Examples:
        >>> from fiscus_dsl import task, workflow, when, otherwise, coalesce
        >>> @task
        ... def double(x: int) -> int:
        ...     return 2 * x
        >>> @workflow
        ... def pick(x: int) -> int:
        ...     with when(x > 10):
        ...         big = double(x)
        ...     return coalesce(big, x)
        >>> pick(x=3)
        3
    """
    trace = _require_trace("coalesce(...)", "call it inside the workflow's body")
    if not options:
        trace.fail("coalesce() got no options", fix="pass two futures or more")
    spec = CoalesceArg(options=tuple(to_arg_spec(option, trace) for option in options))
    return TaskFuture(trace, spec)  # type: ignore[return-value]  # statically a value, lazily a future
