"""Dry-run plans: run the scheduler with an executor that sends nothing.

``plan_workflow`` compiles the workflow with its inputs and runs the plan
as a run would, with ``planning=True`` (no hooks, no store, a failure
stops nothing) and ``PlanningExecutor`` where task bodies would run. For a
connector operation, the executor lays the request out exactly as the
operation would (``OperationSender._parts``: path parameters quoted, the
query, headers, the JSON body, the ``Idempotency-Key`` of the plan's run
id), adds the connector's headers and its auth with credentials masked,
records it, and returns the sample response given for the step, validated
against the operation's return annotation, or a ``Symbol``. A plain task's
body never runs: its inputs are recorded and its value is the sample, or
a symbol. Guards decide on the samples; a guard that needs a symbol lets
its step through, marked conditional. So the plan reaches every step a
run would, in the same order, and a step that fails in the plan (an
invalid argument, a URL leaving the connector's origin) is a problem a run
would hit.
"""

from __future__ import annotations

import json
import uuid
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, final
from urllib.parse import quote

from opentelemetry.trace import NoOpTracerProvider
from pydantic import TypeAdapter, ValidationError

from fiscus_dsl._connectors.auth import ApiKeyAuth, BasicAuth, BearerAuth, Secret
from fiscus_dsl._connectors.operation import PLAN_RECORDER, OperationSender
from fiscus_dsl._connectors.plan_dependencies import with_dependencies
from fiscus_dsl._connectors.plan_model import (
    Plan,
    PlannedRequest,
    PlanStep,
    StepStatus,
)
from fiscus_dsl._connectors.scrub import MASK, scrub_text, scrub_url
from fiscus_dsl._graph.jsonable import to_jsonable
from fiscus_dsl._graph.render import describe_condition
from fiscus_dsl._runtime import telemetry
from fiscus_dsl._runtime.attempts import current_attempt
from fiscus_dsl._runtime.end_user import CURRENT_USER, acting_for, split_user
from fiscus_dsl._runtime.results import TaskStatus
from fiscus_dsl._runtime.run import Run, RunSettings
from fiscus_dsl._runtime.symbols import Symbol, reveal
from fiscus_dsl._runtime.sync_calls import run_sync
from fiscus_dsl.errors import (
    AuthorizationError,
    ConfigurationError,
    MissingSecretError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from fiscus_dsl._connectors.connector import Connector
    from fiscus_dsl._dsl.plan import Plan as Compiled
    from fiscus_dsl._dsl.task import Task
    from fiscus_dsl._dsl.workflow import Workflow
    from fiscus_dsl._runtime.results import RunResult

_MISSING: Final = object()
_QUOTED_MASK: Final = quote(MASK, safe="")
_FALSE: Final = "its guard is false"
_STATUSES: Final[dict[TaskStatus, StepStatus]] = {
    TaskStatus.SUCCEEDED: "planned",
    TaskStatus.FAILED: "invalid",
    TaskStatus.SKIPPED: "skipped",
}
# No spans: a plan is not a run an observability backend should see.
_NO_TRACES: Final = NoOpTracerProvider()


@final
class PlanningExecutor:
    """Where a plan's task bodies would run: record each call, send nothing."""

    def __init__(self, responses: Mapping[str, object]) -> None:
        self.responses = dict(responses)
        self.requests: dict[str, tuple[PlannedRequest, str | None, str]] = {}
        self.inputs: dict[str, dict[str, Any]] = {}
        self.problems: list[str] = []
        #: The steps whose sample is an exception: they fail as planned.
        self.failures: dict[str, BaseException] = {}

    async def prepare(self, plan: Compiled) -> None:
        """Accept every plan: nothing is shipped."""

    async def call(
        self,
        function: Callable[..., object],
        args: Sequence[object],
        kwargs: Mapping[str, object],
        *,
        is_async: bool,
        task: Task[..., Any],
    ) -> object:
        """Record the call of ``task``; return its sample response or a symbol."""
        del is_async
        sender = getattr(function, "__self__", None)
        if isinstance(sender, OperationSender):
            return await self._operation(sender, tuple(args), dict(kwargs))
        if getattr(function, "__fiscus_glue__", False):
            # fiscus_dsl's own code around an operation (a dict API step):
            # it runs, and the operation it calls is recorded, not sent.
            token = PLAN_RECORDER.set(self._operation)
            try:
                return await function(*args, **kwargs)  # type: ignore[misc]  # glue is async
            finally:
                PLAN_RECORDER.reset(token)
        task_id = _task_id(task.name)
        bound = task.call_signature.signature.bind(*args, **kwargs)
        self.inputs[task_id] = {
            name: _jsonable(value) for name, value in bound.arguments.items()
        }
        return self._value(task_id, (task.name,), _MISSING)

    async def _operation(
        self,
        sender: OperationSender,
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> object:
        """Record one call of an operation; return its sample response or a symbol."""
        task_id = _task_id(sender.spec.name)
        refusal = getattr(CURRENT_USER.get(), "refusal", None)
        if refusal is not None:  # the end user's policies: refused, never sent
            refused = refusal(sender.spec.connector, sender.spec.name)
            if refused is not None:
                self.failures[task_id] = refused
                raise refused
        arguments = sender._bind(  # noqa: SLF001  (the operation's own layout)
            tuple(_tokens(arg) for arg in args),
            {name: _tokens(value) for name, value in kwargs.items()},
        )
        parts, headers, _ = sender._parts(arguments)  # noqa: SLF001  (raises what a run would)
        request = _request(sender.connector, parts, headers)
        self.requests[task_id] = (request, _key(headers), sender.connector.name)
        spec = sender.spec
        return self._value(
            task_id, (spec.name, f"{spec.connector}.{spec.name}"), spec.returns
        )

    def _value(self, task_id: str, names: Sequence[str], returns: object) -> object:
        """Return the step's sample (by task id, step id, then names), or a symbol."""
        sample = _MISSING
        step = task_id.split("[", 1)[0].rsplit("/", 1)[-1]
        for key in (task_id, step, *names):
            if key in self.responses:
                sample = self.responses[key]
                break
        if sample is _MISSING:
            return Symbol(task_id)
        if isinstance(sample, BaseException):  # the answer is a failure
            self.failures[task_id] = sample
            raise sample
        if returns is _MISSING or returns is None:
            return sample
        try:
            adapter: TypeAdapter[object] = TypeAdapter(returns)  # type: ignore[arg-type]  # a resolved annotation
            return adapter.validate_python(sample)
        except ValidationError as exc:
            summary = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '<value>'}: {e['msg']}"
                for e in exc.errors(include_url=False, include_input=False)
            )
            self.problems.append(
                f"The sample response for {task_id!r} does not match the "
                f"operation's return type ({summary}); fix the sample"
            )
            return Symbol(task_id)


def _request(
    connector: Connector, parts: Any, headers: dict[str, str]
) -> PlannedRequest:
    """Lay a request out for the plan: connector headers, auth masked, symbols shown."""
    shown: dict[str, str] = {}
    for name, value in connector.headers.items():
        shown[name] = value
    auth_headers, auth_query = _auth(connector.auth)
    shown.update(auth_headers)
    shown.update(headers)
    query = [*parts.params, *auth_query]
    url = parts.url.copy_with(params=query) if query else parts.url
    body = parts.json if parts.has_body else None
    return PlannedRequest(
        method=parts.method,
        url=reveal(scrub_url(url)).replace(_QUOTED_MASK, MASK),
        query=[(name, reveal(scrub_text(value))) for name, value in query],
        headers={name: reveal(scrub_text(value)) for name, value in shown.items()},
        body=None if body is None else _revealed(to_jsonable(body)),
    )


def _missing_secret(auth: object) -> str | None:
    """Return the variable of a deferred secret of ``auth`` that is not set."""
    slots = [
        name for kind in type(auth).__mro__ for name in getattr(kind, "__slots__", ())
    ]
    held = [getattr(auth, name, None) for name in slots]
    held += list(getattr(auth, "__dict__", {}).values())
    for value in held:
        if isinstance(value, Secret) and value.missing is not None:
            return value.missing
    return None


def _auth(auth: object) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Return what ``auth`` adds to a request, its credential masked.

    Raises:
        MissingSecretError: A deferred secret of the auth is not set here, as
            the run's first request would find.
    """
    missing = _missing_secret(auth)
    if missing is not None:
        raise MissingSecretError(missing)
    if isinstance(auth, BearerAuth):
        return {"Authorization": f"Bearer {MASK}"}, []
    if isinstance(auth, BasicAuth):
        return {"Authorization": f"Basic {MASK}"}, []
    if isinstance(auth, ApiKeyAuth):
        if auth.in_query:
            return {}, [(auth.name, MASK)]
        return {auth.name: MASK}, []
    if auth is not None:  # OAuth2 client credentials: a bearer token it fetches
        return {"Authorization": f"Bearer {MASK}"}, []
    return {}, []


def _task_id(name: str) -> str:
    """Return the id of the step being planned (its attempt's), else ``name``."""
    attempt = current_attempt()
    return name if attempt is None else attempt.task_id


def _tokens(value: object) -> object:
    """Write the symbols of an argument as their tokens, which build like text."""
    if isinstance(value, Symbol):
        return str(value)
    if isinstance(value, list | tuple):
        return type(value)(_tokens(item) for item in value)
    if isinstance(value, dict):
        return {key: _tokens(item) for key, item in value.items()}
    return value


def _key(headers: Mapping[str, str]) -> str | None:
    for name, value in headers.items():
        if name.lower() == "idempotency-key":
            return value
    return None


def _jsonable(value: object) -> Any:
    """Return ``value`` as JSON data, symbols as ``<references>``."""
    return _revealed(to_jsonable(_shown(value)))


def _shown(value: object) -> object:
    if isinstance(value, Symbol):
        return repr(value)
    if isinstance(value, list | tuple):
        return [_shown(item) for item in value]
    if isinstance(value, dict):
        return {key: _shown(item) for key, item in value.items()}
    return value


def _revealed(data: object) -> Any:
    if isinstance(data, str):
        return reveal(data)
    if isinstance(data, list):
        return [_revealed(item) for item in data]
    if isinstance(data, dict):
        return {key: _revealed(item) for key, item in data.items()}
    return data


def plan_workflow(
    wf: Workflow[..., Any],
    args: Sequence[object],
    kwargs: Mapping[str, object],
    *,
    responses: Mapping[str, object] | None,
    run_id: str | None,
) -> Plan:
    """Plan a run of ``wf`` from sync code (in a thread when a loop is running)."""
    return run_sync(
        lambda: aplan_workflow(wf, args, kwargs, responses=responses, run_id=run_id)
    )


async def aplan_workflow(
    wf: Workflow[..., Any],
    args: Sequence[object],
    kwargs: Mapping[str, object],
    *,
    responses: Mapping[str, object] | None,
    run_id: str | None,
) -> Plan:
    """Plan a run of ``wf`` with these inputs; see the module docstring."""
    if responses is not None and not isinstance(responses, dict):
        msg = (
            f"Workflow {wf.name!r}: plan(responses=...) takes a dict of sample "
            "responses by task id or operation name, such as "
            "{'create_contact': {'id': 'c1'}}"
        )
        raise ConfigurationError(msg, option="responses")
    user, kwargs = split_user(
        wf.call_signature.parameter_names, dict(kwargs), workflow=wf.name
    )
    inputs = wf.bind_inputs(args, kwargs)
    compiled = wf.trace_plan(inputs, ())
    executor = PlanningExecutor(responses or {})
    run_id = run_id or uuid.uuid4().hex
    run = Run(
        compiled,
        inputs,
        run_id=run_id,
        settings=RunSettings(
            hooks=(),
            tracer=telemetry.get_tracer(_NO_TRACES),
            executor=executor,
            sleep=_no_sleep,
            clock=_clock,
            max_concurrency=None,
            store=None,
            planning=True,
        ),
    )
    # user= of this call, else the one the caller acts for (client.plan's).
    with acting_for(user) if user is not None else nullcontext():
        result = await run.execute()
    guards = {
        slot.id: reveal(scrub_text(describe_condition(slot.node.guard)))
        for slot in run.scheduler.slots
        if slot.node.guard is not None
    }
    plan = _plan(result, run.scheduler.conditional, guards, executor, inputs)
    return with_dependencies(plan, run.scheduler.slots)


def _plan(
    result: RunResult[Any],
    conditional: Mapping[str, str],
    guards: Mapping[str, str],
    executor: PlanningExecutor,
    inputs: Mapping[str, object],
) -> Plan:
    steps: list[PlanStep] = []
    problems: list[str] = []
    for task_id, outcome in result.tasks.items():
        recorded = executor.requests.get(task_id)
        request, key, connector = (
            recorded if recorded is not None else (None, None, None)
        )
        status = _STATUSES.get(outcome.status, "not_run")
        guard = guards.get(task_id)
        reason = outcome.reason
        if guard is not None and reason is not None and reason.startswith(_FALSE):
            reason = f"{_FALSE}: {guard}"  # the guard whole: the plan's reader wrote it
        refused = isinstance(outcome.error, AuthorizationError)
        if refused and executor.failures.get(task_id) is outcome.error:
            status, reason = "refused", str(outcome.error).partition(". Add")[0]
        elif outcome.status is TaskStatus.FAILED and outcome.error is not None:
            reason = f"{type(outcome.error).__name__}: {outcome.error}"
            if executor.failures.get(task_id) is outcome.error:
                status, reason = "planned", f"fails, as its sample says: {reason}"
            else:
                problems.append(f"{task_id}: {reason}")
        if status == "planned" and task_id in conditional:
            status = "conditional"
        called = request is not None or task_id in executor.inputs
        if not called and outcome.status is TaskStatus.SUCCEEDED:
            continue  # a map's or a sub-workflow's whole: its instances are listed
        steps.append(
            PlanStep(
                task_id=task_id,
                task=outcome.name,
                status=status,
                connector=connector,
                request=request,
                inputs=executor.inputs.get(task_id),
                idempotency_key=key,
                guard=guard,
                reason=reason,
                templated="[*]" in json.dumps(_jsonable(executor.inputs.get(task_id)))
                or (request is not None and "[*]" in request.url),
                value=_jsonable(outcome.value)
                if status in ("planned", "conditional")
                else None,
            )
        )
    return Plan(
        workflow=result.workflow,
        run_id=result.run_id,
        inputs={name: _jsonable(value) for name, value in inputs.items()},
        steps=steps,
        problems=[*executor.problems, *problems],
        output=_jsonable(result.output),
    )


async def _no_sleep(seconds: float) -> None:
    """A plan never waits: it has nothing to retry."""


def _clock() -> datetime:
    return datetime.now(UTC)
