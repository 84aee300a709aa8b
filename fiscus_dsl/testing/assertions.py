"""Assertions on a ``RunResult`` whose failures show the whole run.

``assert_ran``, ``assert_skipped``, ``assert_failed`` and
``assert_succeeded`` check tasks' statuses (or the run's); when one fails,
its message says what was expected and got, then ``describe_run``'s table
of every task: id, status, attempts, and the reason or the error. Imports
the runtime's results only.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final, NoReturn, TypeVar

from fiscus_dsl._runtime.results import TaskStatus

if TYPE_CHECKING:
    from fiscus_dsl._runtime.results import RunResult, TaskResult

T = TypeVar("T")
ErrorType = type[BaseException] | tuple[type[BaseException], ...]

_DETAIL_LIMIT: Final = 120
_RAN: Final = (TaskStatus.SUCCEEDED, TaskStatus.FAILED)


def describe_run(result: RunResult[T]) -> str:
    """Return a run's outcome as text: its status, then a table of its tasks.

    Examples:
        >>> from fiscus_dsl import task, workflow
        >>> from fiscus_dsl.testing import describe_run
        >>> @task
        ... def one() -> int:
        ...     return 1
        >>> @workflow
        ... def flow() -> int:
        ...     return one()
        >>> print(describe_run(flow.run()))
        Run of workflow 'flow': succeeded
          task  status     attempts  reason / error
          one   succeeded  1
    """
    heading = f"Run of workflow {result.workflow!r}: {result.status}"
    if result.error_message:
        heading += f" ({_one_line(result.error_message)})"
    rows = [("task", "status", "attempts", "reason / error")]
    rows.extend(
        (task_id, str(task.status), str(task.attempts), _detail(task))
        for task_id, task in result.tasks.items()
    )
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [heading]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append(("  " + "  ".join([*cells, row[3]])).rstrip())
    return "\n".join(lines)


def assert_ran(result: RunResult[T], task_id: str, /, *task_ids: str) -> None:
    """Assert that each task ran: it succeeded or failed, not skipped or not run.

    Raises:
        AssertionError: A task did not run, or there is no such task.
    """
    __tracebackhide__ = True
    _expect(result, (task_id, *task_ids), _RAN, "to run")


def assert_skipped(
    result: RunResult[T], task_id: str, /, *task_ids: str, match: str | None = None
) -> None:
    """Assert that each task was skipped; ``match`` searches its reason.

    Raises:
        AssertionError: A task was not skipped, or its reason does not match.
    """
    __tracebackhide__ = True
    for found in _expect(
        result, (task_id, *task_ids), (TaskStatus.SKIPPED,), "to be skipped"
    ):
        if match is not None and not re.search(match, found.reason or ""):
            _fail(
                result,
                f"Expected the reason task {found.id!r} was skipped to match "
                f"{match!r}, got {found.reason!r}",
            )


def assert_failed(
    result: RunResult[T],
    /,
    *task_ids: str,
    error: ErrorType | None = None,
    match: str | None = None,
) -> None:
    """Assert that each task failed, or without task ids that the run failed.

    Args:
        result: The run's result.
        *task_ids: The tasks that must have failed; none: the run itself.
        error: The exception type (or types) the error must be.
        match: A regex ``re.search`` must find in the error's message.

    Raises:
        AssertionError: Something succeeded, or the error is not as expected.
    """
    __tracebackhide__ = True
    if not task_ids:
        if result.success:
            _fail(result, "Expected the run to fail, but it succeeded")
        _check_error(result, "the run", result.error, error, match)
        return
    for found in _expect(result, task_ids, (TaskStatus.FAILED,), "to fail"):
        _check_error(result, f"task {found.id!r}", found.error, error, match)


def assert_succeeded(result: RunResult[T], /, *task_ids: str) -> None:
    """Assert that each task succeeded, or without task ids that the run did.

    Raises:
        AssertionError: The run (or a task) did not succeed.
    """
    __tracebackhide__ = True
    if not task_ids:
        if not result.success:
            _fail(result, "Expected the run to succeed, but it failed")
        return
    _expect(result, task_ids, (TaskStatus.SUCCEEDED,), "to succeed")


# ---------------------------------------------------------------- helpers


def _expect(
    result: RunResult[T],
    task_ids: tuple[str, ...],
    statuses: tuple[TaskStatus, ...],
    what: str,
) -> list[TaskResult]:
    __tracebackhide__ = True
    found: list[TaskResult] = []
    for task_id in task_ids:
        task = result.tasks.get(task_id)
        if task is None:
            _fail(
                result,
                f"Expected task {task_id!r} {what}, but the run has no such task",
            )
        elif task.status not in statuses:
            detail = _detail(task)
            _fail(
                result,
                f"Expected task {task_id!r} {what}, but it {_verb(task.status)}"
                + (f" ({detail})" if detail else ""),
            )
        else:
            found.append(task)
    return found


def _check_error(
    result: RunResult[T],
    where: str,
    got: BaseException | None,
    expected: ErrorType | None,
    match: str | None,
) -> None:
    __tracebackhide__ = True
    if expected is not None and not isinstance(got, expected):
        names = (
            expected.__name__
            if isinstance(expected, type)
            else " or ".join(kind.__name__ for kind in expected)
        )
        _fail(
            result,
            f"Expected {where} to fail with {names}, got {type(got).__name__}: {got}",
        )
    if match is not None and not re.search(match, str(got)):
        _fail(result, f"Expected the error of {where} to match {match!r}, got {got}")


def _fail(result: RunResult[T], message: str) -> NoReturn:
    __tracebackhide__ = True
    msg = f"{message}\n{describe_run(result)}"
    raise AssertionError(msg)


def _verb(status: TaskStatus) -> str:
    return {
        TaskStatus.SUCCEEDED: "succeeded",
        TaskStatus.FAILED: "failed",
        TaskStatus.SKIPPED: "was skipped",
        TaskStatus.NOT_RUN: "did not run",
    }[status]


def _detail(task: TaskResult) -> str:
    if task.error is not None:
        return _one_line(f"{type(task.error).__name__}: {task.error}")
    return _one_line(task.reason or "")


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _DETAIL_LIMIT:
        return text[: _DETAIL_LIMIT - 3] + "..."
    return text
