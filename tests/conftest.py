"""Fixtures every test directory shares, built on the testing kit users get.

``fake_sleep`` is a ``FakeSleep`` to hand a runner; ``span_capture`` is a
``SpanCapture`` (an SDK provider with an in-memory exporter), and
``provider`` and ``exporter`` are its parts, for a runner built by hand.
``postgres_url`` is a PostgreSQL server for the session and
``postgres_database`` an empty database of one test's own on it
(``tests/postgres_server.py``). Nothing here is installed process-wide.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import postgres_server
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


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Return the URL of a PostgreSQL server for the session.

    ``FISCUS_TEST_POSTGRES`` when set (``.ci/run`` sets it); otherwise a
    throwaway cluster started here and stopped at the end. Without either,
    the tests that need it are skipped, saying how to enable them.
    """
    given = os.environ.get(postgres_server.ENVIRONMENT_VARIABLE, "").strip()
    if given:
        yield given
        return
    bin_dir = postgres_server.find_bin_dir()
    if bin_dir is None:
        pytest.skip(postgres_server.SKIP_REASON)
    folder = Path(tempfile.mkdtemp(prefix="fiscus-postgres-"))
    cluster = postgres_server.start_cluster(folder, bin_dir)
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """Return the URL of an empty database of this test's own, dropped after it."""
    url = postgres_server.fresh_database(postgres_url)
    yield url
    postgres_server.drop_database(postgres_url, url)
