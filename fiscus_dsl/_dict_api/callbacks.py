"""A dict task's Fiscus callbacks: notifications, ``fiscus_pre``, ``fiscus_on_auth``.

For each name the task's callback wins over the call's, and the call's
over the client's. ``fiscus_on_log`` hears of each task before it runs and
after it succeeds, ``fiscus_on_success`` after it succeeds, and after the
run ``fiscus_on_auth`` hears of each task that failed for want of an end
user's authorization (an ``AuthenticationError`` with an
``authorization_url``), then ``fiscus_on_error`` of each failure.
``fiscus_on_stream`` is accepted and never called: responses arrive whole.
A notification gets one ``info`` dict and may be sync or async; one that
raises is a ``FiscusWarning``, never a task failure. ``fiscus_pre`` is not
a notification: it runs once before the task (before its first attempt),
gets ``{"task", "params", "context"}``, may return new params, and may
raise ``SkipTask("why")`` to skip the task with that message. Every
callback gets copies: of the task dict, and of the params (their dicts,
lists and tuples), never the caller's own.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

from fiscus_dsl._dict_api.response import FiscusResponse
from fiscus_dsl._dsl.hooks import Hooks
from fiscus_dsl._runtime.hooks import call_hook
from fiscus_dsl.errors import (
    AuthenticationError,
    FiscusWarning,
    SkipTask,
    TaskDefinitionError,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from fiscus_dsl._dict_api.context import FiscusContext
    from fiscus_dsl._dict_api.spec import Callback, TaskSpec
    from fiscus_dsl._runtime.hooks import TaskContext

    #: A step's preparation: fill its params (and run ``fiscus_pre``) once.
    Prepare = Callable[[TaskContext], Awaitable[object]]


def task_callbacks(
    callbacks: Mapping[str, Callback], spec: TaskSpec
) -> dict[str, Callback]:
    """Return a task's callbacks: its own over those of the call and the client."""
    return {**callbacks, **spec.callbacks}


def copy_data(value: object) -> object:
    """Copy the dicts, lists and tuples of ``value``; other values are shared.

    Examples:
        >>> params = {"to": ["a@x"], "meta": {"n": 1}, "pair": ([1], 2)}
        >>> copied = copy_data(params)
        >>> copied["to"].append("b@x")
        >>> copied["pair"][0].append(3)
        >>> params["to"], params["pair"]
        (['a@x'], ([1], 2))
    """
    if isinstance(value, Mapping):
        return {key: copy_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_data(item) for item in value]
    if isinstance(value, tuple):
        return tuple(copy_data(item) for item in value)
    return value


def task_info(spec: TaskSpec) -> dict[str, object]:
    """Return a copy of the task dict as the caller wrote it, for a callback."""
    copied = copy_data(spec.source)
    assert isinstance(copied, dict)  # a task dict is a mapping
    return copied


def step_hooks(
    spec: TaskSpec, callbacks: Mapping[str, Callback], *, prepare: Prepare | None
) -> Hooks | None:
    """Build a step's hooks: ``prepare`` (params and ``fiscus_pre``), then notices."""
    on_log = callbacks.get("fiscus_on_log")
    on_success = callbacks.get("fiscus_on_success")
    if on_log is None and on_success is None and prepare is None:
        return None
    where = f"{spec.connector}.{spec.operation}"

    async def before(ctx: TaskContext) -> None:
        if prepare is not None:
            await prepare(ctx)
        if on_log is not None:
            info = {"message": f"Executing {where}", "response": None}
            await notify(on_log, {**info, "task": task_info(spec)})

    async def after(ctx: TaskContext, value: object) -> None:
        response = FiscusResponse(
            success=True, result=value, operation=spec.operation, task_id=ctx.task_id
        )
        info = {"message": f"{where} succeeded", "response": response}
        if on_log is not None:
            await notify(on_log, {**info, "task": task_info(spec)})
        if on_success is not None:
            await notify(on_success, {**info, "task": task_info(spec)})

    return Hooks(before_task=before, after_task=after)


async def run_pre(
    pre: Callback,
    spec: TaskSpec,
    params: Mapping[str, object],
    context: FiscusContext,
) -> dict[str, object]:
    """Call a task's ``fiscus_pre`` and return the params to send.

    Raises:
        SkipTask: The callback raised it; the message names the task and
            keeps the callback's reason.
        TaskDefinitionError: It returned something other than a dict or ``None``.
    """
    given = copy_data(params)
    info: dict[str, object] = {
        "task": task_info(spec),
        "params": given,
        "context": context,
    }
    try:
        made = await call_hook(pre, info)
    except SkipTask as exc:
        reason = str(exc) or "no reason given"
        msg = f"its fiscus_pre callback raised SkipTask: {reason}"
        raise SkipTask(msg) from exc
    if made is None:
        return dict(params)
    if not isinstance(made, Mapping):
        msg = (
            f"Task {spec.index} ({spec.key!r}): field 'callbacks': fiscus_pre "
            f"returned {type(made).__name__}; return a dict of the operation's "
            "params, or None to keep them"
        )
        raise TaskDefinitionError(msg, index=spec.index, field="callbacks")
    return dict(made)


async def report(
    specs: Sequence[TaskSpec],
    callbacks: Mapping[str, Callback],
    responses: Sequence[FiscusResponse],
    *,
    also: Callable[[int], bool],
) -> None:
    """After the run: ``fiscus_on_auth``, then ``fiscus_on_error``, per task.

    ``fiscus_on_error`` hears of every failed task and of each task ``also``
    names (a condition that raised, a failure turned into a skip).
    """
    for spec, response in zip(specs, responses, strict=True):
        own = task_callbacks(callbacks, spec)
        auth = _auth_error(response.error)
        on_auth = own.get("fiscus_on_auth")
        if on_auth is not None and auth is not None:
            info = {
                "authorization_url": auth.authorization_url,
                "connector": auth.connector,
                "message": response.error_message,
                "response": response,
                "task": task_info(spec),
            }
            await notify(on_auth, info)
        on_error = own.get("fiscus_on_error")
        if on_error is not None and (not response.success or also(spec.index)):
            info = {
                "message": response.error_message,
                "response": response,
                "task": task_info(spec),
            }
            await notify(on_error, info)


def _auth_error(error: BaseException | None) -> AuthenticationError | None:
    """Return the ``AuthenticationError`` with a URL behind ``error``, if any."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, AuthenticationError) and error.authorization_url:
            return error
        error = error.__cause__ or error.__context__
    return None


async def notify(callback: Callback, info: Mapping[str, object]) -> None:
    """Call a Fiscus callback; one that raises is a warning, never a task failure."""
    try:
        await call_hook(callback, dict(info))
    except Exception as exc:  # a notification must not change the run
        name = getattr(callback, "__qualname__", repr(callback))
        msg = f"Callback {name} raised {type(exc).__name__}: {exc}; the run goes on"
        warnings.warn(msg, FiscusWarning, stacklevel=2)
