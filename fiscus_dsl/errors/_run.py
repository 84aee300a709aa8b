"""Errors of defining and running workflows: tracing, options, hooks, runs, stores."""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from fiscus_dsl.errors._base import FiscusError, FiscusErrorCode

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fiscus_dsl._runtime.results import RunResult


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
