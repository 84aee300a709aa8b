"""``@task`` and ``Task``: a function that records a node when called while tracing.

Inside a workflow, calling a task binds its arguments, records a
``TaskNode`` and returns a ``TaskFuture``; outside one, it is a one-task run
on the default runner. ``task.map`` fans out over a list known at run time
and ``task.partial`` binds the arguments that are not mapped. Decorators are
built with wrapt so signatures, docstrings and ``inspect`` keep working.
Builds graphs; the only run entry is ``run_entry``.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Literal,
    ParamSpec,
    Protocol,
    TypeVar,
    final,
    overload,
)

import wrapt

from fiscus_dsl._dsl import run_entry
from fiscus_dsl._dsl.futures import (
    SCALARS,
    TaskFuture,
    future_spec,
    has_future,
    plain_ref,
    to_arg_spec,
)
from fiscus_dsl._dsl.hooks import HookFunction, Hooks
from fiscus_dsl._dsl.options import (
    check_decorated,
    check_name,
    check_on_error,
    check_retry,
    check_seconds,
)
from fiscus_dsl._dsl.overrides import plan_override
from fiscus_dsl._dsl.plan import FastArg, PlanNode
from fiscus_dsl._dsl.signature import CallSignature
from fiscus_dsl._dsl.tracing import (
    TraceContext,
    current_trace,
    current_trace_var,
    tracing,
    user_location,
)
from fiscus_dsl._graph.specs import ArgSpec, OperationRef, Policy, RetrySpec
from fiscus_dsl.errors import ArgumentValidationError, TracingError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from fiscus_dsl._dsl.plan import Plan
    from fiscus_dsl._runtime.retry import Retry

_TRACE = current_trace_var
P = ParamSpec("P")
R = TypeVar("R")
OnError = Literal["fail", "continue"]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TaskOptions:
    """The options given to ``@task(...)``."""

    name: str
    retry: Retry | None = None
    timeout: float | None = None
    on_error: OnError = "fail"
    hooks: Hooks | None = None
    #: Run every attempt with ``current_attempt()`` set (connector operations).
    attempt_context: bool = False
    #: The connector API it calls, for its graph nodes (set by ``Connector``).
    operation: OperationRef | None = None

    def policy(self) -> Policy:
        """Describe the options as graph data."""
        retry = self.retry
        spec = None
        if retry is not None:
            spec = RetrySpec(
                attempts=retry.attempts,
                backoff=retry.backoff,
                max_delay=retry.max_delay,
                jitter=retry.jitter,
                retry_on=retry.describe_retry_on(),
            )
        return Policy(retry=spec, timeout=self.timeout, on_error=self.on_error)


@final
@dataclass(frozen=True, slots=True)
class TaskPlan:
    """What the runner needs of a task on its hot path, gathered once."""

    name: str
    function: Callable[..., object]
    is_async: bool
    signature: CallSignature
    options: TaskOptions
    #: No retry and no timeout: one plain attempt.
    is_direct: bool


def _check_options(function: Callable[..., object], options: TaskOptions) -> None:
    """Refuse wrong options where the task is declared, showing the right form."""
    check_name(
        f"The task of {getattr(function, '__qualname__', function)!r}", options.name
    )
    owner = f"Task {options.name!r}"
    check_retry(owner, options.retry)
    check_seconds(owner, "timeout", options.timeout)
    check_on_error(owner, options.on_error)


class Task(wrapt.FunctionWrapper[P, Any], Generic[P, R]):
    """A function made into a workflow step by ``@task``.

    Calling it inside a ``@workflow`` returns a lazy future; calling it
    anywhere else runs it at once on the default runner, with retries, hooks
    and spans, and returns its value (an ``async def`` task called while an
    event loop runs returns a coroutine to ``await``, as any ``async def``).
    """

    _self_options: TaskOptions
    _self_signature: CallSignature
    _self_policy: Policy
    #: What tracing reads on every call, in one attribute: name, signature, policy.
    _self_record: tuple[str, CallSignature, Policy]
    _self_is_async: bool
    _self_declared_async: bool
    _self_plan: TaskPlan

    def __init__(
        self,
        function: Callable[P, R] | Callable[P, Awaitable[R]],
        options: TaskOptions,
        *,
        body: Callable[..., object] | None = None,
        signature: CallSignature | None = None,
    ) -> None:
        """Wrap ``function``; ``body`` is what runs instead, if given.

        An operation's sender is its ``body``, with the ``signature`` it analysed.
        """
        check_decorated("@task", function)
        _check_options(function, options)
        super().__init__(function, self._dispatch)
        runs = body or function
        self._self_options = options
        self._self_signature = signature or CallSignature(function, options.name)
        self._self_policy = options.policy()
        self._self_record = (options.name, self._self_signature, self._self_policy)
        self._self_is_async = inspect.iscoroutinefunction(runs)
        # What the user declared decides how a direct call behaves: an
        # operation declared with `def` returns its value even though the
        # connector's sender, its body, is async.
        self._self_declared_async = inspect.iscoroutinefunction(function)
        self._self_plan = TaskPlan(
            name=options.name,
            function=runs,
            is_async=self._self_is_async,
            signature=self._self_signature,
            options=options,
            is_direct=options.retry is None
            and options.timeout is None
            and not options.attempt_context,
        )

    # ------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        """Return the task's name, used for node ids and span names."""
        return self._self_options.name

    @property
    def options(self) -> TaskOptions:
        """Return the options the task was declared with."""
        return self._self_options

    @property
    def policy(self) -> Policy:
        """Return the task's policy as graph data."""
        return self._self_policy

    @property
    def call_signature(self) -> CallSignature:
        """Return the binding and validation helper of the task's function."""
        return self._self_signature

    @property
    def plan(self) -> TaskPlan:
        """Return what the runner needs to call the task (a stub's, where stubbed)."""
        override = plan_override(self)
        return self._self_plan if override is None else override

    @property
    def is_async(self) -> bool:
        """Tell whether the task's function is ``async def``."""
        return self._self_is_async

    # ------------------------------------------------------------ calling

    def _dispatch(
        self,
        wrapped: Callable[..., object],
        instance: object,
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> object:
        if instance is not None:
            args = (instance, *args)
        trace = current_trace()
        if trace is None:
            plan = trace_standalone(self, lambda t: record_call(self, t, args, kwargs))
            return run_entry.engine().call_standalone(
                plan, is_async=self._self_declared_async
            )
        return record_call(self, trace, args, kwargs)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Record a call inside a workflow (a future), or run the task at once.

        Outside a workflow, an ``async def`` task called from a running event
        loop returns a coroutine to ``await``; statically the call is typed
        as the value, so typed async code writes ``await task.arun(...)``.
        """
        trace = _TRACE.get()
        if trace is not None:  # tracing's hot path, straight to the record
            return record_call(self, trace, args, kwargs)  # type: ignore[return-value]  # the future stands for R
        return super().__call__(*args, **kwargs)  # type: ignore[no-any-return]  # the future stands for R

    async def arun(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the task at once from async code and return its value."""
        trace = current_trace()
        if trace is not None:
            trace.fail(
                f"Task {self.name!r} was started with .arun() inside the workflow body",
                fix=f"call it to record a step: {self.name}(...), or "
                f"await {self.name}(...) in an async workflow",
            )
        traced = trace_standalone(self, lambda t: record_call(self, t, args, kwargs))
        return await run_entry.engine().arun_standalone(traced)  # type: ignore[return-value]  # the run's output is the task's value

    def map(self, **mapped: object) -> list[R]:
        """Run one instance per item of the given lists, in parallel.

        Each keyword names a parameter and gives a list (or the future of
        one); lists are zipped. Instances get ids ``name[0]``, ``name[1]``.
        The result is the list of their values; an empty list maps to ``[]``.
        """
        return Partial(self, {}).map(**mapped)

    def partial(self, **bound: object) -> Partial[R]:
        """Bind arguments that stay the same for every instance of ``map``."""
        return Partial(self, bound)

    def __reduce_ex__(
        self, protocol: object
    ) -> tuple[Callable[[str, str], object], tuple[str, str]]:
        """Pickle by reference to the module-level task, as Dask ships functions."""
        function = self.__wrapped__
        return (_resolve_task, (function.__module__, function.__qualname__))

    def __repr__(self) -> str:
        return f"<Task {self.name!r}>"


def _resolve_task(module: str, qualname: str) -> object:
    target: object = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


@final
class Partial(Generic[R]):
    """A task or workflow with some arguments bound, ready to ``map``."""

    __slots__ = ("bound", "target")

    def __init__(
        self, target: Task[..., R] | Mappable[R], bound: Mapping[str, object]
    ) -> None:
        self.target = target
        self.bound = dict(bound)

    def map(self, **mapped: object) -> list[R]:
        """Run one instance per item of the mapped lists; see ``Task.map``."""
        target = self.target
        if isinstance(target, Task):
            trace = current_trace()
            if trace is None:
                traced = trace_standalone(
                    target, lambda t: record_map(target, t, self.bound, mapped)
                )
                return run_entry.engine().run_standalone(traced)  # type: ignore[return-value]  # the run's output is the list
            return record_map(target, trace, self.bound, mapped)  # type: ignore[return-value]  # statically the list
        return target.record_map(self.bound, mapped)

    def partial(self, **bound: object) -> Partial[R]:
        """Bind more arguments."""
        return Partial(self.target, {**self.bound, **bound})


class Mappable(Protocol[R]):
    """What ``Partial.map`` needs of a workflow (``Workflow`` provides it)."""

    def record_map(
        self, bound: Mapping[str, object], mapped: Mapping[str, object]
    ) -> list[R]:
        """Record a mapped call and return the future of the list."""
        ...


# ---------------------------------------------------------------- recording


def bind_error(
    trace: TraceContext, what: str, signature: CallSignature, problems: Sequence[str]
) -> TracingError:
    """Build the error for a call that does not bind, listing every problem."""
    error = trace.error(
        f"{what} was called with arguments that do not bind to "
        f"{signature.name}{signature.signature} ({'; '.join(problems)})",
        fix="pass each required parameter once, by its name, and no unknown ones",
    )
    error.problems = tuple(problems)
    return error


def _check_literals(
    task: Task[..., Any],
    trace: TraceContext,
    node_id: str,
    arguments: dict[str, object],
) -> ArgumentValidationError | None:
    """Validate the literal arguments; return the error for the step to fail with."""
    try:
        task.call_signature.validate(
            arguments,
            workflow=trace.workflow,
            task_id=node_id,
            only=lambda v: not has_future(v),
        )
    except ArgumentValidationError as exc:
        return exc
    return None


def record_call(
    task: Task[..., Any],
    trace: TraceContext,
    args: tuple[object, ...],
    kwargs: Mapping[str, object],
) -> TaskFuture[object]:
    """Record one call of ``task`` in ``trace`` and return its future.

    The hot path of tracing: the arguments are recorded in the fast form
    where they can be, and the literals are validated once, here.
    """
    name, signature, policy = task._self_record  # noqa: SLF001  (this module's class)
    arguments = signature.bind(args, kwargs)
    if arguments is None:
        problems = signature.problems(args, kwargs)
        raise bind_error(trace, f"Task {name!r}", signature, problems)
    node_id = trace.next_id(name)
    fast = _fast_args(arguments, trace)
    specs: dict[str, ArgSpec] | None = None
    if fast is not None:
        literals = {key: value for key, source, value in fast if source is None}
    else:
        specs, literals = _general_args(arguments, trace)
    invalid = None
    if literals:
        try:
            signature.validate(literals, workflow=trace.workflow, task_id=node_id)
        except ArgumentValidationError as exc:
            invalid = exc
    trace.add(
        PlanNode(
            node_id=node_id,
            kind="task",
            name=name,
            task=task,
            args=specs,
            fast=fast,
            guard=trace.current_guard(),
            policy=policy,
            location=user_location(),
            invalid=invalid,
        )
    )
    return TaskFuture(trace, node_id)


def _fast_args(
    arguments: dict[str, object], trace: TraceContext
) -> tuple[FastArg, ...] | None:
    """Return the ``fast`` form of the arguments (see ``PlanNode.fast``).

    ``None`` when an argument is neither a scalar literal, a whole future
    of this trace, nor a list of such futures: the general form then.
    """
    fast: list[FastArg] = []
    for key, value in arguments.items():
        if type(value) in SCALARS:
            fast.append((key, None, value))
            continue
        if type(value) is list and value:  # a list of whole futures: gathered
            ids = [plain_ref(item, trace) for item in value]
            if None in ids:
                return None
            fast.append((key, tuple(ids), None))  # type: ignore[arg-type]  # no None left
            continue
        ref = plain_ref(value, trace)
        if ref is None:
            return None
        fast.append((key, ref, None))
    return tuple(fast)


def _general_args(
    arguments: dict[str, object], trace: TraceContext
) -> tuple[dict[str, ArgSpec], dict[str, object]]:
    """Return the arguments' specs, and those that are literals, by name."""
    specs = {key: to_arg_spec(value, trace) for key, value in arguments.items()}
    literals = {
        key: arguments[key] for key, spec in specs.items() if spec.kind == "value"
    }
    return specs, literals


def mapped_specs(
    trace: TraceContext,
    what: str,
    signature: CallSignature,
    bound: Mapping[str, object],
    mapped: Mapping[str, object],
) -> tuple[dict[str, ArgSpec], dict[str, ArgSpec]]:
    """Check a mapped call binds and return the specs of ``(bound, mapped)``."""
    if not mapped:
        trace.fail(
            f"{what}.map() got no lists", fix="pass at least one: .map(item=items)"
        )
    overlap = sorted(set(bound) & set(mapped))
    if overlap:
        trace.fail(
            f"{what}.map() got {overlap} both bound by partial() and mapped",
            fix="bind each argument once",
        )
    for name, value in mapped.items():
        if not isinstance(value, list | tuple | TaskFuture):
            trace.fail(
                f"{what}.map() got {type(value).__name__} for {name!r}, not a list",
                fix="pass a list or the future of one",
            )
    problems = signature.problems((), {**bound, **dict.fromkeys(mapped)})
    if problems:
        raise bind_error(trace, what, signature, problems)
    return (
        {name: to_arg_spec(value, trace) for name, value in bound.items()},
        {name: to_arg_spec(value, trace) for name, value in mapped.items()},
    )


def record_map(
    task: Task[..., Any],
    trace: TraceContext,
    bound: Mapping[str, object],
    mapped: Mapping[str, object],
) -> TaskFuture[list[object]]:
    """Record a mapped call of ``task`` and return the future of the list."""
    args, lists = mapped_specs(
        trace, f"Task {task.name!r}", task.call_signature, bound, mapped
    )
    node_id = trace.next_id(task.name)
    trace.add(
        PlanNode(
            node_id=node_id,
            kind="map",
            name=task.name,
            task=task,
            args=args,
            mapped=lists,
            guard=trace.current_guard(),
            policy=task.policy,
            location=user_location(),
            invalid=_check_literals(task, trace, node_id, dict(bound)),
        )
    )
    return TaskFuture(trace, node_id)


def trace_standalone(
    task: Task[..., Any], record: Callable[[TraceContext], TaskFuture[Any]]
) -> Plan:
    """Compile the one-task plan of a task called outside any workflow."""
    trace = TraceContext(workflow=task.name, direct=True)
    with tracing(trace):
        future = record(trace)
    return trace.finish(inputs=(), output=future_spec(future, trace), hooks=())


# ---------------------------------------------------------------- decorator


class TaskDecorator(Protocol):
    """What ``@task(...)`` with options returns: a decorator keeping the signature."""

    @overload
    def __call__(self, function: Callable[P, Awaitable[R]], /) -> Task[P, R]: ...
    @overload
    def __call__(self, function: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(function: Callable[P, Awaitable[R]], /) -> Task[P, R]: ...
@overload
def task(function: Callable[P, R], /) -> Task[P, R]: ...
@overload
def task(
    *,
    name: str | None = None,
    retry: Retry | None = None,
    timeout: float | None = None,
    on_error: OnError = "fail",
    before: HookFunction | Sequence[HookFunction] | None = None,
    after: HookFunction | Sequence[HookFunction] | None = None,
    on_retry: HookFunction | Sequence[HookFunction] | None = None,
) -> TaskDecorator: ...
def task(
    function: Callable[P, Any] | None = None,
    /,
    *,
    name: str | None = None,
    retry: Retry | None = None,
    timeout: float | None = None,
    on_error: OnError = "fail",
    before: HookFunction | Sequence[HookFunction] | None = None,
    after: HookFunction | Sequence[HookFunction] | None = None,
    on_retry: HookFunction | Sequence[HookFunction] | None = None,
) -> Task[P, Any] | TaskDecorator:
    """Make a sync or async function a task, bare (``@task``) or with options.

    Args:
        function: The function, when used bare.
        name: The task's name (default: the function's name).
        retry: A ``Retry`` policy, e.g. ``Retry(attempts=3)`` (default: one try).
        timeout: Seconds allowed per attempt, as a number (``5.0``).
        on_error: ``"fail"`` ends the run when the task fails; ``"continue"``
            skips only the tasks that need its value.
        before: ``before_task(ctx)`` hooks for this task only.
        after: ``after_task(ctx, value)`` hooks for this task only.
        on_retry: ``on_retry(ctx, error, delay)`` hooks for this task only.

    Raises:
        ConfigurationError: An option is wrong, checked when the decorator
            runs (``OptionTypeError`` for a wrong type: ``retry=3`` and
            ``timeout="5s"`` are refused, showing the form that works).
        HookSignatureError: A hook cannot take its arguments.

    Examples:
        >>> from fiscus_dsl import task
        >>> @task
        ... def add(a: int, b: int) -> int:
        ...     return a + b
        >>> add(1, 2)
        3
    """

    def decorate(target: Callable[P, Any]) -> Task[P, Any]:
        check_decorated("@task", target)
        hooks = Hooks(before_task=before, after_task=after, on_retry=on_retry)
        options = TaskOptions(
            name=name or target.__name__,  # an empty name means the default
            retry=retry,
            timeout=timeout,
            on_error=on_error,
            hooks=None if hooks.is_empty() else hooks,
        )
        return Task(target, options)

    if function is not None:
        return decorate(function)
    return decorate  # type: ignore[return-value]  # decorate implements both overloads
