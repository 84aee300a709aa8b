"""A dict task's params: checked before the run, filled in during it, then sent.

``check_params`` checks literal params against the operation's signature
before anything is sent. ``fill`` fills in what only the run knows: a
``"{{task.field}}"`` template reads an earlier task's result (a task whose
template needs a task that did not succeed is skipped, ``SkipTask``, with
a message naming it), and a function in the params is called with the
context. ``call_operation`` binds, validates and calls the operation.
Imports the DSL's task and the runtime's attempt; knows no HTTP.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fiscus_dsl._dict_api.spec import TEMPLATE, TaskSpec, child, not_data, template_path
from fiscus_dsl._runtime.attempts import current_attempt
from fiscus_dsl._runtime.symbols import contains_symbol
from fiscus_dsl.errors import ArgumentValidationError, SkipTask, TaskDefinitionError

if TYPE_CHECKING:
    import re

    from fiscus_dsl._dict_api.context import Status
    from fiscus_dsl._dsl.task import Task

#: What a template reads: an earlier task's status and value, by the name used.
Named = Mapping[str, tuple["Status", object]]


def has_callables(params: object) -> bool:
    """Tell whether params are, or hold, a function of the context."""
    if callable(params):
        return True
    if isinstance(params, Mapping):
        return any(has_callables(value) for value in params.values())
    if isinstance(params, list | tuple):
        return any(has_callables(value) for value in params)
    return False


def fill(
    spec: TaskSpec, context: Mapping[str, object], named: Named
) -> dict[str, object]:
    """Return a task's params with templates and functions filled in.

    Raises:
        SkipTask: A template needs a task that did not succeed.
        TaskDefinitionError: ``params(ctx)`` returned no dict, or a template
            found nothing or something that is not data.
    """
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
    return {
        name: _fill(value, context, named, spec) for name, value in spec.params.items()
    }


def _fill(
    value: object, context: Mapping[str, object], named: Named, spec: TaskSpec
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


def _lookup(match: re.Match[str], named: Named, spec: TaskSpec) -> object:
    name, path = match.group(1), match.group(2)
    status, value = named[name]
    if status != "succeeded":
        msg = f"its params need {{{{{name}{path}}}}}, and task {name!r} {status}"
        raise SkipTask(msg)
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


async def call_operation(
    operation: Task[..., Any], spec: TaskSpec, params: dict[str, object]
) -> object:
    """Bind, validate and call a task's operation with its filled-in params."""
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
        if not has_callables(params):
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
