"""Shared fixtures for the connector tests: a strict respx router, a runner, spans.

``api`` mocks the connectors' HTTP with respx (every route must be called,
every request must be mocked); ``runner`` is a ``Runner`` with the kit's
``FakeSleep`` and an in-memory span exporter (``fake_sleep``, ``provider``
and ``exporter`` come from ``tests/conftest.py``), installed as the default
runner so that a task called outside a workflow uses it too. The
process-wide tracer provider is never set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import pytest
import respx

from fiscus_dsl import Runner, set_default_runner

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.util.types import AttributeValue

    from fiscus_dsl.testing import FakeSleep

BASE: Final = "https://api.example.test/v1"

Tree = tuple[tuple[str, "Tree"], ...]


@pytest.fixture
def runner(fake_sleep: FakeSleep, provider: TracerProvider) -> Iterator[Runner]:
    """A runner with a fake sleep and in-memory spans, also the default runner."""
    runner = Runner(sleep=fake_sleep, tracer_provider=provider)
    previous = set_default_runner(runner)
    yield runner
    set_default_runner(previous)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """Mock ``BASE``: every route must be called, every request must be routed."""
    with respx.mock(
        base_url=BASE, assert_all_called=True, assert_all_mocked=True
    ) as router:
        yield router


# ---------------------------------------------------------------- span helpers


def attributes(span: ReadableSpan) -> dict[str, AttributeValue]:
    return dict(span.attributes or {})


def span_id(span: ReadableSpan) -> int:
    context = span.get_span_context()
    assert context is not None
    return context.span_id


def tree(spans: Sequence[ReadableSpan], parent: int | None = None) -> Tree:
    """Return the span tree under ``parent`` as ``(name, children)`` pairs in order."""
    children = [
        span
        for span in spans
        if (None if span.parent is None else span.parent.span_id) == parent
    ]
    children.sort(key=lambda span: span.start_time or 0)
    return tuple((span.name, tree(spans, span_id(span))) for span in children)


def span_texts(spans: Sequence[ReadableSpan]) -> list[str]:
    """Return every name, status description, attribute and event value as text."""
    texts: list[str] = []
    for span in spans:
        texts.extend((span.name, span.status.description or ""))
        texts.extend(str(value) for value in attributes(span).values())
        for event in span.events:
            texts.append(event.name)
            texts.extend(str(value) for value in (event.attributes or {}).values())
    return texts
