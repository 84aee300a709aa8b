"""Every exception fiscus_dsl raises, under one root.

The tree::

    FiscusError
    ├── TracingError (TypeError)          misuse of the DSL while tracing
    │   └── WorkflowInputError            workflow inputs missing or unknown
    ├── HookSignatureError (TypeError)    a hook that cannot take its arguments
    ├── ArgumentValidationError (ValueError)
    │                                     an argument of the wrong type
    ├── ProjectionError (LookupError)     ``f.attr`` / ``f["key"]`` missing
    ├── GuardError                        a ``when(predicate, ...)`` raised
    ├── TaskTimeoutError (TimeoutError)   an attempt ran past ``timeout``
    ├── SkipTask                          raised by a before-hook: skip the task
    └── WorkflowFailed                    ``wf(...)`` of a failed run

    FiscusWarning (UserWarning)

This module imports nothing from fiscus_dsl but ``_types``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fiscus_dsl._runtime.results import RunResult


class FiscusError(Exception):
    """Root of every error fiscus_dsl raises.

    Attributes:
        retryable: Whether a task retry policy with the default ``retry_on``
            may try again after this error.
    """

    retryable: bool = True


class TracingError(FiscusError, TypeError):
    """A workflow used the DSL in a way tracing cannot turn into a graph.

    The message names the workflow, the file and line of the misuse, and the fix.

    Attributes:
        workflow: The name of the workflow being traced, if any.
        location: ``"file.py:LINE"`` of the user code that misused the DSL.
    """

    retryable = False

    def __init__(
        self, message: str, *, workflow: str | None = None, location: str | None = None
    ) -> None:
        super().__init__(message)
        self.workflow = workflow
        self.location = location


@final
class WorkflowInputError(TracingError):
    """A workflow was started with inputs that do not bind to its signature."""


@final
class HookSignatureError(FiscusError, TypeError):
    """A hook was registered that cannot accept the arguments the runner passes.

    Attributes:
        hook: The hook kind, such as ``"before_task"``.
    """

    def __init__(self, message: str, *, hook: str) -> None:
        super().__init__(message)
        self.hook = hook


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

    def __init__(self, *, task_id: str, timeout: float, attempt: int) -> None:
        self.task_id = task_id
        self.timeout = timeout
        self.attempt = attempt
        super().__init__(
            f"Task {task_id!r} attempt {attempt} took longer than its timeout of "
            f"{timeout:g}s; raise timeout= on the task or make the call faster"
        )


@final
class SkipTask(FiscusError):  # noqa: N818  (a signal, named as DESIGN.md names it)
    """Raise from a before-hook (or the task's body) to skip the task.

    The task is reported as ``skipped``, is never retried, and the tasks
    that need its value are skipped too.
    """

    retryable = False


@final
class WorkflowFailed(FiscusError):  # noqa: N818  (named as DESIGN.md names it)
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


class FiscusWarning(UserWarning):
    """Base of every warning fiscus_dsl issues."""
