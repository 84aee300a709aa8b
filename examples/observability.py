"""Observability: the onboarding workflow's spans, sent to a trace backend.

Runs the sandbox's onboarding workflow (a CRM, a mail service and a flaky
endpoint, served on 127.0.0.1) on a ``Runner`` with its own OpenTelemetry
``TracerProvider``. When ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set, the spans go over OTLP/HTTP
to that backend, such as Arize Phoenix (``phoenix serve``, then
``http://127.0.0.1:6006``); otherwise ``ConsoleSpanExporter`` prints them
as JSON. Either way they are flushed before the program ends::

    pip install -e '.[otlp]'
    python examples/observability.py
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:6006 python examples/observability.py

The resource names the service (``service.name``) and the Phoenix project
(``openinference.project.name``); ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES`` override them. See docs/observability.md.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Final

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import (
    SERVICE_NAME,
    OTELResourceDetector,
    Resource,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from fiscus_dsl import Runner
from fiscus_dsl._sandbox import sandbox
from fiscus_dsl._sandbox.onboarding import build_onboarding

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import TextIO

    from fiscus_dsl import RunResult
    from fiscus_dsl._sandbox.connectors import Contact

SERVICE: Final = "fiscus-onboarding"
"""The default ``service.name``."""

PROJECT: Final = "fiscus-onboarding"
"""The default Phoenix project the spans land in."""

PROJECT_ATTRIBUTE: Final = "openinference.project.name"
"""The resource attribute Phoenix files spans under; without it, ``default``."""

ENDPOINT_VARIABLES: Final = (
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def otlp_endpoint(environ: Mapping[str, str]) -> str | None:
    """Return the OTLP endpoint the environment names, or ``None`` for the console."""
    for name in ENDPOINT_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def build_resource() -> Resource:
    """Name the service and the project; ``OTEL_*`` variables take precedence."""
    from_environment = OTELResourceDetector().detect().attributes
    defaults = {SERVICE_NAME: SERVICE, PROJECT_ATTRIBUTE: PROJECT}
    return Resource.create(
        {key: value for key, value in defaults.items() if key not in from_environment}
    )


def build_provider(endpoint: str | None, out: TextIO) -> TracerProvider:
    """Return a provider exporting over OTLP/HTTP, or to ``out`` without endpoint.

    The OTLP exporter reads its endpoint, headers and timeout from the
    standard ``OTEL_EXPORTER_OTLP_*`` variables itself.
    """
    provider = TracerProvider(resource=build_resource(), shutdown_on_exit=False)
    exporter = OTLPSpanExporter() if endpoint else ConsoleSpanExporter(out=out)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def main() -> RunResult[Contact]:
    """Run the onboarding on the sandbox, export its spans, flush, and report."""
    endpoint = otlp_endpoint(os.environ)
    provider = build_provider(endpoint, sys.stdout)
    try:
        with sandbox() as base_url:
            runner = Runner(tracer_provider=provider)
            onboard = build_onboarding(base_url)
            result = runner.run(onboard, name="Ada Lovelace", email="ada@example.com")
        provider.force_flush()  # every span is out before the report
    finally:
        provider.shutdown()

    print(f"\nworkflow {result.workflow} {result.status} (run {result.run_id})")
    for task_id, outcome in result.tasks.items():
        print(f"  {task_id:<16} {outcome.status:<10} attempts={outcome.attempts}")
    resource = provider.resource.attributes
    where = (
        f"over OTLP/HTTP to {endpoint}"
        if endpoint
        else "to the console, above (set OTEL_EXPORTER_OTLP_ENDPOINT for a backend)"
    )
    print(
        f"spans of service {resource[SERVICE_NAME]!r}, project "
        f"{resource[PROJECT_ATTRIBUTE]!r}: exported {where}"
    )
    return result


if __name__ == "__main__":
    main()
