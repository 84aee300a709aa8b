"""``RunResult`` and ``TaskResult``: what a run reports, task by task.

Results are pydantic models, so a run dumps to JSON (errors as their type
and message) and the dump never raises: a secret is written masked and a
value pydantic cannot serialise as its type name (``"<Connection>"``), as the
CLI prints it. A ``RunResult``'s ``repr`` is a one-line summary, however many
tasks ran. Results hold values and errors but never the arguments a task was
called with.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar, final

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    PrivateAttr,
    field_serializer,
)
from pydantic_core import core_schema

from fiscus_dsl._graph.jsonable import to_jsonable
from fiscus_dsl._graph.model import WorkflowGraph
from fiscus_dsl._types import NodeId

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

OutputT = TypeVar("OutputT")


class TaskStatus(StrEnum):
    """How a task ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_RUN = "not_run"


class RunStatus(StrEnum):
    """How a run ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


def count_statuses(statuses: Iterable[TaskStatus | None]) -> dict[str, int]:
    """Count statuses by value, in ``TaskStatus`` order, leaving out zeros."""
    tally = Counter(statuses)
    return {status.value: tally[status] for status in TaskStatus if tally[status]}


def describe_error(error: BaseException | None) -> dict[str, str] | None:
    """Return an error as ``{"type": ..., "message": ...}`` for JSON."""
    if error is None:
        return None
    return {"type": type(error).__qualname__, "message": str(error)}


@final
@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """How a task ended, as ``outcome(f)`` passes it to another task.

    Attributes:
        status: ``succeeded``, ``failed`` or ``skipped``.
        value: The task's value when it succeeded, else ``None``.
        error: The error that failed it, if it failed.
    """

    status: TaskStatus
    value: object = None
    error: BaseException | None = None

    @property
    def success(self) -> bool:
        """Tell whether the task succeeded."""
        return self.status is TaskStatus.SUCCEEDED

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[object], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Validate a ``TaskOutcome`` argument by its type only."""
        return core_schema.is_instance_schema(cls)


@final
class TaskResult(BaseModel):
    """The outcome of one task (or one instance of a mapped task).

    Attributes:
        id: The task id (``send_email``, ``send_email#2``, ``send_email[3]``,
            ``onboard/send_email`` inside a sub-workflow).
        name: The task's name.
        status: How it ended.
        value: Its return value, when it succeeded.
        error: The exception that failed it, after the last attempt.
        attempts: How many attempts ran (0 when it never started).
        reason: Why it was skipped or not run.
        started_at: When its first attempt started.
        ended_at: When it ended.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    id: NodeId
    name: str
    status: TaskStatus
    value: Any = None
    error: BaseException | None = None
    attempts: int = 0
    reason: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @field_serializer("error")
    def _json_error(self, error: BaseException | None) -> dict[str, str] | None:
        return describe_error(error)

    @field_serializer("value", when_used="json")
    def _json_value(self, value: Any) -> Any:
        return to_jsonable(value)

    @property
    def success(self) -> bool:
        """Tell whether the task succeeded."""
        return self.status is TaskStatus.SUCCEEDED

    @property
    def duration(self) -> float | None:
        """Return the seconds between start and end, if it ran."""
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


@final
class RunResult(BaseModel, Generic[OutputT]):
    """The outcome of one workflow run.

    ``result["create_contact"]`` is one task's ``TaskResult``.

    Attributes:
        run_id: The run's unique id.
        workflow: The workflow's name.
        status: ``succeeded`` or ``failed``.
        output: The workflow's return value, with ``None`` where it was skipped.
        error_message: Which task failed and why, when the run failed.
        tasks: Every task's result, by id, in the order they were declared.
        graph: The graph that ran.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    run_id: str
    workflow: str
    status: RunStatus
    output: OutputT | None = None
    error_message: str | None = None
    tasks: dict[NodeId, TaskResult]
    graph: WorkflowGraph
    started_at: datetime
    ended_at: datetime
    # The error that failed the run, set by the runner: a task that failed
    # with on_error="continue" earlier in ``tasks`` must not be mistaken for it.
    _error: BaseException | None = PrivateAttr(default=None)
    # How the runner builds ``tasks`` and ``graph`` on first read: many
    # results are never read past ``output`` and ``success``, and both cost
    # per task to build.
    _lazy: dict[str, Callable[[], object]] | None = PrivateAttr(default=None)
    # Counts by status without building ``tasks``: what ``repr`` shows, and
    # ``asyncio.run`` reprs the result of its main task when it ends.
    _counter: Callable[[], dict[str, int]] | None = PrivateAttr(default=None)

    if not TYPE_CHECKING:  # pydantic's own __getattr__ serves private attributes

        def __getattr__(self, name: str) -> Any:
            lazy = self.__pydantic_private__.get("_lazy")
            if lazy and name in lazy:
                self._complete()
                return self.__dict__[name]
            return super().__getattr__(name)

    def _complete(self) -> None:
        """Build the fields the runner left to build on first read."""
        lazy = self._lazy
        if lazy:
            fields = self.__dict__
            for name, build in lazy.items():
                if name not in fields:
                    fields[name] = build()
            self._lazy = None
            self._counter = None

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        """Dump the result as Python data; see pydantic."""
        self._complete()
        return super().model_dump(**kwargs)

    def model_dump_json(self, **kwargs: Any) -> str:
        """Dump the result as JSON; never raises (see the module docstring)."""
        self._complete()
        return super().model_dump_json(**kwargs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RunResult):
            self._complete()
            other._complete()
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]  # results are compared, not hashed

    def __getstate__(self) -> dict[Any, Any]:
        """Pickle the built fields, not what they are built from."""
        self._complete()
        return super().__getstate__()

    def __iter__(self) -> Any:
        self._complete()
        return super().__iter__()

    @field_serializer("output", when_used="json")
    def _json_output(self, output: Any) -> Any:
        return to_jsonable(output)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Summarise: workflow, run id, status and task counts, never the values."""
        yield "workflow", self.workflow
        yield "run_id", self.run_id
        yield "status", self.status.value
        yield "tasks", self.counts()

    def counts(self) -> dict[str, int]:
        """Return how many tasks ended in each status, in ``TaskStatus`` order.

        Examples:
            >>> from fiscus_dsl import task, workflow
            >>> @task
            ... def one() -> int:
            ...     return 1
            >>> @workflow
            ... def flow() -> int:
            ...     return one()
            >>> flow.run().counts()
            {'succeeded': 1}
        """
        if "tasks" not in self.__dict__ and self._counter is not None:
            return self._counter()
        return count_statuses(result.status for result in self.tasks.values())

    @property
    def success(self) -> bool:
        """Tell whether the run succeeded."""
        return self.status is RunStatus.SUCCEEDED

    @property
    def error(self) -> BaseException | None:
        """Return the error of the task that failed the run, if it failed."""
        if self.success:
            return None
        if self._error is not None:
            return self._error
        for result in self.tasks.values():
            if result.status is TaskStatus.FAILED and result.error is not None:
                return result.error
        return None

    def __getitem__(self, task_id: NodeId) -> TaskResult:
        """Return one task's result by id."""
        try:
            return self.tasks[task_id]
        except KeyError:
            known = ", ".join(repr(key) for key in self.tasks) or "none"
            msg = (
                f"Run of workflow {self.workflow!r} has no task {task_id!r}; "
                f"its tasks are {known}"
            )
            raise KeyError(msg) from None

    def statuses(self) -> dict[NodeId, TaskStatus]:
        """Return every task's status by id."""
        return {task_id: result.status for task_id, result in self.tasks.items()}
