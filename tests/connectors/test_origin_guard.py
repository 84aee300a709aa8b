"""``OriginGuard``: what a request that leaves the connector's origin keeps and loses.

The guard is an httpx request hook on every connector client, so it sees
each hop a hand-written task follows. These tests drive a connector over an
``httpx.MockTransport`` that answers for every origin and records what it
was sent; tests/reliability/test_redirects.py does the same against real
loopback servers.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Final

import httpx
import pytest

from fiscus_dsl import (
    ApiKeyAuth,
    BearerAuth,
    Connector,
    OAuth2ClientCredentials,
    Secret,
    UnsafeURLError,
)
from fiscus_dsl._connectors.origins import OriginGuard

from .conftest import BASE

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.usefixtures("runner")

OTHER: Final = "https://files.example.net"
CANARY: Final = "sk_guard_CANARY_9f8e7d6c"


class Recorder:
    """A mock transport for every origin: redirects ``/hop`` to ``to``, logs all."""

    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        if request.url.path.endswith("/hop"):
            status = int(request.url.params.get("status", "302"))
            return httpx.Response(
                status, headers={"Location": request.url.params["to"]}
            )
        if request.url.path == "/token":
            return httpx.Response(
                200,
                json={
                    "access_token": f"at-{CANARY}",
                    "token_type": "bearer",
                    "expires_in": 3600,
                },
            )
        return httpx.Response(200, json={"host": request.url.host})

    def at(self, host: str) -> list[httpx.Request]:
        return [request for request in self.sent if request.url.host == host]


def _follow(connector: Connector) -> object:
    @connector.task
    async def follow(client: httpx.AsyncClient, to: str, status: int = 302) -> object:
        response = await client.get(
            "/hop", params={"to": to, "status": str(status)}, follow_redirects=True
        )
        return response.json()

    return follow


def test_a_foreign_hop_loses_every_credential_header() -> None:
    recorder = Recorder()
    Secret(f"hdr-{CANARY}")
    crm = Connector(
        "CRM",
        BASE,
        auth=ApiKeyAuth(f"key-{CANARY}", header="X-Partner-Key"),
        headers={
            "X-Tenant": f"hdr-{CANARY}",  # by its value: a registered secret
            "X-Session-Id": "s-1",  # by its name
            "Proxy-Authorization": "Basic eA==",
            "User-Agent": "crm-sync/1.0",
        },
        transport=httpx.MockTransport(recorder),
    )
    follow = _follow(crm)

    follow(to=f"{OTHER}/file")  # type: ignore[operator]  # a Task

    (first,) = recorder.at("api.example.test")
    (away,) = recorder.at("files.example.net")
    assert first.headers["X-Partner-Key"] == f"key-{CANARY}"
    for name in ("X-Partner-Key", "X-Tenant", "X-Session-Id", "Proxy-Authorization"):
        assert name not in away.headers, name
    assert away.headers["User-Agent"] == "crm-sync/1.0"


def test_a_foreign_hop_keeps_the_idempotency_key_and_the_query_it_was_given() -> None:
    recorder = Recorder()
    crm = Connector(
        "CRM",
        BASE,
        auth=ApiKeyAuth(f"key-{CANARY}", query="api_key"),
        transport=httpx.MockTransport(recorder),
    )

    @crm.task
    async def upload(client: httpx.AsyncClient) -> object:
        presigned = f"{OTHER}/up?X-Amz-Signature=abc123&api_key=theirs"
        response = await client.post(
            "/hop",
            params={"to": presigned, "status": "307"},
            headers={"Idempotency-Key": '"k-1"'},
            content=b"payload",
            follow_redirects=True,
        )
        return response.json()

    upload()

    (first,) = recorder.at("api.example.test")
    (away,) = recorder.at("files.example.net")
    assert first.url.params["api_key"] == f"key-{CANARY}"
    # The redirect chose this query: it belongs to the other origin, even a
    # parameter named like the connector's key.
    assert away.url.params["X-Amz-Signature"] == "abc123"
    assert away.headers["Idempotency-Key"] == '"k-1"'
    assert away.content == b"payload"


def test_a_foreign_hop_loses_a_query_value_holding_a_secret() -> None:
    recorder = Recorder()
    crm = Connector(
        "CRM",
        BASE,
        auth=ApiKeyAuth(f"key-{CANARY}", query="api_key"),
        transport=httpx.MockTransport(recorder),
    )
    follow = _follow(crm)

    # A server echoing the key into the Location: it stays home.
    follow(to=f"{OTHER}/file?sig=key-{CANARY}&page=2")  # type: ignore[operator]  # a Task

    (away,) = recorder.at("files.example.net")
    assert dict(away.url.params) == {"page": "2"}


def test_a_foreign_first_request_of_a_connector_without_auth_is_stripped_too() -> None:
    recorder = Recorder()
    crm = Connector(
        "CRM",
        BASE,
        headers={"Authorization": f"Bearer {CANARY}"},
        transport=httpx.MockTransport(recorder),
    )

    @crm.task
    async def fetch(client: httpx.AsyncClient) -> object:
        response = await client.get(
            f"https://bob:pw@{OTHER.removeprefix('https://')}/x"
        )
        return response.json()

    fetch()

    (away,) = recorder.sent
    assert "Authorization" not in away.headers
    assert away.url.userinfo == b""


def test_a_connector_with_auth_still_refuses_a_foreign_first_request() -> None:
    recorder = Recorder()
    crm = Connector(
        "CRM", BASE, auth=BearerAuth(CANARY), transport=httpx.MockTransport(recorder)
    )

    @crm.task(retry=None)
    async def fetch(client: httpx.AsyncClient) -> object:
        return (await client.get(f"{OTHER}/x")).json()

    with pytest.raises(UnsafeURLError, match=r"^Refused to send the credentials"):
        fetch()
    assert recorder.sent == []


def test_oauth2_client_credentials_reach_a_token_endpoint_on_another_origin() -> None:
    recorder = Recorder()
    oauth = OAuth2ClientCredentials(f"{OTHER}/token", "app", f"cs-{CANARY}")
    crm = Connector("CRM", BASE, auth=oauth, transport=httpx.MockTransport(recorder))

    @crm.task
    async def fetch(client: httpx.AsyncClient) -> object:
        return (await client.get("/contacts")).json()

    assert fetch() == {"host": "api.example.test"}

    token, call = recorder.sent
    assert token.url == httpx.URL(f"{OTHER}/token")
    basic = base64.b64encode(f"app:cs-{CANARY}".encode()).decode()
    assert token.headers["Authorization"] == f"Basic {basic}"
    assert call.headers["Authorization"] == f"Bearer at-{CANARY}"


def test_a_redirect_to_the_token_host_gets_no_access_token() -> None:
    recorder = Recorder()
    oauth = OAuth2ClientCredentials(f"{OTHER}/token", "app", f"cs-{CANARY}")
    crm = Connector("CRM", BASE, auth=oauth, transport=httpx.MockTransport(recorder))
    follow = _follow(crm)

    follow(to=f"{OTHER}/file")  # type: ignore[operator]  # a Task

    _, hop, away = recorder.sent  # the token request, then the two hops
    assert hop.headers["Authorization"] == f"Bearer at-{CANARY}"
    assert away.url.path == "/file"
    assert "Authorization" not in away.headers


async def test_a_streamed_body_is_not_read_by_the_guard() -> None:
    guard = OriginGuard(httpx.URL(BASE), auth=None, connector="CRM")
    Secret(f"body-{CANARY}")

    async def chunks() -> AsyncIterator[bytes]:
        yield f"body-{CANARY}".encode()  # pragma: no cover - never read

    request = httpx.Request("POST", f"{OTHER}/up", content=chunks())
    await guard(request)

    assert not isinstance(request.stream, httpx.ByteStream)


async def test_a_request_for_the_origin_is_left_as_it_is() -> None:
    guard = OriginGuard(httpx.URL(BASE), auth=None)
    request = httpx.Request(
        "GET", f"{BASE}/x", params={"api_key": CANARY}, headers={"Cookie": "a=b"}
    )

    await guard(request)

    assert request.headers["Cookie"] == "a=b"
    assert request.url.params["api_key"] == CANARY


async def test_a_body_holding_a_secret_is_refused_with_a_scrubbed_message() -> None:
    guard = OriginGuard(httpx.URL(BASE), auth=None)
    Secret(f"pw-{CANARY}")
    request = httpx.Request("PUT", f"{OTHER}/x", json={"pw": f"pw-{CANARY}"})

    with pytest.raises(
        UnsafeURLError,
        match=r"^Refused to send a body holding a credential of a connector to "
        r"https://files\.example\.net/x, outside the connector's origin "
        r"https://api\.example\.test:443",
    ) as info:
        await guard(request)

    assert (info.value.connector, info.value.method) == ("", "PUT")
    assert CANARY not in str(info.value)
