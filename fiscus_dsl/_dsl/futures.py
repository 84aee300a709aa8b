"""Lazy futures and the conditions built from them.

A ``TaskFuture`` stands for a value that does not exist yet: the result of a
task call, a workflow input not given while drawing the graph, or a
projection of either (``contact.email``, ``rows[0]``). Comparisons build
``Condition`` objects for ``when``; everything that would need the value now
(``bool``, ``iter``, ``len``, ``str``, f-strings) raises ``TracingError``
with the fix, as a lazy value must. Runs nothing; no asyncio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Generic, NoReturn, TypeVar, final

from fiscus_dsl._dsl.tracing import current_trace
from fiscus_dsl._graph.model import (
    AndCondition,
    ArgSpec,
    CoalesceArg,
    CompareCondition,
    CompareOp,
    ConstCondition,
    DictArg,
    InputArg,
    ListArg,
    NotCondition,
    OrCondition,
    OutcomeArg,
    RefArg,
    Step,
    ValueArg,
    construct_trusted,
    format_path,
)
from fiscus_dsl._graph.model import Condition as ConditionSpec
from fiscus_dsl.errors import TracingError

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    from fiscus_dsl._dsl.tracing import TraceContext

T = TypeVar("T")

_GUARD_FIX: Final = "guard with when(...), e.g. with when(succeeded(contact))"
#: Python's ``if``, ``and``, ``or``, ``not`` and ``in`` need a bool at once;
#: a lazy value has none, so the advice names the operators that build one.
_OPERATORS_FIX: Final = (
    "guard with when(...) and build the condition with & for and, | for or, "
    "~ for not and .is_in([...]) for in, e.g. with when((plan == 'pro') | "
    "~plan.is_in(['free', 'trial']))"
)


def _refuse(trace: TraceContext, what: str, fix: str) -> NoReturn:
    trace.fail(what, fix=fix)


@final
class TaskFuture(Generic[T]):
    """The lazy result of a task call inside a workflow.

    ``f.attr`` (for a mapping, its key), ``f["key"]`` and ``f[0]`` project the
    eventual value; ``f == x``, ``f > x`` and ``f.is_in([...])`` build
    conditions for ``when``. A future cannot be used as a plain value while
    tracing: pass it to tasks, guards, or return it from the workflow.

    Examples:
        >>> from fiscus_dsl import task, workflow
        >>> @task
        ... def get_user(user_id: int) -> dict[str, str]:
        ...     return {"email": "ada@example.com"}
        >>> @workflow
        ... def email_of(user_id: int) -> str:
        ...     return get_user(user_id)["email"]
        >>> email_of(user_id=1)
        'ada@example.com'
    """

    __slots__ = ("_path", "_source", "_trace")

    _trace: TraceContext
    #: A step id stands for the step's whole value (its ``RefArg``, made when
    #: a spec is needed: most futures only pass an id to the next call).
    _source: str | RefArg | InputArg | CoalesceArg | OutcomeArg
    _path: tuple[Step, ...]

    def __init__(
        self,
        trace: TraceContext,
        source: str | RefArg | InputArg | CoalesceArg | OutcomeArg,
        path: tuple[Step, ...] = (),
    ) -> None:
        # Through the slots' descriptors: __setattr__ refuses, as it must.
        _SET_TRACE(self, trace)
        _SET_SOURCE(self, source)
        _SET_PATH(self, path)

    # ------------------------------------------------------------ identity

    def _label(self) -> str:
        """Return the future as written in the workflow: ``create_contact.email``."""
        source = self._source
        if isinstance(source, str):
            head = source
        elif isinstance(source, RefArg):
            head = source.node
        elif isinstance(source, InputArg):
            head = source.name
        elif isinstance(source, OutcomeArg):
            head = f"outcome({source.node})"
        else:
            head = "coalesce(...)"
        return head + format_path(self._path)

    def _spec(self, trace: TraceContext) -> ArgSpec:
        """Return the argument spec of this future for a node of ``trace``."""
        if trace is not self._trace:
            _refuse(
                trace,
                f"The future {self._label()!r} belongs to workflow "
                f"{self._trace.workflow!r}, not to this one,",
                "pass it to the sub-workflow as an argument instead of closing over it",
            )
        source = self._source
        if isinstance(source, str):
            fields = {"kind": "ref", "node": source, "path": self._path}
            return construct_trusted(RefArg, fields)
        if not self._path:
            return source
        if isinstance(source, CoalesceArg):  # pragma: no cover  (projection refused)
            return source
        return source.model_copy(update={"path": self._path})

    def __repr__(self) -> str:
        return f"<TaskFuture {self._label()}>"

    __hash__ = object.__hash__

    # ------------------------------------------------------------ projections

    def __getattr__(self, name: str) -> TaskFuture[object]:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._project(Step(kind="attr", key=name))

    def __getitem__(self, key: str | int) -> TaskFuture[object]:
        if not isinstance(key, str | int):
            _refuse(
                self._trace,
                f"Cannot index the future {self._label()!r} with {type(key).__name__}",
                "use a str key or an int index",
            )
        return self._project(Step(kind="item", key=key))

    def _project(self, step: Step) -> TaskFuture[object]:
        if isinstance(self._source, CoalesceArg):
            _refuse(
                self._trace,
                f"Cannot project {step} of a coalesce(...) future",
                "project each option first: coalesce(a.field, b.field)",
            )
        return TaskFuture(self._trace, self._source, (*self._path, step))

    def __setattr__(self, name: str, value: object) -> NoReturn:
        _refuse(
            self._trace,
            f"Cannot set attribute {name!r} on the future {self._label()!r}",
            "futures are read-only; compute the new value in a task",
        )

    # ------------------------------------------------------------ conditions

    def _compare(self, op: CompareOp, other: object) -> Condition:
        # The trace being recorded, so that a future closed over from another
        # workflow is refused here rather than left dangling in a guard.
        trace = current_trace() or self._trace
        left = self._spec(trace)
        right = to_arg_spec(other, trace)
        return Condition(CompareCondition(op=op, left=left, right=right), trace)

    def __eq__(self, other: object) -> Condition:  # type: ignore[override]  # builds a condition, as SQLAlchemy columns do
        return self._compare("eq", other)

    def __ne__(self, other: object) -> Condition:  # type: ignore[override]  # builds a condition
        return self._compare("ne", other)

    def __lt__(self, other: object) -> Condition:
        return self._compare("lt", other)

    def __le__(self, other: object) -> Condition:
        return self._compare("le", other)

    def __gt__(self, other: object) -> Condition:
        return self._compare("gt", other)

    def __ge__(self, other: object) -> Condition:
        return self._compare("ge", other)

    def is_in(self, values: Iterable[object]) -> Condition:
        """Build the condition ``value in values``."""
        collected = (
            values if isinstance(values, TaskFuture | str | bytes) else list(values)
        )
        return self._compare("in", collected)

    # ------------------------------------------------------------ refusals

    def __bool__(self) -> NoReturn:
        _refuse(
            self._trace,
            f"Cannot use the future {self._label()!r} as a bool (if, and, or and "
            "not need its value while tracing)",
            _OPERATORS_FIX,
        )

    def __iter__(self) -> NoReturn:
        _refuse(
            self._trace,
            f"Cannot iterate over the future {self._label()!r} (a for loop or "
            "unpacking needs its value while tracing)",
            "fan out with task.map(item=future) instead of a for loop; to test "
            "membership inside when(...), write future.is_in([...])",
        )

    def __len__(self) -> NoReturn:
        _refuse(
            self._trace,
            f"Cannot take len() of the future {self._label()!r}",
            "compute the length in a task that receives the value",
        )

    def __contains__(self, item: object) -> NoReturn:
        label = self._label()
        shown = repr(item) if isinstance(item, str | int) else "item"
        shown = shown if len(shown) <= 30 else "item"
        _refuse(
            self._trace,
            f"Cannot test membership in the future {label!r} ('in' needs its "
            "value while tracing)",
            "for `future in [...]` write future.is_in([...]) inside when(...); to "
            "look inside the value, guard with a predicate: "
            f"with when(lambda value: {shown} in value, future)",
        )

    def __str__(self) -> NoReturn:
        _refuse(
            self._trace,
            f"Cannot turn the future {self._label()!r} into a str",
            "pass the future to a task that formats it",
        )

    def __format__(self, format_spec: str) -> NoReturn:
        _refuse(
            self._trace,
            f"Cannot use the future {self._label()!r} in an f-string or format()",
            "pass the future to a task that formats it",
        )

    def __index__(self) -> NoReturn:
        _refuse(
            self._trace,
            f"Cannot use the future {self._label()!r} as an index",
            _GUARD_FIX,
        )

    def _refuse_operator(self, *_: object) -> NoReturn:
        _refuse(
            self._trace,
            f"Cannot compute with the future {self._label()!r} while tracing",
            "do the arithmetic in a task that receives the value, or compare it "
            "inside when(...) (use ~succeeded(f) to negate an outcome)",
        )

    __add__ = __radd__ = __sub__ = __rsub__ = _refuse_operator
    __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _refuse_operator
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _refuse_operator
    __pow__ = __rpow__ = __matmul__ = __rmatmul__ = _refuse_operator
    __neg__ = __pos__ = __abs__ = __invert__ = _refuse_operator
    __xor__ = __rxor__ = _refuse_operator

    # ------------------------------------------------------------ inputs as guards

    def _as_guard(self) -> Condition:
        """Return a workflow input as the condition ``input == True``, or refuse.

        While drawing or checking, an input is a placeholder; in a run it is
        the bool itself, which ``when`` and ``&``/``|`` take as they are.
        """
        guard = input_guard(self)
        if guard is None:
            self._refuse_operator()
        return guard

    def __and__(self, other: object) -> Condition:
        return self._as_guard() & as_condition(other)

    def __rand__(self, other: object) -> Condition:
        return as_condition(other) & self._as_guard()

    def __or__(self, other: object) -> Condition:
        return self._as_guard() | as_condition(other)

    def __ror__(self, other: object) -> Condition:
        return as_condition(other) | self._as_guard()

    def __await__(self) -> Generator[None, None, TaskFuture[T]]:
        """Let ``async def`` workflows write ``await task(...)``; nothing waits."""
        yield from ()
        return self


@final
class Condition:
    """A lazy boolean for ``when``: built by comparing futures or testing outcomes.

    Combine with ``~c``, ``c & d`` and ``c | d``; a plain ``bool`` combines too.
    Using a condition as a Python bool raises ``TracingError``.
    """

    __slots__ = ("spec", "trace")

    def __init__(self, spec: ConditionSpec, trace: TraceContext | None = None) -> None:
        self.spec: ConditionSpec = spec
        #: The workflow trace whose futures the condition looks at, if any.
        self.trace = trace

    def __invert__(self) -> Condition:
        return Condition(NotCondition(operand=self.spec), self.trace)

    def _join(self, other: object, *, both: bool, first: bool) -> Condition:
        condition = as_condition(other)
        trace = self.trace or condition.trace
        if condition.trace is not None and condition.trace is not trace:
            _refuse(
                current_trace() or trace,  # type: ignore[arg-type]  # one is set
                "Cannot combine conditions of two different workflows",
                "build each condition inside the workflow that uses it",
            )
        specs = (self.spec, condition.spec) if first else (condition.spec, self.spec)
        spec = AndCondition(operands=specs) if both else OrCondition(operands=specs)
        return Condition(spec, trace)

    def __and__(self, other: Condition | bool) -> Condition:
        return self._join(other, both=True, first=True)

    def __rand__(self, other: Condition | bool) -> Condition:
        return self._join(other, both=True, first=False)

    def __or__(self, other: Condition | bool) -> Condition:
        return self._join(other, both=False, first=True)

    def __ror__(self, other: Condition | bool) -> Condition:
        return self._join(other, both=False, first=False)

    def __bool__(self) -> NoReturn:
        trace = current_trace()
        msg = (
            "Cannot use a condition as a bool (if, and, or, not and in need a "
            "bool while tracing)"
        )
        fix = (
            "combine conditions with & for and, | for or and ~ for not, write "
            "`x in [...]` as x.is_in([...]), and use it in a guard: with "
            "when(condition): ..., e.g. when((plan == 'pro') | "
            "~plan.is_in(['free', 'trial']))"
        )
        if trace is None:
            msg = f"{msg}; {fix}"
            raise TracingError(msg)
        _refuse(trace, msg, fix)

    def __repr__(self) -> str:
        return f"<Condition {self.spec.kind}>"


def input_guard(future: TaskFuture[T]) -> Condition | None:
    """Return ``input == True`` for the future of a workflow input, else ``None``.

    A guard on a workflow input (``with when(flag):``) is a plain bool in a
    run, but a placeholder while the graph is drawn or checked, and in a
    sub-workflow whose input comes from a future: there it is this condition.
    """
    trace = current_trace() or future._trace  # noqa: SLF001  (this module's own class)
    spec = future._spec(trace)  # noqa: SLF001  (this module's own class)
    if not isinstance(spec, InputArg):
        return None
    true = construct_trusted(ValueArg, {"kind": "value", "value": True})
    return Condition(CompareCondition(op="eq", left=spec, right=true), trace)


def as_condition(value: object) -> Condition:
    """Return ``value`` as a ``Condition``; a bool becomes a constant one.

    The future of a workflow input becomes ``input == True`` (``input_guard``).
    """
    if isinstance(value, Condition):
        return value
    if isinstance(value, bool):
        return Condition(ConstCondition(value=value))
    guard = input_guard(value) if isinstance(value, TaskFuture) else None
    if guard is not None:
        return guard
    msg = f"Expected a condition or a bool, got {type(value).__name__}"
    fix = "build one with ==, succeeded(...) or is_in(...)"
    trace = current_trace()
    if trace is not None:
        _refuse(trace, msg, fix)
    msg = f"{msg}; {fix}"
    raise TracingError(msg)


_SET_TRACE: Final = TaskFuture.__dict__["_trace"].__set__
_SET_SOURCE: Final = TaskFuture.__dict__["_source"].__set__
_SET_PATH: Final = TaskFuture.__dict__["_path"].__set__


def future_label(future: TaskFuture[object]) -> str:
    """Return a future as written in the workflow (``create_contact.email``)."""
    return future._label()  # noqa: SLF001  (this module's own class)


def future_spec(future: TaskFuture[object], trace: TraceContext) -> ArgSpec:
    """Return a future's argument spec for a node of ``trace``."""
    return future._spec(trace)  # noqa: SLF001  (this module's own class)


def plain_ref(value: object, trace: TraceContext) -> str | None:
    """Return the step id a future of ``trace`` stands for whole, else ``None``."""
    if type(value) is TaskFuture:
        source = value._source  # noqa: SLF001  (this module's own class)
        if type(source) is str and not value._path and value._trace is trace:  # noqa: SLF001
            return source
    return None


def has_future(value: object) -> bool:
    """Tell whether a value is, or holds in containers, a future or a condition."""
    if isinstance(value, TaskFuture | Condition):
        return True
    if isinstance(value, list | tuple | set | frozenset):
        return any(has_future(item) for item in value)
    if isinstance(value, dict):
        return any(has_future(item) for item in value.values()) or any(
            has_future(key) for key in value
        )
    return False


SCALARS: Final = frozenset({int, str, float, bool, bytes, type(None)})
"""Literal types that cannot hold a future: no need to look inside them."""


def to_arg_spec(value: object, trace: TraceContext) -> ArgSpec:
    """Turn an argument as passed in the workflow into its graph spec."""
    if type(value) in SCALARS:  # the common literal: no future can hide in it
        return construct_trusted(ValueArg, {"kind": "value", "value": value})
    if isinstance(value, TaskFuture):
        return value._spec(trace)  # noqa: SLF001  (this module's own class)
    if isinstance(value, Condition):
        _refuse(
            trace,
            "Cannot pass a condition as a task argument",
            "guard the call with when(condition) instead",
        )
    if not has_future(value):
        return construct_trusted(ValueArg, {"kind": "value", "value": value})
    # The items are specs made here, so the containers skip validation.
    if isinstance(value, list | tuple):
        items = tuple(to_arg_spec(item, trace) for item in value)
        fields = {"kind": "list", "items": items, "is_tuple": isinstance(value, tuple)}
        return construct_trusted(ListArg, fields)
    if isinstance(value, dict) and not any(has_future(key) for key in value):
        values = tuple(to_arg_spec(item, trace) for item in value.values())
        fields = {"kind": "dict", "keys": tuple(value), "values": values}
        return construct_trusted(DictArg, fields)
    _refuse(
        trace,
        f"Cannot use a future as a dict key or inside a {type(value).__name__}",
        "put futures in lists, tuples or dict values",
    )
