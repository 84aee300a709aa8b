"""Fixtures every test directory shares, built on the testing kit users get.

``fake_sleep`` is a ``FakeSleep`` to hand a runner; ``span_capture`` is a
``SpanCapture`` (an SDK provider with an in-memory exporter), and
``provider`` and ``exporter`` are its parts, for a runner built by hand.
Nothing here is installed process-wide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from fiscus_dsl.testing import FakeSleep, SpanCapture

if TYPE_CHECKING:
    from collections.abc import Iterator

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )


@pytest.fixture
def fake_sleep() -> FakeSleep:
    """Return a sleep that records each delay and returns at once."""
    return FakeSleep()


@pytest.fixture
def span_capture() -> Iterator[SpanCapture]:
    """Keep the spans of the runners given ``span_capture.provider`` in memory."""
    capture = SpanCapture()
    yield capture
    capture.close()


@pytest.fixture
def provider(span_capture: SpanCapture) -> TracerProvider:
    """Return an SDK tracer provider whose spans end in ``exporter``."""
    return span_capture.provider


@pytest.fixture
def exporter(span_capture: SpanCapture) -> InMemorySpanExporter:
    """Return the in-memory exporter of ``provider``'s spans."""
    return span_capture.exporter
