"""The live task table: rows driven by runner hooks, settled by the ``RunResult``."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from rich.console import Console

from fiscus_dsl import Hooks, Retry, Runner, TaskContext, task, workflow
from fiscus_dsl._cli.table import TaskTable, run_live, runner_with
from fiscus_dsl._runtime.runner import set_default_runner

if TYPE_CHECKING:
    from fiscus_dsl import RunResult, WorkflowGraph


class Ticks:
    """A clock that moves a quarter second on every reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.25
        return self.now


@task
def fetch(item: int) -> int:
    return item


@task
def total(values: list[int]) -> int:
    return sum(values)


@workflow
def inner(item: int) -> int:
    return fetch(item)


@workflow
def plain() -> int:
    return total([fetch(1), inner(2)])


def ctx(task_id: str, attempt: int = 1) -> TaskContext:
    return TaskContext(
        run_id="r",
        workflow="plain",
        task_id=task_id,
        task_name=task_id,
        args={},
        attempt=attempt,
    )


def lines(table: TaskTable) -> list[list[str]]:
    console = Console(file=io.StringIO(), width=140, color_system=None)
    console.print(table.render())
    text = console.file.getvalue()  # type: ignore[attr-defined]  # a StringIO
    return [line.split() for line in text.splitlines()[1:]]


def graph_of_plain() -> WorkflowGraph:
    return plain.graph()


def test_rows_start_pending_and_include_sub_workflow_tasks() -> None:
    table = TaskTable(graph_of_plain(), clock=Ticks())

    assert table.statuses() == {
        "fetch": "pending",
        "inner": "pending",
        "inner/fetch": "pending",
        "total": "pending",
    }


def test_hooks_move_a_row_through_running_retrying_and_succeeded() -> None:
    table = TaskTable(graph_of_plain(), clock=Ticks())
    before, retry, after = (
        table.hooks.before_task[0],
        table.hooks.on_retry[0],
        table.hooks.after_task[0],
    )

    before(ctx("fetch"))
    assert lines(table)[0] == ["fetch", "running", "1", "250", "ms"]
    retry(ctx("fetch"), ConnectionError("reset"), 0.5)
    assert lines(table)[0] == [
        "fetch",
        "retrying",
        "(attempt",
        "2)",
        "2",
        "500",
        "ms",
        "attempt",
        "1",
        "failed",
        "(ConnectionError:",
        "reset);",
        "next",
        "in",
        "0.50",
        "s",
    ]
    after(ctx("fetch", attempt=2), 1)
    assert lines(table)[0] == ["fetch", "succeeded", "2", "750", "ms"]


def test_a_task_of_a_mapped_or_nested_node_marks_its_container_running() -> None:
    table = TaskTable(graph_of_plain(), clock=Ticks())
    before = table.hooks.before_task[0]

    before(ctx("inner/fetch"))
    before(ctx("fetch[0]"))

    statuses = table.statuses()
    assert statuses["inner"] == statuses["inner/fetch"] == "running"
    assert statuses["fetch"] == statuses["fetch[0]"] == "running"


def test_an_after_hook_without_a_before_hook_keeps_no_duration() -> None:
    table = TaskTable(graph_of_plain(), clock=Ticks())

    table.hooks.after_task[0](ctx("total"), 3)

    assert lines(table)[-1] == ["total", "succeeded"]


def test_settle_takes_statuses_attempts_and_errors_from_the_result() -> None:
    calls: list[int] = []

    @task(retry=Retry(attempts=2, backoff=0, jitter=False))
    def shaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("reset")
        return 1

    @task
    def boom(value: int) -> int:
        raise ValueError("bad value")

    @task
    def after(value: int) -> int:
        return value

    @workflow
    def flow() -> int:
        return after(boom(shaky()))

    table = TaskTable(flow.graph(), clock=Ticks())
    result: RunResult[int] = runner_with(table.hooks).run(flow)
    table.settle(result)

    assert table.statuses() == {
        "shaky": "succeeded",
        "boom": "failed",
        "after": "skipped",
    }
    shown = lines(table)
    assert shown[0][:3] == ["shaky", "succeeded", "2"]
    assert shown[0][-4:] == ["succeeded", "on", "attempt", "2"]
    assert shown[1][:3] == ["boom", "failed", "1"]
    assert shown[1][-3:] == ["ValueError:", "bad", "value"]
    assert shown[2][:2] == ["after", "skipped"]


def test_the_runner_keeps_the_default_runners_settings_and_hooks() -> None:
    seen: list[tuple[str, str]] = []
    base = Runner(
        max_concurrency=3,
        hooks=Hooks(before_task=lambda c: seen.append((c.task_id, "a"))),
    )
    previous = set_default_runner(base)
    try:
        runner = runner_with(Hooks(before_task=lambda c: seen.append((c.task_id, "b"))))
    finally:
        set_default_runner(previous)

    assert runner.max_concurrency == 3
    assert runner.executor is base.executor
    runner.run(plain)
    fetch_hooks = [hook for task_id, hook in seen if task_id == "fetch"]
    assert fetch_hooks == ["a", "b"]


def test_run_live_redraws_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)

    result = run_live(console, plain, {})

    assert result.output == 3
    text = out.getvalue()
    assert "total" in text
    assert "succeeded" in text
