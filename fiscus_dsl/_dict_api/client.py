"""``FiscusClient``: the Fiscus SDK's ``execute`` API, on the DSL's graph and runner.

``client.execute(tasks=[...])`` checks every task dict, compiles the list
into one workflow graph and runs it on the runner; ``execute(connector_name,
operation, params)`` runs one operation; ``execute_async`` is the async
twin. Definition errors (a malformed task, an unknown connector) raise
``TaskDefinitionError`` before anything is sent; what happens while running
is reported in the ``FiscusResponse``. The Fiscus constructor's options
are all accepted: those of Fiscus's servers with a ``FiscusWarning``
(``client_options``), the rest act here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from fiscus_dsl._dict_api.client_options import (
    CallOptions,
    ContextHooks,
    ContextLoader,
    ContextSaver,
    as_text_responses,
    check_flag,
    check_retries,
    configure_logging,
    context_hooks,
    read_connectors,
    read_user,
    read_user_id,
    refuse_unknown,
    warn_server_only,
)
from fiscus_dsl._dict_api.compile import Execution, check_params, resolve_operations
from fiscus_dsl._dict_api.enums import FiscusResponseType, read_response_format
from fiscus_dsl._dict_api.response import FiscusResponse
from fiscus_dsl._dict_api.response_fields import as_text
from fiscus_dsl._dict_api.spec import Callback, read_callbacks, read_tasks
from fiscus_dsl._runtime.end_user import acting_for
from fiscus_dsl._runtime.retry import Retry
from fiscus_dsl._runtime.runner import default_runner
from fiscus_dsl._runtime.sync_calls import run_sync
from fiscus_dsl.errors import TaskDefinitionError

if TYPE_CHECKING:
    import logging
    import os
    from collections.abc import Mapping, Sequence

    from fiscus_dsl._connectors.connector import Connector
    from fiscus_dsl._connectors.plan_model import Plan
    from fiscus_dsl._dict_api.enums import (
        FiscusConnectionType,
        FiscusInitType,
        FiscusLogLevel,
    )
    from fiscus_dsl._runtime.end_user import EndUser
    from fiscus_dsl._runtime.runner import Runner
    from fiscus_dsl._users.audit import AuditLog
    from fiscus_dsl._users.credentials import CredentialStore


@final
class FiscusClient:
    """Run Fiscus task dicts on connectors, as the Fiscus SDK's client does.

    Every Fiscus client option is accepted; those that steered Fiscus's
    servers warn once each (``FiscusWarning``) and do nothing here.

    Args:
        connectors: The connectors tasks may name (names need not be unique:
            the first with the operation wins).
        api_key: Accepted, with a warning; never kept.
        user_id: The end user calls act for by default: ``client.user`` is
            then their ``FiscusUser`` (sharing this client's connectors).
        logging_level: A ``FiscusLogLevel`` (or its name, or a ``logging``
            number) set on the ``fiscus_dsl`` logger; ``None`` leaves it.
        log_to_file: Add a file handler to the ``fiscus_dsl`` logger, for
            ``log_file_path`` (default ``fiscus_dsl.log`` in the working
            directory). Giving ``log_file_path`` alone does it too.
        log_file_path: The log file.
        enable_audit_logging: Record every call a user makes in the audit
            log, not only refused ones (``client.audit_logging``).
        connection_type: Accepted, with a warning.
        response_format: The default result format of calls:
            ``FiscusResponseType.JSON`` (the data) or ``TEXT`` (its text).
        retries: Retries after a failed attempt of each task (the Fiscus
            ``retries``); only errors safe to retry are retried.
        backoff_factor: The first retry waits this long, doubling after.
        context_loader: ``loader(user_id) -> dict`` (or ``loader()``), called
            before each call's tasks run: conditions and params functions
            see its keys in the context, beside the tasks' entries, which
            win. ``user_id`` is that of the user the call acts for, else
            this client's ``user_id``, else ``None``.
        context_saver: ``saver(user_id, context)`` (or ``saver(context)``),
            called after each ``execute`` with the final context: the
            loaded one with the tasks' entries over it.
        initialization_mode: Accepted, with a warning.
        initialization_async: Accepted, with a warning.
        llm: Accepted, with a warning.
        memory: Accepted, with a warning.
        callbacks: ``fiscus_on_success``, ``fiscus_on_error`` and
            ``fiscus_on_log`` for every call.
        runner: The runner to use (default: the default runner).
        credential_store: Where the end users of this client keep their
            connectors' credentials (a ``CredentialStore``; default: one
            in memory per ``FiscusUser``).
        audit_log: Where the end users' audit events go (an ``AuditLog``;
            default: the ``fiscus_dsl.audit`` logger, plus the runner's
            store database when it has one).
        **unknown: Refused: an ``OptionTypeError`` (a ``TypeError``) names them.

    Raises:
        OptionTypeError: An option of the wrong type, or an unknown one.
        ConfigurationError: ``retries`` or ``backoff_factor`` below 0.

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
        api_key: str | None = None,
        user_id: str | None = None,
        logging_level: FiscusLogLevel | str | int | None = None,
        log_to_file: bool = False,
        log_file_path: str | os.PathLike[str] | None = None,
        enable_audit_logging: bool = False,
        connection_type: FiscusConnectionType | str | None = None,
        response_format: FiscusResponseType | str = FiscusResponseType.JSON,
        retries: int = 3,
        backoff_factor: float = 0.5,
        context_loader: ContextLoader | None = None,
        context_saver: ContextSaver | None = None,
        initialization_mode: FiscusInitType | str | None = None,
        initialization_async: bool | None = None,
        llm: object = None,
        memory: object = None,
        callbacks: Mapping[str, Callback] | None = None,
        runner: Runner | None = None,
        credential_store: CredentialStore | None = None,
        audit_log: AuditLog | None = None,
        **unknown: object,
    ) -> None:
        refuse_unknown(unknown)
        check_retries(retries, backoff_factor)
        self.connectors = read_connectors(connectors)
        self.retries = retries
        self.backoff_factor = backoff_factor
        self.callbacks = read_callbacks(callbacks, index=None)
        self.runner = runner
        self.credential_store = credential_store
        self.audit_log = audit_log
        self.response_format = read_response_format(
            response_format, option="response_format"
        )
        self.audit_logging = check_flag("enable_audit_logging", enable_audit_logging)
        to_file = check_flag("log_to_file", log_to_file)
        self._context_hooks: ContextHooks = context_hooks(context_loader, context_saver)
        self.context_loader = context_loader
        self.context_saver = context_saver
        self.user_id = read_user_id(user_id)
        server_only = {
            "api_key": api_key,
            "connection_type": connection_type,
            "initialization_mode": initialization_mode,
            "initialization_async": initialization_async,
            "llm": llm,
            "memory": memory,
        }
        for name, value in server_only.items():
            if value is not None:  # the key itself is never kept
                warn_server_only("FiscusClient", name, stacklevel=2)
        self.log_handler: logging.FileHandler | None = configure_logging(
            logging_level, to_file=to_file, path=log_file_path
        )
        self.user: EndUser | None = self._make_user()

    def _make_user(self) -> EndUser | None:
        """Return the ``FiscusUser`` of ``user_id``, or ``None`` without one."""
        if self.user_id is None:
            return None
        # imported here: only a client with a user loads the users layer
        from fiscus_dsl._users.user import FiscusUser

        return FiscusUser(self.user_id, self)

    def __repr__(self) -> str:
        names = ", ".join(repr(connector.name) for connector in self.connectors)
        user = f" user_id={self.user_id!r}" if self.user_id is not None else ""
        return f"<FiscusClient connectors=[{names}]{user}>"

    def initialize(self) -> None:
        """Do nothing: the Fiscus client connected to its servers here; none exist."""

    async def initialize_async(self) -> None:
        """Do nothing, from async code (``initialize``)."""

    def execute(
        self,
        connector_name: str | None = None,
        operation: str | None = None,
        params: Mapping[str, object] | None = None,
        callbacks: Mapping[str, Callback] | None = None,
        # Sequence[object]: mypy types the guide's task list, dicts of several
        # shapes, as list[object]; read_tasks checks every item.
        tasks: Sequence[object] | None = None,
        *,
        connection_type: FiscusConnectionType | str | None = None,
        response_format: FiscusResponseType | str | None = None,
        user: EndUser | None = None,
        custom_options: Mapping[str, object] | None = None,
    ) -> FiscusResponse:
        """Run one operation, or a list of task dicts, and return the response.

        Args:
            connector_name: The connector of one operation.
            operation: The operation to run.
            params: Its parameters.
            callbacks: Callbacks for this call (over the client's).
            tasks: Task dicts to run instead of one operation.
            connection_type: Accepted, with a warning: nothing to connect.
            response_format: ``FiscusResponseType.TEXT`` gives each task's
                result as text: a str as it is, bytes decoded as UTF-8, any
                other value (a dict, a list, a model, a number) as its JSON
                text; no result stays ``None``. The top-level ``result`` is
                then the one task's text, or, for ``tasks``, the JSON text
                of the list of every task's data. ``results`` and ``data``
                follow. Conditions, params functions, ``custom_logic`` and
                the context see the data. Default: the client's.
            user: The end user the call acts for (default: ``client.user``),
                whom tasks and connectors see as the current end user.
            custom_options: Accepted, with a warning (Fiscus server options).

        Raises:
            TaskDefinitionError: Neither ``tasks`` nor both ``connector_name``
                and ``operation`` were given (also a ``ValueError``).
            TaskDefinitionError: A task dict is malformed or names an unknown
                connector or operation, or ``user`` is not an end user;
                nothing was sent.
        """
        call = self._call_options(
            connection_type, response_format, user, custom_options, stacklevel=3
        )
        execution, single = self._prepare(
            connector_name, operation, params, callbacks, tasks
        )
        return run_sync(lambda: self._run(execution, single=single, call=call))

    async def execute_async(
        self,
        connector_name: str | None = None,
        operation: str | None = None,
        params: Mapping[str, object] | None = None,
        callbacks: Mapping[str, Callback] | None = None,
        tasks: Sequence[object] | None = None,
        *,
        connection_type: FiscusConnectionType | str | None = None,
        response_format: FiscusResponseType | str | None = None,
        user: EndUser | None = None,
        custom_options: Mapping[str, object] | None = None,
    ) -> FiscusResponse:
        """Run one operation or a list of task dicts, from async code (``execute``)."""
        call = self._call_options(
            connection_type, response_format, user, custom_options, stacklevel=3
        )
        execution, single = self._prepare(
            connector_name, operation, params, callbacks, tasks
        )
        return await self._run(execution, single=single, call=call)

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
        connection_type: FiscusConnectionType | str | None = None,
        response_format: FiscusResponseType | str | None = None,
        user: EndUser | None = None,
        custom_options: Mapping[str, object] | None = None,
    ) -> Plan:
        """Plan what ``execute`` would send with the same arguments, sending nothing.

        The task list is checked as ``execute`` checks it, compiled the same
        way, and planned as ``wf.plan`` plans a workflow: ``responses`` gives
        sample responses by operation name or step id (``send_email#2``), an
        exception for a call that fails. Params, templates, conditions and
        ``custom_logic`` run on the samples, for ``user`` and with the
        context the ``context_loader`` gives (nothing is saved); a task
        without one is taken to succeed there, its value a ``<reference>``.
        See docs/plans.md.

        Raises:
            TaskDefinitionError: As ``execute``: nothing is planned.
        """
        call = self._call_options(
            connection_type, response_format, user, custom_options, stacklevel=3
        )
        execution, _ = self._prepare(
            connector_name, operation, params, callbacks, tasks
        )
        execution.initial_context = dict(call.initial_context)
        with acting_for(call.user):
            return execution.compile().plan(responses=responses, run_id=run_id)

    def _call_options(
        self,
        connection_type: object,
        response_format: object,
        user: object,
        custom_options: object,
        *,
        stacklevel: int,
    ) -> CallOptions:
        """Read one call's options, warn of the server-only ones, load the context."""
        for name, value in (
            ("connection_type", connection_type),
            ("custom_options", custom_options),
        ):
            if value is not None:
                warn_server_only("execute", name, stacklevel=stacklevel)
        acting = read_user(user) if user is not None else self.user
        user_id = acting.user_id if acting is not None else self.user_id
        chosen = self.response_format
        if response_format is not None:
            chosen = read_response_format(response_format, option="response_format")
        return CallOptions(
            user=acting,
            user_id=user_id,
            response_format=chosen,
            initial_context=self._context_hooks.load(user_id),
        )

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

    async def _run(
        self, execution: Execution, *, single: bool, call: CallOptions
    ) -> FiscusResponse:
        runner = self.runner or default_runner()
        execution.initial_context = dict(call.initial_context)
        plan = execution.compile().compile((), {})
        execution.step_ids = [node.id for node in plan.nodes]
        with acting_for(call.user):
            run = await runner.arun_plan(plan, {})
            # runs every custom_logic once; holds the loaded context too
            context = dict(execution.final_context(run))
            responses = execution.responses(run)
            data = [response.result for response in responses]
            as_text_responses(responses, call.response_format)
            await execution.report_errors(responses)
        self._context_hooks.save(call.user_id, context)
        failed = next(
            (response for response in responses if not response.success), None
        )
        result: object = data[0] if single else data
        if call.response_format is FiscusResponseType.TEXT:
            result = as_text(result)
        return FiscusResponse(
            success=failed is None,
            result=result,
            results=responses,
            error=None if failed is None else failed.error,
            error_message=None if failed is None else failed.error_message,
            context=context,
            operation=responses[0].operation if single else None,
            run=run,
            batch=not single,
        )
