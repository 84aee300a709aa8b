"""A run's tasks as a live table, driven by runner hooks and settled by the result.

``run_live`` traces the workflow (so a definition error surfaces before
anything is drawn), lists its tasks as pending, and runs it on a runner
like the default one with the table's hooks added: ``before_task`` marks a
task running, ``on_retry`` retrying with the next attempt's number,
``after_task`` succeeded. A failed task fires no after-hook and a skipped
one no hook at all, so the ``RunResult`` settles every row at the end:
status, attempts, duration, and the error or the reason. On a terminal the
table redraws as the run goes; elsewhere it is printed once, at the end.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

import typer
from rich.live import Live
from rich.table import Table
from rich.text import Text

from fiscus_dsl._cli.output import STYLES, describe, detail_cell, duration, one_line
from fiscus_dsl._dsl.hooks import Hooks
from fiscus_dsl._graph.jsonable import to_json_bytes
from fiscus_dsl._graph.model import WorkflowNode
from fiscus_dsl._runtime.runner import Runner, default_runner, workflow_source
from fiscus_dsl._runtime.sync_calls import run_sync

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from rich.console import Console

    from fiscus_dsl._dsl.plan import Plan
    from fiscus_dsl._dsl.workflow import Workflow
    from fiscus_dsl._graph.model import WorkflowGraph
    from fiscus_dsl._runtime.executor import Executor
    from fiscus_dsl._runtime.hooks import TaskContext
    from fiscus_dsl._runtime.journal import Resumption
    from fiscus_dsl._runtime.results import RunResult, TaskResult
    from fiscus_dsl._runtime.store import RunStore


@final
@dataclass(slots=True)
class TaskRow:
    """One row of a task table: a live run's, or a recorded run's (``fiscus runs``)."""

    status: str = "pending"
    attempts: int = 0
    started: float | None = None
    seconds: float | None = None
    detail: str = ""


def _task_ids(graph: WorkflowGraph, prefix: str = "") -> Iterator[str]:
    """Yield the ids a run reports for a graph's nodes that are known before it runs."""
    for node in graph.nodes:
        yield prefix + node.id
        if isinstance(node, WorkflowNode) and node.mapped is None:
            yield from _task_ids(node.graph, f"{prefix}{node.id}/")


def _containers(task_id: str) -> Iterator[str]:
    """Yield the ids of the map and sub-workflow nodes a task id sits in."""
    for match in re.finditer(r"[\[/]", task_id):
        yield task_id[: match.start()]


@final
class TaskTable:
    """A run's tasks as a table, kept current by ``hooks`` and settled by ``settle``.

    Args:
        graph: The traced graph, whose tasks are listed as pending.
        clock: Seconds for durations while tasks run.
    """

    def __init__(
        self,
        graph: WorkflowGraph,
        *,
        clock: Callable[[], float] = time.monotonic,
        full: bool = False,
    ) -> None:
        self._clock = clock
        self._full = full
        self._lock = threading.Lock()  # hooks write while the display thread reads
        self._rows = {task_id: TaskRow() for task_id in _task_ids(graph)}
        self.hooks = Hooks(
            before_task=self._before, after_task=self._after, on_retry=self._retry
        )

    def _row(self, task_id: str) -> TaskRow:
        for container in _containers(task_id):
            row = self._rows.get(container)
            if row is not None and row.status == "pending":
                row.status = "running"
        return self._rows.setdefault(task_id, TaskRow())

    def _before(self, ctx: TaskContext) -> None:
        with self._lock:
            row = self._row(ctx.task_id)
            row.status, row.attempts = "running", ctx.attempt
            row.started = self._clock()

    def _retry(self, ctx: TaskContext, error: BaseException, delay: float) -> None:
        with self._lock:
            row = self._row(ctx.task_id)
            row.status, row.attempts = "retrying", ctx.attempt + 1
            row.detail = (
                f"attempt {ctx.attempt} failed ({describe(error)}); "
                f"next in {delay:.2f} s"
            )

    def _after(self, ctx: TaskContext, value: object) -> None:
        with self._lock:
            row = self._row(ctx.task_id)
            row.status, row.detail = "succeeded", ""
            if row.started is not None:
                row.seconds = self._clock() - row.started

    def settle(self, result: RunResult[Any]) -> None:
        """Take every task's final status, attempts and duration from the result."""
        rows = {
            task_id: TaskRow(
                status=outcome.status.value,
                attempts=outcome.attempts,
                seconds=outcome.duration,
                detail=_detail(outcome),
            )
            for task_id, outcome in result.tasks.items()
        }
        with self._lock:
            self._rows = rows

    def statuses(self) -> dict[str, str]:
        """Return each row's status as it stands, by task id."""
        with self._lock:
            return {task_id: row.status for task_id, row in self._rows.items()}

    def render(self) -> Table:
        """Return the table as it stands."""
        now = self._clock()
        with self._lock:
            return task_table(self._rows, now=now, full=self._full)


def task_table(rows: Mapping[str, TaskRow], *, now: float, full: bool) -> Table:
    """Return rows as ``fiscus run`` draws them; ``now`` times the running ones."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("task", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("attempts", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("detail", ratio=1, overflow="fold")
    for task_id, row in rows.items():
        table.add_row(*_cells(task_id, row, now, full=full))
    return table


def _cells(task_id: str, row: TaskRow, now: float, *, full: bool) -> tuple[Text, ...]:
    status = row.status.replace("_", " ")
    if row.status == "retrying":
        status = f"retrying (attempt {row.attempts})"
    seconds = row.seconds
    if seconds is None and row.started is not None and row.status != "succeeded":
        seconds = now - row.started  # still running: the time so far
    return (
        Text(task_id),
        Text(status, style=STYLES.get(row.status, "")),
        Text(str(row.attempts) if row.attempts else ""),
        Text("" if seconds is None else duration(seconds)),
        detail_cell(row.detail, full=full),
    )


def _detail(outcome: TaskResult) -> str:
    if outcome.error is not None:
        return describe(outcome.error)
    if outcome.reason is not None:
        return one_line(outcome.reason)
    if outcome.attempts > 1:
        return f"succeeded on attempt {outcome.attempts}"
    return ""


def runner_with(
    hooks: Hooks | None,
    store: RunStore | None = None,
    *,
    executor: Executor | None = None,
) -> Runner:
    """Return a runner configured like the default runner, ``hooks`` added.

    It records runs in ``store``, when given, and runs task bodies on
    ``executor`` (``--dask``), when given, instead of the default's.
    """
    base = default_runner()
    return Runner(
        max_concurrency=base.max_concurrency,
        hooks=base.hooks if hooks is None else (*base.hooks, hooks),
        tracer_provider=base.tracer_provider,
        executor=base.executor if executor is None else executor,
        store=store,
    )


def run_live(
    console: Console,
    wf: Workflow[..., Any],
    inputs: Mapping[str, object],
    *,
    full: bool = False,
    store: RunStore | None = None,
    resumed: tuple[Plan, dict[str, object], Resumption] | None = None,
    executor: Executor | None = None,
) -> RunResult[Any]:
    """Run a workflow with a live table of its tasks; return the ``RunResult``.

    The workflow is traced once, for the table and the run. The run is
    recorded in ``store``, when given, and its task bodies run on
    ``executor``, when given. With ``resumed`` (what ``plan_resume``
    returned for a run of ``store``), that run is resumed instead, with the
    inputs it stored.

    Raises:
        TracingError: The workflow misuses the DSL (before anything runs).
        WorkflowInputError: The inputs do not bind to the workflow.
        ArgumentValidationError: An input does not match its annotation.
        RunLocked: The resumed run is held by another live process.
        ClusterError: The executor's Dask cluster cannot be reached.
    """
    if resumed is None:
        bound = wf.bind_inputs((), inputs)
        plan, resume = wf.trace_plan(bound, ()), None
    else:
        plan, bound, resume = resumed
    table = TaskTable(plan.graph(), full=full)
    source = workflow_source(wf)
    with Live(
        console=console, get_renderable=table.render, refresh_per_second=8
    ) as live:
        runner = runner_with(table.hooks, store, executor=executor)
        result = run_sync(
            lambda: runner.arun_plan(plan, bound, resume=resume, source=source)
        )
        table.settle(result)
        live.refresh()
    if not console.is_terminal:  # off a terminal, Live leaves its last line open
        console.line()
    return result


def report(result: RunResult[Any]) -> None:
    """Print a run's output (when it succeeded) and a one-line summary."""
    seconds = (result.ended_at - result.started_at).total_seconds()
    tally = ", ".join(
        f"{count} {status.replace('_', ' ')}"
        for status, count in result.counts().items()
    )
    if result.success:
        typer.echo("Output:")
        typer.echo(to_json_bytes(result.output, indent=2).decode())
    status = result.status.value
    typer.echo(f"Run {status} in {duration(seconds)}: {tally or 'no tasks'}")
