"""``@workflow`` and ``Workflow``: a function traced into a graph, then run.

``wf(...)`` runs and returns the output (or raises ``WorkflowFailed``),
``wf.run(...)`` returns a ``RunResult``, ``await wf.arun(...)`` is the async
form and ``wf.graph()`` traces without running. Called inside another
workflow, a workflow is a sub-workflow: its graph nests under one node, and
``wf.map`` fans it out. Builds graphs; the only run entry is ``run_entry``.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

import wrapt

from fiscus_dsl._dsl import run_entry
from fiscus_dsl._dsl.futures import TaskFuture, has_future, to_arg_spec
from fiscus_dsl._dsl.hooks import Hooks, as_hooks
from fiscus_dsl._dsl.options import check_decorated, check_name
from fiscus_dsl._dsl.plan import Plan, PlanNode
from fiscus_dsl._dsl.signature import CallSignature
from fiscus_dsl._dsl.task import Partial, bind_error, mapped_specs
from fiscus_dsl._dsl.tracing import (
    TraceContext,
    current_trace,
    outside_workflow_error,
    tracing,
    user_location,
)
from fiscus_dsl._graph.specs import InputArg
from fiscus_dsl.errors import ArgumentValidationError, WorkflowInputError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from fiscus_dsl._connectors.plan_model import Plan as DryRun
    from fiscus_dsl._graph.model import WorkflowGraph
    from fiscus_dsl._runtime.results import RunResult

P = ParamSpec("P")
R = TypeVar("R")


class Workflow(wrapt.FunctionWrapper[P, Any], Generic[P, R]):
    """A function made into a workflow by ``@workflow``.

    Its body runs only while tracing: task calls inside it return futures,
    and the graph they form is what a run executes.
    """

    _self_name: str
    _self_hooks: tuple[Hooks, ...]
    _self_signature: CallSignature

    def __init__(
        self, function: Callable[P, R], *, name: str, hooks: tuple[Hooks, ...]
    ) -> None:
        super().__init__(function, self._dispatch)
        self._self_name = name
        self._self_hooks = hooks
        self._self_signature = CallSignature(function, name)

    @property
    def name(self) -> str:
        """Return the workflow's name."""
        return self._self_name

    @property
    def hooks(self) -> tuple[Hooks, ...]:
        """Return the hooks registered on the workflow."""
        return self._self_hooks

    @property
    def call_signature(self) -> CallSignature:
        """Return the binding and validation helper of the workflow's function."""
        return self._self_signature

    # ------------------------------------------------------------ running

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
            return run_entry.engine().call(self, *args, **kwargs)
        return self._record_call(trace, args, kwargs)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the workflow and return its output, or raise ``WorkflowFailed``.

        Inside another workflow, record it as a sub-workflow and return a future.
        """
        return super().__call__(*args, **kwargs)  # type: ignore[no-any-return]  # the future stands for R

    def run(self, *args: P.args, **kwargs: P.kwargs) -> RunResult[R]:
        """Run the workflow on the default runner and return its ``RunResult``.

        A failed run is reported in the result, never raised; only a
        definition error (``TracingError``, bad inputs) raises.
        """
        return run_entry.engine().run(self, *args, **kwargs)

    async def arun(self, *args: P.args, **kwargs: P.kwargs) -> RunResult[R]:
        """Run the workflow from async code; see ``run``."""
        return await run_entry.engine().arun(self, *args, **kwargs)

    def resume(self, run_id: str, /, *, force: bool = False) -> RunResult[R]:
        """Finish a recorded run on the default runner; see ``Runner.resume``.

        The default runner records nothing until it is given a store:
        ``set_default_runner(Runner(store=SQLiteRunStore(path)))``, or the
        ``FISCUS_STORE`` environment variable.

        Raises:
            RunLocked: Another live process holds the run.
            ResumeError: The run cannot be resumed; the message says why.
        """
        return run_entry.engine().resume(self, run_id, force=force)

    async def aresume(self, run_id: str, /, *, force: bool = False) -> RunResult[R]:
        """Finish a recorded run from async code; see ``resume``."""
        return await run_entry.engine().aresume(self, run_id, force=force)

    def plan(
        self,
        *args: object,
        responses: Mapping[str, object] | None = None,
        run_id: str | None = None,
        **kwargs: object,
    ) -> DryRun:
        """Plan a run with these inputs: the requests it would send, sending none.

        No task body runs and nothing is sent. ``responses`` gives sample
        responses by task id (``fetch[2]``), step id or task name, each
        validated against the operation's return annotation; a step with
        none has a ``<task_id>`` reference for a value, and a guard that
        needs one leaves its step conditional. ``run_id`` is the run whose
        ``Idempotency-Key``s the plan shows. See docs/plans.md.

        Raises:
            WorkflowInputError: The inputs do not bind to the signature.
            ArgumentValidationError: An input does not match its annotation.
        """
        return run_entry.planner().plan_workflow(
            self, args, kwargs, responses=responses, run_id=run_id
        )

    async def aplan(
        self,
        *args: object,
        responses: Mapping[str, object] | None = None,
        run_id: str | None = None,
        **kwargs: object,
    ) -> DryRun:
        """Plan a run from async code; see ``plan``."""
        return await run_entry.planner().aplan_workflow(
            self, args, kwargs, responses=responses, run_id=run_id
        )

    def graph(self, *args: object, **kwargs: object) -> WorkflowGraph:
        """Trace the workflow and return its graph, running nothing.

        Inputs not given are placeholders (a parameter's default is used
        where it has one), so the graph shows every branch.
        """
        return self.compile(args, kwargs, partial=True).graph()

    # ------------------------------------------------------------ tracing

    def bind_inputs(
        self,
        args: Sequence[object],
        kwargs: Mapping[str, object],
        *,
        partial: bool = False,
    ) -> dict[str, object]:
        """Bind and validate a run's inputs.

        Raises:
            WorkflowInputError: If they do not bind to the signature.
            ArgumentValidationError: If a value does not match its annotation.
        """
        signature = self.call_signature
        given = tuple(args)
        bound = None if partial else signature.bind(given, kwargs)
        if bound is None:
            problems = signature.problems(given, kwargs, partial=partial)
            if problems:
                where = user_location()
                msg = (
                    f"Workflow {self.name!r} was started with inputs that do not bind "
                    f"to {self.name}{signature.signature} ({'; '.join(problems)}) "
                    f"({where}); pass every input the workflow declares, by name"
                )
                raise WorkflowInputError(
                    msg, workflow=self.name, location=where, problems=problems
                )
            bound = dict(signature.signature.bind_partial(*given, **kwargs).arguments)
        return signature.validate(
            bound,
            workflow=self.name,
            task_id=None,
            only=lambda v: not has_future(v),
        )

    def compile(
        self,
        args: Sequence[object],
        kwargs: Mapping[str, object],
        *,
        partial: bool = False,
    ) -> Plan:
        """Bind the inputs and trace the workflow with them into its plan."""
        arguments = self.bind_inputs(args, kwargs, partial=partial)
        placeholders = [
            name
            for name, parameter in self.call_signature.signature.parameters.items()
            if name not in arguments
            and parameter.default is inspect.Parameter.empty
            and parameter.kind
            not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        ]
        return self.trace_plan(arguments, placeholders)

    def trace_plan(
        self, arguments: Mapping[str, object], placeholders: Sequence[str]
    ) -> Plan:
        """Trace the body with real values, and placeholder futures for the rest."""
        context = TraceContext(workflow=self.name)
        values = dict(arguments)
        for name in placeholders:
            values[name] = TaskFuture(context, InputArg(name=name))
        with tracing(context):
            call_args, call_kwargs = self.call_signature.call_parts(values)
            function: Callable[..., object] = self.__wrapped__
            returned = _drive(context, function(*call_args, **call_kwargs))
            output = None if returned is None else to_arg_spec(returned, context)
        return context.finish(
            inputs=tuple(placeholders), output=output, hooks=self.hooks
        )

    def _record_call(
        self,
        trace: TraceContext,
        args: tuple[object, ...],
        kwargs: Mapping[str, object],
    ) -> TaskFuture[object]:
        signature = self.call_signature
        arguments = signature.bind(args, kwargs)
        if arguments is None:
            problems = signature.problems(args, kwargs)
            raise bind_error(trace, f"Sub-workflow {self.name!r}", signature, problems)
        futures = [name for name, value in arguments.items() if has_future(value)]
        literals = {
            name: value for name, value in arguments.items() if name not in futures
        }
        return self._record(
            trace, literals, futures, {n: arguments[n] for n in futures}, None
        )

    def record_map(
        self, bound: Mapping[str, object], mapped: Mapping[str, object]
    ) -> list[R]:
        """Record a mapped sub-workflow and return the future of its outputs."""
        trace = current_trace()
        if trace is None:
            what = f"Workflow {self.name!r}.map()"
            raise outside_workflow_error(
                what,
                fix="call the workflow once per item, or map it inside a workflow",
            )
        _, lists = mapped_specs(
            trace, f"Workflow {self.name!r}", self.call_signature, bound, mapped
        )
        futures = [name for name, value in bound.items() if has_future(value)]
        literals = {name: value for name, value in bound.items() if name not in futures}
        placeholders = [*futures, *mapped]
        return self._record(  # type: ignore[return-value]  # statically the list of outputs
            trace, literals, placeholders, {n: bound[n] for n in futures}, lists
        )

    def _record(
        self,
        trace: TraceContext,
        literals: dict[str, object],
        placeholders: list[str],
        future_args: dict[str, object],
        mapped: dict[str, Any] | None,
    ) -> TaskFuture[object]:
        node_id = trace.next_id(self.name)
        invalid = None
        try:
            literals = self.call_signature.validate(
                literals, workflow=trace.workflow, task_id=node_id
            )
        except ArgumentValidationError as exc:
            invalid = exc
        trace.add(
            PlanNode(
                node_id=node_id,
                kind="workflow",
                name=self.name,
                args={
                    name: to_arg_spec(value, trace)
                    for name, value in future_args.items()
                },
                mapped=mapped,
                guard=trace.current_guard(),
                location=user_location(),
                invalid=invalid,
                child=self.trace_plan(literals, placeholders),
            )
        )
        return TaskFuture(trace, node_id)

    def map(self, **mapped: object) -> list[R]:
        """Run the sub-workflow once per item of the given lists (inside a workflow)."""
        return self.record_map({}, mapped)

    def partial(self, **bound: object) -> Partial[R]:
        """Bind inputs that stay the same for every instance of ``map``."""
        return Partial(self, bound)

    def __repr__(self) -> str:
        return f"<Workflow {self.name!r}>"


def _drive(context: TraceContext, returned: object) -> object:
    """Finish an ``async def`` workflow body, which may only await futures."""
    if not inspect.iscoroutine(returned):
        return returned
    try:
        returned.send(None)
    except StopIteration as stop:
        return stop.value
    returned.close()
    msg = "The workflow body awaited something that is not a task call"
    raise context.error(
        msg,
        fix="workflow bodies only build the graph: await task calls, or move the "
        "awaited code into a task",
    )


@overload
def workflow(function: Callable[P, R], /) -> Workflow[P, R]: ...
@overload
def workflow(
    *, name: str | None = None, hooks: Hooks | Sequence[Hooks] | None = None
) -> Callable[[Callable[P, R]], Workflow[P, R]]: ...
def workflow(
    function: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    hooks: Hooks | Sequence[Hooks] | None = None,
) -> Workflow[P, R] | Callable[[Callable[P, R]], Workflow[P, R]]:
    """Make a function a workflow, bare (``@workflow``) or with options.

    Args:
        function: The function, when used bare.
        name: The workflow's name (default: the function's name).
        hooks: ``Hooks`` that apply to every run of this workflow.

    Raises:
        OptionTypeError: ``name`` is not a str, or the decorated object is
            not a function; checked here, when the decorator runs.
        HookSignatureError: ``hooks`` holds something other than ``Hooks``.

    Examples:
        >>> from fiscus_dsl import task, workflow
        >>> @task
        ... def greet(name: str) -> str:
        ...     return "Hello, " + name
        >>> @workflow
        ... def hello(name: str) -> str:
        ...     return greet(name)
        >>> hello(name="Ada")
        'Hello, Ada'
    """
    registered = as_hooks(hooks)

    def decorate(target: Callable[P, R]) -> Workflow[P, R]:
        check_decorated("@workflow", target)
        chosen = name or target.__name__  # an empty name means the default
        check_name(f"The workflow of {target.__qualname__!r}", chosen)
        return Workflow(target, name=chosen, hooks=registered)

    if function is not None:
        return decorate(function)
    return decorate
