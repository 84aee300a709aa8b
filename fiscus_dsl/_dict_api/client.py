"""``FiscusClient``: the Fiscus SDK's ``execute`` API, on the DSL's graph and runner.

``client.execute(tasks=[...])`` checks every task dict, compiles the list
into one workflow graph and runs it on the runner; ``execute(connector_name,
operation, params)`` runs one operation; ``execute_async`` is the async
twin. Definition errors (a malformed task, an unknown connector) raise
``TaskDefinitionError`` before anything is sent; what happens while running
is reported in the ``FiscusResponse``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from fiscus_dsl._dict_api.compile import Execution, check_params, resolve_operations
from fiscus_dsl._dict_api.response import FiscusResponse
from fiscus_dsl._dict_api.spec import Callback, read_callbacks, read_tasks
from fiscus_dsl._dsl.options import is_number
from fiscus_dsl._runtime.retry import Retry
from fiscus_dsl._runtime.runner import default_runner, run_sync
from fiscus_dsl.errors import ConfigurationError, OptionTypeError, TaskDefinitionError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from fiscus_dsl._connectors.connector import Connector
    from fiscus_dsl._connectors.plan_model import Plan
    from fiscus_dsl._runtime.runner import Runner


@final
class FiscusClient:
    """Run Fiscus task dicts on connectors, as the Fiscus SDK's client does.

    Args:
        connectors: The connectors tasks may name (names need not be unique:
            the first with the operation wins).
        retries: Retries after a failed attempt of each task (the Fiscus
            ``retries``); only errors safe to retry are retried.
        backoff_factor: The first retry waits this long, doubling after.
        callbacks: ``fiscus_on_success``, ``fiscus_on_error`` and
            ``fiscus_on_log`` for every call.
        runner: The runner to use (default: the default runner).

    Examples:
        >>> from fiscus_dsl import Connector, FiscusClient
        >>> crm = Connector("CRMSystem", "https://crm.example.com/v1")
        >>> client = FiscusClient(connectors=[crm], retries=2)
        >>> client.execute()
        Traceback (most recent call last):
        ...
        fiscus_dsl.errors.TaskDefinitionError: Pass tasks=[...], or both ...
    """

    def __init__(
        self,
        connectors: Sequence[Connector] = (),
        *,
        retries: int = 3,
        backoff_factor: float = 0.5,
        callbacks: Mapping[str, Callback] | None = None,
        runner: Runner | None = None,
    ) -> None:
        given: object = retries  # annotated int; callers may pass anything
        if not isinstance(given, int) or isinstance(given, bool):
            msg = f"FiscusClient got retries={retries!r}; pass an int, e.g. retries=3"
            raise OptionTypeError(msg, option="retries")
        if not is_number(backoff_factor):
            msg = (
                f"FiscusClient got backoff_factor={backoff_factor!r}; pass seconds as "
                "a number, e.g. backoff_factor=0.5"
            )
            raise OptionTypeError(msg, option="backoff_factor")
        if retries < 0 or backoff_factor < 0:
            msg = (
                f"FiscusClient(retries={retries!r}, backoff_factor={backoff_factor!r}) "
                "takes numbers of 0 or more"
            )
            option = "retries" if retries < 0 else "backoff_factor"
            raise ConfigurationError(msg, option=option)
        self.connectors = list(connectors)
        self.retries = retries
        self.backoff_factor = backoff_factor
        self.callbacks = read_callbacks(callbacks, index=None)
        self.runner = runner

    def execute(
        self,
        connector_name: str | None = None,
        operation: str | None = None,
        params: Mapping[str, object] | None = None,
        callbacks: Mapping[str, Callback] | None = None,
        # Sequence[object]: mypy types the guide's task list, dicts of several
        # shapes, as list[object]; read_tasks checks every item.
        tasks: Sequence[object] | None = None,
    ) -> FiscusResponse:
        """Run one operation, or a list of task dicts, and return the response.

        Raises:
            TaskDefinitionError: Neither ``tasks`` nor both ``connector_name``
                and ``operation`` were given (also a ``ValueError``).
            TaskDefinitionError: A task dict is malformed or names an unknown
                connector or operation; nothing was sent.
        """
        execution, single = self._prepare(
            connector_name, operation, params, callbacks, tasks
        )
        return run_sync(lambda: self._run(execution, single=single))

    async def execute_async(
        self,
        connector_name: str | None = None,
        operation: str | None = None,
        params: Mapping[str, object] | None = None,
        callbacks: Mapping[str, Callback] | None = None,
        tasks: Sequence[object] | None = None,
    ) -> FiscusResponse:
        """Run one operation or a list of task dicts, from async code (``execute``)."""
        execution, single = self._prepare(
            connector_name, operation, params, callbacks, tasks
        )
        return await self._run(execution, single=single)

    def plan(
        self,
        connector_name: str | None = None,
        operation: str | None = None,
        params: Mapping[str, object] | None = None,
        callbacks: Mapping[str, Callback] | None = None,
        tasks: Sequence[object] | None = None,
        *,
        responses: Mapping[str, object] | None = None,
        run_id: str | None = None,
    ) -> Plan:
        """Plan what ``execute`` would send with the same arguments, sending nothing.

        The task list is checked as ``execute`` checks it, compiled the same
        way, and planned as ``wf.plan`` plans a workflow: ``responses`` gives
        sample responses by operation name or step id (``send_email#2``), an
        exception for a call that fails. Params, templates, conditions and
        ``custom_logic`` run on the samples; a task without one is taken to
        succeed there, its value a ``<reference>``. See docs/plans.md.

        Raises:
            TaskDefinitionError: As ``execute``: nothing is planned.
        """
        execution, _ = self._prepare(
            connector_name, operation, params, callbacks, tasks
        )
        return execution.compile().plan(responses=responses, run_id=run_id)

    def _prepare(
        self,
        connector_name: str | None,
        operation: str | None,
        params: Mapping[str, object] | None,
        callbacks: Mapping[str, Callback] | None,
        tasks: Sequence[object] | None,
    ) -> tuple[Execution, bool]:
        single = tasks is None
        if tasks is None:
            if connector_name is None or operation is None:
                msg = (
                    "Pass tasks=[...], or both connector_name and operation "
                    "(and params) to run one operation"
                )
                raise TaskDefinitionError(msg, index=None, field="tasks")
            tasks = [
                {
                    "connector": connector_name,
                    "operation": operation,
                    "params": params or {},
                }
            ]
        specs = read_tasks(tasks)
        operations = resolve_operations(specs, self.connectors)
        check_params(specs, operations)
        retry = Retry(
            attempts=self.retries + 1,
            backoff=self.backoff_factor,
            max_delay=max(30.0, self.backoff_factor),
            jitter=False,
        )
        merged = {**self.callbacks, **read_callbacks(callbacks, index=None)}
        return Execution(specs, operations, retry=retry, callbacks=merged), single

    async def _run(self, execution: Execution, *, single: bool) -> FiscusResponse:
        runner = self.runner or default_runner()
        plan = execution.compile().compile((), {})
        execution.step_ids = [node.id for node in plan.nodes]
        run = await runner.arun_plan(plan, {})
        context = execution.final_context(run)  # runs every custom_logic once
        responses = execution.responses(run)
        await execution.report_errors(responses)
        failed = next(
            (response for response in responses if not response.success), None
        )
        results = [response.result for response in responses]
        return FiscusResponse(
            success=failed is None,
            result=results[0] if single else results,
            results=responses,
            error=None if failed is None else failed.error,
            error_message=None if failed is None else failed.error_message,
            context=context,
            run=run,
        )
