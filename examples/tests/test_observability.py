"""Run the observability example: spans to the console, or over OTLP/HTTP.

Without an endpoint the example prints its spans with ``ConsoleSpanExporter``
(captured here and parsed back); with ``OTEL_EXPORTER_OTLP_ENDPOINT`` it
sends them to a small OTLP/HTTP receiver these tests run on 127.0.0.1. The
real trace backend (Arize Phoenix) is tests/integration's business.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from examples import observability

if TYPE_CHECKING:
    from collections.abc import Iterator

EXAMPLES: Final = Path(__file__).resolve().parent.parent
FLAKY: Final = "GET /flaky/v1/{address}"
SPAN_NAMES: Final = Counter(
    {
        "workflow onboard": 1,
        "task create_contact": 1,
        "POST /crm/v1/contacts": 1,
        "task verify_mailbox": 1,
        FLAKY: 3,
        "task welcome_subject": 1,
        "task send_email": 1,
        "POST /mail/v1/messages": 1,
        "task page_ops": 1,
    }
)


@pytest.fixture(autouse=True)
def no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start each test without the OTEL_* variables of whoever runs the suite."""
    for name in os.environ:
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


def _console_spans(out: str) -> list[dict[str, Any]]:
    """Parse the JSON objects ``ConsoleSpanExporter`` printed, up to the report."""
    decoder = json.JSONDecoder()
    spans: list[dict[str, Any]] = []
    text = out.lstrip()
    while text.startswith("{"):
        span, end = decoder.raw_decode(text)
        spans.append(span)
        text = text[end:].lstrip()
    return spans


def test_without_an_endpoint_the_spans_go_to_the_console(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = observability.main()
    out = capsys.readouterr().out
    spans = _console_spans(out)

    assert result.success
    assert Counter(span["name"] for span in spans) == SPAN_NAMES
    assert "exported to the console" in out.splitlines()[-1]


def test_the_console_spans_form_one_tree_under_the_workflow_span(
    capsys: pytest.CaptureFixture[str],
) -> None:
    observability.main()
    spans = {
        span["context"]["span_id"]: span
        for span in _console_spans(capsys.readouterr().out)
    }
    names = {span_id: span["name"] for span_id, span in spans.items()}
    edges = Counter(
        (names.get(span["parent_id"]), span["name"]) for span in spans.values()
    )

    assert edges == Counter(
        {
            (None, "workflow onboard"): 1,
            ("workflow onboard", "task create_contact"): 1,
            ("task create_contact", "POST /crm/v1/contacts"): 1,
            ("workflow onboard", "task verify_mailbox"): 1,
            ("task verify_mailbox", FLAKY): 3,
            ("workflow onboard", "task welcome_subject"): 1,
            ("workflow onboard", "task send_email"): 1,
            ("task send_email", "POST /mail/v1/messages"): 1,
            ("workflow onboard", "task page_ops"): 1,
        }
    )
    assert len({span["context"]["trace_id"] for span in spans.values()}) == 1
    kinds = {span["name"]: span["kind"] for span in spans.values()}
    assert kinds[FLAKY] == kinds["POST /crm/v1/contacts"] == "SpanKind.CLIENT"


def test_the_resource_names_the_service_and_the_phoenix_project(
    capsys: pytest.CaptureFixture[str],
) -> None:
    observability.main()
    spans = _console_spans(capsys.readouterr().out)

    for span in spans:
        resource = span["resource"]["attributes"]
        assert resource["service.name"] == "fiscus-onboarding"
        assert resource["openinference.project.name"] == "fiscus-onboarding"


def test_the_environment_overrides_the_service_and_the_project(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "billing")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "openinference.project.name=nightly")

    resource = observability.build_resource().attributes

    assert resource["service.name"] == "billing"
    assert resource["openinference.project.name"] == "nightly"


@pytest.mark.parametrize(
    ("environ", "endpoint"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:6006"}, "http://a:6006"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:6006",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b/v1/traces",
            },
            "http://b/v1/traces",
        ),
    ],
)
def test_the_endpoint_comes_from_the_standard_variables(
    environ: dict[str, str], endpoint: str | None
) -> None:
    assert observability.otlp_endpoint(environ) == endpoint


def test_as_a_script_it_flushes_every_span_before_it_exits() -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / "observability.py")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=environ,
    )

    assert completed.returncode == 0, completed.stderr
    spans = _console_spans(completed.stdout)
    assert Counter(span["name"] for span in spans) == SPAN_NAMES
    assert "workflow onboard succeeded" in completed.stdout


# ---------------------------------------------------------------- over OTLP/HTTP


class _Receiver(ThreadingHTTPServer):
    """A loopback OTLP/HTTP receiver: keeps every export request it gets."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.received: list[tuple[str, str, bytes]] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_with_an_endpoint_the_spans_go_over_otlp_http(
    receiver: _Receiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)

    result = observability.main()

    assert result.success
    assert {(path, kind) for path, kind, _ in receiver.received} == {
        ("/v1/traces", "application/x-protobuf")
    }
    names: Counter[str] = Counter()
    for _, _, body in receiver.received:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = {
                attribute.key: attribute.value.string_value
                for attribute in resource_spans.resource.attributes
            }
            assert resource["service.name"] == "fiscus-onboarding"
            assert resource["openinference.project.name"] == "fiscus-onboarding"
            for scope_spans in resource_spans.scope_spans:
                names.update(span.name for span in scope_spans.spans)
    assert names == SPAN_NAMES
    out = capsys.readouterr().out
    assert out.startswith("\nworkflow onboard succeeded")  # no span on the console
    assert f"exported over OTLP/HTTP to {receiver.url}" in out
