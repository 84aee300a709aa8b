"""The direct route's choices and records, without a network.

An operation leaves httpx's client only when the client would add nothing:
each condition under which it must stay on the client is checked here
(``DirectRoute.sender`` or ``direct_route`` say no). ``prepare`` writes the
request ``client.build_request`` builds and the auth completes; its
helpers merge headers and set a query parameter as httpx does, checked
against httpx itself with hypothesis. ``wire.Answer`` tells whether its
body is still encoded or sets cookies, and turns into an ``httpx.Response``
without the headers a decoded body no longer matches.
"""

from __future__ import annotations

import gzip
import os
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, Final
from urllib.parse import urlencode

import httpx
import pytest
import respx
from httpx_aiohttp import AiohttpTransport as HttpxAiohttpTransport
from hypothesis import given, settings
from hypothesis import strategies as st

from fiscus_dsl import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    Body,
    Connector,
    Header,
    OAuth2ClientCredentials,
    Query,
    Secret,
)
from fiscus_dsl._connectors.aio import AiohttpTransport
from fiscus_dsl._connectors.http import InstrumentedTransport, overriding_transport
from fiscus_dsl._connectors.origins import OriginBoundAuth
from fiscus_dsl._connectors.request import read_operation
from fiscus_dsl._connectors.route import DirectRoute, _set_param, direct_route
from fiscus_dsl._connectors.wire import Answer, Outgoing, json_body, merged_headers
from fiscus_dsl._dsl.signature import CallSignature

from .conftest import BASE

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from fiscus_dsl import Runner
    from fiscus_dsl._connectors.connector import _LoopState

PROPERTIES: Final = settings(max_examples=300, derandomize=True, database=None)
TOKEN: Final = "tok_route_unit_51c2"


@pytest.fixture(autouse=True)
def no_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clear the proxy variables, which turn the route off on their own."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


@asynccontextmanager
async def opened(connector: Connector) -> AsyncIterator[_LoopState]:
    """Make the connector's client on this loop; close it afterwards."""
    try:
        yield connector.state()
    finally:
        await connector.aclose()


def _route(state: _LoopState) -> DirectRoute:
    assert state.route is not None
    return state.route


# ---------------------------------------------------------------- when it is taken


@pytest.mark.parametrize("transport", [None, "aiohttp"], ids=["default", "aiohttp"])
async def test_a_new_client_on_an_aiohttp_transport_takes_the_route(
    transport: str | None,
) -> None:
    api = Connector(
        "api",
        BASE,
        auth=BearerAuth(Secret(TOKEN)),
        transport=transport,  # type: ignore[arg-type]  # a transport option
    )
    async with opened(api) as state:
        assert isinstance(_route(state).sender(), AiohttpTransport)


@pytest.mark.parametrize(
    "transport",
    [
        lambda: "httpx",
        lambda: httpx.MockTransport(lambda request: httpx.Response(200)),
        HttpxAiohttpTransport,
    ],
    ids=["httpcore", "mock-transport", "users-aiohttp"],
)
async def test_a_transport_the_connector_did_not_make_of_aiohttp_has_no_route(
    transport: Callable[[], object],
) -> None:
    api = Connector("api", BASE, transport=transport())  # type: ignore[arg-type]  # a transport option
    async with opened(api) as state:
        assert state.route is None


# ---------------------------------------------------------------- the client changed


async def test_a_cookie_in_the_jar_sends_through_the_client() -> None:
    async with opened(Connector("api", BASE)) as state:
        route = _route(state)
        state.client.cookies.set("session", "s1", domain="api.example.test")
        assert route.sender() is None
        state.client.cookies.clear()
        assert route.sender() is not None  # an empty jar again


@pytest.mark.parametrize(
    ("auth", "replacement"),
    [
        (None, httpx.BasicAuth("ada", "pw")),
        (BearerAuth(Secret(TOKEN)), httpx.BasicAuth("ada", "pw")),
        (BearerAuth(Secret(TOKEN)), None),
        (BearerAuth(Secret(TOKEN)), BearerAuth(Secret(TOKEN)).for_origin(BASE)),
    ],
    ids=["auth-added", "auth-replaced", "auth-removed", "another-origin-bound-auth"],
)
async def test_another_auth_on_the_client_sends_through_it(
    auth: BearerAuth | None, replacement: httpx.Auth | None
) -> None:
    async with opened(Connector("api", BASE, auth=auth)) as state:
        route = _route(state)
        assert route.sender() is not None
        state.client.auth = replacement  # type: ignore[assignment]  # httpx takes None too
        assert route.sender() is None


async def _hook(request: httpx.Request) -> None:
    """Do nothing: an event hook a user added."""


@pytest.mark.parametrize("kind", ["request", "response"])
async def test_an_event_hook_added_to_the_client_sends_through_it(kind: str) -> None:
    async with opened(Connector("api", BASE)) as state:
        route = _route(state)
        state.client.event_hooks[kind].append(_hook)
        assert route.sender() is None


async def test_event_hooks_set_anew_on_the_client_send_through_it() -> None:
    async with opened(Connector("api", BASE)) as state:
        route = _route(state)
        state.client.event_hooks = {"request": [], "response": []}
        assert route.sender() is None


# ---------------------------------------------------------------- mocks and overrides


@pytest.mark.parametrize("using", ["httpcore", "httpx"])
async def test_a_respx_mock_turns_the_route_off_while_it_is_active(using: str) -> None:
    async with opened(Connector("api", BASE)) as state:
        route = _route(state)
        with respx.mock(using=using, assert_all_called=False):
            assert route.sender() is None
        assert route.sender() is not None


async def test_the_testing_kits_transport_override_turns_the_route_off() -> None:
    mock = httpx.MockTransport(lambda request: httpx.Response(200))
    async with opened(Connector("api", BASE)) as state:
        route = _route(state)
        with overriding_transport(mock):
            assert route.sender() is None
        assert route.sender() is not None


# ---------------------------------------------------------------- connectors without


async def test_a_base_url_with_userinfo_has_no_route() -> None:
    async with opened(Connector("api", "https://ada:pw@api.example.test/v1")) as state:
        assert state.route is None


@pytest.mark.parametrize(
    "base_url",
    ["https://api.example.test/v1?tenant=a", "https://api.example.test/v1#top"],
    ids=["query", "fragment"],
)
async def test_a_base_url_with_a_query_or_fragment_has_no_route(base_url: str) -> None:
    # A connector refuses such a base URL; the route refuses it on its own too.
    async with opened(Connector("api", BASE)) as state:
        transport = state.client._transport
        assert isinstance(transport, InstrumentedTransport)
        assert direct_route(state.client, transport, httpx.URL(BASE)) is not None
        assert direct_route(state.client, transport, httpx.URL(base_url)) is None


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"])
async def test_a_proxy_in_the_environment_keeps_the_route(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # httpx reads proxy variables only for a client without a transport of
    # its own, and aiohttp's session does not read them: neither way uses it.
    monkeypatch.setenv(variable, "http://proxy.example.test:3128")
    async with opened(Connector("api", BASE)) as state:
        assert state.route is not None
        assert state.route.sender() is not None
        assert (
            state.client._transport_for_url(httpx.URL(BASE)) is state.client._transport
        )


async def test_an_oauth2_connector_has_no_route() -> None:
    auth = OAuth2ClientCredentials(
        "https://auth.example.test/token", "client-1", Secret("cs_route_unit_7d")
    )
    async with opened(Connector("api", BASE, auth=auth)) as state:
        assert state.route is None


# ---------------------------------------------------------------- operations


class StubSender:
    """Stands for aiohttp's transport: records what the route sends, answers JSON."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send_whole(self, out: Outgoing, *, limit: int | None) -> Answer:
        """Record ``out``; answer ``{"via": "route"}``."""
        self.sent.append(out)
        headers = ((b"Content-Type", b"application/json"),)
        return Answer(200, "OK", headers, b'{"via":"route"}')


def test_an_operation_returning_httpx_response_stays_on_the_client(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub = StubSender()
    monkeypatch.setattr(DirectRoute, "sender", lambda self: stub)
    api = Connector("api", BASE, retry=None)

    @api.operation("GET /items/{item_id}")
    def get_response(item_id: str) -> httpx.Response:
        """Fetch the whole response."""
        raise NotImplementedError

    @api.operation("GET /items/{item_id}")
    def get_item(item_id: str) -> dict[str, str]:
        """Fetch the item."""
        raise NotImplementedError

    with respx.mock(
        base_url=BASE, assert_all_called=True, assert_all_mocked=True
    ) as router:
        item = router.get("/items/1").respond(json={"via": "client"})
        response = get_response("1")
        assert item.call_count == 1
        assert response.json() == {"via": "client"}
        assert stub.sent == []

        assert get_item("1") == {"via": "route"}
        assert item.call_count == 1
        assert [out.url for out in stub.sent] == [f"{BASE}/items/1"]


# ---------------------------------------------------------------- prepare


def _search(
    tags: list[str],
    flag: bool,
    text: str,
    missing: str | None = None,
    size: Annotated[int, Query(alias="page[size]")] = 10,
) -> object:
    """Search: list, bool, None and aliased query parameters."""
    raise NotImplementedError


def _create(
    name: str,
    contact: Annotated[dict[str, object], Body()],
    key: Annotated[str, Header(alias="Idempotency-Key")],
    agent: Annotated[str, Header(alias="user-agent")],
) -> object:
    """Create: a non-ASCII JSON body and header parameters, one over a default."""
    raise NotImplementedError


def _keyed(a: str, api_key: list[str], z: str) -> object:
    """Send a query parameter named as the connector's query key."""
    raise NotImplementedError


def _twice(
    first: Annotated[str, Query(alias="id")],
    sort: str,
    second: Annotated[str, Query(alias="id")],
) -> object:
    """Send two parameters under one query name, another between them."""
    raise NotImplementedError


PREPARED: Final[
    list[tuple[str, str, Callable[..., object], dict[str, Any], object]]
] = [
    (
        "query",
        "GET /search",
        _search,
        {"tags": ["a b", "c/d", "é"], "flag": False, "text": "+%/?#"},
        None,
    ),
    (
        "body-and-headers",
        "POST /contacts/{name}",
        _create,
        {
            "name": "a b/é",
            "contact": {"name": "Zoë ☃", "n": [1.5, None, True]},
            "key": "k-1",
            "agent": "agent/2",
        },
        BasicAuth("ada", Secret("pässwörd")),
    ),
    (
        "api-key-query-over-a-parameter",
        "GET /keyed",
        _keyed,
        {"a": "1", "api_key": ["mine", "also"], "z": "2"},
        ApiKeyAuth(Secret(TOKEN), query="api_key"),
    ),
    (
        "api-key-header",
        "GET /keyed",
        _keyed,
        {"a": "1", "api_key": [], "z": "2"},
        ApiKeyAuth(Secret(TOKEN), header="x-api-key"),
    ),
    (
        "one-query-name-twice",
        "GET /things",
        _twice,
        {"first": "1", "sort": "asc", "second": "2"},
        BearerAuth(Secret(TOKEN)),
    ),
]


async def _prepared_and_built(
    route_text: str,
    function: Callable[..., object],
    arguments: dict[str, Any],
    auth: object,
) -> tuple[Outgoing, httpx.Request]:
    """Return what the route prepares and what httpx's client builds, auth applied."""
    api = Connector(
        "api",
        BASE,
        auth=auth,  # type: ignore[arg-type]  # one of the static auths
        headers={"X-Tenant": "acme", "Accept": "application/json"},
    )
    spec = read_operation(
        CallSignature(function, function.__name__), route_text, connector="api"
    )
    parts = spec.build(arguments, api.base_url, max_body=None)
    headers = dict(parts.headers)
    async with opened(api) as state:
        out = _route(state).prepare(parts, headers)
        request = state.client.build_request(
            parts.method,
            parts.url,
            params=parts.params or None,  # type: ignore[arg-type]  # a list of str pairs
            headers=headers,
            json=parts.json if parts.has_body else None,
        )
        if isinstance(state.client.auth, OriginBoundAuth):
            state.client.auth.apply(request)
    return out, request


def _by_name(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return headers sorted by name alone: one name's fields keep their order."""
    return sorted(headers, key=lambda header: header[0].lower())


def _written(request: httpx.Request) -> list[tuple[str, str]]:
    """Return the headers httpx writes, but those aiohttp writes itself."""
    return [
        (name.decode(), value.decode())
        for name, value in request.headers.raw
        if name.lower() not in (b"host", b"content-length")
    ]


@pytest.mark.parametrize(
    ("route_text", "function", "arguments", "auth"),
    [case[1:] for case in PREPARED],
    ids=[case[0] for case in PREPARED],
)
async def test_prepare_writes_the_request_httpx_builds(
    route_text: str,
    function: Callable[..., object],
    arguments: dict[str, Any],
    auth: object,
) -> None:
    out, request = await _prepared_and_built(route_text, function, arguments, auth)

    assert (out.method, out.url) == (request.method, str(request.url))
    assert out.body == (request.content or None)
    # Names in httpx's case; fields of different names may come in another
    # order (the credential before Content-Type), those of one name may not.
    assert _by_name(out.headers) == _by_name(_written(request))


# ---------------------------------------------------------------- httpx's helpers

header_names = st.sampled_from(
    ["Accept", "accept", "ACCEPT", "User-Agent", "user-agent", "X-Tenant", "x-a"]
) | st.from_regex(r"[A-Za-z][A-Za-z0-9!#$&'*+.^_`|~-]{0,6}", fullmatch=True)
header_values = st.from_regex(r"(?:[!-~](?: ?[!-~]){0,5})?", fullmatch=True)
query_texts = st.sampled_from(["a", "api_key", "x y", "é", "a&b", "=", ""]) | st.text(
    max_size=6
)


@PROPERTIES
@given(
    defaults=st.lists(st.tuples(header_names, header_values), max_size=6),
    added=st.dictionaries(header_names, header_values, max_size=4),
)
def test_merged_headers_merge_as_httpx_headers_update(
    defaults: list[tuple[str, str]], added: dict[str, str]
) -> None:
    expected = httpx.Headers(defaults)
    expected.update(added)

    merged = merged_headers(defaults, added)

    assert merged == [(name.decode(), value.decode()) for name, value in expected.raw]


@PROPERTIES
@given(
    params=st.lists(st.tuples(query_texts, query_texts), max_size=6),
    name=query_texts,
    value=query_texts,
)
def test_set_param_sets_as_httpx_url_copy_set_param(
    params: list[tuple[str, str]], name: str, value: str
) -> None:
    held = httpx.QueryParams(
        tuple(params)
    ).multi_items()  # as httpx holds them: by name
    expected = httpx.URL("https://h.test/", params=held).copy_set_param(name, value)

    assert urlencode(_set_param(held, name, value)) == expected.query.decode()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@PROPERTIES
@given(value=json_values.filter(lambda value: value is not None))
def test_json_body_encodes_as_httpx_encodes_json(value: object) -> None:
    # A body of None is none at all: an operation leaves it out.
    request = httpx.Request("POST", "https://h.test/", json=value)

    assert json_body(value) == request.content


# ---------------------------------------------------------------- the records


@pytest.mark.parametrize(
    ("headers", "decoded", "encoded"),
    [
        ((), False, False),
        (((b"Content-Type", b"application/json"),), False, False),
        (((b"Content-Encoding", b"gzip"),), False, True),
        (((b"content-encoding", b"GZIP"),), False, True),
        (((b"Content-Encoding", b"gzip"),), True, False),
        (((b"Content-Encoding", b"identity"),), False, False),
        (((b"Content-Encoding", b" Identity "),), False, False),
        (((b"Content-Encoding", b""),), False, False),
        (((b"Content-Encoding", b"identity, br"),), False, True),
        (
            ((b"Content-Encoding", b"identity"), (b"Content-Encoding", b"zstd")),
            False,
            True,
        ),
    ],
)
def test_an_answer_is_encoded_while_a_coding_is_left_undecoded(
    headers: tuple[tuple[bytes, bytes], ...], decoded: bool, encoded: bool
) -> None:
    answer = Answer(200, "OK", headers, b"", decoded)

    assert answer.encoded is encoded


@pytest.mark.parametrize(
    ("headers", "sets"),
    [
        ((), False),
        (((b"Cookie", b"a=1"), (b"Set-Cookie2", b"a=1")), False),
        (((b"Set-Cookie", b"a=1"),), True),
        (((b"set-cookie", b"a=1"),), True),
    ],
)
def test_an_answer_sets_cookies_with_a_set_cookie_header(
    headers: tuple[tuple[bytes, bytes], ...], sets: bool
) -> None:
    assert Answer(200, "OK", headers, b"").sets_cookies is sets


@pytest.mark.parametrize(
    ("status", "success"), [(199, False), (200, True), (299, True), (300, False)]
)
def test_an_answer_succeeds_with_a_2xx_status(status: int, success: bool) -> None:
    assert Answer(status, "", (), b"").is_success is success


RAW_HEADERS: Final = (
    (b"Content-Type", b"application/json"),
    (b"Content-Encoding", b"gzip"),
    (b"Set-Cookie", b"a=1"),
    (b"content-length", b"31"),
    (b"Set-Cookie", b"b=2"),
)


def test_a_decoded_answer_drops_the_encoding_headers_in_its_response() -> None:
    request = httpx.Request("GET", "https://h.test/x")
    answer = Answer(201, "Made", RAW_HEADERS, b'{"a":1}', decoded=True)

    response = answer.as_response(request)

    assert response.headers.raw == [
        (b"Content-Type", b"application/json"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
        (b"Content-Length", b"7"),  # httpx's, of the decoded body
    ]
    assert (response.status_code, response.reason_phrase) == (201, "Made")
    assert response.content == b'{"a":1}'
    assert response.request is request
    assert response.http_version == "HTTP/1.1"


def test_an_encoded_answer_keeps_its_headers_and_httpx_decodes_it() -> None:
    body = gzip.compress(b'{"a":1}')
    headers = (
        (b"Content-Encoding", b"gzip"),
        (b"Content-Length", str(len(body)).encode()),
    )
    answer = Answer(200, "", headers, body)

    response = answer.as_response(httpx.Request("GET", "https://h.test/x"))

    assert response.headers.raw == list(headers)
    assert response.content == b'{"a":1}'
    assert response.reason_phrase == "OK"  # httpx's phrase when aiohttp gave none


def test_an_outgoing_request_is_made_once() -> None:
    out = Outgoing(
        "POST",
        "https://h.test/x?a=1",
        [("content-type", "application/json"), ("x-a", "1")],
        b"{}",
    )

    request = out.as_request()

    assert out.as_request() is request
    assert (request.method, str(request.url), request.content) == (
        "POST",
        "https://h.test/x?a=1",
        b"{}",
    )
    assert request.headers.multi_items() == [
        ("host", "h.test"),
        ("content-type", "application/json"),
        ("x-a", "1"),
        ("content-length", "2"),
    ]


def test_set_headers_replaces_each_name_and_makes_the_request_anew() -> None:
    out = Outgoing(
        "GET",
        "https://h.test/x",
        [("Accept", "*/*"), ("traceparent", "00-old"), ("TraceParent", "00-older")],
    )
    before = out.as_request()

    out.set_headers({"traceparent": "00-new"})

    assert out.headers == [("Accept", "*/*"), ("traceparent", "00-new")]
    after = out.as_request()
    assert after is not before
    assert after.headers.get_list("traceparent") == ["00-new"]
