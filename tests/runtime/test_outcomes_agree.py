"""Spans and results agree: every outcome, the same status in both.

One workflow per outcome runs with spans captured in memory; for each, the
``RunResult`` and every ``TaskResult`` are compared with the workflow span
and the task spans: the same status, an error status exactly when failed,
the reason of a skip, and a span for every task that has a result.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from opentelemetry.trace import StatusCode

from fiscus_dsl import (
    Hooks,
    Runner,
    RunResult,
    TaskContext,
    TaskStatus,
    task,
    when,
    workflow,
)
from fiscus_dsl.testing import SpanCapture

if TYPE_CHECKING:
    from fiscus_dsl import Workflow
    from fiscus_dsl.testing import FakeSleep


@task
def ok(n: int) -> int:
    return n


@task
def boom(n: int) -> int:
    msg = f"boom {n}"
    raise RuntimeError(msg)


@task(timeout=0.01)
async def stuck(n: int) -> int:
    await asyncio.Event().wait()  # only the deadline ends it
    return n


@task(on_error="continue")
def soft_boom(n: int) -> int:
    msg = f"soft boom {n}"
    raise RuntimeError(msg)


def _refuse(ctx: TaskContext) -> None:
    msg = "refused by a hook"
    raise PermissionError(msg)


@task(before=_refuse)
def hooked(n: int) -> int:
    return n


@workflow
def succeeded_flow() -> int:
    return ok(1)


@workflow
def failed_flow() -> int:
    boom(1)
    return ok(2)  # queued behind boom (one at a time), never started


@workflow
def skipped_by_guard_flow() -> int:
    n = ok(1)
    with when(n > 5):
        ok(2)
    return n


@workflow
def skipped_by_missing_value_flow() -> int:
    return ok(soft_boom(1))


@workflow
def timed_out_flow() -> int:
    return stuck(1)


@workflow
def hook_failure_flow() -> int:
    return hooked(1)


def _raise_before(run: object) -> None:
    msg = "no runs today"
    raise RuntimeError(msg)


def _raise_after(run: object, result: object) -> None:
    msg = "cannot report"
    raise RuntimeError(msg)


@workflow(hooks=Hooks(before_workflow=_raise_before))
def before_workflow_fails() -> int:
    return ok(1)


@workflow(hooks=Hooks(after_workflow=_raise_after))
def after_workflow_fails() -> int:
    return ok(1)


CASES: list[tuple[Workflow[[], int], str, dict[str, str]]] = [
    (succeeded_flow, "succeeded", {"ok": "succeeded"}),
    (failed_flow, "failed", {"boom": "failed", "ok": "not_run"}),
    (skipped_by_guard_flow, "succeeded", {"ok": "succeeded", "ok#2": "skipped"}),
    (
        skipped_by_missing_value_flow,
        "succeeded",
        {"soft_boom": "failed", "ok": "skipped"},
    ),
    (timed_out_flow, "failed", {"stuck": "failed"}),
    (hook_failure_flow, "failed", {"hooked": "failed"}),
    (before_workflow_fails, "failed", {}),
    (after_workflow_fails, "failed", {"ok": "succeeded"}),
]


def _run(
    flow: Workflow[[], int], fake_sleep: FakeSleep
) -> tuple[RunResult[Any], SpanCapture]:
    spans = SpanCapture(Runner(sleep=fake_sleep, max_concurrency=1))
    return spans.runner.run(flow), spans


@pytest.mark.parametrize(
    ("flow", "run_status", "statuses"), CASES, ids=[c[0].name for c in CASES]
)
def test_spans_and_results_agree(
    flow: Workflow[[], int],
    run_status: str,
    statuses: dict[str, str],
    fake_sleep: FakeSleep,
) -> None:
    result, spans = _run(flow, fake_sleep)

    assert result.status.value == run_status
    assert {key: value.status.value for key, value in result.tasks.items()} == statuses
    workflow_span = spans.one(f"workflow {flow.name}")
    assert workflow_span.attributes is not None
    assert workflow_span.attributes["fiscus.run.status"] == run_status
    assert (workflow_span.status.status_code is StatusCode.ERROR) == (
        run_status == "failed"
    )
    task_spans = {
        span.attributes["fiscus.task.id"]: span
        for span in spans.spans
        if span.attributes is not None and "fiscus.task.id" in span.attributes
    }
    assert set(task_spans) == set(result.tasks)  # a span for every result
    for task_id, outcome in result.tasks.items():
        span = task_spans[task_id]
        assert span.attributes is not None
        assert span.attributes["fiscus.task.status"] == outcome.status.value
        assert (span.status.status_code is StatusCode.ERROR) == (
            outcome.status is TaskStatus.FAILED
        )
        assert span.attributes.get("fiscus.task.reason") == outcome.reason
        assert span.parent is not None
        assert span.parent.span_id == workflow_span.context.span_id


def test_a_before_workflow_hook_that_raises_ends_the_span_with_its_error(
    fake_sleep: FakeSleep,
) -> None:
    result, spans = _run(before_workflow_fails, fake_sleep)

    span = spans.one("workflow before_workflow_fails")
    assert span.status.description == result.error_message
    assert result.error_message is not None
    assert "Hook before_workflow" in result.error_message


def test_an_after_workflow_hook_that_raises_ends_the_span_with_its_error(
    fake_sleep: FakeSleep,
) -> None:
    result, spans = _run(after_workflow_fails, fake_sleep)

    span = spans.one("workflow after_workflow_fails")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == result.error_message


def test_skipped_tasks_say_why_in_their_span(fake_sleep: FakeSleep) -> None:
    result, spans = _run(skipped_by_guard_flow, fake_sleep)

    skipped = [
        span
        for span in spans.all("task ok")
        if span.attributes is not None
        and span.attributes["fiscus.task.status"] == "skipped"
    ]
    assert [
        span.attributes["fiscus.task.reason"] for span in skipped if span.attributes
    ] == [result["ok#2"].reason]
    assert result["ok#2"].reason == "its guard is false: ok > ..."  # redacted


async def test_a_cancelled_run_ends_every_span_as_cancelled(
    fake_sleep: FakeSleep,
) -> None:
    started = asyncio.Event()

    @task
    async def waits() -> int:
        started.set()
        await asyncio.Event().wait()
        return 1

    @workflow
    def flow() -> int:
        return waits()

    spans = SpanCapture(Runner(sleep=fake_sleep))
    run = asyncio.ensure_future(spans.runner.arun(flow))
    await started.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run

    statuses = {
        span.name: (span.attributes or {}).get(
            "fiscus.task.status", (span.attributes or {}).get("fiscus.run.status")
        )
        for span in spans.spans
    }
    assert statuses == {"workflow flow": "cancelled", "task waits": "cancelled"}
