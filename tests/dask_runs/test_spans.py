"""Telemetry across processes: one trace, the runner's spans and the workers'.

The workflow and task spans are made in the runner (``span_capture``);
each attempt carries the W3C trace context to its worker. With the
``WorkerTracing`` plugin, a worker's SDK records an ``attempt`` span per
call and the connector's CLIENT span under it; the test collects them
from every worker and checks that both sides form one tree. Without it,
the request still carries the task span's context to the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dask_runs import flows
from fiscus_dsl import Runner, RunStatus
from fiscus_dsl.executors import DaskExecutor

if TYPE_CHECKING:
    from distributed import Client

    from dask_runs.server import ApiServer
    from fiscus_dsl.testing import SpanCapture

PLUGIN = "fiscus-worker-tracing"


def test_without_worker_tracing_requests_carry_the_task_span_context(
    executor: DaskExecutor, api: ApiServer, span_capture: SpanCapture
) -> None:
    runner = Runner(executor=executor, tracer_provider=span_capture.provider)
    result = runner.run(flows.recorded, labels=["c"])

    assert result.status is RunStatus.SUCCEEDED
    task_span = span_capture.one("task record")
    (sent,) = api.traceparents["c"]
    _, trace_hex, span_hex, _ = sent.split("-")
    assert int(trace_hex, 16) == task_span.context.trace_id
    assert int(span_hex, 16) == task_span.context.span_id


def test_worker_spans_are_children_of_the_task_span(
    client: Client, api: ApiServer, span_capture: SpanCapture
) -> None:
    client.wait_for_workers(2, timeout=60)
    executor = DaskExecutor(client, worker_tracing="dask_runs.flows:setup_tracing")
    try:
        runner = Runner(executor=executor, tracer_provider=span_capture.provider)
        result = runner.run(flows.recorded, labels=["a", "b"])
        gathered = client.run(flows.worker_spans)
    finally:
        client.unregister_worker_plugin(PLUGIN)
        # The SDK stays the workers' global provider: start them afresh.
        client.restart(wait_for_workers=True)

    assert result.status is RunStatus.SUCCEEDED
    mine = span_capture.spans
    workflow_span = span_capture.one("workflow recorded")
    trace_id = workflow_span.context.trace_id
    task_spans = {
        str(span.attributes["fiscus.task.id"]): span  # type: ignore[index]  # SDK spans have attributes
        for span in mine
        if span.name == "task record"
    }
    assert set(task_spans) == {"record[0]", "record[1]"}

    theirs = [span for spans in gathered.values() for span in spans]
    attempts = {
        str(s["attributes"]["fiscus.task.id"]): s
        for s in theirs
        if s["name"] == "attempt record"
    }
    assert set(attempts) == set(task_spans)
    for task_id, attempt in attempts.items():
        assert attempt["trace_id"] == trace_id
        assert attempt["parent_id"] == task_spans[task_id].context.span_id
        assert str(attempt["attributes"]["fiscus.worker.address"]).startswith("tcp://")
    clients = [s for s in theirs if s["name"] == "POST /calls"]
    assert {s["parent_id"] for s in clients} == {
        a["span_id"] for a in attempts.values()
    }

    # One tree: every span of both sides hangs from the workflow span.
    ids = {span.context.span_id for span in mine} | {s["span_id"] for s in theirs}
    everyone = [(span.parent.span_id if span.parent else None) for span in mine]
    everyone += [s["parent_id"] for s in theirs]
    assert all(parent in ids for parent in everyone if parent is not None)
    assert all(s["trace_id"] == trace_id for s in theirs)
    # The API saw the CLIENT span's context, made on the worker.
    client_ids = {s["span_id"] for s in clients}
    for label in ("a", "b"):
        (sent,) = api.traceparents[label]
        assert int(sent.split("-")[1], 16) == trace_id
        assert int(sent.split("-")[2], 16) in client_ids
