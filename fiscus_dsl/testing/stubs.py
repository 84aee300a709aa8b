"""Task stubs: replace what a task runs, not the task, and record each call.

``stub_task`` gives the task another ``TaskPlan`` (what the runner calls),
whose function is a stub that returns a value, raises, or calls a side
effect, and records the arguments of every call by parameter name. The
task object stays the same, so the runner still wraps every call of the
stub in the task's hooks, retries, timeout and span, and guards and skips
work as they do for the real task. The plan is a context-scoped override
(``fiscus_dsl._dsl.overrides``): only code in the thread or asyncio task
that made the stub (and the runs it starts) sees it. ``TaskStub.restore``
puts the plan back. Imports the DSL only; no HTTP.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, final

from fiscus_dsl._dsl.overrides import plan_override, set_plan_override
from fiscus_dsl._dsl.task import Task
from fiscus_dsl.errors import OptionTypeError
from fiscus_dsl.testing.errors import StubExhaustedError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from fiscus_dsl._dsl.task import TaskPlan

P = ParamSpec("P")
R = TypeVar("R")


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class StubCall:
    """One call of a stubbed task.

    Attributes:
        args: The arguments the call received, by parameter name, defaults
            included: what the task's function would have been given.
    """

    args: dict[str, object]


@final
class TaskStub(Generic[R]):
    """A task's stand-in: what it returns or raises, and the calls it got.

    Made by ``fiscus_mock.stub(task, ...)`` or ``stub_task(task, ...)``.

    Attributes:
        task: The stubbed task.
        calls: Every call, in order; ``calls[-1].args`` is the last one's.
        original: The plan the task ran before it was stubbed.

    Examples:
        >>> from fiscus_dsl import task
        >>> from fiscus_dsl.testing import stub_task
        >>> @task
        ... def lookup(user_id: int, verbose: bool = False) -> str:
        ...     return "real"
        >>> stub = stub_task(lookup, returns="stubbed")
        >>> lookup(7)
        'stubbed'
        >>> stub.calls[-1].args
        {'user_id': 7, 'verbose': False}
        >>> stub.restore()
        >>> lookup(7)
        'real'
    """

    def __init__(
        self,
        task: Task[..., R],
        *,
        returns: R | None = None,
        raises: BaseException | type[BaseException] | None = None,
        side_effect: object = None,
    ) -> None:
        self.task = task
        self.calls: list[StubCall] = []
        self.original: TaskPlan = task.plan
        self._replaced = plan_override(task)
        self._returns = returns
        self._raises = raises
        self._effect: Callable[..., object] | None = None
        self._sequence: Iterator[object] | None = None
        if _is_exception(side_effect):
            self._raises = side_effect  # type: ignore[assignment]  # narrowed by _is_exception
        elif callable(side_effect):
            self._effect = side_effect
        elif side_effect is not None:
            self._sequence = iter(_as_iterable(task, side_effect))
        is_async = self.original.is_async or _is_async(side_effect)
        body = self._acall if is_async else self._call
        set_plan_override(
            task, replace(self.original, function=body, is_async=is_async)
        )

    def __repr__(self) -> str:
        return f"<TaskStub of {self.task.name!r}, {self.call_count} call(s)>"

    @property
    def call_count(self) -> int:
        """Return how many times the stub was called."""
        return len(self.calls)

    @property
    def called(self) -> bool:
        """Tell whether the stub was called at least once."""
        return bool(self.calls)

    @property
    def is_active(self) -> bool:
        """Tell whether the task still runs this stub."""
        return getattr(self.task.plan.function, "__self__", None) is self

    def restore(self) -> None:
        """Give the task back the plan it had when it was stubbed."""
        set_plan_override(self.task, self._replaced)

    # ------------------------------------------------------------ calls

    def _record(self, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
        bound = self.task.call_signature.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        self.calls.append(StubCall(args=dict(bound.arguments)))

    def _call(self, *args: object, **kwargs: object) -> object:
        self._record(args, kwargs)
        return self._outcome(args, kwargs)

    async def _acall(self, *args: object, **kwargs: object) -> object:
        self._record(args, kwargs)
        value = self._outcome(args, kwargs)
        if inspect.isawaitable(value):
            return await value
        return value

    def _outcome(self, args: tuple[object, ...], kwargs: dict[str, object]) -> object:
        if self._effect is not None:
            return self._effect(*args, **kwargs)
        if self._sequence is not None:
            return self._next()
        if self._raises is not None:
            raise _instance(self._raises)
        return self._returns

    def _next(self) -> object:
        assert self._sequence is not None  # only called with a sequence
        try:
            item = next(self._sequence)
        except StopIteration:
            msg = (
                f"The stub of task {self.task.name!r} got call {self.call_count} but "
                f"its side_effect has only {self.call_count - 1} item(s); add items, "
                "or expect fewer calls"
            )
            raise StubExhaustedError(
                msg, task=self.task.name, calls=self.call_count
            ) from None
        if _is_exception(item):
            raise _instance(item)  # type: ignore[arg-type]  # narrowed by _is_exception
        return item


def stub_task(
    task: Task[P, R],
    /,
    *,
    returns: R | None = None,
    raises: BaseException | type[BaseException] | None = None,
    side_effect: Callable[P, R]
    | Callable[P, Awaitable[R]]
    | Iterable[R | BaseException | type[BaseException]]
    | None = None,
) -> TaskStub[R]:
    """Make ``task`` run a stub until ``restore()``; the runner still runs it.

    Give at most one of ``returns``, ``raises`` and ``side_effect``; with
    none, the stub returns ``None``. Outside pytest, prefer
    ``mock_connectors()``, which restores its stubs when it closes.

    Args:
        task: A ``@task``, a connector operation or a ``@connector.task``.
        returns: The value every call returns.
        raises: An exception (or exception class) every call raises.
        side_effect: A function (sync or async) called with the task's
            arguments, whose result is the value; or a sequence whose items
            the calls take in turn, an exception item being raised.

    Raises:
        OptionTypeError: ``task`` is not a task, or more than one outcome is given.
    """
    _check_task(task)
    given = [
        name
        for name, value in (
            ("returns", returns),
            ("raises", raises),
            ("side_effect", side_effect),
        )
        if value is not None
    ]
    if len(given) > 1:
        msg = (
            f"stub({task.name}) got {' and '.join(given)}; give one of returns=, "
            "raises= or side_effect= (a sequence mixes values and exceptions)"
        )
        raise OptionTypeError(msg, option=given[1])
    return TaskStub(task, returns=returns, raises=raises, side_effect=side_effect)


def original_plan(task: Task[..., Any]) -> TaskPlan:
    """Return the plan ``task`` had before any stub, however many are stacked."""
    plan = task.plan
    owner = getattr(plan.function, "__self__", None)
    while isinstance(owner, TaskStub):
        plan = owner.original
        owner = getattr(plan.function, "__self__", None)
    return plan


def _check_task(task: object) -> None:
    if not isinstance(task, Task):
        msg = (
            f"stub() takes a task (a @task function or a connector operation), "
            f"not {type(task).__name__}: {task!r}"
        )
        raise OptionTypeError(msg, option="task")


def _is_exception(value: object) -> bool:
    return isinstance(value, BaseException) or (
        isinstance(value, type) and issubclass(value, BaseException)
    )


def _is_async(function: object) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004  # an async __call__ method
    )


def _as_iterable(task: Task[..., Any], side_effect: object) -> Iterable[object]:
    if isinstance(side_effect, Iterable) and not isinstance(
        side_effect, str | bytes | dict
    ):
        return side_effect
    msg = (
        f"stub({task.name}) got side_effect={side_effect!r}; pass a function, a "
        "sequence of values and exceptions, or use returns= for one value"
    )
    raise OptionTypeError(msg, option="side_effect")


def _instance(error: BaseException | type[BaseException]) -> BaseException:
    return error() if isinstance(error, type) else error
