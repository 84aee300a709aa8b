"""A flaky endpoint retried to success, seen from both ends: server log and spans.

``/flaky/{key}`` answers 503 with ``Retry-After: 0`` twice, then 200. With a
recording SDK provider on the runner, each attempt is one CLIENT span under
the task's span, and the request it sent carried that span's
``traceparent``. The runner's sleep is fake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel

from fiscus_dsl import Connector, Runner, workflow

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    from fiscus_dsl.testing import FakeSleep

    from .conftest import LiveServer


class Call(BaseModel):
    """What ``/flaky/{key}`` answers once it succeeds."""

    call: int


def _traceparent(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    ids = f"{context.trace_id:032x}-{context.span_id:016x}"
    return f"00-{ids}-{context.trace_flags:02x}"


def test_a_flaky_get_succeeds_on_its_third_attempt(
    live_server: LiveServer,
    key: str,
    fake_sleep: FakeSleep,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    api = Connector("loopback", live_server.url)

    @api.operation("GET /flaky/{key}")
    def get_flaky(key: str, failures: int) -> Call:
        raise NotImplementedError  # the connector sends the request

    @workflow
    def flow(key: str) -> Call:
        return get_flaky(key, failures=2)

    result = Runner(sleep=fake_sleep, tracer_provider=provider).run(flow, key=key)

    assert result.output == Call(call=3)
    assert result["get_flaky"].attempts == 3
    assert len(fake_sleep.delays) == 2
    seen = live_server.state.requests(key)
    assert [(s.method, s.path, s.query) for s in seen] == [
        ("GET", f"/flaky/{key}", "failures=2")
    ] * 3

    finished = exporter.get_finished_spans()
    clients = sorted(
        (span for span in finished if span.kind is SpanKind.CLIENT),
        key=lambda span: span.start_time or 0,
    )
    (task_span,) = (span for span in finished if span.name == "task get_flaky")
    url = f"{live_server.url}/flaky/{key}?failures=2"
    common = {
        "http.request.method": "GET",
        "server.address": "127.0.0.1",
        "server.port": live_server.port,
        "url.full": url,
        "url.template": "/flaky/{key}",
    }
    failed = {"http.response.status_code": 503, "error.type": "503"}
    assert [dict(span.attributes or {}) for span in clients] == [
        {**common, **failed},
        {**common, **failed, "http.request.resend_count": 1},
        {**common, "http.response.status_code": 200, "http.request.resend_count": 2},
    ]
    assert [span.name for span in clients] == ["GET /flaky/{key}"] * 3
    assert [span.status.status_code for span in clients] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    task_context = task_span.get_span_context()
    assert task_context is not None
    assert all(span.parent == task_context for span in clients)
    assert [s.headers.get("traceparent") for s in seen] == [
        _traceparent(span) for span in clients
    ]
