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

This module imports nothing from fiscus_dsl but ``_types``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Final, TypedDict, Unpack, final

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fiscus_dsl._runtime.results import RunResult


class FiscusErrorCode(IntEnum):
    """The Fiscus SDK's error numbers, carried by every error as ``code``."""

    AUTH_FAILURE = 1001
    INVALID_REQUEST = 1002
    NOT_FOUND = 1003
    INTERNAL_ERROR = 1004
    TIMEOUT = 1005
    USER_OPERATION_ERROR = 1006
    EXECUTION_FAILURE = 1007
    EXECUTION_HALTED = 1008
    PLANNING_FAILURE = 1009
    TESTING_FAILURE = 1010
    HALT_REQUESTED = 1011
    UNKNOWN_ERROR = 9999


_STATUS_CODES: Final = {
    401: FiscusErrorCode.AUTH_FAILURE,
    403: FiscusErrorCode.AUTH_FAILURE,
    404: FiscusErrorCode.NOT_FOUND,
    408: FiscusErrorCode.TIMEOUT,
}


class FiscusError(Exception):
    """Root of every error fiscus_dsl raises.

    Attributes:
        retryable: Whether a task retry policy with the default ``retry_on``
            may try again after this error.
        code: The Fiscus error number that describes it.
    """

    retryable: bool = True
    code: FiscusErrorCode = FiscusErrorCode.EXECUTION_FAILURE

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle with the fields, whatever ``__init__`` takes (plans ship errors)."""
        return (_restore_error, (type(self), self.args, self.__dict__))


def _restore_error(
    cls: type[FiscusError], args: tuple[object, ...], state: dict[str, object]
) -> FiscusError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class TracingError(FiscusError, TypeError):
    """A workflow used the DSL in a way tracing cannot turn into a graph.

    Attributes:
        workflow: The name of the workflow being traced, if any.
        location: ``"file.py:LINE"`` of the user code that misused the DSL.
        problems: Each problem of a call that does not bind to its signature
            (missing, unknown or repeated arguments), all of them; else empty.
    """

    retryable = False
    code = FiscusErrorCode.PLANNING_FAILURE

    def __init__(
        self,
        message: str,
        *,
        workflow: str | None = None,
        location: str | None = None,
        problems: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.workflow = workflow
        self.location = location
        self.problems = tuple(problems)


@final
class WorkflowInputError(TracingError):
    """A workflow was started with inputs that do not bind to its signature."""


@final
class SignatureError(FiscusError, TypeError):
    """A task's or workflow's function has a signature fiscus_dsl cannot use.

    An annotation names nothing where the function was defined (raised at
    the first call, so annotations may name classes defined further down),
    or the function does not fit its decorator. Nothing ran.

    Attributes:
        task: The task's or workflow's name.
        parameter: The parameter at fault (``"return"`` for the return
            annotation), or ``None`` when it is the function as a whole.
    """

    retryable = False
    code = FiscusErrorCode.PLANNING_FAILURE

    def __init__(self, message: str, *, task: str, parameter: str | None) -> None:
        super().__init__(message)
        self.task = task
        self.parameter = parameter


class ConfigurationError(FiscusError, ValueError):
    """An option or argument given to fiscus_dsl is wrong; nothing ran.

    Raised where the option is given (a decorator, ``Runner``, ``Connector``,
    ``Retry``, ...), so the traceback points at it; the message shows the
    form that works.

    Attributes:
        option: The name of the option or argument at fault, e.g. ``"timeout"``.
    """

    retryable = False
    code = FiscusErrorCode.INVALID_REQUEST

    def __init__(self, message: str, *, option: str) -> None:
        super().__init__(message)
        self.option = option


@final
class OptionTypeError(ConfigurationError, TypeError):
    """An option of the wrong type, such as ``@task(retry=3)`` or ``timeout="5s"``.

    Both a ``ConfigurationError`` (so a ``ValueError``) and a ``TypeError``.
    """


@final
class HookSignatureError(FiscusError, TypeError):
    """A hook cannot accept the arguments the runner passes, or returned a wrong value.

    A ``before_task`` hook returning neither ``None`` nor a mapping fails its task.

    Attributes:
        hook: The hook kind, such as ``"before_task"``.
    """

    def __init__(self, message: str, *, hook: str) -> None:
        super().__init__(message)
        self.hook = hook


@final
class PlanShippingError(FiscusError, TypeError):
    """A plan cannot go to another process: it holds a lambda or a closure.

    Raised when the plan is pickled (shipped), never while tracing.

    Attributes:
        workflow: The name of the workflow whose plan it is.
    """

    retryable = False
    code = FiscusErrorCode.PLANNING_FAILURE

    def __init__(self, message: str, *, workflow: str) -> None:
        super().__init__(message)
        self.workflow = workflow


@final
class ArgumentValidationError(FiscusError, ValueError):
    """An argument value does not match its annotation.

    The message names the workflow, the task and each failing field; the bad
    value itself is never echoed, since it may hold a credential.

    Attributes:
        workflow: The workflow name.
        task_id: The task id, or ``None`` for a workflow's own inputs.
        fields: The dotted names of the fields that failed.
        errors: ``(field, message)`` pairs, without the input values.
    """

    retryable = False
    code = FiscusErrorCode.INVALID_REQUEST

    def __init__(
        self,
        *,
        workflow: str,
        task_id: str | None,
        errors: Sequence[tuple[str, str]],
        fix: str | None = None,
    ) -> None:
        self.workflow = workflow
        self.task_id = task_id
        self.errors = tuple(errors)
        self.fields = tuple(field for field, _ in self.errors)
        detail = "; ".join(f"{field!r}: {message}" for field, message in self.errors)
        if task_id is None:
            what = f"Workflow {workflow!r} got an invalid input"
            fix = fix or "pass values of the annotated types"
        else:
            what = f"Task {task_id!r} in workflow {workflow!r} got an invalid argument"
            fix = fix or "pass a value of the annotated type, or change the annotation"
        super().__init__(f"{what} ({detail}); {fix}")


@final
class ProjectionError(FiscusError, LookupError):
    """A projection of a future (``.attr`` or ``["key"]``) found nothing at run time.

    Attributes:
        workflow: The workflow name.
        task_id: The task whose argument needed the projection (``None``: the
            workflow's output).
        source: The id of the task whose value was projected.
        path: The projection, as written (``.contact["id"]``).
    """

    retryable = False

    def __init__(
        self,
        *,
        workflow: str,
        task_id: str | None,
        source: str,
        path: str,
        reason: str,
    ) -> None:
        self.workflow = workflow
        self.task_id = task_id
        self.source = source
        self.path = path
        needer = (
            f"The output of workflow {workflow!r}"
            if task_id is None
            else f"Task {task_id!r} in workflow {workflow!r}"
        )
        super().__init__(
            f"{needer} needs {source}{path}, but {reason}; "
            f"check the shape {source!r} returns"
        )


@final
class GuardError(FiscusError):
    """A ``when(predicate, ...)`` predicate raised while deciding a guard.

    Attributes:
        workflow: The workflow name.
        task_id: The guarded task.
        predicate: The predicate's name.
    """

    retryable = False

    def __init__(self, *, workflow: str, task_id: str, predicate: str) -> None:
        self.workflow = workflow
        self.task_id = task_id
        self.predicate = predicate
        super().__init__(
            f"Guard predicate {predicate!r} of task {task_id!r} in workflow "
            f"{workflow!r} raised; fix the predicate (its error is the __cause__)"
        )


@final
class TaskTimeoutError(FiscusError, TimeoutError):
    """One attempt of a task ran longer than its ``timeout``.

    Attributes:
        task_id: The task id.
        timeout: The limit in seconds.
        attempt: The attempt that timed out (1 for the first try).
    """

    code = FiscusErrorCode.TIMEOUT

    def __init__(self, *, task_id: str, timeout: float, attempt: int) -> None:
        self.task_id = task_id
        self.timeout = timeout
        self.attempt = attempt
        super().__init__(
            f"Task {task_id!r} attempt {attempt} took longer than its timeout of "
            f"{timeout:g}s; raise timeout= on the task or make the call faster"
        )


@final
class SkipTask(FiscusError):  # noqa: N818  (a signal: the public name users raise)
    """Raise from a before-hook (or the task's body) to skip the task.

    The task is reported as ``skipped``, is never retried, and the tasks
    that need its value are skipped too.
    """

    retryable = False
    code = FiscusErrorCode.EXECUTION_HALTED


@final
class WorkflowFailed(FiscusError):  # noqa: N818  (the public name users catch)
    """The run of a workflow failed; raised by ``wf(...)``, never by ``wf.run(...)``.

    Attributes:
        workflow: The workflow name.
        result: The whole ``RunResult``, with every task's status and error.
    """

    retryable = False

    def __init__(self, result: RunResult[object]) -> None:
        self.workflow = result.workflow
        self.result = result
        super().__init__(result.error_message or f"Workflow {result.workflow!r} failed")


class ResumeError(FiscusError):
    """A run cannot be resumed: unknown run id, changed workflow, or no store.

    Nothing ran; the message says what to do.

    Attributes:
        run_id: The run id asked for, or ``None`` when no run was involved.
        workflow: The workflow's name, when known.
        task_id: The recorded task the workflow no longer has, if that is why.
    """

    retryable = False
    code = FiscusErrorCode.INVALID_REQUEST

    def __init__(
        self,
        message: str,
        *,
        run_id: str | None,
        workflow: str | None = None,
        task_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.workflow = workflow
        self.task_id = task_id


@final
class RunLocked(ResumeError):  # noqa: N818  (the name users catch)
    """Another live process holds the run's lease: it is running that run now.

    Raised by ``resume`` when the run's owner still renews its lease (nothing
    ran), and made the error of a run whose lease another process took
    while it ran (it stopped, as after a failed task).

    Attributes:
        owner: Who holds the lease: ``host:pid:token``.
        expires_in: Seconds until the lease lapses unless its owner renews it.
    """

    def __init__(
        self,
        message: str,
        *,
        run_id: str,
        owner: str | None,
        expires_in: float | None,
        workflow: str | None = None,
    ) -> None:
        super().__init__(message, run_id=run_id, workflow=workflow)
        self.owner = owner
        self.expires_in = expires_in


@final
class RunStoreError(FiscusError):
    """The run store failed to open, read or record: the file, the disk or the store.

    A run whose store fails stops (nothing new starts) and returns a failed
    ``RunResult`` whose ``error`` is this; the cause is the ``__cause__``.

    Attributes:
        store: The store's ``repr``, e.g. ``SQLiteRunStore('runs.sqlite3')``.
        run_id: The run being recorded or read, if any.
        task_id: The task being recorded, if that is what failed.
    """

    retryable = False
    code = FiscusErrorCode.INTERNAL_ERROR

    def __init__(
        self,
        message: str,
        *,
        store: str,
        run_id: str | None = None,
        task_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.store = store
        self.run_id = run_id
        self.task_id = task_id


@final
class ClusterError(FiscusError):
    """The Dask cluster of a ``DaskExecutor`` could not run a task's body.

    Raised for a task when the cluster cannot be reached, when its
    scheduler went away during the run, or when Dask gave up on the batch
    the task was in (its workers died too often). The task's own errors are
    never wrapped in it: they come back as raised.

    Attributes:
        address: The scheduler's address, such as ``tcp://10.0.0.5:8786``.
        retryable: ``True`` only when the scheduler is still there (a task
            retry policy may try the body again on other workers).
    """

    code = FiscusErrorCode.EXECUTION_HALTED

    def __init__(self, message: str, *, address: str, retryable: bool) -> None:
        super().__init__(message)
        self.address = address
        self.retryable = retryable


@final
class MissingSecretError(FiscusError, LookupError):
    """``Secret.from_env(name)`` found no such environment variable.

    Attributes:
        name: The environment variable's name.
    """

    retryable = False
    code = FiscusErrorCode.AUTH_FAILURE

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"Environment variable {name!r} is not set, so Secret.from_env({name!r}) "
            f"has no value; export {name} before running, or pass Secret('...')"
        )


@final
class SecretPicklingError(FiscusError, TypeError):
    """A ``Secret``, or an auth object holding one, was pickled.

    A credential never lands in a pickle: make it in each process instead.

    Attributes:
        owner: What was pickled, such as ``"Secret"``.
    """

    retryable = False
    code = FiscusErrorCode.USER_OPERATION_ERROR

    def __init__(self, message: str, *, owner: str) -> None:
        super().__init__(message)
        self.owner = owner


@final
class TaskDefinitionError(FiscusError, ValueError):
    """A task dict (or a task file) of the Fiscus dict API is malformed.

    Nothing was sent.

    Attributes:
        index: The task's position in the list, or ``None`` for the call itself.
        field: The field that is wrong.
    """

    retryable = False
    code = FiscusErrorCode.INVALID_REQUEST

    def __init__(self, message: str, *, index: int | None, field: str) -> None:
        super().__init__(message)
        self.index = index
        self.field = field


@final
class AmbiguousNameError(FiscusError, KeyError):
    """A dict-API context key that more than one task goes by (one operation twice).

    Attributes:
        name: The key that was read.
        task_ids: The ids of the tasks that go by it.
    """

    retryable = False
    code = FiscusErrorCode.INVALID_REQUEST

    def __init__(self, name: str, tasks: Sequence[tuple[int, str]]) -> None:
        named = ", ".join(f"task {index} ({task_id!r})" for index, task_id in tasks)
        msg = (
            f"Context key {name!r} is ambiguous: it names {named}; give each of "
            "them an 'id' in its task dict and read ctx['<id>'] instead"
        )
        super().__init__(msg)
        self.name = name
        self.task_ids = tuple(task_id for _, task_id in tasks)

    def __str__(self) -> str:
        # KeyError's own str() quotes the message as if it were a key.
        return str(self.args[0])


@final
class AuthenticationError(FiscusError):
    """A connector that takes each end user's credentials has none it can use.

    The run acts for no user, the user never authenticated the connector,
    or its OAuth2 refresh token was refused (revoked or expired). Nothing
    was sent to the API.

    Attributes:
        connector: The connector's name.
        user_id: The end user's id, if the run acts for one.
        authorization_url: Where the user can authorize the connector again
            (OAuth2 connectors), else ``None``.
    """

    retryable = False
    code = FiscusErrorCode.AUTH_FAILURE

    def __init__(
        self,
        message: str,
        *,
        connector: str,
        user_id: str | None,
        authorization_url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.connector = connector
        self.user_id = user_id
        self.authorization_url = authorization_url


@final
class AuthorizationError(FiscusError, PermissionError):
    """An end user's roles and policies do not allow the call; nothing was sent.

    Attributes:
        user_id: The end user's id.
        connector: The connector's name.
        operation: The operation's name, if the call was one.
    """

    retryable = False
    code = FiscusErrorCode.AUTH_FAILURE

    def __init__(
        self, message: str, *, user_id: str, connector: str, operation: str | None
    ) -> None:
        super().__init__(message)
        self.user_id = user_id
        self.connector = connector
        self.operation = operation


@final
class CredentialStoreError(FiscusError):
    """The credential store could not open, read, decrypt or write credentials.

    The message names the store (never a credential) and says what to do.

    Attributes:
        store: Where the store is (a path, or a URL without its password).
    """

    retryable = False
    code = FiscusErrorCode.INTERNAL_ERROR

    def __init__(self, message: str, *, store: str) -> None:
        super().__init__(message)
        self.store = store


class _Call(TypedDict):
    """Where a ``ConnectorError`` happened: the fields every one of them has."""

    connector: str
    operation: str | None
    method: str
    url: str


class ConnectorError(FiscusError):
    """An HTTP call through a connector failed.

    The URL is recorded without credentials or secret-looking query values.

    Attributes:
        connector: The connector's name.
        operation: The operation (task) name, if the call was one.
        method: The HTTP method.
        url: The URL, scrubbed.
        retry_after: Seconds the server asked to wait (``Retry-After``), if any.
    """

    def __init__(
        self,
        message: str,
        *,
        connector: str,
        operation: str | None,
        method: str,
        url: str,
        code: FiscusErrorCode = FiscusErrorCode.EXECUTION_FAILURE,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.connector = connector
        self.operation = operation
        self.method = method
        self.url = url
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


@final
class HTTPStatusError(ConnectorError):
    """The API answered 4xx or 5xx, or 3xx to an operation (never retried).

    A 3xx is a success only for an operation that returns ``httpx.Response``.

    Attributes:
        status_code: The HTTP status.
        body: At most 200 characters of the response body, scrubbed.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str,
        retryable: bool,
        retry_after: float | None = None,
        **call: Unpack[_Call],
    ) -> None:
        code = status_code_to_error_code(status_code)
        super().__init__(
            message, code=code, retryable=retryable, retry_after=retry_after, **call
        )
        self.status_code = status_code
        self.body = body


def status_code_to_error_code(status_code: int) -> FiscusErrorCode:
    """Map an HTTP status to its Fiscus error number (a 3xx: the request must move)."""
    default = FiscusErrorCode.INTERNAL_ERROR
    if 300 <= status_code < 500:
        default = FiscusErrorCode.INVALID_REQUEST
    return _STATUS_CODES.get(status_code, default)


@final
class UnsafeURLError(ConnectorError, ValueError):
    """A built URL left the connector's scheme, host, port or base path.

    Nothing was sent.
    """


@final
class ResponseTooLargeError(ConnectorError):
    """A response body went past the connector's ``max_response_bytes``, decoded.

    The read stops there; never retried, the same answer would come again.

    Attributes:
        limit: The connector's ``max_response_bytes``.
    """

    def __init__(self, message: str, *, limit: int, **call: Unpack[_Call]) -> None:
        super().__init__(message, code=FiscusErrorCode.INTERNAL_ERROR, **call)
        self.limit = limit


@final
class ResponseValidationError(ConnectorError, ValueError):
    """The API's answer does not match the operation's return annotation.

    Attributes:
        fields: The dotted names of the fields that failed.
    """

    def __init__(
        self, message: str, *, fields: Sequence[str], **call: Unpack[_Call]
    ) -> None:
        super().__init__(message, code=FiscusErrorCode.INTERNAL_ERROR, **call)
        self.fields = tuple(fields)


class FiscusWarning(UserWarning):
    """Base of every warning fiscus_dsl issues."""
