"""The onboarding workflow's spans, sent over OTLP/HTTP to Phoenix and read back.

One run of the sandbox's onboarding workflow sends its spans to a real
``phoenix serve`` on loopback (``SimpleSpanProcessor`` and
``OTLPSpanExporter``, the project named by ``openinference.project.name``);
the tests read them back through Phoenix's REST API and check the whole
tree, the HTTP attributes, the retries of the flaky endpoint, and that no
bearer token reached the backend. The same spans also go to an in-memory
exporter, the SDK's own record, to compare with what the backend kept
(Phoenix drops the OTel span kind, so CLIENT is checked there).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, final
from urllib.parse import urlsplit

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind

from fiscus_dsl import Runner, RunResult
from fiscus_dsl._sandbox.app import TOKENS
from fiscus_dsl._sandbox.onboarding import build_onboarding

from .backend import Phoenix, Span, flatten, read_spans

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

PROJECT_ATTRIBUTE: Final = "openinference.project.name"
NAME: Final = "Ada Lovelace"
EMAIL: Final = "ada@example.com"
FLAKY: Final = "GET /flaky/v1/{address}"

Tree = tuple[tuple[str, "Tree"], ...]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Exported:
    """One run's result, its spans as Phoenix returns them, and the SDK's record."""

    result: RunResult[Any]
    spans: list[Span]
    sdk: dict[str, ReadableSpan]
    sandbox_url: str
    phoenix: Phoenix


@pytest.fixture(scope="module")
def exported(phoenix: Phoenix, sandbox_url: str) -> Exported:
    """Run the onboarding once, its spans exported to Phoenix; read them back."""
    project = f"fiscus-it-{uuid.uuid4().hex[:8]}"
    provider = TracerProvider(
        resource=Resource.create(
            {SERVICE_NAME: "fiscus-integration", PROJECT_ATTRIBUTE: project}
        ),
        shutdown_on_exit=False,
    )
    memory = InMemorySpanExporter()
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{phoenix.base_url}/v1/traces"))
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    try:
        runner = Runner(tracer_provider=provider)
        result = runner.run(build_onboarding(sandbox_url), name=NAME, email=EMAIL)
        assert provider.force_flush(10_000)
    finally:
        provider.shutdown()
    finished = memory.get_finished_spans()
    return Exported(
        result=result,
        spans=read_spans(phoenix.base_url, project, expected=len(finished)),
        sdk={f"{span.context.span_id:016x}": span for span in finished},
        sandbox_url=sandbox_url,
        phoenix=phoenix,
    )


def _tree(spans: list[Span], parent: str | None = None) -> Tree:
    return tuple(
        sorted(
            (span["name"], _tree(spans, span["context"]["span_id"]))
            for span in spans
            if span["parent_id"] == parent
        )
    )


def _named(exported: Exported, name: str) -> list[Span]:
    return sorted(
        (span for span in exported.spans if span["name"] == name),
        key=lambda span: span["start_time"],
    )


def test_the_run_succeeds_against_the_sandbox(exported: Exported) -> None:
    assert exported.result.success, exported.result.error_message
    assert exported.result["send_email"].status == "succeeded"


def test_phoenix_keeps_every_span_the_sdk_emitted(exported: Exported) -> None:
    assert {span["context"]["span_id"] for span in exported.spans} == set(exported.sdk)
    assert len({span["context"]["trace_id"] for span in exported.spans}) == 1
    for span in exported.spans:
        emitted = exported.sdk[span["context"]["span_id"]]
        assert span["name"] == emitted.name
        assert flatten(span["attributes"]) == dict(emitted.attributes or {})


def test_phoenix_shows_the_whole_tree(exported: Exported) -> None:
    assert _tree(exported.spans) == (
        (
            "workflow onboard",
            (
                ("task create_contact", (("POST /crm/v1/contacts", ()),)),
                ("task page_ops", ()),
                ("task send_email", (("POST /mail/v1/messages", ()),)),
                ("task verify_mailbox", ((FLAKY, ()), (FLAKY, ()), (FLAKY, ()))),
                ("task welcome_subject", ()),
            ),
        ),
    )


def test_workflow_and_task_spans_carry_their_attributes(exported: Exported) -> None:
    run_id = exported.result.run_id
    (root,) = _named(exported, "workflow onboard")
    (create,) = _named(exported, "task create_contact")

    assert flatten(root["attributes"]) == {
        "fiscus.workflow.name": "onboard",
        "fiscus.run.id": run_id,
        "fiscus.run.status": "succeeded",
    }
    assert flatten(create["attributes"]) == {
        "fiscus.workflow.name": "onboard",
        "fiscus.run.id": run_id,
        "fiscus.task.id": "create_contact",
        "fiscus.task.name": "create_contact",
        "fiscus.task.status": "succeeded",
        "fiscus.task.attempt": 1,
    }
    assert root["status_code"] == create["status_code"] == "UNSET"


def test_http_attempts_are_client_spans_with_the_http_conventions(
    exported: Exported,
) -> None:
    url = urlsplit(exported.sandbox_url)
    (post,) = _named(exported, "POST /crm/v1/contacts")
    http_ids = {
        span["context"]["span_id"]
        for span in exported.spans
        if "http.request.method" in flatten(span["attributes"])
    }

    assert flatten(post["attributes"]) == {
        "http.request.method": "POST",
        "server.address": url.hostname,
        "server.port": url.port,
        "url.full": f"{exported.sandbox_url}/crm/v1/contacts",
        "url.template": "/crm/v1/contacts",
        "http.response.status_code": 201,
    }
    assert len(http_ids) == 5
    assert {
        span_id
        for span_id, span in exported.sdk.items()
        if span.kind is SpanKind.CLIENT
    } == http_ids


def test_the_flaky_endpoint_shows_three_attempts_under_one_task(
    exported: Exported,
) -> None:
    (task,) = _named(exported, "task verify_mailbox")
    attempts = _named(exported, FLAKY)
    flat = [flatten(span["attributes"]) for span in attempts]

    assert [a.get("http.request.resend_count") for a in flat] == [None, 1, 2]
    assert [a["http.response.status_code"] for a in flat] == [503, 503, 200]
    assert [a.get("error.type") for a in flat] == ["503", "503", None]
    assert [span["status_code"] for span in attempts] == ["ERROR", "ERROR", "UNSET"]
    assert {a["http.request.method"] for a in flat} == {"GET"}
    assert {a["url.template"] for a in flat} == {"/flaky/v1/{address}"}
    assert {span["parent_id"] for span in attempts} == {task["context"]["span_id"]}
    assert flatten(task["attributes"])["fiscus.task.attempt"] == 3
    assert flatten(task["attributes"])["fiscus.task.status"] == "succeeded"
    assert task["status_code"] == "UNSET"  # the retried errors stay on the attempts
    assert [event["name"] for event in task["events"]] == ["fiscus.task.retry"] * 2


def test_no_bearer_token_reaches_the_backend(exported: Exported) -> None:
    served = json.dumps(exported.spans)  # attributes, events, status messages
    stored = b"".join(
        path.read_bytes()
        for path in sorted(exported.phoenix.working_dir.rglob("*"))
        if path.is_file()
    )

    assert exported.result.run_id.encode() in stored  # the scan sees the spans
    for token in TOKENS.values():
        assert token not in served
        assert token.encode() not in stored
    assert "bearer" not in served.lower()
    assert "authorization" not in served.lower()
