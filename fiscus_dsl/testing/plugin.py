"""The pytest plugin: the ``fiscus_mock`` and ``fiscus_spans`` fixtures.

Registered as the ``pytest11`` entry point ``fiscus_dsl`` (block it with
``-p no:fiscus_dsl``). It imports only pytest when pytest loads it: the
kit's modules, respx and opentelemetry-sdk are imported by the fixtures
that need them. A ``fiscus_mock`` whose expectations were not met (a
request no mock matched, a mock never called) fails the test in its call
phase; when the test failed already, the unmocked requests are added to
its error as notes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import pytest

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator

    from fiscus_dsl.testing.mocks import ConnectorMock
    from fiscus_dsl.testing.spans import SpanCapture

_MOCKS: Final = pytest.StashKey[list["ConnectorMock"]]()


@pytest.fixture
def fiscus_mock(request: pytest.FixtureRequest) -> Iterator[ConnectorMock]:
    """Mock every connector request of the test on a respx router.

    ``fiscus_mock.operation(create_contact).respond(201, json={...})``
    mocks an operation; a request no mock matches fails the test, and so
    does a mock never called (unless ``optional=True``).
    ``fiscus_mock.stub(task, returns=...)`` replaces a task without HTTP.
    Retries do not wait (``fiscus_mock.waits`` has the delays). Everything
    is undone after the test, and nothing is seen outside it: the mocks are
    context-scoped, not global.
    """
    from fiscus_dsl.testing.mocks import ConnectorMock

    mock = ConnectorMock()
    mock.start()
    request.node.stash.setdefault(_MOCKS, []).append(mock)
    try:
        yield mock
    finally:
        mock.stop()


@pytest.fixture
def fiscus_spans() -> Iterator[SpanCapture]:
    """Capture the spans of the test's runs in memory.

    The default runner is, for the test, a copy of it whose tracer provider
    keeps spans in memory (the process-wide provider is not touched);
    ``fiscus_spans.runner`` is that runner. ``one(name)``, ``all(name)``,
    ``attributes(name)`` and ``tree()`` read the spans. Needs
    opentelemetry-sdk (the ``fiscus_dsl[testing]`` extra).
    """
    from fiscus_dsl.testing.spans import capture_spans

    with capture_spans() as spans:
        yield spans


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Fail a test whose ``fiscus_mock`` expectations were not met."""
    mocks = item.stash.get(_MOCKS, [])
    try:
        outcome = yield
    except BaseException as exc:
        for mock in mocks:
            mock.note_unmocked(exc)
        raise
    problems = [text for mock in mocks if (text := mock.problems()) is not None]
    if problems:
        pytest.fail("fiscus_mock: " + "\n".join(problems), pytrace=False)
    return outcome
