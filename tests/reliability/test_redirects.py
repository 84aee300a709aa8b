"""Redirects never carry a credential off its origin, operations and tasks alike.

Three loopback servers are three origins: ``origin`` (the connector's, plain
HTTP), ``other`` (another port, so another origin) and ``tls`` (HTTPS with a
``trustme`` certificate, for the scheme downgrade ``https`` → ``http``).
Every credential form a connector can hold carries a canary; after each
redirect the servers' logs are searched for it, and for the forms it takes
on the wire (base64 of Basic credentials included).

- A hand-written task that follows redirects (``follow_redirects=True``)
  keeps its credentials on same-origin hops and loses every one of them on
  the first hop that leaves the origin: another port, a scheme downgrade,
  a ``Location`` with userinfo, any of 301, 302, 303, 307 and 308, and a
  chain that comes back to the origin afterwards.
- An operation never follows a redirect: a 3xx is an ``HTTPStatusError``
  (code 1002, not retried) that names the ``Location``, and nothing reaches
  the other origin; an operation that returns ``httpx.Response`` gets the
  3xx itself.
- A redirect loop is a ``ConnectorError`` (code 1002) that is not retried.
"""

from __future__ import annotations

import base64
import ssl
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

import httpx
import pytest
import trustme

from fiscus_dsl import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    Connector,
    ConnectorError,
    FiscusErrorCode,
    HTTPStatusError,
    OAuth2ClientCredentials,
    Retry,
    Runner,
    Secret,
    UnsafeURLError,
    set_default_runner,
)

from .redirect_servers import Server, serve

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from fiscus_dsl import Task
    from fiscus_dsl.testing import FakeSleep

CANARY: Final = f"canary{uuid.uuid4().hex}"
ACCESS_TOKEN: Final = f"access-{CANARY}"
REDIRECTS: Final = (301, 302, 303, 307, 308)
#: Attempts of the connectors' retry policy: a loop retried would show 3x the hops.
ATTEMPTS: Final = 3


# ---------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def origin() -> Iterator[Server]:
    yield from serve("origin", token=ACCESS_TOKEN)


@pytest.fixture(scope="module")
def other() -> Iterator[Server]:
    yield from serve("other", token=ACCESS_TOKEN)


@pytest.fixture(scope="module")
def tls(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("tls")
    cert = ca.issue_cert("127.0.0.1")
    chain, key = folder / "chain.pem", folder / "key.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key))
    yield from serve("tls", token=ACCESS_TOKEN, cert=(chain, key))


@pytest.fixture
def runner(fake_sleep: FakeSleep) -> Iterator[Runner]:
    """The default runner, with a fake sleep so that retries do not wait."""
    runner = Runner(sleep=fake_sleep)
    previous = set_default_runner(runner)
    yield runner
    set_default_runner(previous)


@pytest.fixture
def key() -> str:
    return uuid.uuid4().hex


# ---------------------------------------------------------------- credential forms


@final
@dataclass(frozen=True, slots=True)
class Form:
    """One way a connector holds a credential, and how it looks on the wire."""

    name: str
    needles: tuple[str, ...]
    make: Callable[[Server, httpx.AsyncBaseTransport | None], Connector]
    #: Whether httpx carries it to a same-origin hop (a query key is not:
    #: the Location names the next query).
    kept_on_same_origin: bool = True


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _connector(
    server: Server,
    transport: httpx.AsyncBaseTransport | None,
    *,
    base_url: str | None = None,
    **options: object,
) -> Connector:
    return Connector(
        "api",
        base_url or f"{server.url}/v1",
        retry=Retry(attempts=ATTEMPTS, backoff=0.0),
        timeout=10.0,
        transport=transport,
        **options,  # type: ignore[arg-type]  # each form passes its own option
    )


def _userinfo(server: Server, transport: httpx.AsyncBaseTransport | None) -> Connector:
    scheme, _, rest = server.url.partition("://")
    url = f"{scheme}://alice:ui-{CANARY}@{rest}/v1"
    return _connector(server, transport, base_url=url)


FORMS: Final = (
    Form(
        "bearer",
        (f"bearer-{CANARY}",),
        lambda s, t: _connector(s, t, auth=BearerAuth(f"bearer-{CANARY}")),
    ),
    Form(
        "api_key_header",
        (f"hkey-{CANARY}",),
        lambda s, t: _connector(
            s, t, auth=ApiKeyAuth(f"hkey-{CANARY}", header="X-API-Key")
        ),
    ),
    Form(
        "api_key_query",
        (f"qkey-{CANARY}",),
        lambda s, t: _connector(
            s, t, auth=ApiKeyAuth(f"qkey-{CANARY}", query="api_key")
        ),
        kept_on_same_origin=False,
    ),
    Form(
        "basic",
        (f"basic-{CANARY}", _basic("alice", f"basic-{CANARY}")),
        lambda s, t: _connector(s, t, auth=BasicAuth("alice", f"basic-{CANARY}")),
    ),
    Form(
        "oauth2",
        (ACCESS_TOKEN, f"cs-{CANARY}", _basic("app", f"cs-{CANARY}")),
        lambda s, t: _connector(
            s,
            t,
            auth=OAuth2ClientCredentials(f"{s.url}/token", "app", f"cs-{CANARY}"),
        ),
    ),
    Form(
        "secret_header",
        (f"hdr-{CANARY}",),
        lambda s, t: _connector(
            s, t, headers={"X-Tenant": Secret(f"hdr-{CANARY}").reveal()}
        ),
    ),
    Form(
        "plain_named_header",  # not a Secret: stripped by its name
        (f"tok-{CANARY}",),
        lambda s, t: _connector(s, t, headers={"X-Auth-Token": f"tok-{CANARY}"}),
    ),
    Form("userinfo", (f"ui-{CANARY}", _basic("alice", f"ui-{CANARY}")), _userinfo),
)
COOKIE: Final = f"cookie-{CANARY}"


def _leaks(server: Server, key: str, needles: tuple[str, ...]) -> list[str]:
    """Return each request of ``key`` at ``server`` that shows a needle."""
    return [
        seen.text()
        for seen in server.seen(key)
        if any(needle in seen.text() for needle in needles)
    ]


def _carries(server: Server, key: str, needles: tuple[str, ...]) -> list[bool]:
    """Tell, for each request of ``key`` at ``server``, whether it shows a needle."""
    return [any(n in seen.text() for n in needles) for seen in server.seen(key)]


def _follower(connector: Connector) -> Task[..., object]:
    @connector.task
    async def follow(
        client: httpx.AsyncClient, path: str, params: dict[str, str]
    ) -> object:
        response = await client.get(path, params=params, follow_redirects=True)
        response.raise_for_status()
        return response.json()

    return follow


def _transport(ca: trustme.CA) -> httpx.AsyncBaseTransport:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return httpx.AsyncHTTPTransport(verify=context)


# ---------------------------------------------------------------- hand-written tasks


@pytest.mark.parametrize("status", REDIRECTS)
@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.name)
def test_a_cross_origin_hop_carries_no_credential(
    runner: Runner, origin: Server, other: Server, key: str, form: Form, status: int
) -> None:
    follow = _follower(form.make(origin, None))
    target = f"{other.url}/v1/echo/{key}"

    answer = follow(path=f"/hop/{key}", params={"to": target, "status": str(status)})

    assert answer == {"server": "other"}
    assert _carries(origin, key, form.needles) == [True]  # the origin got it
    assert len(other.seen(key)) == 1
    assert _leaks(other, key, form.needles) == []
    assert not {name for name, _ in other.seen(key)[0].headers} & {
        "authorization",
        "cookie",
        "x-api-key",
        "x-tenant",
        "x-auth-token",
    }


@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.name)
def test_a_scheme_downgrade_carries_no_credential(
    runner: Runner,
    ca: trustme.CA,
    tls: Server,
    other: Server,
    key: str,
    form: Form,
) -> None:
    follow = _follower(form.make(tls, _transport(ca)))
    target = f"{other.url}/v1/echo/{key}"  # http: the same host, no TLS

    answer = follow(path=f"/hop/{key}", params={"to": target})

    assert answer == {"server": "other"}
    assert _carries(tls, key, form.needles) == [True]
    assert len(other.seen(key)) == 1
    assert _leaks(other, key, form.needles) == []


@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.name)
def test_a_location_with_userinfo_sends_neither_it_nor_the_credential(
    runner: Runner, origin: Server, other: Server, key: str, form: Form
) -> None:
    follow = _follower(form.make(origin, None))
    host = other.url.removeprefix("http://")
    target = f"http://mallory:pw-{CANARY}@{host}/v1/echo/{key}"

    follow(path=f"/hop/{key}", params={"to": target})

    needles = (*form.needles, f"pw-{CANARY}", _basic("mallory", f"pw-{CANARY}"))
    assert len(other.seen(key)) == 1
    assert _leaks(other, key, needles) == []


@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.name)
def test_credentials_left_behind_do_not_come_back_on_the_return_hop(
    runner: Runner, origin: Server, other: Server, key: str, form: Form
) -> None:
    follow = _follower(form.make(origin, None))
    home = f"{origin.url}/v1/echo/{key}"
    away = str(
        httpx.URL(f"{other.url}/v1/hop/{key}", params={"to": home}),
    )

    answer = follow(path=f"/hop/{key}", params={"to": away})

    assert answer == {"server": "origin"}
    assert _leaks(other, key, form.needles) == []
    # Sent on the first request; the hop back, chosen by the other origin,
    # gets none: a foreign server cannot send authenticated requests.
    assert _carries(origin, key, form.needles) == [True, False]


@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.name)
def test_a_same_origin_hop_keeps_the_credential(
    runner: Runner, origin: Server, key: str, form: Form
) -> None:
    follow = _follower(form.make(origin, None))

    answer = follow(path=f"/hop/{key}", params={"to": f"/v1/echo/{key}"})

    assert answer == {"server": "origin"}
    assert _carries(origin, key, form.needles) == [True, form.kept_on_same_origin]


def test_a_cookie_the_origin_set_does_not_follow_a_cross_origin_hop(
    runner: Runner, origin: Server, other: Server, key: str
) -> None:
    connector = _connector(origin, None)
    follow = _follower(connector)
    Secret(COOKIE)  # registered, as a session cookie of the user's would be

    follow(
        path=f"/hop/{key}",
        params={"to": f"{other.url}/v1/echo/{key}", "cookie": COOKIE},
    )

    assert len(other.seen(key)) == 1
    assert _leaks(other, key, (COOKIE,)) == []


def test_a_cookie_the_origin_set_follows_a_same_origin_hop(
    runner: Runner, origin: Server, key: str
) -> None:
    follow = _follower(_connector(origin, None))

    follow(path=f"/hop/{key}", params={"to": f"/v1/echo/{key}", "cookie": COOKIE})

    cookies = [dict(seen.headers).get("cookie") for seen in origin.seen(key)]
    assert cookies == [None, f"session={COOKIE}"]


def test_a_307_does_not_resend_a_body_holding_a_credential_to_another_origin(
    runner: Runner, origin: Server, other: Server, key: str
) -> None:
    connector = _connector(origin, None)
    secret = Secret(f"body-{CANARY}")

    @connector.task(retry=None)
    async def post(client: httpx.AsyncClient, to: str) -> object:
        response = await client.post(
            f"/hop/{key}",
            params={"to": to, "status": "307"},
            json={"password": secret.reveal()},
            follow_redirects=True,
        )
        return response.json()

    with pytest.raises(
        UnsafeURLError, match=r"^Refused to send a body holding"
    ) as info:
        post(to=f"{other.url}/v1/echo/{key}")

    assert info.value.connector == "api"
    assert other.seen(key) == []
    assert CANARY not in str(info.value)


def test_a_redirect_loop_is_a_connector_error_that_is_not_retried(
    runner: Runner, origin: Server, key: str
) -> None:
    follow = _follower(_connector(origin, None, auth=BearerAuth(f"bearer-{CANARY}")))

    with pytest.raises(
        ConnectorError, match=r"^TooManyRedirects \(.*\) in operation 'follow'"
    ) as info:
        follow(path=f"/loop/{key}", params={})

    error = info.value
    assert type(error) is ConnectorError
    assert error.code is FiscusErrorCode.INVALID_REQUEST
    assert error.retryable is False
    assert len(origin.seen(key)) == 21  # httpx's 20 redirects, once: not retried
    assert CANARY not in str(error)


def test_a_redirect_not_followed_is_an_error_naming_its_location(
    runner: Runner, origin: Server, other: Server, key: str
) -> None:
    connector = _connector(origin, None, auth=BearerAuth(f"bearer-{CANARY}"))

    @connector.task
    async def fetch(client: httpx.AsyncClient) -> object:
        response = await client.get(
            f"/hop/{key}", params={"to": f"{other.url}/v1/echo/{key}?token=t-{CANARY}"}
        )
        response.raise_for_status()
        return response.json()

    with pytest.raises(HTTPStatusError, match=r"^HTTP 302 Found from") as info:
        fetch()

    error = info.value
    assert f"Location {other.url}/v1/echo/{key}?token=REDACTED" in str(error)
    assert (error.status_code, error.retryable) == (302, False)
    assert error.code is FiscusErrorCode.INVALID_REQUEST
    assert other.seen(key) == []


# ---------------------------------------------------------------- operations


def _hop_operation(connector: Connector) -> Task[[str, str, int], dict[str, str]]:
    @connector.operation("GET /hop/{key}")
    def hop(key: str, to: str, status: int = 302) -> dict[str, str]:
        """Ask the origin for a redirect."""
        raise NotImplementedError

    return hop


@pytest.mark.parametrize("status", REDIRECTS)
@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.name)
def test_an_operation_does_not_follow_a_redirect_to_another_origin(
    runner: Runner, origin: Server, other: Server, key: str, form: Form, status: int
) -> None:
    hop = _hop_operation(form.make(origin, None))

    with pytest.raises(HTTPStatusError, match=rf"^HTTP {status} ") as info:
        hop(key, f"{other.url}/v1/echo/{key}", status)

    error = info.value
    assert error.status_code == status
    assert error.code is FiscusErrorCode.INVALID_REQUEST
    assert error.retryable is False
    assert "operations do not follow redirects" in str(error)
    assert len(origin.seen(key)) == 1  # not retried
    assert other.seen(key) == []
    assert all(needle not in str(error) for needle in form.needles)


@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.name)
def test_an_operation_does_not_follow_a_scheme_downgrade(
    runner: Runner,
    ca: trustme.CA,
    tls: Server,
    other: Server,
    key: str,
    form: Form,
) -> None:
    hop = _hop_operation(form.make(tls, _transport(ca)))

    with pytest.raises(HTTPStatusError, match=r"^HTTP 302 "):
        hop(key, f"{other.url}/v1/echo/{key}", 302)

    assert len(tls.seen(key)) == 1
    assert other.seen(key) == []


def test_an_operation_does_not_follow_a_same_origin_redirect(
    runner: Runner, origin: Server, key: str
) -> None:
    hop = _hop_operation(_connector(origin, None))

    with pytest.raises(
        HTTPStatusError, match=r"Location http://127\.0\.0\.1:\d+/v1/echo/"
    ) as info:
        hop(key, f"/v1/echo/{key}", 302)

    assert info.value.status_code == 302
    assert len(origin.seen(key)) == 1


def test_an_operation_shows_a_location_with_userinfo_redacted(
    runner: Runner, origin: Server, other: Server, key: str
) -> None:
    hop = _hop_operation(_connector(origin, None))
    host = other.url.removeprefix("http://")

    with pytest.raises(HTTPStatusError) as info:
        hop(key, f"http://mallory:pw-{CANARY}@{host}/v1/echo/{key}", 302)

    assert "REDACTED:REDACTED@" in str(info.value)
    assert CANARY not in str(info.value)
    assert other.seen(key) == []


def test_an_operation_redirecting_to_itself_is_one_request(
    runner: Runner, origin: Server, key: str
) -> None:
    connector = _connector(origin, None)

    @connector.operation("GET /loop/{key}")
    def loop(key: str) -> dict[str, str]:
        """Ask for a redirect loop."""
        raise NotImplementedError

    with pytest.raises(HTTPStatusError, match=r"^HTTP 302 ") as info:
        loop(key=key)

    assert info.value.retryable is False
    assert len(origin.seen(key)) == 1


def test_an_operation_returning_the_raw_response_gets_the_redirect(
    runner: Runner, origin: Server, other: Server, key: str
) -> None:
    connector = _connector(origin, None, auth=BearerAuth(f"bearer-{CANARY}"))

    @connector.operation("GET /hop/{key}")
    def hop(key: str, to: str) -> httpx.Response:
        """Ask for a redirect, and handle it."""
        raise NotImplementedError

    response = hop(key=key, to=f"{other.url}/v1/echo/{key}")

    assert response.status_code == 302
    assert response.headers["Location"] == f"{other.url}/v1/echo/{key}"
    assert other.seen(key) == []
