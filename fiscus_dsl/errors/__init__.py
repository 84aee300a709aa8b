"""Every exception fiscus_dsl raises, under one root.

The tree::

    FiscusError
    ├── TracingError (TypeError)          misuse of the DSL while tracing
    │   └── WorkflowInputError            workflow inputs missing or unknown
    ├── SignatureError (TypeError)        an annotation that does not resolve
    ├── ConfigurationError (ValueError)   a bad option: ``timeout=-1``, a bad route
    │   └── OptionTypeError (TypeError)   an option of the wrong type: ``retry=3``
    ├── HookSignatureError (TypeError)    a hook that cannot take its arguments
    ├── PlanShippingError (TypeError)     a plan holds a lambda or a closure
    ├── ArgumentValidationError (ValueError)  an argument of the wrong type
    ├── ProjectionError (LookupError)     ``f.attr`` / ``f["key"]`` missing
    ├── GuardError                        a ``when(predicate, ...)`` raised
    ├── TaskTimeoutError (TimeoutError)   an attempt ran past ``timeout``
    ├── SkipTask                          raised by a before-hook: skip the task
    ├── WorkflowFailed                    ``wf(...)`` of a failed run
    ├── ResumeError                       a run cannot be resumed from the store
    │   └── RunLocked                     another live process holds the run's lease
    ├── RunStoreError                     the run store failed to open, read or write
    ├── ClusterError                      the Dask cluster could not run a task's body
    ├── MissingSecretError (LookupError)  ``Secret.from_env`` of an unset variable
    ├── SecretPicklingError (TypeError)   pickling a ``Secret`` or an auth holding one
    ├── TaskDefinitionError (ValueError)  a bad task dict or task file
    ├── AmbiguousNameError (KeyError)     a dict-API context key two tasks go by
    ├── AuthenticationError               an end user has no usable credentials
    ├── AuthorizationError (PermissionError)  a call outside an end user's policies
    ├── CredentialStoreError              a credential store failed to open, read, write
    └── ConnectorError                    an HTTP call of a connector failed
        ├── HTTPStatusError               the API answered 3xx, 4xx or 5xx
        ├── UnsafeURLError (ValueError)   a URL left the connector's origin
        ├── ResponseTooLargeError         a body over ``max_response_bytes``
        └── ResponseValidationError (ValueError)  the answer does not validate

    FiscusWarning (UserWarning)

Every error carries a ``code`` from ``FiscusErrorCode``, the Fiscus numbers.

The classes live in private modules of this package, by concern; import
them from here. The package imports nothing from fiscus_dsl but ``_types``.
"""

from __future__ import annotations

from fiscus_dsl.errors._base import FiscusError as FiscusError
from fiscus_dsl.errors._base import FiscusErrorCode as FiscusErrorCode
from fiscus_dsl.errors._connectors import ConnectorError as ConnectorError
from fiscus_dsl.errors._connectors import HTTPStatusError as HTTPStatusError
from fiscus_dsl.errors._connectors import ResponseTooLargeError as ResponseTooLargeError
from fiscus_dsl.errors._connectors import (
    ResponseValidationError as ResponseValidationError,
)
from fiscus_dsl.errors._connectors import UnsafeURLError as UnsafeURLError
from fiscus_dsl.errors._connectors import (
    status_code_to_error_code as status_code_to_error_code,
)
from fiscus_dsl.errors._run import AmbiguousNameError as AmbiguousNameError
from fiscus_dsl.errors._run import ArgumentValidationError as ArgumentValidationError
from fiscus_dsl.errors._run import ClusterError as ClusterError
from fiscus_dsl.errors._run import ConfigurationError as ConfigurationError
from fiscus_dsl.errors._run import GuardError as GuardError
from fiscus_dsl.errors._run import HookSignatureError as HookSignatureError
from fiscus_dsl.errors._run import MissingSecretError as MissingSecretError
from fiscus_dsl.errors._run import OptionTypeError as OptionTypeError
from fiscus_dsl.errors._run import PlanShippingError as PlanShippingError
from fiscus_dsl.errors._run import ProjectionError as ProjectionError
from fiscus_dsl.errors._run import ResumeError as ResumeError
from fiscus_dsl.errors._run import RunLocked as RunLocked
from fiscus_dsl.errors._run import RunStoreError as RunStoreError
from fiscus_dsl.errors._run import SecretPicklingError as SecretPicklingError
from fiscus_dsl.errors._run import SignatureError as SignatureError
from fiscus_dsl.errors._run import SkipTask as SkipTask
from fiscus_dsl.errors._run import TaskDefinitionError as TaskDefinitionError
from fiscus_dsl.errors._run import TaskTimeoutError as TaskTimeoutError
from fiscus_dsl.errors._run import TracingError as TracingError
from fiscus_dsl.errors._run import WorkflowFailed as WorkflowFailed
from fiscus_dsl.errors._run import WorkflowInputError as WorkflowInputError
from fiscus_dsl.errors._users import AuthenticationError as AuthenticationError
from fiscus_dsl.errors._users import AuthorizationError as AuthorizationError
from fiscus_dsl.errors._users import CredentialStoreError as CredentialStoreError


class FiscusWarning(UserWarning):
    """Base of every warning fiscus_dsl issues."""


def _as_public() -> None:
    """Report this module as the classes' home: reprs, docs and pickles name it."""
    for value in list(globals().values()):
        if isinstance(value, type) and value.__module__.startswith(__name__ + "._"):
            value.__module__ = __name__


_as_public()

__all__ = [
    "AmbiguousNameError",
    "ArgumentValidationError",
    "AuthenticationError",
    "AuthorizationError",
    "ClusterError",
    "ConfigurationError",
    "ConnectorError",
    "CredentialStoreError",
    "FiscusError",
    "FiscusErrorCode",
    "FiscusWarning",
    "GuardError",
    "HTTPStatusError",
    "HookSignatureError",
    "MissingSecretError",
    "OptionTypeError",
    "PlanShippingError",
    "ProjectionError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ResumeError",
    "RunLocked",
    "RunStoreError",
    "SecretPicklingError",
    "SignatureError",
    "SkipTask",
    "TaskDefinitionError",
    "TaskTimeoutError",
    "TracingError",
    "UnsafeURLError",
    "WorkflowFailed",
    "WorkflowInputError",
    "status_code_to_error_code",
]
