"""CLIENT spans of connector requests, after the OpenTelemetry HTTP conventions.

One span per attempt: named ``METHOD url.template``, with the method, the
server's address and port, the scrubbed full URL, the template and, for a
retry, the resend count; ended with the status (4xx and 5xx mark an
error) or with the error type of a failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import httpx
from opentelemetry.trace import SpanKind, Status, StatusCode

from fiscus_dsl._connectors.scrub import scrub_text, scrub_url
from fiscus_dsl._runtime.attempts import current_attempt
from fiscus_dsl._runtime.telemetry import error_type

if TYPE_CHECKING:
    from opentelemetry.trace import Span

# OpenTelemetry HTTP client attribute names (stable semantic conventions).
HTTP_METHOD: Final = "http.request.method"
HTTP_STATUS: Final = "http.response.status_code"
HTTP_RESEND: Final = "http.request.resend_count"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
URL_FULL: Final = "url.full"
URL_TEMPLATE: Final = "url.template"
ERROR_TYPE: Final = "error.type"
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def start_client_span(
    method: str, template: str | None, url: httpx.URL | str
) -> Span | None:
    """Start a request's CLIENT span, or return ``None`` outside a traced attempt."""
    attempt = current_attempt()
    tracer = attempt.tracer if attempt is not None else None
    if tracer is None:
        return None
    name = f"{method} {template}" if template else method
    span = tracer.start_span(name, kind=SpanKind.CLIENT)
    if span.is_recording():
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        attributes: dict[str, str | int] = {
            HTTP_METHOD: method,
            SERVER_ADDRESS: parsed.host,
            SERVER_PORT: parsed.port or _DEFAULT_PORTS.get(parsed.scheme, 0),
            URL_FULL: scrub_url(parsed),
        }
        if template:
            attributes[URL_TEMPLATE] = template
        if attempt is not None and attempt.number > 1:
            attributes[HTTP_RESEND] = attempt.number - 1
        span.set_attributes(attributes)
    return span


def end_with_response(span: Span | None, response: httpx.Response) -> None:
    end_with_status(span, response.status_code)


def end_with_status(span: Span | None, status: int) -> None:
    if span is None:
        return
    if span.is_recording():
        span.set_attribute(HTTP_STATUS, status)
        if status >= httpx.codes.BAD_REQUEST:
            span.set_attribute(ERROR_TYPE, str(status))
            span.set_status(Status(StatusCode.ERROR))
    span.end()


def end_with_error(span: Span | None, error: BaseException) -> None:
    if span is None:
        return
    if span.is_recording():
        span.set_attribute(ERROR_TYPE, error_type(error))
        span.set_status(Status(StatusCode.ERROR, scrub_text(type(error).__name__)))
    span.end()
