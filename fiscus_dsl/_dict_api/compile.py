"""Compiling a list of task dicts onto one DSL graph, and reading its run back.

Each task dict becomes one task node named after its ``id`` or operation.
A task whose params refer to earlier results (``"{{create_contact.id}}"``),
or that has ``depends_on``, waits for those tasks; a task with conditions
or with params computed from the context waits for every task before it;
the others run at once. Every step gets the *outcomes* of what it waits
for, so a failed task still feeds the context (``custom_logic(response)``)
and conditions. A step's policies come from policies.py: ``on_error``
``"continue"`` (the default) and ``"skip"`` let the rest run, ``"fail"``
stops the run. The context is context.py's ``FiscusContext``; a condition
or a context function that reads a skipped task skips its own task unless
it sets ``on_skip: "run"``. Callbacks live in callbacks.py, params in
params.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

from fiscus_dsl._connectors.scrub import scrub_text
from fiscus_dsl._dict_api.callbacks import (
    report,
    run_pre,
    step_hooks,
    task_callbacks,
)
from fiscus_dsl._dict_api.context import MISSING, Entry, FiscusContext, Status
from fiscus_dsl._dict_api.params import (
    call_operation,
    check_params,
    fill,
    has_callables,
)
from fiscus_dsl._dict_api.policies import step_retry, step_timeout
from fiscus_dsl._dict_api.response import FiscusResponse
from fiscus_dsl._dict_api.spec import named
from fiscus_dsl._dsl.conditions import outcome, when
from fiscus_dsl._dsl.task import Task, TaskOptions
from fiscus_dsl._dsl.workflow import Workflow, workflow
from fiscus_dsl._runtime.results import TaskOutcome, TaskStatus
from fiscus_dsl.errors import SkipTask, TaskDefinitionError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from fiscus_dsl._connectors.connector import Connector
    from fiscus_dsl._dict_api.params import Named
    from fiscus_dsl._dict_api.spec import Callback, TaskSpec
    from fiscus_dsl._runtime.hooks import TaskContext
    from fiscus_dsl._runtime.results import RunResult, TaskResult
    from fiscus_dsl._runtime.retry import Retry

__all__ = ["Execution", "check_params", "resolve_operations"]


@final
class Execution:
    """One ``execute`` call: its steps, their shared context, and its callbacks.

    ``initial_context`` holds the values the call starts with (a context
    loader's): conditions and context functions see them under any name
    that no earlier task goes by.
    """

    def __init__(
        self,
        specs: Sequence[TaskSpec],
        operations: Sequence[Task[..., Any]],
        *,
        retry: Retry | None,
        callbacks: Mapping[str, Callback],
        initial_context: Mapping[str, object] | None = None,
    ) -> None:
        self.specs = list(specs)
        self.operations = list(operations)
        self.retry = retry
        self.callbacks = dict(callbacks)
        self.step_ids: list[str] = []
        self.condition_errors: dict[int, BaseException] = {}
        #: Why a task was skipped, when the run's own reason would say less.
        self.skip_messages: dict[int, str] = {}
        self._logic: dict[int, object] = {}
        self.logic_errors: dict[int, BaseException] = {}
        self._prepared: dict[int, dict[str, object]] = {}
        #: The values the call starts with (the client's context loader's).
        self.initial_context: dict[str, object] = dict(initial_context or {})

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
        if spec.condition is not None or has_callables(spec.params):
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
            context = self.context(outcomes)
            error: BaseException | None = None
            try:
                holds = bool(spec.condition(context))
            except Exception as exc:  # a condition that raises skips its task, recorded
                holds, error = False, exc
            blocked = self._blocked(spec, context, "condition")
            if blocked is not None:  # it read a skipped task: that decides
                self.skip_messages[spec.index] = blocked
                return False
            if error is not None:
                self.condition_errors[spec.index] = error
            return holds

        condition.__name__ = f"conditions_of_{spec.key}"
        return condition

    def _blocked(self, spec: TaskSpec, context: FiscusContext, what: str) -> str | None:
        """Say why a task is skipped for reading a skipped task, unless it opts out."""
        reads = context.skipped_reads()
        if not reads or spec.policies.on_skip == "run":
            return None
        name, entry = reads[0]
        return (
            f"its {what} read {name!r}, and task {entry.index} ({entry.task_id!r}) "
            "was skipped; set 'on_skip': 'run' on the task to decide anyway"
        )

    def _step(self, spec: TaskSpec, operation: Task[..., Any]) -> Task[..., Any]:
        waits = self._waits_for(spec)

        def step(outcomes: list[TaskOutcome]) -> object:
            """Run one task dict's operation."""

        step.__name__ = spec.key
        step.__qualname__ = spec.key

        async def body(outcomes: list[TaskOutcome]) -> object:
            params = self._prepared.get(spec.index)
            if params is None:  # no fiscus_pre, or a plan: no hooks ran
                params = await self._prepare(spec, outcomes, waits, pre=None)
            return await call_operation(operation, spec, params)

        body.__fiscus_glue__ = True  # type: ignore[attr-defined]  # a plan may run it

        callbacks = task_callbacks(self.callbacks, spec)
        pre = callbacks.get("fiscus_pre")

        async def prepare(ctx: TaskContext) -> object:
            return await self._prepare(spec, ctx.args["outcomes"], waits, pre=pre)

        options = TaskOptions(
            name=spec.key,
            retry=step_retry(spec.policies, operation.options.retry, self.retry),
            timeout=step_timeout(spec.policies, operation.options.timeout),
            on_error="fail" if spec.policies.on_error == "fail" else "continue",
            hooks=step_hooks(spec, callbacks, prepare=None if pre is None else prepare),
            attempt_context=True,
            operation=operation.options.operation,  # the graph shows what it calls
        )
        return Task(step, options, body=body)

    async def _prepare(
        self,
        spec: TaskSpec,
        outcomes: Sequence[TaskOutcome],
        waits: Sequence[int],
        *,
        pre: Callback | None,
    ) -> dict[str, object]:
        """Fill a task's params (once: retries reuse them), then run ``fiscus_pre``."""
        try:
            context = self.context(outcomes, among=waits)
            params = self._fill(spec, context, self._named(spec, outcomes, waits))
            if pre is not None:
                params = await run_pre(pre, spec, params, context)
        except SkipTask as exc:  # kept: the run records only that it was raised
            self.skip_messages[spec.index] = str(exc)
            raise
        self._prepared[spec.index] = params
        return params

    def _fill(
        self, spec: TaskSpec, context: FiscusContext, names: Named
    ) -> dict[str, object]:
        """Fill in params; a context function that read a skipped task skips."""
        try:
            params = fill(spec, context, names)
        except SkipTask:
            raise
        except Exception as exc:  # e.g. the KeyError of reading a skipped task
            blocked = self._blocked(spec, context, "params")
            if blocked is None:
                raise
            raise SkipTask(blocked) from exc
        blocked = self._blocked(spec, context, "params")
        if blocked is not None:
            raise SkipTask(blocked)
        return params

    def _named(
        self, spec: TaskSpec, outcomes: Sequence[TaskOutcome], waits: Sequence[int]
    ) -> Named:
        """Return what each template of a task names: a status and a value."""
        by_index = dict(zip(waits, outcomes, strict=True))
        found: dict[str, tuple[Status, object]] = {}
        for name in spec.references():
            index = named(self.specs[: spec.index], name)[0].index
            result = by_index[index]
            found[name] = (self.run_status(index, result), result.value)
        return found

    # ------------------------------------------------------------ context

    def context(
        self, outcomes: Sequence[TaskOutcome], *, among: Sequence[int] | None = None
    ) -> FiscusContext:
        """Build the context from the outcomes of the earlier tasks given."""
        indexes = list(range(len(outcomes))) if among is None else list(among)
        return FiscusContext(
            (
                self._entry(index, result)
                for index, result in zip(indexes, outcomes, strict=True)
            ),
            initial=self.initial_context,
        )

    def _entry(self, index: int, result: TaskOutcome) -> Entry:
        value = self.context_value(index, result)  # custom_logic runs for every task
        status = self.run_status(index, result)
        if index in self.logic_errors:
            status = "failed"
        spec = self.specs[index]
        return Entry(
            index=index,
            task_id=self._task_id(index),
            id=spec.id,
            operation=spec.operation,
            status=status,
            value=MISSING if status == "skipped" else value,
        )

    def run_status(self, index: int, result: TaskOutcome) -> Status:
        """Say how a task ended for the dict API: ``on_error="skip"`` failures skip."""
        if result.status is TaskStatus.SUCCEEDED:
            return "succeeded"
        if result.status is TaskStatus.FAILED:
            skip = self.specs[index].policies.on_error == "skip"
            return "skipped" if skip else "failed"
        return "skipped"

    def context_value(self, index: int, result: TaskOutcome) -> object:
        """Return what a task puts in the context: ``custom_logic`` or its data."""
        spec = self.specs[index]
        if spec.custom_logic is None:
            return result.value if result.success else MISSING
        if index not in self._logic:
            try:
                self._logic[index] = spec.custom_logic(
                    self.task_response(index, result)
                )
            except Exception as exc:  # user code: reported on the task's response
                self.logic_errors[index] = exc
                self._logic[index] = MISSING
        return self._logic[index]

    def _task_id(self, index: int) -> str:
        spec = self.specs[index]
        return self.step_ids[index] if index < len(self.step_ids) else spec.key

    def task_response(
        self, index: int, result: TaskOutcome | None, *, message: str | None = None
    ) -> FiscusResponse:
        """Return one task's ``FiscusResponse`` from its outcome."""
        spec = self.specs[index]
        task_id = self._task_id(index)
        if result is not None and result.success:
            return FiscusResponse(
                success=True,
                result=result.value,
                operation=spec.operation,
                task_id=task_id,
            )
        if result is None or result.status is not TaskStatus.FAILED:
            return _skipped(spec, task_id, message)
        error = result.error
        # The key detail first (the error's type and status), so a cut keeps it;
        # scrubbed: a hand-written task's error may quote a URL with a key in it.
        status = getattr(error, "status_code", None)
        kind = type(error).__name__ + (f" {status}" if isinstance(status, int) else "")
        skip = spec.policies.on_error == "skip"
        outcome_text = "was skipped (its on_error is 'skip')" if skip else "failed"
        text = message or scrub_text(
            f"Task {spec.index} ({task_id!r}) {outcome_text}: {kind} in "
            f"{spec.connector}.{spec.operation}: {error}"
        )
        if skip:
            return _skipped(spec, task_id, text, error=error)
        return FiscusResponse(
            success=False,
            error=error,
            error_message=text,
            operation=spec.operation,
            task_id=task_id,
        )

    # ------------------------------------------------------------ callbacks

    async def report_errors(self, responses: Sequence[FiscusResponse]) -> None:
        """Call ``fiscus_on_auth`` and ``fiscus_on_error`` after the run."""

        def also(index: int) -> bool:
            failed = self.specs[index].policies.on_error == "skip"
            return index in self.condition_errors or (
                failed and responses[index].error is not None
            )

        await report(self.specs, self.callbacks, responses, also=also)

    # ------------------------------------------------------------ the answer

    def responses(self, run: RunResult[object]) -> list[FiscusResponse]:
        """Return one ``FiscusResponse`` per task from a finished run."""
        stopper = self._stopper(run)
        responses = []
        for spec, task_id in zip(self.specs, self.step_ids, strict=True):
            task_result = run.tasks[task_id]
            result = TaskOutcome(
                task_result.status, task_result.value, task_result.error
            )
            message = self._not_run_message(spec, task_id, task_result, stopper)
            response = self.task_response(spec.index, result, message=message)
            if spec.index in self.logic_errors:
                response = self._logic_failure(spec, task_id, response)
            responses.append(response)
        return responses

    def _stopper(self, run: RunResult[object]) -> str | None:
        """Return the task whose failure stopped the run (its on_error is "fail")."""
        error = run.error
        for spec, task_id in zip(self.specs, self.step_ids, strict=True):
            result = run.tasks[task_id]
            if spec.policies.on_error == "fail" and result.error is error is not None:
                return f"task {spec.index} ({task_id!r})"
        return None

    def _not_run_message(
        self, spec: TaskSpec, task_id: str, result: TaskResult, stopper: str | None
    ) -> str | None:
        """Say why a task was skipped or did not run; ``None`` if it ran."""
        head = f"Task {spec.index} ({task_id!r})"
        if result.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
            return None
        if spec.index in self.skip_messages:
            text = f"{head} was skipped: {self.skip_messages[spec.index]}"
        elif spec.index in self.condition_errors:
            error = self.condition_errors[spec.index]
            text = (
                f"{head} was skipped: its condition raised "
                f"{type(error).__name__}: {error}"
            )
        elif result.status is TaskStatus.NOT_RUN:
            why = (
                f"{stopper} failed, and its on_error is 'fail'"
                if stopper is not None
                else result.reason or "the run stopped before it started"
            )
            text = f"{head} did not run: {why}"
        else:
            text = f"{head} was skipped: {result.reason}"
        return scrub_text(text)

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

    def final_context(self, run: RunResult[object]) -> FiscusContext:
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


def _skipped(
    spec: TaskSpec,
    task_id: str,
    message: str | None,
    *,
    error: BaseException | None = None,
) -> FiscusResponse:
    """Return a skipped task's response: Fiscus's ``success=True, result={}``."""
    return FiscusResponse(
        success=True,
        result={},
        error=error,
        operation=spec.operation,
        task_id=task_id,
        skipped=True,
        error_message=message,
    )


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
