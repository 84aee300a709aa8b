"""CLIENT spans: one per HTTP attempt, under the task span, with the W3C traceparent.

Spans follow the OpenTelemetry HTTP client conventions: the name is
``{METHOD} {url.template}``; ``url.full`` is scrubbed; ``error.type`` is the
status or the exception's qualified name; attempts after the first carry
``http.request.resend_count``. Spans go to an in-memory exporter through
``Runner(tracer_provider=...)``; attribute keys are written out as literals
on purpose, since they are the published contract.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import httpx
import pytest
import respx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

from fiscus_dsl import (
    ApiKeyAuth,
    BearerAuth,
    Connector,
    OAuth2ClientCredentials,
    Query,
    Retry,
    Runner,
    Secret,
    workflow,
)

from .conftest import BASE, attributes, span_id, span_texts, tree

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    from fiscus_dsl.testing import FakeSleep

TOKEN = "sk_live_spans_bearer_CANARY_51c0ffee"
API_KEY = "sk_live_spans_apikey_CANARY_7e57ab1e"
PATH_SECRET = "sk_live_spans_path_CANARY_d00dfeed"
CLIENT_SECRET = "cs_live_spans_oauth_CANARY_0a7h"
TOKEN_URL = "https://auth.example.test/token"

CLIENT_ATTRIBUTES = frozenset(
    {
        "http.request.method",
        "server.address",
        "server.port",
        "url.full",
        "url.template",
        "http.response.status_code",
        "http.request.resend_count",
        "error.type",
    }
)

crm = Connector(
    "CRM",
    BASE,
    auth=BearerAuth(Secret(TOKEN)),
    retry=Retry(attempts=3, backoff=0.5, jitter=False),
)


@crm.operation("GET /contacts/{contact_id}")
def get_contact(
    contact_id: str, token: Annotated[str | None, Query()] = None
) -> dict[str, str]:
    """Fetch one contact."""
    raise NotImplementedError


def list_items() -> dict[str, int]:
    """List items."""
    raise NotImplementedError


@crm.task
async def search(client: httpx.AsyncClient, q: str) -> list[str]:
    response = await client.get(f"{BASE}/search", params={"q": q})
    return list(response.json())


@workflow
def fetch(contact_id: str) -> dict[str, str]:
    return get_contact(contact_id=contact_id)


def client_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    spans = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    return sorted(spans, key=lambda span: span.start_time or 0)


def one(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    (span,) = [s for s in exporter.get_finished_spans() if s.name == name]
    return span


def contact_attributes(extra: dict[str, str | int]) -> dict[str, str | int]:
    return {
        "http.request.method": "GET",
        "server.address": "api.example.test",
        "server.port": 443,
        "url.full": f"{BASE}/contacts/42",
        "url.template": "/v1/contacts/{contact_id}",
        **extra,
    }


def ids(span: ReadableSpan) -> tuple[str, str]:
    """Return the trace id and span id of a span as a traceparent writes them."""
    context = span.get_span_context()
    assert context is not None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def parse(header: str) -> tuple[tuple[str, str], bool]:
    """Return a traceparent's ``(trace id, parent id)`` and its sampled flag."""
    version, trace_id, parent_id, flags = header.split("-")
    assert version == "00"
    return (trace_id, parent_id), bool(int(flags, 16) & 0x01)


# ---------------------------------------------------------------- one per attempt


def test_each_attempt_gets_a_client_span_under_the_task_span(
    runner: Runner, api: respx.MockRouter, exporter: InMemorySpanExporter
) -> None:
    api.get("/contacts/42").mock(
        side_effect=[
            httpx.Response(503),
            httpx.ConnectError("refused"),
            httpx.Response(200, json={"id": "42"}),
        ]
    )

    result = runner.run(fetch, contact_id="42")

    assert result.output == {"id": "42"}
    name = "GET /v1/contacts/{contact_id}"
    assert tree(exporter.get_finished_spans()) == (
        (
            "workflow fetch",
            (("task get_contact", ((name, ()), (name, ()), (name, ()))),),
        ),
    )
    first, second, third = client_spans(exporter)
    assert attributes(first) == contact_attributes(
        {"http.response.status_code": 503, "error.type": "503"}
    )
    assert attributes(second) == contact_attributes(
        {"http.request.resend_count": 1, "error.type": "httpx.ConnectError"}
    )
    assert attributes(third) == contact_attributes(
        {"http.request.resend_count": 2, "http.response.status_code": 200}
    )
    assert [span.status.status_code for span in (first, second, third)] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    assert second.status.description == "ConnectError"
    assert first.status.description is None


def test_a_4xx_answer_sets_error_type_and_status(
    runner: Runner, api: respx.MockRouter, exporter: InMemorySpanExporter
) -> None:
    api.get("/contacts/42").respond(404)

    runner.run(fetch, contact_id="42")

    (span,) = client_spans(exporter)
    assert attributes(span) == contact_attributes(
        {"http.response.status_code": 404, "error.type": "404"}
    )
    assert span.status.status_code is StatusCode.ERROR


def test_a_deadline_sets_error_type_timeout_error(
    runner: Runner, exporter: InMemorySpanExporter
) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")  # pragma: no cover (never woken)

    slow = Connector(
        "Slow", BASE, timeout=1e-6, retry=None, transport=httpx.MockTransport(hang)
    )
    fetch_slowly = slow.operation("GET /contacts/{contact_id}", name="slow")(
        get_contact.__wrapped__
    )

    @workflow
    def slow_flow() -> None:
        fetch_slowly(contact_id="42")

    runner.run(slow_flow)

    (span,) = client_spans(exporter)
    assert attributes(span) == contact_attributes({"error.type": "TimeoutError"})
    assert span.status.description == "TimeoutError"


def test_the_traceparent_of_each_request_names_its_client_span(
    runner: Runner, api: respx.MockRouter, exporter: InMemorySpanExporter
) -> None:
    route = api.get("/contacts/42").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={})]
    )

    runner.run(fetch, contact_id="42")

    spans = client_spans(exporter)
    sent = [parse(call.request.headers["traceparent"]) for call in route.calls]
    assert sent == [(ids(span), True) for span in spans]
    trace_id, _ = ids(one(exporter, "workflow fetch"))
    assert {ids[0] for ids, _ in sent} == {trace_id}
    task = one(exporter, "task get_contact")
    assert {span.parent.span_id for span in spans if span.parent} == {span_id(task)}


def test_url_full_is_scrubbed_of_secrets(
    runner: Runner, exporter: InMemorySpanExporter
) -> None:
    keyed = Connector("Keyed", BASE, auth=ApiKeyAuth(Secret(API_KEY), query="api_key"))

    @keyed.operation("GET /keys/{key_id}")
    def get_key(key_id: Secret, token: Annotated[str | None, Query()] = None) -> None:
        """Fetch a key by itself."""

    @workflow
    def flow() -> None:
        get_key(key_id=Secret(PATH_SECRET), token="tk-unregistered-31")

    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        route = router.get(url__startswith=f"{BASE}/keys/").respond(204)
        runner.run(flow)

    request = route.calls.last.request
    assert request.url.params["api_key"] == API_KEY, "the key is sent"
    (span,) = client_spans(exporter)
    assert attributes(span)["url.full"] == (
        f"{BASE}/keys/**********?token=REDACTED&api_key=REDACTED"
    )
    assert attributes(span)["url.template"] == "/v1/keys/{key_id}"


@pytest.mark.parametrize(
    ("base_url", "address", "port"),
    [
        ("http://localhost:8080/api", "localhost", 8080),
        ("http://crm.internal/api", "crm.internal", 80),
        ("https://[::1]:8443/api", "::1", 8443),
    ],
)
def test_server_address_and_port_come_from_the_url(
    runner: Runner,
    exporter: InMemorySpanExporter,
    base_url: str,
    address: str,
    port: int,
) -> None:
    local = Connector("Local", base_url)

    @local.operation("GET /ping")
    def ping() -> None:
        """Ping."""

    @workflow
    def flow() -> None:
        ping()

    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        router.get(f"{base_url}/ping").respond(204)
        runner.run(flow)

    (span,) = client_spans(exporter)
    assert attributes(span) == {
        "http.request.method": "GET",
        "server.address": address,
        "server.port": port,
        "url.full": f"{base_url}/ping",
        "url.template": "/api/ping",
        "http.response.status_code": 204,
    }


def test_an_oauth2_refresh_shows_the_token_requests_and_the_resend(
    runner: Runner, exporter: InMemorySpanExporter
) -> None:
    auth = OAuth2ClientCredentials(TOKEN_URL, "app", Secret(CLIENT_SECRET))
    oauth = Connector("OAuth", BASE, auth=auth, retry=None)
    items = oauth.operation("GET /items")(list_items)

    @workflow
    def flow() -> dict[str, int]:
        return items()

    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        router.post(TOKEN_URL).mock(
            side_effect=[
                httpx.Response(
                    200,
                    json={"access_token": "at_first_CANARY_01", "token_type": "bearer"},
                ),
                httpx.Response(
                    200,
                    json={
                        "access_token": "at_second_CANARY_02",
                        "token_type": "bearer",
                    },
                ),
            ]
        )
        route = router.get(f"{BASE}/items").mock(
            side_effect=[httpx.Response(401), httpx.Response(200, json={"n": 1})]
        )
        result = runner.run(flow)

    assert result.output == {"n": 1}
    assert [call.request.headers["Authorization"] for call in route.calls] == [
        "Bearer at_first_CANARY_01",
        "Bearer at_second_CANARY_02",
    ]
    names = ("POST", "GET /v1/items", "POST", "GET /v1/items")
    assert tree(exporter.get_finished_spans()) == (
        ("workflow flow", (("task list_items", tuple((n, ()) for n in names)),)),
    )
    token, first, again, second = client_spans(exporter)
    token_attributes = {
        "http.request.method": "POST",
        "server.address": "auth.example.test",
        "server.port": 443,
        "url.full": TOKEN_URL,
        "http.response.status_code": 200,
    }
    items_attributes = {
        "http.request.method": "GET",
        "server.address": "api.example.test",
        "server.port": 443,
        "url.full": f"{BASE}/items",
        "url.template": "/v1/items",
    }
    assert attributes(token) == attributes(again) == token_attributes
    assert attributes(first) == {
        **items_attributes,
        "http.response.status_code": 401,
        "error.type": "401",
    }
    # The resend after the 401 is one of the same attempt: whether it should
    # carry http.request.resend_count (the conventions count auth resends)
    # is left open here.
    resent = {
        k: v for k, v in attributes(second).items() if k != "http.request.resend_count"
    }
    assert resent == {**items_attributes, "http.response.status_code": 200}
    texts = span_texts(exporter.get_finished_spans())
    assert not [text for text in texts if "CANARY" in text]


# ---------------------------------------------------------------- hand-written tasks


def test_a_hand_written_task_gets_client_spans_without_a_template(
    runner: Runner, api: respx.MockRouter, exporter: InMemorySpanExporter
) -> None:
    route = api.get("/search").respond(json=["Ada"])

    @workflow
    def find(q: str) -> list[str]:
        return search(q=q)

    result = runner.run(find, q="ada")

    assert result.output == ["Ada"]
    assert tree(exporter.get_finished_spans()) == (
        ("workflow find", (("task search", (("GET", ()),)),)),
    )
    (span,) = client_spans(exporter)
    assert attributes(span) == {
        "http.request.method": "GET",
        "server.address": "api.example.test",
        "server.port": 443,
        "url.full": f"{BASE}/search?q=ada",
        "http.response.status_code": 200,
    }
    assert parse(route.calls.last.request.headers["traceparent"]) == (ids(span), True)
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_a_client_used_outside_a_run_sends_without_spans(
    api: respx.MockRouter,
) -> None:
    route = api.get("/search").respond(json=[])

    response = await crm.client().get(f"{BASE}/search")
    await crm.aclose()

    assert response.status_code == 200
    assert "traceparent" not in route.calls.last.request.headers
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_a_client_used_outside_a_run_raises_httpx_errors_as_they_are(
    api: respx.MockRouter,
) -> None:
    api.get("/search").mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(httpx.ConnectError, match=r"^refused$"):
        await crm.client().get(f"{BASE}/search")
    in_flight = crm.limits().in_flight
    await crm.aclose()

    assert in_flight == 0


# ---------------------------------------------------------------- not recording


def test_a_span_that_is_not_recording_gets_no_attributes_but_the_header(
    fake_sleep: FakeSleep, api: respx.MockRouter, exporter: InMemorySpanExporter
) -> None:
    route = api.get("/contacts/42").mock(
        side_effect=[
            httpx.Response(503),
            httpx.ConnectError("x"),
            httpx.Response(200, json={}),
        ]
    )
    provider = TracerProvider(sampler=ALWAYS_OFF)

    Runner(sleep=fake_sleep, tracer_provider=provider).run(fetch, contact_id="42")

    assert exporter.get_finished_spans() == ()
    sent = [parse(call.request.headers["traceparent"]) for call in route.calls]
    assert [sampled for _, sampled in sent] == [False, False, False]
    assert len({parent for (_, parent), _ in sent}) == 3, "one parent per attempt"


def test_a_run_that_is_not_sampled_sends_one_trace_id(
    fake_sleep: FakeSleep, api: respx.MockRouter
) -> None:
    route = api.get("/contacts/42").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={})]
    )
    provider = TracerProvider(sampler=ALWAYS_OFF)

    Runner(sleep=fake_sleep, tracer_provider=provider).run(fetch, contact_id="42")

    sent = [parse(call.request.headers["traceparent"]) for call in route.calls]
    assert len({trace_id for (trace_id, _), _ in sent}) == 1


# ---------------------------------------------------------------- secrets


def test_client_span_attributes_stay_within_the_conventions(
    runner: Runner, api: respx.MockRouter, exporter: InMemorySpanExporter
) -> None:
    api.get("/contacts/42").mock(
        side_effect=[
            httpx.ReadTimeout("slow"),
            httpx.Response(500),
            httpx.Response(200, json={}),
        ]
    )

    runner.run(fetch, contact_id="42")

    for span in client_spans(exporter):
        assert set(attributes(span)) <= CLIENT_ATTRIBUTES


def test_no_secret_reaches_a_span_an_error_or_the_result(
    runner: Runner, exporter: InMemorySpanExporter
) -> None:
    secret_key, secret_path = Secret(API_KEY), Secret(PATH_SECRET)
    leaky = Connector(
        "Leaky",
        BASE,
        auth=ApiKeyAuth(secret_key, query="api_key"),
        headers={"X-Client": "fiscus"},
        retry=Retry(attempts=2, backoff=0.5, jitter=False),
    )

    @leaky.operation("GET /keys/{key_id}")
    def get_key(key_id: Secret) -> dict[str, str]:
        """Fetch a key."""
        raise NotImplementedError

    @workflow
    def flow() -> dict[str, str]:
        return get_key(key_id=secret_path)

    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        router.get(url__startswith=f"{BASE}/keys/").mock(
            side_effect=[
                httpx.Response(500, text=f"key {API_KEY} rejected for {PATH_SECRET}"),
                httpx.Response(403, json={"error": "denied", "token": PATH_SECRET}),
            ]
        )
        result = runner.run(flow)

    error = result.tasks["get_key"].error
    assert error is not None
    texts = [*span_texts(exporter.get_finished_spans()), str(error), repr(leaky)]
    texts += [result.model_dump_json(), str(result.error_message)]
    for text in texts:
        assert API_KEY not in text
        assert PATH_SECRET not in text
        assert TOKEN not in text


def test_no_secret_reaches_the_stacktrace_of_a_task_span(
    runner: Runner, api: respx.MockRouter, exporter: InMemorySpanExporter
) -> None:
    Secret(API_KEY)
    api.get("/contacts/42").mock(
        side_effect=httpx.ConnectError(f"proxy refused {BASE}?api_key={API_KEY}")
    )
    quick = crm.operation("GET /contacts/{contact_id}", name="quick", retry=None)(
        get_contact.__wrapped__
    )

    @workflow
    def flow() -> None:
        quick(contact_id="42")

    runner.run(flow)

    task = one(exporter, "task quick")
    stacktraces = [
        str((event.attributes or {}).get("exception.stacktrace"))
        for event in task.events
    ]
    assert stacktraces
    assert all(API_KEY not in text for text in stacktraces)
