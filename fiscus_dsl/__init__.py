"""fiscus_dsl: orchestrate API calls as plain Python workflows.

Write a workflow as a function; task calls inside it return lazy futures,
``when`` guards replace conditions, tracing builds the task graph, and a
runner executes it with retries, hooks and OpenTelemetry spans.
"""

import importlib as _importlib
import typing as _typing

from fiscus_dsl._dsl import run_entry as _run_entry
from fiscus_dsl._dsl.conditions import GuardBlock as GuardBlock
from fiscus_dsl._dsl.conditions import coalesce as coalesce
from fiscus_dsl._dsl.conditions import failed as failed
from fiscus_dsl._dsl.conditions import otherwise as otherwise
from fiscus_dsl._dsl.conditions import outcome as outcome
from fiscus_dsl._dsl.conditions import skipped as skipped
from fiscus_dsl._dsl.conditions import succeeded as succeeded
from fiscus_dsl._dsl.conditions import when as when
from fiscus_dsl._dsl.futures import Condition as Condition
from fiscus_dsl._dsl.futures import TaskFuture as TaskFuture
from fiscus_dsl._dsl.hooks import Hooks as Hooks
from fiscus_dsl._dsl.task import Partial as Partial
from fiscus_dsl._dsl.task import Task as Task
from fiscus_dsl._dsl.task import TaskOptions as TaskOptions
from fiscus_dsl._dsl.task import task as task
from fiscus_dsl._dsl.workflow import Workflow as Workflow
from fiscus_dsl._dsl.workflow import workflow as workflow
from fiscus_dsl._graph.model import WorkflowGraph as WorkflowGraph
from fiscus_dsl._runtime.end_user import acting_for as acting_for
from fiscus_dsl._runtime.executor import Executor as Executor
from fiscus_dsl._runtime.executor import InProcessExecutor as InProcessExecutor
from fiscus_dsl._runtime.hooks import RunContext as RunContext
from fiscus_dsl._runtime.hooks import TaskContext as TaskContext
from fiscus_dsl._runtime.results import RunResult as RunResult
from fiscus_dsl._runtime.results import RunStatus as RunStatus
from fiscus_dsl._runtime.results import TaskOutcome as TaskOutcome
from fiscus_dsl._runtime.results import TaskResult as TaskResult
from fiscus_dsl._runtime.results import TaskStatus as TaskStatus
from fiscus_dsl._runtime.retry import Retry as Retry
from fiscus_dsl._runtime.runner import Runner as Runner
from fiscus_dsl._runtime.runner import default_runner as default_runner
from fiscus_dsl._runtime.runner import set_default_runner as set_default_runner
from fiscus_dsl._runtime.runner import use_runner as use_runner
from fiscus_dsl._runtime.sqlite_store import SQLiteRunStore as SQLiteRunStore
from fiscus_dsl._runtime.store import Lease as Lease
from fiscus_dsl._runtime.store import RunRecord as RunRecord
from fiscus_dsl._runtime.store import RunStore as RunStore
from fiscus_dsl._runtime.store import TaskRecord as TaskRecord
from fiscus_dsl.errors import AmbiguousNameError as AmbiguousNameError
from fiscus_dsl.errors import ArgumentValidationError as ArgumentValidationError
from fiscus_dsl.errors import AuthenticationError as AuthenticationError
from fiscus_dsl.errors import AuthorizationError as AuthorizationError
from fiscus_dsl.errors import ClusterError as ClusterError
from fiscus_dsl.errors import ConfigurationError as ConfigurationError
from fiscus_dsl.errors import ConnectorError as ConnectorError
from fiscus_dsl.errors import CredentialStoreError as CredentialStoreError
from fiscus_dsl.errors import FiscusError as FiscusError
from fiscus_dsl.errors import FiscusErrorCode as FiscusErrorCode
from fiscus_dsl.errors import FiscusWarning as FiscusWarning
from fiscus_dsl.errors import GuardError as GuardError
from fiscus_dsl.errors import HookSignatureError as HookSignatureError
from fiscus_dsl.errors import HTTPStatusError as HTTPStatusError
from fiscus_dsl.errors import MissingSecretError as MissingSecretError
from fiscus_dsl.errors import OptionTypeError as OptionTypeError
from fiscus_dsl.errors import PlanShippingError as PlanShippingError
from fiscus_dsl.errors import ProjectionError as ProjectionError
from fiscus_dsl.errors import ResponseTooLargeError as ResponseTooLargeError
from fiscus_dsl.errors import ResponseValidationError as ResponseValidationError
from fiscus_dsl.errors import ResumeError as ResumeError
from fiscus_dsl.errors import RunLocked as RunLocked
from fiscus_dsl.errors import RunStoreError as RunStoreError
from fiscus_dsl.errors import SecretPicklingError as SecretPicklingError
from fiscus_dsl.errors import SignatureError as SignatureError
from fiscus_dsl.errors import SkipTask as SkipTask
from fiscus_dsl.errors import TaskDefinitionError as TaskDefinitionError
from fiscus_dsl.errors import TaskTimeoutError as TaskTimeoutError
from fiscus_dsl.errors import TracingError as TracingError
from fiscus_dsl.errors import UnsafeURLError as UnsafeURLError
from fiscus_dsl.errors import WorkflowFailed as WorkflowFailed
from fiscus_dsl.errors import WorkflowInputError as WorkflowInputError

if _typing.TYPE_CHECKING:
    from fiscus_dsl._connectors.auth import ApiKeyAuth as ApiKeyAuth
    from fiscus_dsl._connectors.auth import BasicAuth as BasicAuth
    from fiscus_dsl._connectors.auth import BearerAuth as BearerAuth
    from fiscus_dsl._connectors.auth import Secret as Secret
    from fiscus_dsl._connectors.connector import Connector as Connector
    from fiscus_dsl._connectors.oauth2 import (
        OAuth2ClientCredentials as OAuth2ClientCredentials,
    )
    from fiscus_dsl._connectors.plan_model import Plan as Plan
    from fiscus_dsl._connectors.plan_model import PlannedRequest as PlannedRequest
    from fiscus_dsl._connectors.plan_model import PlanStep as PlanStep
    from fiscus_dsl._connectors.request import Body as Body
    from fiscus_dsl._connectors.request import Header as Header
    from fiscus_dsl._connectors.request import Query as Query
    from fiscus_dsl._dict_api.client import FiscusClient as FiscusClient
    from fiscus_dsl._dict_api.context import FiscusContext as FiscusContext
    from fiscus_dsl._dict_api.enums import FiscusConnectionType as FiscusConnectionType
    from fiscus_dsl._dict_api.enums import FiscusExecutionType as FiscusExecutionType
    from fiscus_dsl._dict_api.enums import FiscusInitType as FiscusInitType
    from fiscus_dsl._dict_api.enums import FiscusLogLevel as FiscusLogLevel
    from fiscus_dsl._dict_api.enums import FiscusResponseType as FiscusResponseType
    from fiscus_dsl._dict_api.enums import FiscusRestType as FiscusRestType
    from fiscus_dsl._dict_api.files import load_tasks as load_tasks
    from fiscus_dsl._dict_api.files import load_tasks_text as load_tasks_text
    from fiscus_dsl._dict_api.response import FiscusResponse as FiscusResponse
    from fiscus_dsl._runtime.postgres_store import PostgresRunStore as PostgresRunStore
    from fiscus_dsl._users.audit import AuditAction as AuditAction
    from fiscus_dsl._users.audit import AuditEvent as AuditEvent
    from fiscus_dsl._users.audit import AuditLog as AuditLog
    from fiscus_dsl._users.audit import LoggingAuditLog as LoggingAuditLog
    from fiscus_dsl._users.audit import PostgresAuditLog as PostgresAuditLog
    from fiscus_dsl._users.audit import SQLiteAuditLog as SQLiteAuditLog
    from fiscus_dsl._users.credential_sql import (
        PostgresCredentialStore as PostgresCredentialStore,
    )
    from fiscus_dsl._users.credential_sql import (
        SQLiteCredentialStore as SQLiteCredentialStore,
    )
    from fiscus_dsl._users.credential_sql import (
        open_credential_store as open_credential_store,
    )
    from fiscus_dsl._users.credentials import CredentialStore as CredentialStore
    from fiscus_dsl._users.credentials import (
        MemoryCredentialStore as MemoryCredentialStore,
    )
    from fiscus_dsl._users.credentials import StoredCredential as StoredCredential
    from fiscus_dsl._users.oauth_code import (
        AuthorizationRequest as AuthorizationRequest,
    )
    from fiscus_dsl._users.oauth_code import (
        OAuth2AuthorizationCode as OAuth2AuthorizationCode,
    )
    from fiscus_dsl._users.policies import Policy as Policy
    from fiscus_dsl._users.user import FiscusUser as FiscusUser
    from fiscus_dsl._users.user import UserConnector as UserConnector
    from fiscus_dsl._users.user import current_user as current_user
    from fiscus_dsl._users.user_auth import UserAuth as UserAuth

# The connectors and the dict API import httpx (and, through it, a CLI stack)
# and PyYAML: about 20 MB and 200 ms that a workflow of plain tasks never
# needs. Their names are imported on first use (PEP 562); see
# docs/decisions.md. PostgresRunStore too: psycopg is an extra, and its
# module says how to install it when it is missing.
_LAZY: dict[str, str] = {
    "ApiKeyAuth": "fiscus_dsl._connectors.auth",
    "AuditAction": "fiscus_dsl._users.audit",
    "AuditEvent": "fiscus_dsl._users.audit",
    "AuditLog": "fiscus_dsl._users.audit",
    "AuthorizationRequest": "fiscus_dsl._users.oauth_code",
    "BasicAuth": "fiscus_dsl._connectors.auth",
    "BearerAuth": "fiscus_dsl._connectors.auth",
    "Body": "fiscus_dsl._connectors.request",
    "Connector": "fiscus_dsl._connectors.connector",
    "CredentialStore": "fiscus_dsl._users.credentials",
    "FiscusClient": "fiscus_dsl._dict_api.client",
    "FiscusConnectionType": "fiscus_dsl._dict_api.enums",
    "FiscusContext": "fiscus_dsl._dict_api.context",
    "FiscusExecutionType": "fiscus_dsl._dict_api.enums",
    "FiscusInitType": "fiscus_dsl._dict_api.enums",
    "FiscusLogLevel": "fiscus_dsl._dict_api.enums",
    "FiscusResponse": "fiscus_dsl._dict_api.response",
    "FiscusResponseType": "fiscus_dsl._dict_api.enums",
    "FiscusRestType": "fiscus_dsl._dict_api.enums",
    "FiscusUser": "fiscus_dsl._users.user",
    "Header": "fiscus_dsl._connectors.request",
    "LoggingAuditLog": "fiscus_dsl._users.audit",
    "MemoryCredentialStore": "fiscus_dsl._users.credentials",
    "OAuth2AuthorizationCode": "fiscus_dsl._users.oauth_code",
    "OAuth2ClientCredentials": "fiscus_dsl._connectors.oauth2",
    "Plan": "fiscus_dsl._connectors.plan_model",
    "PlanStep": "fiscus_dsl._connectors.plan_model",
    "PlannedRequest": "fiscus_dsl._connectors.plan_model",
    "Policy": "fiscus_dsl._users.policies",
    "PostgresAuditLog": "fiscus_dsl._users.audit",
    "PostgresCredentialStore": "fiscus_dsl._users.credential_sql",
    "PostgresRunStore": "fiscus_dsl._runtime.postgres_store",
    "Query": "fiscus_dsl._connectors.request",
    "SQLiteAuditLog": "fiscus_dsl._users.audit",
    "SQLiteCredentialStore": "fiscus_dsl._users.credential_sql",
    "Secret": "fiscus_dsl._connectors.auth",
    "StoredCredential": "fiscus_dsl._users.credentials",
    "UserAuth": "fiscus_dsl._users.user_auth",
    "UserConnector": "fiscus_dsl._users.user",
    "current_user": "fiscus_dsl._users.user",
    "load_tasks": "fiscus_dsl._dict_api.files",
    "load_tasks_text": "fiscus_dsl._dict_api.files",
    "open_credential_store": "fiscus_dsl._users.credential_sql",
}


def _planner() -> _run_entry.Planner:
    """Return the dry-run planner, importing the connectors it needs on first use."""
    planning: _run_entry.Planner = _importlib.import_module(
        "fiscus_dsl._connectors.planning"
    )
    return planning


_run_entry.install_planner(_planner)


def __getattr__(name: str) -> object:
    """Import a connector or dict-API name on first use."""
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'fiscus_dsl' has no attribute {name!r}"
        raise AttributeError(msg)
    value: object = getattr(_importlib.import_module(module), name)
    _as_public(value)
    globals()[name] = value
    return value


def _as_public(export: object) -> None:
    """Report the public module, as httpx does: reprs and docs never show ours."""
    if getattr(export, "__module__", "").startswith("fiscus_dsl._"):
        export.__module__ = "fiscus_dsl"


__version__ = "0.1.0"

__all__ = [
    "AmbiguousNameError",
    "ApiKeyAuth",
    "ArgumentValidationError",
    "AuditAction",
    "AuditEvent",
    "AuditLog",
    "AuthenticationError",
    "AuthorizationError",
    "AuthorizationRequest",
    "BasicAuth",
    "BearerAuth",
    "Body",
    "ClusterError",
    "Condition",
    "ConfigurationError",
    "Connector",
    "ConnectorError",
    "CredentialStore",
    "CredentialStoreError",
    "Executor",
    "FiscusClient",
    "FiscusConnectionType",
    "FiscusContext",
    "FiscusError",
    "FiscusErrorCode",
    "FiscusExecutionType",
    "FiscusInitType",
    "FiscusLogLevel",
    "FiscusResponse",
    "FiscusResponseType",
    "FiscusRestType",
    "FiscusUser",
    "FiscusWarning",
    "GuardBlock",
    "GuardError",
    "HTTPStatusError",
    "Header",
    "HookSignatureError",
    "Hooks",
    "InProcessExecutor",
    "Lease",
    "LoggingAuditLog",
    "MemoryCredentialStore",
    "MissingSecretError",
    "OAuth2AuthorizationCode",
    "OAuth2ClientCredentials",
    "OptionTypeError",
    "Partial",
    "Plan",
    "PlanShippingError",
    "PlanStep",
    "PlannedRequest",
    "Policy",
    "PostgresAuditLog",
    "PostgresCredentialStore",
    "PostgresRunStore",
    "ProjectionError",
    "Query",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ResumeError",
    "Retry",
    "RunContext",
    "RunLocked",
    "RunRecord",
    "RunResult",
    "RunStatus",
    "RunStore",
    "RunStoreError",
    "Runner",
    "SQLiteAuditLog",
    "SQLiteCredentialStore",
    "SQLiteRunStore",
    "Secret",
    "SecretPicklingError",
    "SignatureError",
    "SkipTask",
    "StoredCredential",
    "Task",
    "TaskContext",
    "TaskDefinitionError",
    "TaskFuture",
    "TaskOptions",
    "TaskOutcome",
    "TaskRecord",
    "TaskResult",
    "TaskStatus",
    "TaskTimeoutError",
    "TracingError",
    "UnsafeURLError",
    "UserAuth",
    "UserConnector",
    "Workflow",
    "WorkflowFailed",
    "WorkflowGraph",
    "WorkflowInputError",
    "acting_for",
    "coalesce",
    "current_user",
    "default_runner",
    "failed",
    "load_tasks",
    "load_tasks_text",
    "open_credential_store",
    "otherwise",
    "outcome",
    "set_default_runner",
    "skipped",
    "succeeded",
    "task",
    "use_runner",
    "when",
    "workflow",
]

for _name in __all__:
    if _name not in _LAZY:
        _as_public(globals()[_name])
del _name
