"""Span capture: through the runner only, read back by name and as a tree."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from fiscus_dsl import (
    Hooks,
    Retry,
    Runner,
    default_runner,
    set_default_runner,
    task,
    workflow,
)
from fiscus_dsl.testing import SpanCapture, capture_spans

from . import apis
from .apis import JOHN, onboard

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fiscus_dsl import TaskContext
    from fiscus_dsl.testing import ConnectorMock


@task(retry=Retry(attempts=2, backoff=0, jitter=False))
def flaky(n: int) -> int:
    if n not in SEEN:
        SEEN.add(n)
        raise ConnectionError("reset")
    return n


SEEN: set[int] = set()


@task
def double(n: int) -> int:
    return 2 * n


@workflow
def fan(numbers: list[int]) -> list[int]:
    return double.map(n=flaky.map(n=numbers))


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    SEEN.clear()
    previous = set_default_runner(None)
    yield
    set_default_runner(previous)


def test_the_tree_nests_tasks_and_client_spans_under_the_run(
    fiscus_mock: ConnectorMock, fiscus_spans: SpanCapture
) -> None:
    fiscus_mock.operation(apis.create_contact).respond(201, json=JOHN)
    fiscus_mock.operation(apis.send_email).respond(202, json={"id": "m1"})

    onboard.run(name="John Doe", email="john@example.com")

    assert fiscus_spans.tree() == (
        (
            "workflow onboard",
            (
                ("task create_contact", (("POST /v1/contacts", ()),)),
                ("task page_ops", ()),
                ("task send_email", (("POST /messages", ()),)),
                ("task welcome_subject", ()),
            ),
        ),
    )


def test_attributes_of_a_client_span_under_the_mock(
    fiscus_mock: ConnectorMock, fiscus_spans: SpanCapture
) -> None:
    fiscus_mock.operation(apis.get_contact).respond(json=JOHN)

    apis.get_contact(contact_id="c1")

    assert fiscus_spans.attributes("GET /v1/contacts/{contact_id}") == {
        "http.request.method": "GET",
        "server.address": "crm.kit.test",
        "server.port": 443,
        "url.full": "https://crm.kit.test/v1/contacts/c1",
        "url.template": "/v1/contacts/{contact_id}",
        "http.response.status_code": 200,
    }
    assert fiscus_spans.attributes("task get_contact")["fiscus.task.status"] == (
        "succeeded"
    )


def test_siblings_come_in_name_order_then_start_order(
    fiscus_spans: SpanCapture,
) -> None:
    assert fan(numbers=[1, 2]) == [2, 4]

    ((root, children),) = fiscus_spans.tree()
    assert root == "workflow fan"
    assert [name for name, _ in children] == ["task double"] * 2 + ["task flaky"] * 2
    ids = [dict(span.attributes or {}) for span in fiscus_spans.all("task flaky")]
    assert sorted(str(attributes["fiscus.task.id"]) for attributes in ids) == [
        "flaky[0]",
        "flaky[1]",
    ]
    assert len(fiscus_spans.all("task double")) == 2
    assert fiscus_spans.all("task missing") == []


def test_one_names_what_there_is_when_there_is_not_exactly_one(
    fiscus_spans: SpanCapture,
) -> None:
    fan(numbers=[1, 2])

    with pytest.raises(AssertionError) as caught:
        fiscus_spans.one("task double")

    assert str(caught.value) == (
        "Expected exactly one span named 'task double', found 2; the spans are:\n"
        "  workflow fan\n"
        "    task double\n"
        "    task double\n"
        "    task flaky\n"
        "    task flaky"
    )
    with pytest.raises(AssertionError, match="found 0; the spans are:\n  workflow"):
        fiscus_spans.attributes("task nope")


def test_the_fixture_runner_is_the_default_runner_and_keeps_its_hooks() -> None:
    seen: list[str] = []

    def before(ctx: TaskContext) -> None:
        seen.append(ctx.task_name)

    previous = set_default_runner(Runner(hooks=Hooks(before_task=before)))
    try:
        with capture_spans() as spans:
            assert default_runner() is spans.runner
            double(1)
        assert default_runner() is not spans.runner
    finally:
        set_default_runner(previous)

    assert seen == ["double"]
    assert spans.names() == ["task double"]


def test_a_capture_can_run_a_runner_explicitly() -> None:
    spans = SpanCapture()

    result = spans.runner.run(fan, numbers=[3])

    assert result.output == [6]
    assert repr(spans) == "<SpanCapture of 3 span(s)>"
    spans.clear()
    assert spans.spans == []
    assert spans.render() == "  (none)"
    spans.close()


def test_the_process_wide_provider_is_never_set(fiscus_spans: SpanCapture) -> None:
    double(1)

    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    assert fiscus_spans.names() == ["task double"]


def test_spans_stay_readable_after_the_block() -> None:
    with capture_spans() as spans:
        double(2)

    assert spans.one("task double").name == "task double"


def test_a_span_whose_parent_was_not_captured_is_a_root() -> None:
    outer = TracerProvider()
    with (
        outer.get_tracer("app").start_as_current_span("request"),
        capture_spans() as spans,
    ):
        fan(numbers=[])
    outer.shutdown()

    assert spans.tree() == (("workflow fan", ()),)


def test_without_the_sdk_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)

    with pytest.raises(ImportError, match=r"pip install 'fiscus_dsl\[testing\]'"):
        SpanCapture()
