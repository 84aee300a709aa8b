"""Workflow and task spans: names, kinds, attribute dicts, statuses, events, tree.

Spans go to an in-memory exporter through ``Runner(tracer_provider=...)``
(``provider`` and ``exporter``, from the kit's ``SpanCapture``, come from
``tests/conftest.py``); the process-wide provider is never set. Attribute
keys are written out as literals on purpose: they are the contract
docs/observability.md publishes.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from fiscus_dsl import (
    Hooks,
    Retry,
    Runner,
    RunStatus,
    SkipTask,
    TaskContext,
    TaskStatus,
    failed,
    set_default_runner,
    task,
    when,
    workflow,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )
    from opentelemetry.util.types import AttributeValue

    from fiscus_dsl.testing import FakeClock, FakeSleep

# A value that looks like a live credential; it must never reach a span.
SECRET = "sk_live_51HxQ7fEXAMPLEc0ffee9d8e7f6a5b4c3d2e1"
SHORT_SECRET = "sk_live_4eC39HqLyjWD"

SPAN_ATTRIBUTES = frozenset(
    {
        "fiscus.workflow.name",
        "fiscus.run.id",
        "fiscus.run.status",
        "fiscus.task.id",
        "fiscus.task.name",
        "fiscus.task.status",
        "fiscus.task.attempt",
        "fiscus.task.reason",
        "error.type",
    }
)
EVENT_ATTRIBUTES = frozenset(
    {
        "fiscus.task.attempt",
        "fiscus.retry.delay",
        "error.type",
        "exception.type",
        "exception.message",
        "exception.stacktrace",
        "exception.escaped",
    }
)

Tree = tuple[tuple[str, "Tree"], ...]


class QuotaExceededError(Exception):
    """A task error with a qualified name of its own."""


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def traced_runner(
    provider: TracerProvider, fake_sleep: FakeSleep, fake_clock: FakeClock
) -> Runner:
    return Runner(tracer_provider=provider, sleep=fake_sleep, clock=fake_clock)


# ---------------------------------------------------------------- helpers


def span_id(span: ReadableSpan) -> int:
    context = span.get_span_context()
    assert context is not None
    return context.span_id


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def attributes(span: ReadableSpan) -> dict[str, AttributeValue]:
    return dict(span.attributes or {})


def label(span: ReadableSpan) -> str:
    task_id = attributes(span).get("fiscus.task.id")
    return span.name if task_id is None else f"{span.name} <{task_id}>"


def tree(spans: Sequence[ReadableSpan], parent: int | None = None) -> Tree:
    """Return the span tree under ``parent`` as sorted ``(label, children)`` pairs."""
    return tuple(
        sorted(
            (label(span), tree(spans, span_id(span)))
            for span in spans
            if parent_id(span) == parent
        )
    )


def by_label(spans: Sequence[ReadableSpan]) -> dict[str, ReadableSpan]:
    labelled = {label(span): span for span in spans}
    assert len(labelled) == len(spans), "labels must be unique in this test"
    return labelled


def task_attributes(
    workflow: str,
    run_id: str,
    task_id: str,
    name: str,
    *,
    status: str = "succeeded",
    attempt: int = 1,
) -> dict[str, AttributeValue]:
    return {
        "fiscus.workflow.name": workflow,
        "fiscus.run.id": run_id,
        "fiscus.task.id": task_id,
        "fiscus.task.name": name,
        "fiscus.task.status": status,
        "fiscus.task.attempt": attempt,
    }


def qualified_name(kind: type[BaseException]) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


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


# ---------------------------------------------------------------- shared tasks


@task
async def fetch(n: int) -> int:
    return n


@task
def store(n: int) -> int:
    return n


@workflow
def sync_books(n: int) -> int:
    return store(fetch(n))


@task
def charge(amount: int) -> int:
    raise QuotaExceededError("quota exceeded")


@workflow
def bill(amount: int) -> int:
    return charge(amount)


# ---------------------------------------------------------------- workflow spans


def test_a_run_has_one_internal_workflow_span(
    traced_runner: Runner, exporter: InMemorySpanExporter
) -> None:
    result = traced_runner.run(sync_books, n=1)

    roots = [span for span in exporter.get_finished_spans() if span.parent is None]
    assert [span.name for span in roots] == ["workflow sync_books"]
    assert roots[0].kind is SpanKind.INTERNAL
    assert attributes(roots[0]) == {
        "fiscus.workflow.name": "sync_books",
        "fiscus.run.id": result.run_id,
        "fiscus.run.status": "succeeded",
    }
    assert roots[0].status.status_code is StatusCode.UNSET
    assert roots[0].events == ()


def test_each_task_gets_a_child_span_with_its_attributes(
    traced_runner: Runner, exporter: InMemorySpanExporter
) -> None:
    result = traced_runner.run(sync_books, n=1)

    spans = exporter.get_finished_spans()
    assert tree(spans) == (
        (
            "workflow sync_books",
            (("task fetch <fetch>", ()), ("task store <store>", ())),
        ),
    )
    for name in ("fetch", "store"):
        span = by_label(spans)[f"task {name} <{name}>"]
        assert attributes(span) == task_attributes(
            "sync_books", result.run_id, name, name
        )
        assert span.kind is SpanKind.INTERNAL
        assert span.status.status_code is StatusCode.UNSET
        assert span.events == ()


def test_workflow_span_is_a_child_of_the_callers_current_span(
    traced_runner: Runner, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with provider.get_tracer("app").start_as_current_span("POST /sync"):
        traced_runner.run(sync_books, n=1)

    assert tree(exporter.get_finished_spans()) == (
        (
            "POST /sync",
            (
                (
                    "workflow sync_books",
                    (("task fetch <fetch>", ()), ("task store <store>", ())),
                ),
            ),
        ),
    )


# ---------------------------------------------------------------- failures


def test_failed_task_span_has_error_status_type_and_exception_event(
    traced_runner: Runner, exporter: InMemorySpanExporter
) -> None:
    result = traced_runner.run(bill, amount=5)

    assert result.status is RunStatus.FAILED
    span = by_label(exporter.get_finished_spans())["task charge <charge>"]
    assert attributes(span) == {
        **task_attributes("bill", result.run_id, "charge", "charge", status="failed"),
        "error.type": qualified_name(QuotaExceededError),
    }
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "QuotaExceededError: quota exceeded"
    assert [event.name for event in span.events] == ["exception"]
    event = dict(span.events[0].attributes or {})
    assert event["exception.type"] == qualified_name(QuotaExceededError)
    assert event["exception.message"] == "quota exceeded"


def test_failed_run_has_an_error_workflow_span_without_exception_event(
    traced_runner: Runner, exporter: InMemorySpanExporter
) -> None:
    result = traced_runner.run(bill, amount=5)

    span = by_label(exporter.get_finished_spans())["workflow bill"]
    assert attributes(span) == {
        "fiscus.workflow.name": "bill",
        "fiscus.run.id": result.run_id,
        "fiscus.run.status": "failed",
    }
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == result.error_message
    assert span.events == ()


def test_task_that_succeeds_after_retries_has_unset_status_and_retry_events(
    traced_runner: Runner, exporter: InMemorySpanExporter, fake_sleep: FakeSleep
) -> None:
    calls: list[int] = []

    @task(retry=Retry(attempts=3, backoff=0.5, jitter=False))
    def flaky(n: int) -> int:
        calls.append(n)
        if len(calls) < 3:
            raise ConnectionError("connection reset")
        return n

    @workflow
    def sync_flaky(n: int) -> int:
        return flaky(n)

    result = traced_runner.run(sync_flaky, n=1)

    assert result.status is RunStatus.SUCCEEDED
    assert fake_sleep.delays == [0.5, 1.0]
    span = by_label(exporter.get_finished_spans())["task flaky <flaky>"]
    assert attributes(span) == task_attributes(
        "sync_flaky", result.run_id, "flaky", "flaky", attempt=3
    )
    assert span.status.status_code is StatusCode.UNSET
    assert [(event.name, dict(event.attributes or {})) for event in span.events] == [
        (
            "fiscus.task.retry",
            {
                "fiscus.task.attempt": attempt,
                "error.type": "ConnectionError",
                "fiscus.retry.delay": delay,
            },
        )
        for attempt, delay in ((1, 0.5), (2, 1.0))
    ]


def test_task_that_fails_after_retries_records_the_exception_once(
    traced_runner: Runner, exporter: InMemorySpanExporter
) -> None:
    @task(retry=Retry(attempts=2, backoff=0.5, jitter=False))
    def broken(n: int) -> int:
        raise ConnectionError("connection reset")

    @workflow
    def sync_broken(n: int) -> int:
        return broken(n)

    result = traced_runner.run(sync_broken, n=1)

    span = by_label(exporter.get_finished_spans())["task broken <broken>"]
    assert attributes(span) == {
        **task_attributes(
            "sync_broken", result.run_id, "broken", "broken", status="failed", attempt=2
        ),
        "error.type": "ConnectionError",
    }
    assert span.status.status_code is StatusCode.ERROR
    assert [event.name for event in span.events] == ["fiscus.task.retry", "exception"]


def test_task_skipped_by_a_hook_has_a_span_with_status_and_reason(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    def skip_store(ctx: TaskContext) -> None:
        if ctx.task_name == "store":
            raise SkipTask

    runner = Runner(tracer_provider=provider, hooks=Hooks(before_task=skip_store))
    result = runner.run(sync_books, n=1)

    assert result["store"].status is TaskStatus.SKIPPED
    span = by_label(exporter.get_finished_spans())["task store <store>"]
    assert attributes(span) == {
        **task_attributes(
            "sync_books", result.run_id, "store", "store", status="skipped", attempt=0
        ),
        "fiscus.task.reason": "it raised SkipTask (from a hook or its body)",
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.events == ()


def test_task_skipped_by_its_guard_has_a_span_with_status_and_reason(
    traced_runner: Runner, exporter: InMemorySpanExporter
) -> None:
    @workflow
    def recover_books(n: int) -> int:
        books = fetch(n)
        with when(failed(books)):
            store(n)
        return books

    result = traced_runner.run(recover_books, n=1)

    spans = exporter.get_finished_spans()
    assert tree(spans) == (
        (
            "workflow recover_books",
            (("task fetch <fetch>", ()), ("task store <store>", ())),
        ),
    )
    span = by_label(spans)["task store <store>"]
    assert attributes(span) == {
        **task_attributes(
            "recover_books",
            result.run_id,
            "store",
            "store",
            status="skipped",
            attempt=0,
        ),
        "fiscus.task.reason": "its guard is false: failed(fetch)",
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.events == ()


def test_task_that_needs_a_failed_value_has_a_skipped_span(
    traced_runner: Runner, exporter: InMemorySpanExporter
) -> None:
    @task(on_error="continue")
    def charge_softly(amount: int) -> int:
        raise QuotaExceededError("quota exceeded")

    @workflow
    def bill_softly(amount: int) -> int:
        return store(charge_softly(amount))

    result = traced_runner.run(bill_softly, amount=5)

    assert result.status is RunStatus.SUCCEEDED
    span = by_label(exporter.get_finished_spans())["task store <store>"]
    assert attributes(span) == {
        **task_attributes(
            "bill_softly", result.run_id, "store", "store", status="skipped", attempt=0
        ),
        "fiscus.task.reason": "needs the value of 'charge_softly', which failed",
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.events == ()


# ---------------------------------------------------------------- context


def test_hooks_run_inside_the_task_span(
    provider: TracerProvider, exporter: InMemorySpanExporter, fake_sleep: FakeSleep
) -> None:
    seen: list[tuple[str, str, int]] = []

    def current() -> int:
        return trace.get_current_span().get_span_context().span_id

    def before(ctx: TaskContext) -> None:
        seen.append(("before", ctx.task_id, current()))

    def after(ctx: TaskContext, value: object) -> None:
        seen.append(("after", ctx.task_id, current()))

    async def on_retry(ctx: TaskContext, error: BaseException, delay: float) -> None:
        seen.append(("on_retry", ctx.task_id, current()))

    calls: list[int] = []

    @task(retry=Retry(attempts=2, backoff=0.5, jitter=False))
    def flaky(n: int) -> int:
        calls.append(n)
        if len(calls) == 1:
            raise ConnectionError("connection reset")
        return n

    @workflow
    def sync_flaky(n: int) -> int:
        return flaky(n)

    hooks = Hooks(before_task=before, after_task=after, on_retry=on_retry)
    runner = Runner(tracer_provider=provider, hooks=hooks, sleep=fake_sleep)
    runner.run(sync_flaky, n=1)

    task_span = span_id(by_label(exporter.get_finished_spans())["task flaky <flaky>"])
    assert seen == [
        ("before", "flaky", task_span),
        ("on_retry", "flaky", task_span),
        ("after", "flaky", task_span),
    ]


def test_user_span_in_an_async_task_body_is_a_child_of_the_task_span(
    traced_runner: Runner, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    @task
    async def parse(n: int) -> int:
        with provider.get_tracer("app").start_as_current_span("parse page"):
            return n

    @workflow
    def sync_pages(n: int) -> int:
        return parse(n)

    traced_runner.run(sync_pages, n=1)

    assert tree(exporter.get_finished_spans()) == (
        ("workflow sync_pages", (("task parse <parse>", (("parse page", ()),)),)),
    )


def test_user_span_in_a_sync_task_body_in_a_worker_thread_is_a_child_of_the_task_span(
    traced_runner: Runner, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    threads: list[threading.Thread] = []

    @task
    def parse(n: int) -> int:
        threads.append(threading.current_thread())
        with provider.get_tracer("app").start_as_current_span("parse page"):
            return n

    @workflow
    def sync_pages(n: int) -> int:
        return parse(n)

    traced_runner.run(sync_pages, n=1)

    assert len(threads) == 1
    assert threads[0] is not threading.main_thread()
    assert tree(exporter.get_finished_spans()) == (
        ("workflow sync_pages", (("task parse <parse>", (("parse page", ()),)),)),
    )


# ---------------------------------------------------------------- composition


def test_sub_workflow_spans_nest_under_the_parent_workflow_span(
    traced_runner: Runner, exporter: InMemorySpanExporter
) -> None:
    @workflow
    def load(n: int) -> int:
        return store(n)

    @workflow
    def sync_loaded(n: int) -> int:
        return load(fetch(n))

    result = traced_runner.run(sync_loaded, n=1)

    spans = exporter.get_finished_spans()
    assert tree(spans) == (
        (
            "workflow sync_loaded",
            (
                ("task fetch <fetch>", ()),
                ("workflow load", (("task store <load/store>", ()),)),
            ),
        ),
    )
    assert attributes(by_label(spans)["workflow load"]) == {
        "fiscus.workflow.name": "load",
        "fiscus.run.id": result.run_id,
        "fiscus.run.status": "succeeded",
    }
    assert attributes(by_label(spans)["task store <load/store>"]) == (
        task_attributes("load", result.run_id, "load/store", "store")
    )


def test_sub_workflow_span_ends_with_error_when_a_task_inside_fails(
    traced_runner: Runner, exporter: InMemorySpanExporter
) -> None:
    @workflow
    def pay(amount: int) -> int:
        return store(charge(amount))

    @workflow
    def checkout(amount: int) -> int:
        return pay(amount)

    result = traced_runner.run(checkout, amount=5)

    spans = exporter.get_finished_spans()
    assert tree(spans) == (
        (
            "workflow checkout",
            (
                (
                    "workflow pay",
                    (("task charge <pay/charge>", ()), ("task store <pay/store>", ())),
                ),
            ),
        ),
    )
    skipped = by_label(spans)["task store <pay/store>"]
    assert attributes(skipped)["fiscus.task.status"] == "skipped"
    assert attributes(skipped)["fiscus.task.reason"] == (
        "needs the value of 'pay/charge', which failed"
    )
    span = by_label(spans)["workflow pay"]
    assert attributes(span) == {
        "fiscus.workflow.name": "pay",
        "fiscus.run.id": result.run_id,
        "fiscus.run.status": "failed",
    }
    assert span.status.status_code is StatusCode.ERROR
    assert span.events == ()


def test_sub_workflow_whose_last_task_fails_has_an_error_span(
    traced_runner: Runner, exporter: InMemorySpanExporter
) -> None:
    @workflow
    def checkout(amount: int) -> int:
        return bill(amount)

    result = traced_runner.run(checkout, amount=5)

    assert result["bill"].status is TaskStatus.FAILED
    span = by_label(exporter.get_finished_spans())["workflow bill"]
    assert attributes(span) == {
        "fiscus.workflow.name": "bill",
        "fiscus.run.id": result.run_id,
        "fiscus.run.status": "failed",
    }
    assert span.status.status_code is StatusCode.ERROR
    assert span.events == ()


def test_mapped_instances_each_get_a_task_span(
    traced_runner: Runner, exporter: InMemorySpanExporter
) -> None:
    @task
    async def pages(n: int) -> list[int]:
        return list(range(n))

    @workflow
    def sync_pages(n: int) -> list[int]:
        return fetch.map(n=pages(n))

    result = traced_runner.run(sync_pages, n=3)

    spans = exporter.get_finished_spans()
    instances = [f"fetch[{index}]" for index in range(3)]
    assert tree(spans) == (
        (
            "workflow sync_pages",
            (
                *((f"task fetch <{instance}>", ()) for instance in instances),
                ("task pages <pages>", ()),
            ),
        ),
    )
    for instance in instances:
        assert attributes(by_label(spans)[f"task fetch <{instance}>"]) == (
            task_attributes("sync_pages", result.run_id, instance, "fetch")
        )


def test_task_called_outside_a_workflow_has_only_a_task_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    previous = set_default_runner(Runner(tracer_provider=provider))
    try:
        assert store(3) == 3
    finally:
        set_default_runner(previous)

    spans = exporter.get_finished_spans()
    assert tree(spans) == (("task store <store>", ()),)
    run_id = attributes(spans[0])["fiscus.run.id"]
    assert isinstance(run_id, str)
    # A one-task run is named after its task.
    assert attributes(spans[0]) == task_attributes("store", run_id, "store", "store")


async def test_a_cancelled_run_ends_its_spans(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    started = asyncio.Event()

    @task
    async def wait_forever(n: int) -> int:
        started.set()
        await asyncio.Event().wait()
        return n

    @workflow
    def stuck(n: int) -> int:
        return wait_forever(n)

    run = asyncio.ensure_future(Runner(tracer_provider=provider).arun(stuck, n=1))
    await started.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    for _ in range(3):  # let the cancelled tasks unwind
        await asyncio.sleep(0)

    assert tree(exporter.get_finished_spans()) == (
        ("workflow stuck", (("task wait_forever <wait_forever>", ()),)),
    )


# ---------------------------------------------------------------- leak guards

sign_in_calls: list[int] = []


@task(retry=Retry(attempts=2, backoff=0.5, jitter=False))
def sign_in(token: str) -> str:
    if not sign_in_calls:
        sign_in_calls.append(1)
        raise ConnectionError("connection reset")
    return token


@task(on_error="continue")
def charge_card(amount: int, token: str) -> int:
    raise QuotaExceededError("quota exceeded")


@task(on_error="continue")
def page_size(limit: int) -> int:
    return limit


@workflow
def leaky_login(token: str) -> int:
    """Pass a secret to tasks that retry, fail, and fail validation."""
    echoed = sign_in(token)
    charge_card(1, token)
    page_size(token)  # type: ignore[arg-type]  # invalid while tracing, on purpose
    return store(echoed)  # type: ignore[arg-type]  # invalid at run time, on purpose


def test_no_span_carries_an_attribute_outside_the_allowlist(
    traced_runner: Runner, exporter: InMemorySpanExporter
) -> None:
    sign_in_calls.clear()
    traced_runner.run(leaky_login, token=SECRET)

    spans = exporter.get_finished_spans()
    assert {event.name for span in spans for event in span.events} == {
        "fiscus.task.retry",
        "exception",
    }
    span_keys = {key for span in spans for key in attributes(span)}
    event_keys = {
        key for span in spans for event in span.events for key in event.attributes or {}
    }
    assert span_keys <= SPAN_ATTRIBUTES
    assert event_keys <= EVENT_ATTRIBUTES


def test_argument_values_never_appear_in_any_span(
    traced_runner: Runner, exporter: InMemorySpanExporter
) -> None:
    sign_in_calls.clear()
    result = traced_runner.run(leaky_login, token=SECRET)

    assert result.statuses() == {
        "sign_in": TaskStatus.SUCCEEDED,
        "charge_card": TaskStatus.FAILED,
        "page_size": TaskStatus.FAILED,
        "store": TaskStatus.FAILED,
    }
    spans = exporter.get_finished_spans()
    assert len(spans) == 5
    assert [text for text in span_texts(spans) if SECRET in text] == []


def test_guard_reasons_never_carry_argument_values(
    traced_runner: Runner, exporter: InMemorySpanExporter
) -> None:
    @task
    async def current_token(n: int) -> str:
        return "sk_test_rotated"

    @task
    async def rotate(token: str) -> str:
        return token

    @workflow
    def rotate_if_current(token: str) -> None:
        with when(current_token(1) == token):
            rotate(token)

    result = traced_runner.run(rotate_if_current, token=SHORT_SECRET)

    spans = exporter.get_finished_spans()
    assert attributes(by_label(spans)["task rotate <rotate>"]) == {
        **task_attributes(
            "rotate_if_current",
            result.run_id,
            "rotate",
            "rotate",
            status="skipped",
            attempt=0,
        ),
        "fiscus.task.reason": "its guard is false: current_token == ...",
    }
    assert [text for text in span_texts(spans) if SHORT_SECRET in text] == []


# ---------------------------------------------------------------- no provider


def test_without_a_provider_runs_work_and_record_nothing(
    exporter: InMemorySpanExporter, fake_sleep: FakeSleep
) -> None:
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    recording: list[bool] = []

    @task(retry=Retry(attempts=2, backoff=0.5, jitter=False))
    def flaky(n: int) -> int:
        recording.append(trace.get_current_span().is_recording())
        if len(recording) == 1:
            raise ConnectionError("connection reset")
        return n

    @task(on_error="continue")
    def charge_later(amount: int) -> int:
        raise QuotaExceededError("quota exceeded")

    @workflow
    def sync_flaky(n: int) -> int:
        charge_later(n)
        return flaky(n)

    result = Runner(sleep=fake_sleep).run(sync_flaky, n=1)

    assert result.status is RunStatus.SUCCEEDED
    assert result.output == 1
    assert result["charge_later"].status is TaskStatus.FAILED
    assert recording == [False, False]
    assert exporter.get_finished_spans() == ()
