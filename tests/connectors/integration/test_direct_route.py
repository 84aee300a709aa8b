"""The direct route against the live server: the request httpx's client sends.

On the default transport and on ``transport="aiohttp"`` an operation goes
past httpx's client, straight to aiohttp's pool. Each operation of a table
is sent once that way and once through httpx's client, and ``/raw/...``
answers what arrived: the method, the raw path and query, the headers and
the body bytes, which must be the same. The client is reached two ways:
the route turned off on the same connector (httpx's client over the same
aiohttp pool), and httpcore's pool (``transport="httpx"``), which writes
exactly what httpx builds. A spy on ``AiohttpTransport.send_whole`` tells
whether the route was taken. Then what the route does with what comes
back: cookies, encoded and large bodies, a 429's cool-down, error
statuses, the request size limit and the CLIENT span.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

import pytest
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, Field

from fiscus_dsl import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    Body,
    Connector,
    ConnectorError,
    FiscusErrorCode,
    Header,
    HTTPStatusError,
    Query,
    ResponseTooLargeError,
    Retry,
    Runner,
    Secret,
    workflow,
)
from fiscus_dsl._connectors.aio import AiohttpTransport
from fiscus_dsl._connectors.route import DirectRoute

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import httpx
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    from fiscus_dsl import Task
    from fiscus_dsl._connectors.wire import Answer, Outgoing
    from fiscus_dsl.testing import FakeSleep

    from .conftest import LiveServer

pytestmark = pytest.mark.usefixtures("runner")

#: What ``/raw/...`` answers: the request as it arrived.
Raw = dict[str, Any]

#: Headers each send makes anew: the CLIENT span's context.
PER_SEND: Final = frozenset({"traceparent", "tracestate"})
QUOTED_UUID: Final = re.compile(
    r'^"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}"$'
)
TOKEN: Final = "tok_direct_route_9f3a"
NO_RETRY: Final = Retry(attempts=1)


@pytest.fixture
def direct(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Return the URLs the direct route sends, as ``send_whole`` is called."""
    sent: list[str] = []
    send_whole = AiohttpTransport.send_whole

    async def spy(
        self: AiohttpTransport, out: Outgoing, *, limit: int | None
    ) -> Answer:
        sent.append(out.url)
        return await send_whole(self, out, limit=limit)

    monkeypatch.setattr(AiohttpTransport, "send_whole", spy)
    return sent


def _no_sender(self: DirectRoute) -> None:
    """Send nothing directly: every operation goes through the client."""


@contextmanager
def through_the_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Turn the direct route off for the block."""
    with monkeypatch.context() as patch:
        patch.setattr(DirectRoute, "sender", _no_sender)
        yield


# ---------------------------------------------------------------- the operations


def _by_name(api: Connector) -> Task[..., Raw]:
    @api.operation("GET /raw/{key}/{name}")
    def by_name(key: str, name: str) -> Raw:
        """Fetch one item by name."""
        raise NotImplementedError  # the connector sends the request

    return by_name


def _under_a_unicode_template(api: Connector) -> Task[..., Raw]:
    @api.operation("GET /raw/{key}/café/{name}")
    def in_cafe(key: str, name: str) -> Raw:
        """Fetch one item under a route httpx quotes."""
        raise NotImplementedError

    return in_cafe


def _deleted(api: Connector) -> Task[..., Raw]:
    @api.operation("DELETE /raw/{key}/{name}")
    def delete(key: str, name: str) -> Raw:
        """Delete one item: no body."""
        raise NotImplementedError

    return delete


def _searched(api: Connector) -> Task[..., Raw]:
    @api.operation("GET /raw/{key}")
    def search(
        key: str,
        tags: list[str],
        flag: bool,
        off: bool,
        text: str,
        missing: str | None = None,
        limit: Annotated[int, Query(alias="page[size]")] = 10,
    ) -> Raw:
        """Search with list, bool, None and aliased query parameters."""
        raise NotImplementedError

    return search


def _searched_twice(api: Connector) -> Task[..., Raw]:
    @api.operation("GET /raw/{key}")
    def search(
        key: str,
        first: Annotated[str, Query(alias="id")],
        sort: str,
        second: Annotated[str, Query(alias="id")],
    ) -> Raw:
        """Send two parameters under one query name, another between them."""
        raise NotImplementedError

    return search


def _posted_body(api: Connector) -> Task[..., Raw]:
    @api.operation("POST /raw/{key}")
    def create(key: str, contact: Annotated[dict[str, object], Body()]) -> Raw:
        """Create from a whole JSON body (automatic Idempotency-Key)."""
        raise NotImplementedError

    return create


def _posted_fields(api: Connector) -> Task[..., Raw]:
    @api.operation("POST /raw/{key}")
    def create(key: str, name: str, address: dict[str, object]) -> Raw:
        """Create from body fields (automatic Idempotency-Key)."""
        raise NotImplementedError

    return create


def _posted_with_a_key(api: Connector) -> Task[..., Raw]:
    @api.operation("POST /raw/{key}")
    def create(
        key: str,
        name: str,
        idempotency_key: Annotated[str, Header(alias="Idempotency-Key")],
    ) -> Raw:
        """Create with an explicit Idempotency-Key argument."""
        raise NotImplementedError

    return create


def _posted_empty(api: Connector) -> Task[..., Raw]:
    @api.operation("POST /raw/{key}", idempotency_key=False)
    def touch(key: str) -> Raw:
        """Post no body and no key."""
        raise NotImplementedError

    return touch


def _put(api: Connector) -> Task[..., Raw]:
    @api.operation("PUT /raw/{key}")
    def replace(key: str, items: Annotated[list[object], Body()]) -> Raw:
        """Replace with a JSON list."""
        raise NotImplementedError

    return replace


def _with_headers(api: Connector) -> Task[..., Raw]:
    @api.operation("GET /raw/{key}")
    def traced(
        key: str,
        trace: Annotated[str, Header(alias="X-Trace")],
        agent: Annotated[str, Header(alias="User-Agent")],
    ) -> Raw:
        """Send two header parameters, one over a client default."""
        raise NotImplementedError

    return traced


def _with_a_tenant(api: Connector) -> Task[..., Raw]:
    @api.operation("GET /raw/{key}")
    def tenant(key: str, tenant: Annotated[str, Header(alias="x-tenant")]) -> Raw:
        """Send a header the connector has a default for, in another case."""
        raise NotImplementedError

    return tenant


def _with_a_traceparent(api: Connector) -> Task[..., Raw]:
    @api.operation("GET /raw/{key}")
    def traced(key: str, parent: Annotated[str, Header(alias="Traceparent")]) -> Raw:
        """Send a trace context of its own, which the CLIENT span's replaces."""
        raise NotImplementedError

    return traced


def _with_its_own_api_key(api: Connector) -> Task[..., Raw]:
    @api.operation("GET /raw/{key}")
    def keyed(key: str, a: str, api_key: list[str], z: str) -> Raw:
        """Send a query parameter named as the connector's query key."""
        raise NotImplementedError

    return keyed


def _plain(api: Connector) -> Task[..., Raw]:
    @api.operation("GET /raw/{key}")
    def plain(key: str, q: str) -> Raw:
        """Send one query parameter."""
        raise NotImplementedError

    return plain


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One operation, its connector's options and its arguments."""

    id: str
    define: Callable[[Connector], Task[..., Raw]]
    arguments: dict[str, object]
    options: dict[str, object] = field(default_factory=dict)
    base_path: str = ""
    automatic_key: bool = False


CASES: Final = [
    Case(id="path-space", define=_by_name, arguments={"name": "a b"}),
    Case(id="path-slash", define=_by_name, arguments={"name": "a/b"}),
    Case(id="path-unicode", define=_by_name, arguments={"name": "é ☃ \U0001d518"}),
    Case(id="path-dot-dot", define=_by_name, arguments={"name": ".."}),
    Case(id="path-dot", define=_by_name, arguments={"name": "."}),
    Case(id="path-escapes", define=_by_name, arguments={"name": "%41~?#"}),
    Case(
        id="unicode-template", define=_under_a_unicode_template, arguments={"name": "x"}
    ),
    Case(
        id="base-path",
        define=_by_name,
        arguments={"name": "x"},
        base_path="/raw/ba%20se",
    ),
    Case(id="delete", define=_deleted, arguments={"name": "x"}),
    Case(
        id="query",
        define=_searched,
        arguments={
            "tags": ["a b", "c/d", "é", "x&y=z"],
            "flag": True,
            "off": False,
            "text": "+%/?#",
            "missing": None,
        },
    ),
    Case(
        id="query-one-name-twice",
        define=_searched_twice,
        arguments={"first": "1", "sort": "asc", "second": "2"},
    ),
    Case(
        id="post-body",
        define=_posted_body,
        arguments={
            "contact": {
                "name": "Zoë Ångström ☃",
                "address": {"city": "Zürich", "lines": ["1", None, 2.5, True]},
                "quote": 'say "hi"\n',
            }
        },
        automatic_key=True,
    ),
    Case(
        id="post-body-under-a-connector-content-type",
        define=_posted_fields,
        arguments={"name": "Ada", "address": {"city": "London"}},
        options={"headers": {"content-type": "application/vnd.api+json"}},
        automatic_key=True,
    ),
    Case(
        id="post-fields",
        define=_posted_fields,
        arguments={"name": "Łukasz", "address": {"city": "Kraków"}},
        automatic_key=True,
    ),
    Case(
        id="explicit-key",
        define=_posted_with_a_key,
        arguments={"name": "Ada", "idempotency_key": "order-42"},
    ),
    Case(id="post-empty", define=_posted_empty, arguments={}),
    Case(id="put-list", define=_put, arguments={"items": [1, "ü", {"k": None}]}),
    Case(
        id="header-parameters",
        define=_with_headers,
        arguments={"trace": "abc-123", "agent": "my-agent/1.0"},
    ),
    Case(
        id="traceparent-parameter",
        define=_with_a_traceparent,
        arguments={"parent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
    ),
    Case(
        id="bearer",
        define=_plain,
        arguments={"q": "x"},
        options={"auth": BearerAuth(Secret(TOKEN))},
    ),
    Case(
        id="api-key-header",
        define=_plain,
        arguments={"q": "x"},
        options={"auth": ApiKeyAuth(Secret(TOKEN), header="X-API-Key")},
    ),
    Case(
        id="api-key-query",
        define=_plain,
        arguments={"q": "x y"},
        options={"auth": ApiKeyAuth(Secret(TOKEN), query="api_key")},
    ),
    Case(
        id="api-key-query-over-a-parameter",
        define=_with_its_own_api_key,
        arguments={"a": "1", "api_key": ["mine", "also"], "z": "2"},
        options={"auth": ApiKeyAuth(Secret(TOKEN), query="api_key")},
    ),
    Case(
        id="basic",
        define=_plain,
        arguments={"q": "x"},
        options={"auth": BasicAuth("ada", Secret("pässwörd:1"))},
    ),
    Case(
        id="connector-headers",
        define=_plain,
        arguments={"q": "x"},
        options={
            "headers": {
                "X-Tenant": "acme",
                "accept": "application/json",
                "User-Agent": "fiscus-tests/1",
            }
        },
    ),
    Case(
        id="operation-header-over-a-connector-header",
        define=_with_a_tenant,
        arguments={"tenant": "globex"},
        options={"headers": {"X-Tenant": "acme"}},
    ),
]


def _received(answer: Raw, *, automatic_key: bool) -> dict[str, object]:
    """Return what the server received, the per-send headers left out."""
    headers = sorted(
        (name.lower(), value)
        for name, value in answer["headers"]
        if name.lower() not in PER_SEND
    )
    if automatic_key:  # one per run: its form is checked, then set aside
        keys = [value for name, value in headers if name == "idempotency-key"]
        assert len(keys) == 1
        assert QUOTED_UUID.match(keys[0]), keys
        headers = [(n, "<key>" if n == "idempotency-key" else v) for n, v in headers]
    return {
        "trace contexts": sum(
            name.lower() == "traceparent" for name, _ in answer["headers"]
        ),
        "method": answer["method"],
        "raw_path": answer["raw_path"],
        "query": answer["query"],
        "body": answer["body"],
        "headers": headers,
    }


def _send(live_server: LiveServer, case: Case, key: str, transport: str | None) -> Raw:
    api = Connector(
        "loopback",
        live_server.url + case.base_path,
        transport=transport,  # type: ignore[arg-type]  # a transport option
        retry=NO_RETRY,
        **case.options,  # type: ignore[arg-type]  # auth, headers
    )
    return case.define(api)(key=key, **case.arguments)


@pytest.mark.parametrize("reference", ["client", "httpcore"])
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_direct_route_sends_what_the_client_sends(
    live_server: LiveServer,
    key: str,
    direct: list[str],
    monkeypatch: pytest.MonkeyPatch,
    case: Case,
    reference: Literal["client", "httpcore"],
) -> None:
    sent = _send(live_server, case, key, None)
    assert len(direct) == 1  # the route was taken
    if reference == "client":
        with through_the_client(monkeypatch):
            expected = _send(live_server, case, key, None)
    else:
        expected = _send(live_server, case, key, "httpx")
    assert len(direct) == 1  # and only by the first

    got = _received(sent, automatic_key=case.automatic_key)
    wanted = _received(expected, automatic_key=case.automatic_key)
    if reference == "httpcore" and not sent["body"] and sent["method"] == "DELETE":
        # The one difference of aiohttp's pool, both ways to it: a method that
        # may carry a body, sent without one, says so with Content-Length: 0.
        assert ("content-length", "0") in got["headers"]  # type: ignore[operator]
        assert ("content-length", "0") not in wanted["headers"]  # type: ignore[operator]
        got["headers"] = [h for h in got["headers"] if h[0] != "content-length"]  # type: ignore[attr-defined]
    assert got == wanted


def test_transport_aiohttp_takes_the_route_and_sends_the_same(
    live_server: LiveServer, key: str, direct: list[str]
) -> None:
    (case,) = (case for case in CASES if case.id == "post-body")

    on_aiohttp = _send(live_server, case, key, "aiohttp")
    on_default = _send(live_server, case, key, None)

    assert len(direct) == 2
    assert _received(on_aiohttp, automatic_key=True) == _received(
        on_default, automatic_key=True
    )


@pytest.mark.parametrize(
    ("name", "text", "written"),
    [
        ("..", "x", ("/a/b/%2E%2E", "text=x")),
        (".", "x", ("/a/b/%2E", "text=x")),
        ("x", "c/d?e", ("/a/b/x", "text=c%2Fd%3Fe")),
    ],
    ids=["dot-dot", "dot", "query-escapes"],
)
def test_httpx_client_over_aiohttp_sends_the_url_httpx_writes(
    live_server: LiveServer,
    key: str,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    text: str,
    written: tuple[str, str],
) -> None:
    # The same URL on the client's way to aiohttp's pool as on the route's
    # and on httpcore's: a value quoted whole must not climb a segment.
    def send(transport: str | None) -> tuple[str, str]:
        api = Connector(
            "loopback",
            live_server.url,
            transport=transport,  # type: ignore[arg-type]  # a transport option
            retry=NO_RETRY,
        )

        @api.operation("GET /raw/{key}/a/b/{name}")
        def nested(key: str, name: str, text: str) -> Raw:
            """Fetch an item two levels down."""
            raise NotImplementedError

        answer = nested(key=key, name=name, text=text)
        return answer["raw_path"].removeprefix(f"/raw/{key}"), answer["query"]

    assert send("httpx") == written
    assert send(None) == written  # the direct route
    with through_the_client(monkeypatch):
        assert send(None) == written


# ---------------------------------------------------------------- cookies


def test_a_cookie_set_on_the_direct_route_goes_back_through_the_client(
    live_server: LiveServer, key: str, direct: list[str], fake_sleep: FakeSleep
) -> None:
    api = Connector("loopback", live_server.url, retry=NO_RETRY)

    @api.operation("GET /cookies/{key}")
    def set_cookie(key: str) -> dict[str, str | None]:
        """Get a session cookie."""
        raise NotImplementedError

    @api.task
    async def jar(client: httpx.AsyncClient, after: object) -> dict[str, str]:
        assert client is api.client()
        return dict(api.client().cookies.items())

    @api.operation("GET /raw/{key}")
    def show(key: str, seen: str) -> Raw:
        """Answer what arrived."""
        raise NotImplementedError

    @workflow
    def flow(key: str) -> Raw:
        first = set_cookie(key)
        cookies = jar(first)
        return show(key, seen=cookies["session"])

    result = Runner(sleep=fake_sleep).run(flow, key=key)

    assert result.success, result
    assert result["set_cookie"].value == {"cookie": None}
    assert result["jar"].value == {"session": key}  # kept by the client's jar
    assert result.output is not None
    headers = dict(result.output["headers"])
    assert headers["cookie"] == f"session={key}"
    assert direct == [f"{live_server.url}/cookies/{key}"]  # then the client's path


# ---------------------------------------------------------------- bodies


def _bodies(api: Connector) -> tuple[Task[..., str], Task[..., str]]:
    @api.operation("GET /big/{key}")
    def big(key: str, size: int, chunked: int = 0) -> str:
        """Fetch a JSON string of ``size`` bytes."""
        raise NotImplementedError

    @api.operation("GET /encoded/{key}")
    def encoded(key: str, size: int, encoding: str = "gzip") -> str:
        """Fetch an encoded JSON string of ``size`` bytes."""
        raise NotImplementedError

    return big, encoded


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "rawdeflate"])
def test_an_encoded_json_answer_is_decoded_on_the_direct_route(
    live_server: LiveServer, key: str, direct: list[str], encoding: str
) -> None:
    _, encoded = _bodies(Connector("loopback", live_server.url, retry=NO_RETRY))

    assert encoded(key=key, size=1000, encoding=encoding) == "0" * 998
    assert len(direct) == 1


def test_without_a_response_limit_httpx_decodes_the_direct_answer(
    live_server: LiveServer, key: str, direct: list[str]
) -> None:
    api = Connector(
        "loopback", live_server.url, retry=NO_RETRY, max_response_bytes=None
    )
    _, encoded = _bodies(api)

    assert encoded(key=key, size=1000) == "0" * 998
    assert len(direct) == 1


@pytest.mark.parametrize("limit", [None, 1_000_000], ids=["httpx-decodes", "limited"])
def test_a_body_that_does_not_decode_is_the_same_error_both_ways(
    live_server: LiveServer,
    key: str,
    direct: list[str],
    monkeypatch: pytest.MonkeyPatch,
    limit: int | None,
) -> None:
    def failure() -> ConnectorError:
        api = Connector(
            "loopback", live_server.url, retry=NO_RETRY, max_response_bytes=limit
        )
        _, encoded = _bodies(api)
        with pytest.raises(ConnectorError) as caught:
            encoded(key=key, size=10, encoding="broken-gzip")
        return caught.value

    sent = failure()
    assert len(direct) == 1
    with through_the_client(monkeypatch):
        expected = failure()

    assert "DecodingError" in str(sent)
    assert str(sent) == str(expected)
    assert (sent.code, sent.retryable) == (expected.code, expected.retryable)


@pytest.mark.parametrize(
    ("operation", "arguments"),
    [
        ("big", {"size": 4096}),
        ("big", {"size": 4096, "chunked": 1}),
        ("encoded", {"size": 4096}),
    ],
    ids=["content-length", "chunked", "gzip"],
)
def test_an_answer_over_the_limit_fails_alike_on_both_routes(
    live_server: LiveServer,
    key: str,
    direct: list[str],
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    arguments: dict[str, object],
) -> None:
    def fetch() -> ResponseTooLargeError:
        api = Connector(
            "loopback", live_server.url, retry=NO_RETRY, max_response_bytes=1024
        )
        big, encoded = _bodies(api)
        with pytest.raises(ResponseTooLargeError) as info:
            (big if operation == "big" else encoded)(key=key, **arguments)
        return info.value

    error = fetch()
    assert len(direct) == 1
    with through_the_client(monkeypatch):
        expected = fetch()

    assert str(error) == str(expected)
    assert str(error).startswith(
        f"Response body over max_response_bytes=1024 in operation '{operation}' of "
        f"connector 'loopback' (GET {live_server.url}/{operation}/{key}?size=4096"
    )
    assert (error.limit, error.code, error.retryable, error.url) == (
        1024,
        FiscusErrorCode.INTERNAL_ERROR,
        False,
        expected.url,
    )


# ---------------------------------------------------------------- statuses


def _flaky(api: Connector) -> Task[..., dict[str, int]]:
    @api.operation("GET /flaky/{key}")
    def flaky(key: str, failures: int, status: int, retry_after: int) -> dict[str, int]:
        """Fail ``failures`` times with ``status``."""
        raise NotImplementedError

    return flaky


@pytest.mark.parametrize("through", ["direct", "client"])
def test_a_429_on_either_route_cools_the_connector_down(
    live_server: LiveServer,
    key: str,
    direct: list[str],
    fake_sleep: FakeSleep,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    through: Literal["direct", "client"],
) -> None:
    api = Connector(
        "loopback", live_server.url, retry=Retry(attempts=2, backoff=0, jitter=False)
    )
    flaky = _flaky(api)

    @workflow
    def flow() -> dict[str, int]:
        return flaky(key, failures=1, status=429, retry_after=2)

    with caplog.at_level(logging.INFO, logger="fiscus_dsl"):
        if through == "direct":
            result = Runner(sleep=fake_sleep).run(flow)
        else:
            with through_the_client(monkeypatch):
                result = Runner(sleep=fake_sleep).run(flow)

    assert result.output == {"call": 2}
    assert len(direct) == (2 if through == "direct" else 0)
    cooling = [
        r.getMessage() for r in caplog.records if r.name == "fiscus_dsl.connector"
    ]
    assert cooling == [
        "Connector 'loopback' got 429 Too Many Requests; holding its next "
        "requests back 2.000 s"
    ]
    # The retry waits out Retry-After; the next slot then waits out what
    # is left of the cool-down (a little less, by the time it took).
    assert fake_sleep.delays[0] == 2.0
    assert len(fake_sleep.delays) == 2
    assert 1.0 < fake_sleep.delays[1] <= 2.0


@pytest.mark.parametrize("status", [302, 401, 404, 429, 500, 503])
def test_an_error_status_reads_the_same_on_both_routes(
    live_server: LiveServer,
    key: str,
    direct: list[str],
    monkeypatch: pytest.MonkeyPatch,
    status: int,
) -> None:
    def fetch(path_key: str) -> HTTPStatusError:
        api = Connector("loopback", live_server.url, retry=NO_RETRY)
        with pytest.raises(HTTPStatusError) as info:
            _flaky(api)(key=path_key, failures=1, status=status, retry_after=7)
        return info.value

    error = fetch(f"{key}d")
    assert len(direct) == 1
    with through_the_client(monkeypatch):
        expected = fetch(f"{key}c")

    def fields(error: HTTPStatusError, path_key: str) -> tuple[object, ...]:
        return (
            str(error).replace(path_key, "<key>"),
            error.url.replace(path_key, "<key>"),
            error.method,
            error.status_code,
            error.body,
            error.retryable,
            error.retry_after,
            error.code,
            error.operation,
        )

    assert fields(error, f"{key}d") == fields(expected, f"{key}c")
    assert str(error).startswith(f"HTTP {status} ")
    assert error.body == '{"error":"try again","call":1}'


def test_a_dropped_connection_reads_the_same_on_both_routes(
    live_server: LiveServer,
    key: str,
    direct: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fetch(path_key: str) -> ConnectorError:
        api = Connector("loopback", live_server.url, retry=NO_RETRY)

        @api.operation("POST /drop/{key}")
        def drop(key: str, name: str) -> Raw:
            """Post to a server that hangs up."""
            raise NotImplementedError

        with pytest.raises(ConnectorError) as info:
            drop(key=path_key, name="Ada")
        return info.value

    error = fetch(f"{key}d")
    assert len(direct) == 1
    with through_the_client(monkeypatch):
        expected = fetch(f"{key}c")

    assert str(error).replace(f"{key}d", "<key>") == str(expected).replace(
        f"{key}c", "<key>"
    )
    assert (error.code, error.retryable) == (expected.code, expected.retryable)


# ---------------------------------------------------------------- request size


class Note(BaseModel):
    """A body whose JSON names are much longer than its field names."""

    t: str = Field(alias="a_json_name_far_longer_than_the_field_name")


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (
            "dict",
            "Operation 'create' of connector 'loopback': the request body is over "
            "64 bytes of JSON",
        ),
        (
            "aliased-model",
            "Request body over max_request_bytes=64 in operation 'create' of "
            "connector 'loopback'",
        ),
    ],
    ids=["measured-before-building", "refused-by-the-route"],
)
def test_a_body_over_max_request_bytes_is_refused_unsent(
    live_server: LiveServer,
    key: str,
    direct: list[str],
    monkeypatch: pytest.MonkeyPatch,
    body: str,
    refused: str,
) -> None:
    # The dict is measured over the limit before the request is built; the
    # model is measured by its field names (under the limit) and its JSON,
    # written with its aliases, is over it: the route's own check stops it.
    value: object = (
        {"text": "x" * 100}
        if body == "dict"
        else Note.model_validate(
            {"a_json_name_far_longer_than_the_field_name": "x" * 40}
        )
    )

    def post() -> ConnectorError:
        api = Connector(
            "loopback", live_server.url, retry=Retry(attempts=3), max_request_bytes=64
        )

        @api.operation("POST /raw/{key}")
        def create(key: str, note: Annotated[object, Body()]) -> Raw:
            """Create a note."""
            raise NotImplementedError

        with pytest.raises(ConnectorError) as info:
            create(key=key, note=value)
        return info.value

    error = post()
    with through_the_client(monkeypatch):
        expected = post()

    assert str(error) == str(expected)
    assert (error.code, error.retryable) == (FiscusErrorCode.INVALID_REQUEST, False)
    assert str(error).startswith(refused)
    assert "nothing was sent" in str(error)
    assert direct == []
    assert live_server.state.requests(key) == []


# ---------------------------------------------------------------- spans


def _client_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = (s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT)
    exporter.clear()
    return span


def _traceparent(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    ids = f"{context.trace_id:032x}-{context.span_id:016x}"
    return f"00-{ids}-{context.trace_flags:02x}"


@pytest.mark.parametrize("status", [200, 503])
def test_the_client_span_is_the_same_on_both_routes(
    live_server: LiveServer,
    key: str,
    direct: list[str],
    monkeypatch: pytest.MonkeyPatch,
    fake_sleep: FakeSleep,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    status: int,
) -> None:
    failures = 0 if status == 200 else 1

    def fetch(path_key: str) -> tuple[ReadableSpan, ReadableSpan, str | None]:
        api = Connector("loopback", live_server.url, retry=NO_RETRY)
        flaky = _flaky(api)

        @workflow
        def flow() -> dict[str, int]:
            return flaky(path_key, failures=failures, status=status, retry_after=0)

        Runner(sleep=fake_sleep, tracer_provider=provider).run(flow)
        (task_span,) = (
            s for s in exporter.get_finished_spans() if s.name == "task flaky"
        )
        (seen,) = live_server.state.requests(path_key)
        return task_span, _client_span(exporter), seen.headers.get("traceparent")

    task_span, span, traceparent = fetch(f"{key}d")
    assert len(direct) == 1
    with through_the_client(monkeypatch):
        _, expected, expected_traceparent = fetch(f"{key}c")

    def described(span: ReadableSpan, path_key: str) -> tuple[object, ...]:
        attributes = {
            name: value.replace(path_key, "<key>") if isinstance(value, str) else value
            for name, value in (span.attributes or {}).items()
        }
        return (
            span.name,
            span.kind,
            attributes,
            span.status.status_code,
            span.status.description,
            [event.name for event in span.events],
        )

    assert described(span, f"{key}d") == described(expected, f"{key}c")
    assert (span.attributes or {})["http.response.status_code"] == status
    assert span.parent == task_span.get_span_context()
    assert traceparent == _traceparent(span)
    assert expected_traceparent == _traceparent(expected)
