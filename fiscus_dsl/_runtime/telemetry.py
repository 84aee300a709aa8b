"""Workflow and task spans, on opentelemetry-api only.

One ``workflow {name}`` span per run (and per sub-workflow instance) and a
``task {name}`` child span per task; retried attempts are events on the
task span, and the error that escaped is recorded where it escaped. The
application configures the SDK; ``Runner(tracer_provider=...)`` can pass
one. When a span is not recording, no attributes are built. Attribute
keys are the constants below, never inline strings.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Final

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer, TracerProvider

INSTRUMENTATION_NAME: Final = "fiscus_dsl"
INSTRUMENTATION_VERSION: Final = "0.1.0"

WORKFLOW_NAME: Final = "fiscus.workflow.name"
RUN_ID: Final = "fiscus.run.id"
RUN_STATUS: Final = "fiscus.run.status"
TASK_ID: Final = "fiscus.task.id"
TASK_NAME: Final = "fiscus.task.name"
TASK_STATUS: Final = "fiscus.task.status"
TASK_ATTEMPT: Final = "fiscus.task.attempt"
TASK_REASON: Final = "fiscus.task.reason"
RETRY_DELAY: Final = "fiscus.retry.delay"
ERROR_TYPE: Final = "error.type"
RETRY_EVENT: Final = "fiscus.task.retry"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"


def get_tracer(provider: TracerProvider | None) -> Tracer:
    """Return the library's tracer from ``provider``, or from the global one."""
    return trace.get_tracer(
        INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION, tracer_provider=provider
    )


def is_noop(tracer: Tracer) -> bool:
    """Tell whether ``tracer`` can never record: no SDK is configured anywhere."""
    if isinstance(tracer, trace.NoOpTracer):
        return True
    return isinstance(tracer, trace.ProxyTracer) and isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider
    )


def error_type(error: BaseException) -> str:
    """Return the low-cardinality ``error.type`` of an exception: its qualified name."""
    kind = type(error)
    module = kind.__module__
    return (
        kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
    )


def start_workflow_span(
    tracer: Tracer, name: str, run_id: str, parent: Context | None
) -> Span:
    """Start the ``workflow {name}`` span of a run or sub-workflow."""
    span = tracer.start_span(f"workflow {name}", context=parent, kind=SpanKind.INTERNAL)
    if span.is_recording():
        span.set_attributes({WORKFLOW_NAME: name, RUN_ID: run_id})
    return span


def end_workflow_span(span: Span, *, status: str, failure: str | None) -> None:
    """End a workflow span with the run's status."""
    if span.is_recording():
        span.set_attribute(RUN_STATUS, status)
        if failure is not None:
            span.set_status(Status(StatusCode.ERROR, failure))
    span.end()


def start_task_span(
    tracer: Tracer,
    parent: Context | None,
    *,
    name: str,
    workflow: str,
    run_id: str,
    task_id: str,
) -> Span:
    """Start the ``task {name}`` span of one task.

    The attributes go to ``start_span``: samplers see them, and the SDK
    takes them in one pass rather than a second call after the start.
    """
    return tracer.start_span(
        f"task {name}",
        context=parent,
        kind=SpanKind.INTERNAL,
        attributes={
            WORKFLOW_NAME: workflow,
            RUN_ID: run_id,
            TASK_ID: task_id,
            TASK_NAME: name,
        },
    )


def record_retry(
    span: Span, *, attempt: int, error: BaseException, delay: float
) -> None:
    """Add a retry event for a failed attempt; the error is handled, so no status."""
    if span.is_recording():
        span.add_event(
            RETRY_EVENT,
            {TASK_ATTEMPT: attempt, ERROR_TYPE: error_type(error), RETRY_DELAY: delay},
        )


def end_task_span(
    span: Span,
    *,
    status: str,
    attempts: int,
    error: BaseException | None,
    reason: str | None,
) -> None:
    """End a task span with its outcome; a failure records the escaped exception."""
    if span.is_recording():
        # One call, one pass of the SDK's attribute lock and checks.
        ending: dict[str, str | int] = {TASK_STATUS: status, TASK_ATTEMPT: attempts}
        if reason is not None:
            ending[TASK_REASON] = reason
        span.set_attributes(ending)
        if error is not None:
            span.set_attribute(ERROR_TYPE, error_type(error))
            # The exception's own traceback only: a chained cause (an httpx
            # error, say) may quote a URL the library already scrubbed.
            stacktrace = "".join(traceback.format_exception(error, chain=False))
            span.record_exception(error, {EXCEPTION_STACKTRACE: stacktrace})
            span.set_status(
                Status(StatusCode.ERROR, f"{type(error).__name__}: {error}")
            )
    span.end()
