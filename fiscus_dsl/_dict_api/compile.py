"""Compiling a list of task dicts onto one DSL graph, and reading its run back.

Each task dict becomes one task node named after its ``id`` or operation.
A task whose params refer to earlier results (``"{{create_contact.id}}"``),
or that has ``depends_on``, waits for those tasks; a task with conditions
or with params computed from the context waits for every task before it;
the others run at once. Every step gets the *outcomes* of what it waits
for, so a failed task still feeds the context (``custom_logic(response)``)
and conditions. Steps run with ``on_error="continue"``: one failure does
not stop the rest.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, final

from fiscus_dsl._connectors.scrub import scrub_text
from fiscus_dsl._dict_api.response import FiscusResponse
from fiscus_dsl._dict_api.spec import (
    TEMPLATE,
    Callback,
    TaskSpec,
    child,
    not_data,
    template_path,
)
from fiscus_dsl._dsl.conditions import outcome, when
from fiscus_dsl._dsl.hooks import Hooks
from fiscus_dsl._dsl.task import Task, TaskOptions
from fiscus_dsl._dsl.workflow import Workflow, workflow
from fiscus_dsl._runtime.attempts import current_attempt
from fiscus_dsl._runtime.hooks import call_hook
from fiscus_dsl._runtime.results import TaskOutcome, TaskStatus
from fiscus_dsl._runtime.symbols import contains_symbol
from fiscus_dsl.errors import (
    ArgumentValidationError,
    FiscusWarning,
    SkipTask,
    TaskDefinitionError,
)

if TYPE_CHECKING:
    from fiscus_dsl._connectors.connector import Connector
    from fiscus_dsl._runtime.hooks import TaskContext
    from fiscus_dsl._runtime.results import RunResult
    from fiscus_dsl._runtime.retry import Retry

_MISSING = object()


@final
class Execution:
    """One ``execute`` call: its steps, their shared context, and its callbacks."""

    def __init__(
        self,
        specs: Sequence[TaskSpec],
        operations: Sequence[Task[..., Any]],
        *,
        retry: Retry | None,
        callbacks: Mapping[str, Callback],
    ) -> None:
        self.specs = list(specs)
        self.operations = list(operations)
        self.retry = retry
        self.callbacks = dict(callbacks)
        self.step_ids: list[str] = []
        self.condition_errors: dict[int, BaseException] = {}
        self._logic: dict[int, object] = {}
        self.logic_errors: dict[int, BaseException] = {}

    # ------------------------------------------------------------ the graph

    def compile(self) -> Workflow[[], None]:
        """Return the workflow that runs every task of this call."""
        steps = [
            self._step(spec, operation)
            for spec, operation in zip(self.specs, self.operations, strict=True)
        ]

        def fiscus_tasks() -> None:
            futures: list[object] = []
            for spec, step in zip(self.specs, steps, strict=True):
                waits = self._waits_for(spec)
                inputs = [outcome(futures[index]) for index in waits]
                if spec.condition is None:
                    futures.append(step(inputs))
                    continue
                earlier = [outcome(future) for future in futures]
                guard = self._guard(spec)
                with when(guard, *earlier):
                    futures.append(step(inputs))

        return workflow(name="fiscus_tasks")(fiscus_tasks)

    def _waits_for(self, spec: TaskSpec) -> list[int]:
        if (
            spec.condition is not None
            or callable(spec.params)
            or _has_callables(spec.params)
        ):
            return list(range(spec.index))
        names = set(spec.depends_on) | set(spec.references())
        return [
            other.index
            for other in self.specs[: spec.index]
            if other.key in names or other.operation in names
        ]

    def _guard(self, spec: TaskSpec) -> Callable[..., bool]:
        def condition(*outcomes: TaskOutcome) -> bool:
            assert spec.condition is not None  # only guarded specs get here
            try:
                return bool(spec.condition(self.context(outcomes)))
            except Exception as exc:  # a condition that raises skips its task, recorded
                self.condition_errors[spec.index] = exc
                return False

        condition.__name__ = f"conditions_of_{spec.key}"
        return condition

    def _step(self, spec: TaskSpec, operation: Task[..., Any]) -> Task[..., Any]:
        waits = self._waits_for(spec)

        def step(outcomes: list[TaskOutcome]) -> object:
            """Run one task dict's operation."""

        step.__name__ = spec.key
        step.__qualname__ = spec.key

        async def body(outcomes: list[TaskOutcome]) -> object:
            context = self.context(outcomes, among=waits)
            params = self._params(spec, context, outcomes, waits)
            return await _call(operation, spec, params)

        body.__fiscus_glue__ = True  # type: ignore[attr-defined]  # a plan may run it

        hooks = self._hooks(spec)
        options = TaskOptions(
            name=spec.key,
            retry=self.retry if self.retry is not None else operation.options.retry,
            timeout=operation.options.timeout,
            on_error="continue",
            hooks=hooks,
            attempt_context=True,
            operation=operation.options.operation,  # the graph shows what it calls
        )
        return Task(step, options, body=body)

    # ------------------------------------------------------------ context

    def context(
        self, outcomes: Sequence[TaskOutcome], *, among: Sequence[int] | None = None
    ) -> dict[str, object]:
        """Build ``context`` from the outcomes of the earlier tasks given."""
        indexes = list(range(len(outcomes))) if among is None else list(among)
        context: dict[str, object] = {}
        for index, result in zip(indexes, outcomes, strict=True):
            value = self.context_value(index, result)
            if value is _MISSING:
                continue
            spec = self.specs[index]
            context[spec.operation] = value
            context[spec.key] = value
        return context

    def context_value(self, index: int, result: TaskOutcome) -> object:
        """Return what a task puts in the context: ``custom_logic`` or its data."""
        spec = self.specs[index]
        if spec.custom_logic is None:
            return result.value if result.success else _MISSING
        if index not in self._logic:
            try:
                self._logic[index] = spec.custom_logic(
                    self.task_response(index, result)
                )
            except Exception as exc:  # user code: reported on the task's response
                self.logic_errors[index] = exc
                self._logic[index] = _MISSING
        return self._logic[index]

    def task_response(
        self, index: int, result: TaskOutcome | None, *, message: str | None = None
    ) -> FiscusResponse:
        """Return one task's ``FiscusResponse`` from its outcome."""
        spec = self.specs[index]
        task_id = self.step_ids[index] if index < len(self.step_ids) else spec.key
        if (
            result is None
            or result.status is TaskStatus.SKIPPED
            or result.status is TaskStatus.NOT_RUN
        ):
            return FiscusResponse(
                success=True,
                result={},
                operation=spec.operation,
                task_id=task_id,
                skipped=True,
                error_message=message,
            )
        if result.success:
            return FiscusResponse(
                success=True,
                result=result.value,
                operation=spec.operation,
                task_id=task_id,
            )
        error = result.error
        # The key detail first (the error's type and status), so a cut keeps it;
        # scrubbed: a hand-written task's error may quote a URL with a key in it.
        status = getattr(error, "status_code", None)
        kind = type(error).__name__ + (f" {status}" if isinstance(status, int) else "")
        text = message or scrub_text(
            f"Task {spec.index} ({task_id!r}) failed: {kind} in "
            f"{spec.connector}.{spec.operation}: {error}"
        )
        return FiscusResponse(
            success=False,
            error=error,
            error_message=text,
            operation=spec.operation,
            task_id=task_id,
        )

    # ------------------------------------------------------------ params

    def _params(
        self,
        spec: TaskSpec,
        context: Mapping[str, object],
        outcomes: Sequence[TaskOutcome],
        waits: Sequence[int],
    ) -> dict[str, object]:
        if callable(spec.params):
            made: object = spec.params(context)
            if not isinstance(made, Mapping):
                kind = type(made).__name__
                msg = (
                    f"Task {spec.index}: params(ctx) returned {kind}, not a dict; "
                    "return a dict of the operation's parameters"
                )
                raise TaskDefinitionError(msg, index=spec.index, field="params")
            return dict(made)
        named = {}
        for index, result in zip(waits, outcomes, strict=True):
            other = self.specs[index]
            named[other.operation] = result
            named[other.key] = result
        return {
            name: _fill(value, context, named, spec)
            for name, value in spec.params.items()
        }

    # ------------------------------------------------------------ callbacks

    def _hooks(self, spec: TaskSpec) -> Hooks | None:
        callbacks = {**self.callbacks, **spec.callbacks}
        on_log = callbacks.get("fiscus_on_log")
        on_success = callbacks.get("fiscus_on_success")
        if on_log is None and on_success is None:
            return None

        async def before(ctx: TaskContext) -> None:
            if on_log is not None:
                await _notify(
                    on_log,
                    {
                        "message": f"Executing {spec.connector}.{spec.operation}",
                        "response": None,
                        "task": dict(spec.source),
                    },
                )

        async def after(ctx: TaskContext, value: object) -> None:
            response = FiscusResponse(
                success=True,
                result=value,
                operation=spec.operation,
                task_id=ctx.task_id,
            )
            info = {
                "message": f"{spec.connector}.{spec.operation} succeeded",
                "response": response,
                "task": dict(spec.source),
            }
            if on_log is not None:
                await _notify(on_log, info)
            if on_success is not None:
                await _notify(on_success, info)

        return Hooks(before_task=before, after_task=after)

    async def report_errors(self, responses: Sequence[FiscusResponse]) -> None:
        """Call ``fiscus_on_error`` for failed tasks and conditions that raised."""
        for spec, response in zip(self.specs, responses, strict=True):
            if response.success and spec.index not in self.condition_errors:
                continue
            on_error = {**self.callbacks, **spec.callbacks}.get("fiscus_on_error")
            if on_error is not None:
                info = {
                    "message": response.error_message,
                    "response": response,
                    "task": dict(spec.source),
                }
                await _notify(on_error, info)

    # ------------------------------------------------------------ the answer

    def responses(self, run: RunResult[object]) -> list[FiscusResponse]:
        """Return one ``FiscusResponse`` per task from a finished run."""
        responses = []
        for spec, task_id in zip(self.specs, self.step_ids, strict=True):
            task_result = run.tasks[task_id]
            result = TaskOutcome(
                task_result.status, task_result.value, task_result.error
            )
            message = None
            if spec.index in self.condition_errors:
                error = self.condition_errors[spec.index]
                message = scrub_text(
                    f"Task {spec.index} ({task_id!r}) was skipped: its condition "
                    f"raised {type(error).__name__}: {error}"
                )
            elif result.status is TaskStatus.SKIPPED:
                message = scrub_text(
                    f"Task {spec.index} ({task_id!r}) was skipped: {task_result.reason}"
                )
            response = self.task_response(spec.index, result, message=message)
            if spec.index in self.logic_errors:
                response = self._logic_failure(spec, task_id, response)
            responses.append(response)
        return responses

    def _logic_failure(
        self, spec: TaskSpec, task_id: str, response: FiscusResponse
    ) -> FiscusResponse:
        """Mark a task whose ``custom_logic`` raised: its response is an error."""
        error = self.logic_errors[spec.index]
        return FiscusResponse(
            success=False,
            result=response.result,
            error=error,
            error_message=scrub_text(
                f"Task {spec.index} ({task_id!r}): its custom_logic raised "
                f"{type(error).__name__}: {error}"
            ),
            operation=spec.operation,
            task_id=task_id,
        )

    def final_context(self, run: RunResult[object]) -> dict[str, object]:
        """Return the context after every task ran."""
        outcomes = [
            TaskOutcome(
                run.tasks[task_id].status,
                run.tasks[task_id].value,
                run.tasks[task_id].error,
            )
            for task_id in self.step_ids
        ]
        return self.context(outcomes)


async def _notify(callback: Callback, info: Mapping[str, object]) -> None:
    """Call a Fiscus callback; one that raises is a warning, never a task failure."""
    try:
        await call_hook(callback, dict(info))
    except Exception as exc:  # a notification must not change the run
        name = getattr(callback, "__qualname__", repr(callback))
        msg = f"Callback {name} raised {type(exc).__name__}: {exc}; the run goes on"
        warnings.warn(msg, FiscusWarning, stacklevel=2)


def _has_callables(params: object) -> bool:
    if callable(params):
        return True
    if isinstance(params, Mapping):
        return any(_has_callables(value) for value in params.values())
    if isinstance(params, list | tuple):
        return any(_has_callables(value) for value in params)
    return False


def _fill(
    value: object,
    context: Mapping[str, object],
    named: Mapping[str, TaskOutcome],
    spec: TaskSpec,
) -> object:
    if callable(value):
        return value(context)
    if isinstance(value, Mapping):
        return {key: _fill(item, context, named, spec) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_fill(item, context, named, spec) for item in value]
    if not isinstance(value, str) or "{{" not in value:
        return value
    whole = TEMPLATE.fullmatch(value.strip())
    if whole is not None:
        return _lookup(whole, named, spec)
    return TEMPLATE.sub(lambda match: str(_lookup(match, named, spec)), value)


def _lookup(match: Any, named: Mapping[str, TaskOutcome], spec: TaskSpec) -> object:
    name, path = match.group(1), match.group(2)
    result = named[name]
    if not result.success:
        msg = f"its params need {{{{{name}{path}}}}}, and task {name!r} {result.status}"
        raise SkipTask(msg)
    value: object = result.value
    for key in template_path(path):
        found, value = child(value, key)
        if not found:
            msg = (
                f"Task {spec.index}: field 'params': {{{{{name}{path}}}}} found "
                f"nothing at {key!r} in the result of {name!r}; a template reads "
                "keys and indexes of data (dicts, lists, model fields)"
            )
            raise TaskDefinitionError(msg, index=spec.index, field="params")
    kind = not_data(value)
    if kind is not None:
        msg = (
            f"Task {spec.index}: field 'params': {{{{{name}{path}}}}} reads {kind} "
            f"in the result of {name!r}, which is not data; a template gives JSON "
            "values, dicts, lists or model fields only"
        )
        raise TaskDefinitionError(msg, index=spec.index, field="params")
    return value


async def _call(
    operation: Task[..., Any], spec: TaskSpec, params: dict[str, object]
) -> object:
    signature = operation.call_signature
    arguments = signature.bind((), params)
    if arguments is None:
        raise _params_error(spec, operation, signature.problems((), params))
    attempt = current_attempt()
    task_id = spec.key if attempt is None else attempt.task_id
    if not contains_symbol(arguments):  # in a plan, unknown values are not checked
        arguments = signature.validate(
            arguments, workflow="fiscus_tasks", task_id=task_id
        )
    args, kwargs = signature.call_parts(arguments)
    value = operation.plan.function(*args, **kwargs)
    if inspect.isawaitable(value):
        value = await value
    return value


def check_params(
    specs: Sequence[TaskSpec], operations: Sequence[Task[..., Any]]
) -> None:
    """Check every task's params against its operation, before anything is sent.

    Literal params must bind (no missing or unknown parameter) and match
    their annotations; a value holding a ``{{...}}`` template or a
    function of the context is checked when the run fills it in.

    Raises:
        TaskDefinitionError: Params missing a required parameter, naming
            one the operation does not have, or a value of the wrong type;
            the field is ``params`` or ``params.<name>``.
    """
    for spec, operation in zip(specs, operations, strict=True):
        if not isinstance(spec.params, Mapping):
            continue
        params = dict(spec.params)
        signature = operation.call_signature
        if not _has_callables(params):
            problems = signature.problems((), params)
            if problems:
                raise _params_error(spec, operation, problems)
        literal = {
            name: value
            for name, value in params.items()
            if name in signature.parameter_names and _is_literal(value)
        }
        try:
            signature.validate(literal, workflow="fiscus_tasks", task_id=spec.key)
        except ArgumentValidationError as exc:
            raise _type_error(spec, operation, exc) from exc


def _is_literal(value: object) -> bool:
    """Tell whether a param value is known before the run: no template, no function."""
    if isinstance(value, str):
        return "{{" not in value
    if isinstance(value, Mapping):
        return all(_is_literal(item) for item in value.values())
    if isinstance(value, list | tuple):
        return all(_is_literal(item) for item in value)
    return not callable(value)


def _params_error(
    spec: TaskSpec, operation: Task[..., Any], problems: Sequence[str]
) -> TaskDefinitionError:
    """Build the error for params that do not bind, listing every problem."""
    signature = operation.call_signature.signature
    msg = (
        f"Task {spec.index} ({spec.connector}.{spec.operation}): field 'params' "
        f"does not fit: {'; '.join(problems)}; give exactly the parameters of "
        f"{operation.name}{signature}"
    )
    return TaskDefinitionError(msg, index=spec.index, field="params")


def _type_error(
    spec: TaskSpec, operation: Task[..., Any], error: ArgumentValidationError
) -> TaskDefinitionError:
    """Build the error for literal params of the wrong type; values never shown."""
    field, _ = error.errors[0]
    detail = "; ".join(f"{name!r}: {problem}" for name, problem in error.errors)
    signature = operation.call_signature.signature
    msg = (
        f"Task {spec.index} ({spec.connector}.{spec.operation}): field "
        f"'params.{field}' has the wrong type ({detail}); nothing was sent. Give "
        f"values of the types of {operation.name}{signature}"
    )
    return TaskDefinitionError(msg, index=spec.index, field=f"params.{field}")


def resolve_operations(
    specs: Sequence[TaskSpec], connectors: Sequence[Connector]
) -> list[Task[..., Any]]:
    """Find each task's operation among the client's connectors.

    Raises:
        TaskDefinitionError: An unknown connector or operation, naming what exists.
    """
    found = []
    for spec in specs:
        matches = [
            connector for connector in connectors if connector.name == spec.connector
        ]
        if not matches:
            known = sorted({connector.name for connector in connectors})
            msg = (
                f"Task {spec.index}: field 'connector' names {spec.connector!r}, "
                f"which is not among the client's connectors {known}"
            )
            raise TaskDefinitionError(msg, index=spec.index, field="connector")
        operation = next(
            (
                c.operations[spec.operation]
                for c in matches
                if spec.operation in c.operations
            ),
            None,
        )
        if operation is None:
            known = sorted({name for c in matches for name in c.operations})
            msg = (
                f"Task {spec.index}: field 'operation' names {spec.operation!r}, "
                f"which connector {spec.connector!r} does not have; it has {known}"
            )
            raise TaskDefinitionError(msg, index=spec.index, field="operation")
        found.append(operation)
    return found
