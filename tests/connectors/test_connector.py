"""``Connector``: options, one client per event loop, transports, hand-written tasks.

One client per connector per event loop, created on first use and closed
when the last run that used it on that loop ends. Hand-written tasks get
that client (auth, headers, limits and spans applied) as their first
argument. ``repr`` never shows a credential.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from fiscus_dsl import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    ConfigurationError,
    Connector,
    FiscusErrorCode,
    Hooks,
    HTTPStatusError,
    OAuth2ClientCredentials,
    OptionTypeError,
    Retry,
    Runner,
    RunStatus,
    Secret,
    SignatureError,
    TaskContext,
    TaskStatus,
    UnsafeURLError,
    workflow,
)
from fiscus_dsl._connectors.http import InstrumentedTransport, overriding_transport
from fiscus_dsl._connectors.transports import DefaultTransport

from .conftest import BASE

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import respx

    from fiscus_dsl import Workflow
    from fiscus_dsl.testing import FakeSleep

CANARY = "sk_live_connector_CANARY_c0ffee42"


def ping_signature() -> None:
    """Ping the API."""


def inner_transport(client: httpx.AsyncClient) -> httpx.AsyncBaseTransport:
    transport = client._transport
    assert isinstance(transport, InstrumentedTransport)
    return transport._inner


# ---------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("auth", "shown"),
    [
        (None, ""),
        (BearerAuth(Secret(CANARY)), ", auth=BearerAuth(Secret('**********'))"),
        (
            BasicAuth("ada", Secret(CANARY)),
            ", auth=BasicAuth('ada', Secret('**********'))",
        ),
        (
            ApiKeyAuth(CANARY, header="X-API-Key"),
            ", auth=ApiKeyAuth(Secret('**********'), header='X-API-Key')",
        ),
        (
            OAuth2ClientCredentials("https://auth.example.test/token", "app", CANARY),
            ", auth=OAuth2ClientCredentials('https://auth.example.test/token', "
            "client_id='app', client_secret=Secret('**********'), scopes=())",
        ),
    ],
    ids=["none", "bearer", "basic", "api-key", "oauth2"],
)
def test_repr_never_shows_a_credential(
    auth: BearerAuth | BasicAuth | ApiKeyAuth | OAuth2ClientCredentials | None,
    shown: str,
) -> None:
    crm = Connector("CRM", BASE, auth=auth)

    assert repr(crm) == f"Connector('CRM', base_url='{BASE}'{shown})"
    assert CANARY not in repr(crm)


def test_repr_redacts_userinfo_of_the_base_url() -> None:
    crm = Connector("CRM", f"https://ada:{CANARY}@api.example.test/v1")

    assert repr(crm) == (
        "Connector('CRM', base_url='https://REDACTED:REDACTED@api.example.test/v1')"
    )


@pytest.mark.parametrize(
    "base_url",
    [
        "ftp://api.example.test/v1",
        "api.example.test/v1",
        "https:///v1",
        "https://api.example.test/v1?version=2",
        "https://api.example.test/v1#top",
    ],
)
def test_a_base_url_must_be_http_with_a_host_and_no_query(base_url: str) -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"^Connector 'CRM' got base_url=.*; give an http\(s\) URL with a host "
        r"and an optional base path, no query or fragment$",
    ):
        Connector("CRM", base_url)


def test_a_bad_base_url_is_named_without_its_credentials() -> None:
    with pytest.raises(ConfigurationError, match=r"ftp://REDACTED:REDACTED@") as caught:
        Connector("CRM", f"ftp://ada:{CANARY}@api.example.test")

    assert CANARY not in str(caught.value)


@pytest.mark.parametrize("timeout", [0, -1.5])
def test_a_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(
        ConfigurationError,
        match=rf"^Connector 'CRM' got timeout={timeout!r}; pass a number of "
        r"seconds above 0, or None$",
    ) as info:
        Connector("CRM", BASE, timeout=timeout)

    assert info.value.option == "timeout"
    assert isinstance(info.value, ValueError)


def test_max_concurrency_must_be_at_least_one() -> None:
    with pytest.raises(
        ConfigurationError, match=r"got max_concurrency=0; pass 1 or more, or None$"
    ):
        Connector("CRM", BASE, max_concurrency=0)


@pytest.mark.parametrize(
    ("options", "option", "match"),
    [
        (
            {"timeout": "30s"},
            "timeout",
            r"got timeout='30s'; pass the seconds as a "
            r"number, e\.g\. timeout=30\.0$",
        ),
        (
            {"max_concurrency": "10"},
            "max_concurrency",
            r"got max_concurrency='10'; .* max_concurrency=10, or None",
        ),
        (
            {"rate_limit": 10},
            "rate_limit",
            r"got rate_limit=10; pass requests per "
            r"unit as a str, e\.g\. rate_limit='10/s'$",
        ),
        (
            {"retry": 3},
            "retry",
            r"got retry=3; pass a Retry policy, e\.g\. "
            r"retry=Retry\(attempts=3\)",
        ),
        (
            {"headers": {"X-Count": 1}},
            "headers",
            r"got headers of type dict; pass a "
            r"mapping of str to str",
        ),
    ],
)
def test_connector_options_of_the_wrong_type_are_refused(
    options: dict[str, Any], option: str, match: str
) -> None:
    with pytest.raises(OptionTypeError, match=r"^Connector 'CRM' " + match) as info:
        Connector("CRM", BASE, **options)

    assert info.value.option == option


def test_a_token_given_as_auth_is_refused_without_echoing_it() -> None:
    token: Any = CANARY

    with pytest.raises(
        OptionTypeError,
        match=r"^Connector 'CRM' got auth=str; pass an auth object such as "
        r"auth=BearerAuth\(Secret\.from_env\('TOKEN'\)\)",
    ) as info:
        Connector("CRM", BASE, auth=token)

    assert CANARY not in str(info.value)
    assert info.value.option == "auth"


def test_a_connector_name_must_be_a_str() -> None:
    name: Any = None

    with pytest.raises(OptionTypeError, match=r"^Connector\(\.\.\.\) got name=None"):
        Connector(name, BASE)


def test_a_connector_name_must_not_be_blank() -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"^Connector\(\.\.\.\) got name=' '; pass a non-empty name, or leave "
        r"it out$",
    ) as info:
        Connector(" ", BASE)

    assert info.value.option == "name"


def test_a_base_url_must_be_a_str() -> None:
    base_url: Any = 8080

    with pytest.raises(
        OptionTypeError, match=r"^Connector 'CRM' got base_url of type int; pass a str"
    ):
        Connector("CRM", base_url)


@pytest.mark.parametrize(
    ("route", "options", "option", "match"),
    [
        (None, {}, "route", r"^Connector 'CRM' got the route None; pass it as a str"),
        (
            "GET /x",
            {"retry": 5},
            "retry",
            r"^CRM\.operation\('GET /x'\) got "
            r"retry=5; pass a Retry policy, e\.g\. retry=Retry\(attempts=5\), "
            r"'connector' \(the default\), or None",
        ),
        (
            "GET /x",
            {"idempotency_key": "yes"},
            "idempotency_key",
            r"got "
            r"idempotency_key='yes'; pass True, False, or a function of the arguments",
        ),
        (
            "GET /x",
            {"timeout": "1m"},
            "timeout",
            r"^Task 'x' got timeout='1m'; pass "
            r"the seconds as a number, e\.g\. timeout=60\.0$",
        ),
    ],
)
def test_operation_options_are_checked_when_declared(
    route: Any, options: dict[str, Any], option: str, match: str
) -> None:
    crm = Connector("CRM", BASE)

    def x() -> None:
        """An operation."""

    with pytest.raises(OptionTypeError, match=match) as info:
        crm.operation(route, **options)(x)

    assert info.value.option == option


def test_a_bad_rate_limit_is_refused_at_construction() -> None:
    with pytest.raises(ConfigurationError, match=r"rate_limit='fast' is not a rate"):
        Connector("CRM", BASE, rate_limit="fast")


def test_connector_headers_go_with_every_request(
    runner: Runner, api: respx.MockRouter
) -> None:
    crm = Connector("CRM", BASE, headers={"X-Client": "fiscus", "Accept": "text/csv"})
    ping = crm.operation("GET /ping")(ping_signature)
    route = api.get("/ping").respond(204)

    @workflow
    def flow() -> None:
        ping()

    runner.run(flow)

    headers = route.calls.last.request.headers
    assert (headers["X-Client"], headers["Accept"]) == ("fiscus", "text/csv")


# ---------------------------------------------------------------- operation options


def test_operation_options_become_task_options() -> None:
    crm = Connector("CRM", BASE)

    def audit(ctx: TaskContext) -> None:
        """Audit a task."""

    ping = crm.operation(
        "GET /ping", name="health", timeout=5.0, on_error="continue", before=audit
    )(ping_signature)

    assert ping.name == "health"
    assert ping.options.timeout == 5.0
    assert ping.options.on_error == "continue"
    assert ping.options.hooks == Hooks(before_task=audit)
    assert ping.__doc__ == "Ping the API."
    assert crm.operation("GET /ping")(ping_signature).options.hooks is None


def test_operation_hooks_run_around_the_request(
    runner: Runner, api: respx.MockRouter
) -> None:
    crm = Connector("CRM", BASE, retry=Retry(attempts=2, backoff=0.25, jitter=False))
    calls: list[str] = []

    def before(ctx: TaskContext) -> None:
        calls.append(f"before {ctx.task_id}")

    def after(ctx: TaskContext, value: object) -> object:
        calls.append(f"after {value!r}")
        return {"wrapped": value}

    def on_retry(ctx: TaskContext, error: BaseException, delay: float) -> None:
        calls.append(f"retry {type(error).__name__} {delay}")

    ping = crm.operation("GET /ping", before=before, after=after, on_retry=on_retry)(
        ping_signature
    )
    api.get("/ping").mock(side_effect=[httpx.Response(503), httpx.Response(204)])

    @workflow
    def flow() -> object:
        return ping()

    result = runner.run(flow)

    assert result.output == {"wrapped": None}
    assert calls == [
        "before ping_signature",
        "retry HTTPStatusError 0.25",
        "after None",
    ]


def test_on_error_continue_lets_the_run_succeed(
    runner: Runner, api: respx.MockRouter
) -> None:
    crm = Connector("CRM", BASE, retry=None)
    ping = crm.operation("GET /ping", on_error="continue")(ping_signature)
    api.get("/ping").respond(500)

    @workflow
    def flow() -> None:
        ping()

    result = runner.run(flow)

    assert result.status is RunStatus.SUCCEEDED
    assert result.tasks["ping_signature"].status is TaskStatus.FAILED


# ---------------------------------------------------------------- transports


async def test_the_default_transport_is_aiohttp_with_a_pool_sized_to_the_limit() -> (
    None
):
    crm = Connector("CRM", BASE, max_concurrency=3)

    client = crm.client()
    try:
        inner = inner_transport(client)
        assert type(inner) is DefaultTransport
        assert isinstance(inner._aiohttp, AiohttpTransport)
        assert inner._aiohttp.limits.max_connections == 3
        assert inner._httpcore is None  # made only when a mock patches httpcore
        assert client.follow_redirects is False
    finally:
        await crm.aclose()
    assert client.is_closed


async def test_transport_httpx_is_one_httpcore_pool_sized_to_the_limit() -> None:
    crm = Connector("CRM", BASE, max_concurrency=3, transport="httpx")

    client = crm.client()
    await crm.aclose()

    inner = inner_transport(client)
    assert type(inner) is httpx.AsyncHTTPTransport
    assert inner._pool._max_connections == 3


async def test_transport_aiohttp_uses_httpx_aiohttp() -> None:
    crm = Connector("CRM", BASE, transport="aiohttp")

    client = crm.client()
    await crm.aclose()

    assert isinstance(inner_transport(client), AiohttpTransport)
    assert client.is_closed


async def test_the_default_transport_without_httpx_aiohttp_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "httpx_aiohttp", None)
    monkeypatch.setitem(sys.modules, "fiscus_dsl._connectors.aio", None)
    crm = Connector("CRM", BASE)

    with pytest.raises(
        ImportError,
        match=r"^A connector's aiohttp transport \(the default\) needs the "
        r"httpx-aiohttp package, a dependency of fiscus_dsl; reinstall fiscus_dsl, "
        r"or pass transport='httpx'$",
    ):
        crm.client()


def test_an_unknown_transport_is_refused_when_the_connector_is_made() -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"^Connector 'CRM' got transport='urllib3'; pass 'httpx', 'aiohttp' "
        r"or an httpx\.AsyncBaseTransport$",
    ):
        Connector("CRM", BASE, transport="urllib3")  # type: ignore[arg-type]  # the wrong value is the point


def test_an_httpx_transport_is_used_with_auth_limits_and_spans(runner: Runner) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"pong": True})

    crm = Connector(
        "CRM",
        BASE,
        auth=BearerAuth(Secret(CANARY)),
        transport=httpx.MockTransport(answer),
    )
    ping = crm.operation("GET /ping")(ping_signature)

    @workflow
    def flow() -> None:
        ping()

    result = runner.run(flow)

    assert result.status is RunStatus.SUCCEEDED
    (request,) = seen
    assert request.headers["Authorization"] == f"Bearer {CANARY}"
    assert "traceparent" in request.headers


def test_a_transport_override_replaces_every_connectors_own_in_its_block(
    runner: Runner,
) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    own = httpx.MockTransport(lambda request: httpx.Response(500))
    shop = Connector("Shop", BASE, auth=BearerAuth(Secret(CANARY)), transport=own)
    ping = shop.operation("GET /ping", retry=None)(ping_signature)
    override = httpx.MockTransport(answer)

    @workflow
    def flow() -> None:
        ping()

    with overriding_transport(override):
        overridden = runner.run(flow)
    restored = runner.run(flow)

    assert overridden.status is RunStatus.SUCCEEDED
    (request,) = seen
    assert request.headers["Authorization"] == f"Bearer {CANARY}"
    assert "traceparent" in request.headers
    assert restored.status is RunStatus.FAILED, "the connector's own transport again"


def _labelled(
    label: str, rendezvous: Callable[[], Awaitable[object]]
) -> httpx.MockTransport:
    """Return a transport that answers with ``label`` once ``rendezvous`` returns."""

    async def answer(request: httpx.Request) -> httpx.Response:
        await rendezvous()
        return httpx.Response(200, json=label)

    return httpx.MockTransport(answer)


def _label_flow() -> Workflow[[], str]:
    own = httpx.MockTransport(lambda request: httpx.Response(200, json="own"))
    shop = Connector("Shop", BASE, transport=own)

    @shop.operation("GET /label", retry=None)
    def label() -> str:
        raise NotImplementedError  # the connector sends the request

    @workflow
    def flow() -> str:
        return label()

    return flow


async def test_concurrent_runs_each_send_through_their_own_transport_override(
    runner: Runner,
) -> None:
    flow = _label_flow()
    barrier = asyncio.Barrier(2)  # both requests are in flight at once
    entered = asyncio.Barrier(2)  # both blocks are entered before either runs

    async def run_with(label: str) -> str | None:
        with overriding_transport(_labelled(label, barrier.wait)):
            await entered.wait()
            return (await runner.arun(flow)).output

    outputs = await asyncio.gather(run_with("first"), run_with("second"))

    assert list(outputs) == ["first", "second"]
    assert (await runner.arun(flow)).output == "own"


def test_threads_each_send_through_their_own_transport_override(
    runner: Runner,
) -> None:
    flow = _label_flow()
    barrier = threading.Barrier(2, timeout=10)
    entered = threading.Barrier(2, timeout=10)
    outputs: dict[str, str | None] = {}

    async def rendezvous() -> None:
        await asyncio.to_thread(barrier.wait)

    def run_with(label: str) -> None:
        with overriding_transport(_labelled(label, rendezvous)):
            entered.wait()  # both threads are in their blocks now
            outputs[label] = runner.run(flow).output

    threads = [threading.Thread(target=run_with, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outputs == {"a": "a", "b": "b"}
    assert runner.run(flow).output == "own", "the main thread saw no override"


def test_a_transport_override_is_undone_when_its_block_raises(runner: Runner) -> None:
    flow = _label_flow()
    override = httpx.MockTransport(lambda request: httpx.Response(200, json="mock"))
    inside: list[str | None] = []

    def block() -> None:
        with overriding_transport(override):
            inside.append(runner.run(flow).output)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match=r"^boom$"):
        block()

    assert inside == ["mock"]
    assert runner.run(flow).output == "own"


# ---------------------------------------------------------------- clients


crm = Connector("CRM", BASE)


@crm.task
async def grab(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return client


@crm.task(name="grab_again", retry=None)
async def grab_again(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return client


@workflow
def grab_both() -> list[httpx.AsyncClient]:
    return [grab(), grab_again()]


def test_one_run_uses_one_client_and_closes_it_at_the_end(runner: Runner) -> None:
    result = runner.run(grab_both)

    assert result.output is not None
    first, second = result.output
    assert first is second
    assert first.is_closed


def test_each_event_loop_gets_a_client_of_its_own(runner: Runner) -> None:
    first = runner.run(grab_both).output
    second = runner.run(grab_both).output

    assert first is not None
    assert second is not None

    assert first[0] is not second[0]
    assert first[0].is_closed
    assert second[0].is_closed


async def test_concurrent_runs_share_the_client_until_the_last_one_ends(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.get("/ping").respond(204)
    shared = Connector("Shared", BASE)
    slow_started, first_ended = asyncio.Event(), asyncio.Event()
    clients: list[httpx.AsyncClient] = []

    @shared.task
    async def quick(client: httpx.AsyncClient) -> None:
        clients.append(client)
        await client.get(f"{BASE}/ping")

    @shared.task
    async def slow(client: httpx.AsyncClient) -> bool:
        clients.append(client)
        slow_started.set()
        await first_ended.wait()
        await client.get(f"{BASE}/ping")
        return client.is_closed

    @workflow
    def quick_flow() -> None:
        quick()

    @workflow
    def slow_flow() -> bool:
        return slow()

    later = asyncio.create_task(runner.arun(slow_flow))
    await slow_started.wait()
    await runner.arun(quick_flow)
    first_ended.set()
    result = await later

    assert result.output is False, "still open while the slow run used it"
    assert clients[0] is clients[1]
    assert clients[0].is_closed
    assert route.call_count == 2


def test_a_client_closed_during_the_run_is_left_alone_at_its_end(
    runner: Runner,
) -> None:
    closing = Connector("Closing", BASE)

    @closing.task
    async def close_early(client: httpx.AsyncClient) -> bool:
        await closing.aclose()
        return client.is_closed

    @workflow
    def flow() -> bool:
        return close_early()

    result = runner.run(flow)

    assert result.status is RunStatus.SUCCEEDED
    assert result.output is True


async def test_a_client_made_outside_a_run_stays_open_until_aclose() -> None:
    loose = Connector("Loose", BASE)

    client = loose.client()
    same = loose.client()
    open_before_aclose = not client.is_closed
    await loose.aclose()

    assert same is client
    assert open_before_aclose
    assert client.is_closed
    await loose.aclose()  # a second close finds nothing to do
    assert loose.client() is not client
    await loose.aclose()


async def test_limits_belong_to_the_loop() -> None:
    limited = Connector("Limited", BASE, max_concurrency=2)

    limits = limited.limits()

    assert limited.limits() is limits
    assert limits.in_flight == 0
    await limited.aclose()


# ---------------------------------------------------------------- hand-written tasks


def test_a_hand_written_task_hides_the_client_parameter() -> None:
    @crm.task
    async def search(client: httpx.AsyncClient, q: str, limit: int = 10) -> list[str]:
        """Search contacts."""
        return []

    parameters = inspect.signature(search).parameters
    assert list(parameters) == ["q", "limit"]
    assert parameters["limit"].default == 10
    assert search.name == "search"
    assert search.__doc__ == "Search contacts."
    assert search.options.retry == crm.retry


async def test_the_function_of_a_hand_written_task_still_takes_the_client() -> None:
    @crm.task
    async def search(client: httpx.AsyncClient, q: str) -> list[str]:
        """Search contacts."""
        return [q, type(client).__name__]

    async with httpx.AsyncClient() as client:
        assert await search.__wrapped__(client, q="ada") == ["ada", "AsyncClient"]


def test_a_connector_lists_its_operations_and_tasks_by_name() -> None:
    listed = Connector("Listed", BASE)
    ping = listed.operation("GET /ping", name="ping")(ping_signature)

    @listed.task
    async def search(client: httpx.AsyncClient) -> None:
        """Search."""

    operations = listed.operations

    assert dict(operations) == {"ping": ping, "search": search}
    assert listed.operations is not operations, "a copy each time"


def test_a_hand_written_task_takes_options() -> None:
    assert grab_again.name == "grab_again"
    assert grab_again.options.retry is None


def test_a_hand_written_task_needs_a_client_parameter() -> None:
    async def nothing() -> None:
        """Take no client."""

    with pytest.raises(
        SignatureError,
        match=r"^@CRM\.task .*nothing takes no parameter for the client; make the "
        r"first parameter `client: httpx\.AsyncClient`$",
    ) as info:
        crm.task(nothing)

    assert (info.value.task, info.value.parameter) == ("nothing", None)
    assert isinstance(info.value, TypeError)


def test_a_hand_written_task_gets_the_configured_client(
    runner: Runner, api: respx.MockRouter
) -> None:
    configured = Connector(
        "Configured", BASE, auth=BearerAuth(Secret(CANARY)), headers={"X-Client": "f"}
    )
    route = api.get("/search").respond(json=["Ada"])

    @configured.task
    async def search(client: httpx.AsyncClient, q: str) -> list[str]:
        response = await client.get(f"{BASE}/search", params={"q": q})
        return list(response.json())

    @workflow
    def flow(q: str) -> list[str]:
        return search(q=q)

    result = runner.run(flow, q="ada")

    assert result.output == ["Ada"]
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {CANARY}"
    assert request.headers["X-Client"] == "f"
    assert request.url.params["q"] == "ada"


def test_a_hand_written_task_is_retried_by_the_connectors_policy(
    runner: Runner, api: respx.MockRouter
) -> None:
    retrying = Connector("Retrying", BASE, retry=Retry(attempts=2, jitter=False))
    route = api.get("/search").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=[])]
    )

    @retrying.task
    async def search(client: httpx.AsyncClient) -> list[str]:
        response = await client.get(f"{BASE}/search")
        return list(response.json())

    @workflow
    def flow() -> list[str]:
        return search()

    result = runner.run(flow)

    assert result.output == []
    assert result.tasks["search"].attempts == 2
    assert route.call_count == 2


# ---------------------------------------------------------------- hand-written errors


def test_a_sync_hand_written_task_is_refused_when_declared() -> None:
    crm = Connector("CRM", BASE)

    def lookup(client: httpx.AsyncClient, q: str) -> str:
        return q

    with pytest.raises(
        SignatureError, match=r"^@CRM\.task .*lookup is not async; write"
    ) as info:
        crm.task(lookup)  # type: ignore[arg-type]  # the sync function is the point

    assert info.value.task == "lookup"


def test_raise_for_status_in_a_hand_written_task_is_classified(
    api: respx.MockRouter, fake_sleep: FakeSleep
) -> None:
    route = api.get("/contacts/42").respond(404, text="no such contact")
    crm = Connector("CRM", BASE, retry=Retry(attempts=3, backoff=0.1))

    @crm.task
    async def lookup(client: httpx.AsyncClient, contact_id: str) -> object:
        response = await client.get(f"/contacts/{contact_id}")
        response.raise_for_status()
        return response.json()

    @workflow
    def flow() -> object:
        return lookup("42")

    result = Runner(sleep=fake_sleep).run(flow)

    error = result["lookup"].error
    assert isinstance(error, HTTPStatusError)
    assert (error.status_code, error.code, error.retryable) == (
        404,
        FiscusErrorCode.NOT_FOUND,
        False,
    )
    assert error.operation == "lookup"
    assert route.call_count == 1  # a 404 is never retried
    assert fake_sleep.delays == []


def test_a_dropped_connection_in_a_hand_written_get_is_retried(
    api: respx.MockRouter, fake_sleep: FakeSleep
) -> None:
    route = api.get("/ping").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=1)]
    )
    crm = Connector("CRM", BASE, retry=Retry(attempts=2, backoff=0.1, jitter=False))

    @crm.task
    async def ping(client: httpx.AsyncClient) -> object:
        response = await client.get("/ping")
        return response.json()

    @workflow
    def flow() -> object:
        return ping()

    result = Runner(sleep=fake_sleep).run(flow)

    assert result.output == 1
    assert route.call_count == 2
    assert fake_sleep.delays == [0.1]


@pytest.mark.parametrize("value", [None, ""])
def test_an_empty_path_value_is_refused_unsent(
    api: respx.MockRouter, value: str | None
) -> None:
    api.route(name="never")  # must stay uncalled
    crm = Connector("CRM", BASE)

    @crm.operation("DELETE /contacts/{contact_id}")
    def remove(contact_id: str | None) -> None:
        raise NotImplementedError

    with pytest.raises(
        UnsafeURLError,
        match=r"^Operation 'remove' of connector 'CRM': path parameter 'contact_id' "
        r"is None or empty, which would change the path; nothing was sent",
    ) as info:
        remove(value)

    assert (info.value.operation, info.value.method) == ("remove", "DELETE")
    assert not api["never"].called
    api["never"].respond(200)  # keep assert_all_called quiet about the probe
    api.pop("never")
