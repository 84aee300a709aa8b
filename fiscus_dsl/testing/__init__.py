"""fiscus_dsl.testing: test workflows with mocked connectors, stubs and spans.

The pytest plugin (``plugin.py``, entry point ``fiscus_dsl``) gives the
``fiscus_mock`` and ``fiscus_spans`` fixtures; ``mock_connectors()`` and
``capture_spans()`` are the same outside pytest. ``assert_ran`` and its
siblings check a ``RunResult`` and show the whole run when they fail.
``FakeSleep`` and ``FakeClock`` give runs a time the test controls. Every
override the kit makes is scoped with ``contextvars`` to the thread or
asyncio task that made it; nothing global is patched.
respx and opentelemetry-sdk (extra ``fiscus_dsl[testing]``) are imported
only when a mock or a capture is made.
"""

from fiscus_dsl.testing.assertions import assert_failed as assert_failed
from fiscus_dsl.testing.assertions import assert_ran as assert_ran
from fiscus_dsl.testing.assertions import assert_skipped as assert_skipped
from fiscus_dsl.testing.assertions import assert_succeeded as assert_succeeded
from fiscus_dsl.testing.assertions import describe_run as describe_run
from fiscus_dsl.testing.errors import MockExpectationError as MockExpectationError
from fiscus_dsl.testing.errors import RequestBodyError as RequestBodyError
from fiscus_dsl.testing.errors import StubExhaustedError as StubExhaustedError
from fiscus_dsl.testing.errors import UnmockedRequestError as UnmockedRequestError
from fiscus_dsl.testing.fake_time import FakeClock as FakeClock
from fiscus_dsl.testing.fake_time import FakeSleep as FakeSleep
from fiscus_dsl.testing.mocks import ConnectorMock as ConnectorMock
from fiscus_dsl.testing.scope import MockScope as MockScope
from fiscus_dsl.testing.scope import mock_connectors as mock_connectors
from fiscus_dsl.testing.spans import SpanCapture as SpanCapture
from fiscus_dsl.testing.spans import SpanTree as SpanTree
from fiscus_dsl.testing.spans import capture_spans as capture_spans
from fiscus_dsl.testing.stubs import StubCall as StubCall
from fiscus_dsl.testing.stubs import TaskStub as TaskStub
from fiscus_dsl.testing.stubs import stub_task as stub_task
from fiscus_dsl.testing.targets import OperationCall as OperationCall

__all__ = [
    "ConnectorMock",
    "FakeClock",
    "FakeSleep",
    "MockExpectationError",
    "MockScope",
    "OperationCall",
    "RequestBodyError",
    "SpanCapture",
    "SpanTree",
    "StubCall",
    "StubExhaustedError",
    "TaskStub",
    "UnmockedRequestError",
    "assert_failed",
    "assert_ran",
    "assert_skipped",
    "assert_succeeded",
    "capture_spans",
    "describe_run",
    "mock_connectors",
    "stub_task",
]
