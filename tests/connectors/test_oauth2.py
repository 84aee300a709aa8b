"""``OAuth2ClientCredentials``: fetch, cache, refresh, one shared fetch, 401 resend."""

from __future__ import annotations

import asyncio
import base64
import pickle
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote_plus, unquote_plus

import httpx
import pytest
import respx

from fiscus_dsl import (
    ConfigurationError,
    ConnectorError,
    FiscusErrorCode,
    OAuth2ClientCredentials,
    OptionTypeError,
    Secret,
    SecretPicklingError,
    UnsafeURLError,
)
from fiscus_dsl._connectors.scrub import MASK, scrub_text

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

BASE = "https://api.example.com/v1"
ITEMS = f"{BASE}/items"
TOKEN_URL = "https://auth.example.com/oauth/token"
CLIENT_ID = "client:1"
CLIENT_SECRET = "cs_test_CANARY_&+/=_7k8l9m"


class FakeClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token_body(token: str, **extra: object) -> dict[str, object]:
    return {"access_token": token, "token_type": "Bearer", "expires_in": 3600, **extra}


def make_auth(
    clock: FakeClock | None = None, scopes: tuple[str, ...] = ("read", "write")
) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(
        TOKEN_URL, CLIENT_ID, Secret(CLIENT_SECRET), scopes, clock=clock or FakeClock()
    )


def client(auth: OAuth2ClientCredentials) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=BASE, auth=auth.for_origin(BASE, connector="crm"))


def bearer(route: respx.Route, index: int = -1) -> str:
    header: str = route.calls[index].request.headers["Authorization"]
    return header


@pytest.fixture
async def router() -> AsyncIterator[respx.MockRouter]:
    async with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        yield mock


# ---------------------------------------------------------------- fetch and cache


async def test_the_first_request_fetches_a_token(router: respx.MockRouter) -> None:
    token = router.post(TOKEN_URL).respond(json=token_body("at-first-0001"))
    api = router.get(ITEMS).respond(json=[])

    async with client(make_auth()) as http:
        response = await http.get("/items")

    assert response.status_code == 200
    assert token.call_count == 1
    assert bearer(api) == "Bearer at-first-0001"


async def test_the_token_request_follows_rfc_6749(router: respx.MockRouter) -> None:
    token = router.post(TOKEN_URL).respond(json=token_body("at-form-0001"))
    router.get(ITEMS).respond(json=[])

    async with client(make_auth()) as http:
        await http.get("/items")

    sent = token.calls.last.request
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.headers["Accept"] == "application/json"
    assert parse_qs(sent.content.decode()) == {
        "grant_type": ["client_credentials"],
        "scope": ["read write"],
    }
    scheme, _, encoded = sent.headers["Authorization"].partition(" ")
    user, _, password = base64.b64decode(encoded).decode().partition(":")
    assert scheme == "Basic"
    assert user == "client%3A1"  # form-encoded first, as RFC 6749 §2.3.1 says
    assert (unquote_plus(user), unquote_plus(password)) == (CLIENT_ID, CLIENT_SECRET)
    assert CLIENT_SECRET not in sent.content.decode()


async def test_no_scope_is_sent_without_scopes(router: respx.MockRouter) -> None:
    token = router.post(TOKEN_URL).respond(json=token_body("at-noscope-01"))
    router.get(ITEMS).respond(json=[])

    async with client(make_auth(scopes=())) as http:
        await http.get("/items")

    assert parse_qs(token.calls.last.request.content.decode()) == {
        "grant_type": ["client_credentials"]
    }


async def test_the_second_request_reuses_the_token(router: respx.MockRouter) -> None:
    token = router.post(TOKEN_URL).respond(json=token_body("at-reuse-0001"))
    api = router.get(ITEMS).respond(json=[])

    async with client(make_auth()) as http:
        await http.get("/items")
        await http.get("/items")

    assert token.call_count == 1
    assert [bearer(api, 0), bearer(api, 1)] == ["Bearer at-reuse-0001"] * 2


async def test_every_origin_bound_auth_shares_the_cached_token(
    router: respx.MockRouter,
) -> None:
    token = router.post(TOKEN_URL).respond(json=token_body("at-shared-001"))
    router.get(ITEMS).respond(json=[])
    auth = make_auth()

    async with client(auth) as first, client(auth) as second:
        await first.get("/items")
        await second.get("/items")

    assert token.call_count == 1


async def test_an_expiring_token_is_refreshed(router: respx.MockRouter) -> None:
    token = router.post(TOKEN_URL)
    token.side_effect = [
        httpx.Response(200, json=token_body("at-old-00001", expires_in=600)),
        httpx.Response(200, json=token_body("at-new-00001")),
    ]
    api = router.get(ITEMS).respond(json=[])
    clock = FakeClock()

    async with client(make_auth(clock)) as http:
        await http.get("/items")
        clock.now += 600 - 30 - 0.001  # just before the 30 s margin
        await http.get("/items")
        clock.now += 0.001  # the margin reached
        await http.get("/items")

    assert token.call_count == 2
    assert [bearer(api, i) for i in range(3)] == [
        "Bearer at-old-00001",
        "Bearer at-old-00001",
        "Bearer at-new-00001",
    ]


async def test_a_token_without_expires_in_lives_an_hour(
    router: respx.MockRouter,
) -> None:
    body = {"access_token": "at-hour-00001", "token_type": "bearer"}
    token = router.post(TOKEN_URL).respond(json=body)
    router.get(ITEMS).respond(json=[])
    clock = FakeClock()

    async with client(make_auth(clock)) as http:
        await http.get("/items")
        clock.now += 3600 - 31
        await http.get("/items")

    assert token.call_count == 1


async def test_expires_in_may_be_a_numeric_string(router: respx.MockRouter) -> None:
    token = router.post(TOKEN_URL)
    token.side_effect = [
        httpx.Response(200, json=token_body("at-str-00001", expires_in="100")),
        httpx.Response(200, json=token_body("at-str-00002")),
    ]
    router.get(ITEMS).respond(json=[])
    clock = FakeClock()

    async with client(make_auth(clock)) as http:
        await http.get("/items")
        clock.now += 70
        await http.get("/items")

    assert token.call_count == 2


async def test_every_token_is_registered_as_a_secret(router: respx.MockRouter) -> None:
    router.post(TOKEN_URL).respond(json=token_body("at-registered-7777"))
    router.get(ITEMS).respond(json=[])

    async with client(make_auth()) as http:
        await http.get("/items")

    assert scrub_text("Bearer at-registered-7777") == f"Bearer {MASK}"


# ---------------------------------------------------------------- concurrency


async def test_concurrent_requests_share_one_token_fetch(
    router: respx.MockRouter,
) -> None:
    async def slow_token(request: httpx.Request) -> httpx.Response:
        for _ in range(5):  # let the other requests run into the lock
            await asyncio.sleep(0)
        return httpx.Response(200, json=token_body("at-shared-0020"))

    token = router.post(TOKEN_URL).mock(side_effect=slow_token)
    api = router.get(ITEMS).respond(json=[])

    async with client(make_auth()) as http:
        responses = await asyncio.gather(*(http.get("/items") for _ in range(20)))

    assert [response.status_code for response in responses] == [200] * 20
    assert token.call_count == 1
    assert {call.request.headers["Authorization"] for call in api.calls} == {
        "Bearer at-shared-0020"
    }


def test_the_token_is_shared_across_event_loops() -> None:
    auth = make_auth()

    async def get() -> int:
        async with client(auth) as http:
            return (await http.get("/items")).status_code

    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        token = mock.post(TOKEN_URL).respond(json=token_body("at-loops-0001"))
        mock.get(ITEMS).respond(json=[])
        statuses = [asyncio.run(get()), asyncio.run(get())]

    assert statuses == [200, 200]
    assert token.call_count == 1


def test_each_event_loop_gets_its_own_lock() -> None:
    clock = FakeClock()
    auth = make_auth(clock)

    async def get() -> int:
        async with client(auth) as http:
            return (await http.get("/items")).status_code

    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        token = mock.post(TOKEN_URL)
        token.side_effect = [
            httpx.Response(200, json=token_body("at-loop-a-001")),
            httpx.Response(200, json=token_body("at-loop-b-001")),
        ]
        mock.get(ITEMS).respond(json=[])
        first = asyncio.run(get())
        clock.now += 3600  # expired: the second loop must take its own lock
        second = asyncio.run(get())

    assert [first, second] == [200, 200]
    assert token.call_count == 2


# ---------------------------------------------------------------- 401


async def test_a_401_causes_one_refresh_and_one_resend(
    router: respx.MockRouter,
) -> None:
    token = router.post(TOKEN_URL)
    token.side_effect = [
        httpx.Response(200, json=token_body("at-revoked-01")),
        httpx.Response(200, json=token_body("at-fresh-0001")),
    ]
    api = router.post(ITEMS)
    api.side_effect = [httpx.Response(401), httpx.Response(201, json={"id": 1})]

    async with client(make_auth()) as http:
        response = await http.post("/items", json={"name": "n"})

    assert response.status_code == 201
    assert token.call_count == 2
    assert api.call_count == 2
    assert [bearer(api, 0), bearer(api, 1)] == [
        "Bearer at-revoked-01",
        "Bearer at-fresh-0001",
    ]
    assert api.calls[1].request.content == b'{"name":"n"}'


async def test_a_second_401_is_returned_as_is(router: respx.MockRouter) -> None:
    token = router.post(TOKEN_URL)
    token.side_effect = [
        httpx.Response(200, json=token_body("at-denied-001")),
        httpx.Response(200, json=token_body("at-denied-002")),
    ]
    api = router.get(ITEMS).respond(401, json={"error": "forbidden"})

    async with client(make_auth()) as http:
        response = await http.get("/items")

    assert response.status_code == 401
    assert response.json() == {"error": "forbidden"}
    assert token.call_count == 2
    assert api.call_count == 2


async def test_concurrent_401s_cause_one_refresh(router: respx.MockRouter) -> None:
    stale, fresh = "at-stale-0001", "at-after-401-01"
    revoked: set[str] = set()

    async def slow_token(request: httpx.Request) -> httpx.Response:
        for _ in range(5):  # let the other 401s run into the lock
            await asyncio.sleep(0)
        return httpx.Response(200, json=token_body(fresh))

    def api_answer(request: httpx.Request) -> httpx.Response:
        used = request.headers["Authorization"].removeprefix("Bearer ")
        return httpx.Response(401 if used in revoked else 200)

    token = router.post(TOKEN_URL).respond(json=token_body(stale))
    api = router.get(ITEMS).mock(side_effect=api_answer)

    async with client(make_auth()) as http:
        await http.get("/items")  # caches the token
        revoked.add(stale)
        token.mock(side_effect=slow_token)
        responses = await asyncio.gather(*(http.get("/items") for _ in range(10)))

    assert [response.status_code for response in responses] == [200] * 10
    assert token.call_count == 2
    assert api.call_count == 1 + 10 + 10


async def test_a_401_after_another_refresh_reuses_the_new_token(
    router: respx.MockRouter,
) -> None:
    fresh = "at-newer-00001"
    gate = asyncio.Event()

    async def held_api(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == f"Bearer {fresh}":
            return httpx.Response(200)
        await gate.wait()  # answer 401 only after the other request refreshed
        return httpx.Response(401)

    token = router.post(TOKEN_URL)
    token.side_effect = [
        httpx.Response(200, json=token_body("at-older-00001")),
        httpx.Response(200, json=token_body(fresh)),
    ]
    router.get(ITEMS).mock(side_effect=held_api)
    router.get(f"{BASE}/quick").respond(401)
    clock = FakeClock()
    auth = make_auth(clock)

    async with client(auth) as http:
        slow = asyncio.ensure_future(http.get("/items"))
        for _ in range(5):
            await asyncio.sleep(0)
        quick = await http.get("/quick")  # 401: refreshes, then 401 again
        gate.set()
        response = await slow

    assert quick.status_code == 401
    assert response.status_code == 200
    assert token.call_count == 2


async def test_body_client_auth_sends_the_credentials_in_the_form(
    router: respx.MockRouter,
) -> None:
    token = router.post(TOKEN_URL).respond(json=token_body("at-body-0001"))
    api = router.get(ITEMS).respond(json=[])
    auth = OAuth2ClientCredentials(
        TOKEN_URL, CLIENT_ID, Secret(CLIENT_SECRET), ["read"], client_auth="body"
    )

    async with client(auth) as http:
        await http.get("/items")

    sent = token.calls.last.request
    assert "Authorization" not in sent.headers
    assert parse_qs(sent.content.decode()) == {
        "grant_type": ["client_credentials"],
        "scope": ["read"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
    }
    assert bearer(api) == "Bearer at-body-0001"


async def test_an_echo_of_the_basic_client_credentials_is_masked(
    router: respx.MockRouter,
) -> None:
    userpass = f"{quote_plus(CLIENT_ID)}:{quote_plus(CLIENT_SECRET)}"
    basic = base64.b64encode(userpass.encode()).decode("ascii")
    router.post(TOKEN_URL).respond(401, text=f"bad client, got Basic {basic}")

    async with client(make_auth()) as http:
        with pytest.raises(ConnectorError, match="answered 401") as caught:
            await http.get("/items")

    assert basic not in str(caught.value)
    assert f"Basic {MASK}" in str(caught.value)


async def test_an_echo_of_the_body_client_secret_is_masked(
    router: respx.MockRouter,
) -> None:
    echoed = f"grant_type=client_credentials&client_secret={quote_plus(CLIENT_SECRET)}"
    router.post(TOKEN_URL).respond(400, json={"error": "invalid", "sent": echoed})
    auth = OAuth2ClientCredentials(
        TOKEN_URL, CLIENT_ID, Secret(CLIENT_SECRET), client_auth="body"
    )

    async with client(auth) as http:
        with pytest.raises(ConnectorError, match="answered 400") as caught:
            await http.get("/items")

    assert quote_plus(CLIENT_SECRET) not in str(caught.value)


def test_an_unknown_client_auth_is_refused() -> None:
    with pytest.raises(
        ConfigurationError, match=r"client_auth='post'\) is not a client auth"
    ) as caught:
        OAuth2ClientCredentials(
            TOKEN_URL,
            CLIENT_ID,
            Secret(CLIENT_SECRET),
            client_auth="post",  # type: ignore[arg-type]  # the wrong value is the point
        )

    assert caught.value.option == "client_auth"


def test_repr_names_body_client_auth() -> None:
    auth = OAuth2ClientCredentials(
        TOKEN_URL, CLIENT_ID, Secret(CLIENT_SECRET), client_auth="body"
    )

    assert repr(auth).endswith("scopes=(), client_auth='body')")


# ---------------------------------------------------------------- bad token answers


async def test_a_token_endpoint_500_raises_an_auth_failure(
    router: respx.MockRouter,
) -> None:
    router.post(TOKEN_URL).respond(500, text=f"boom: client_secret={CLIENT_SECRET}")

    async with client(make_auth()) as http:
        with pytest.raises(
            ConnectorError, match=r"Could not get an OAuth2 token"
        ) as caught:
            await http.get("/items")

    error = caught.value
    assert error.code is FiscusErrorCode.AUTH_FAILURE
    assert int(error.code) == 1001
    assert error.retryable is True
    assert error.connector == "crm"
    assert error.method == "POST"
    assert error.url == TOKEN_URL
    assert str(error) == (
        "Could not get an OAuth2 token for connector 'crm' from "
        f"{TOKEN_URL}: the token endpoint answered 500: "
        "'boom: client_secret=REDACTED'; check the token URL, the client id, "
        "the client secret and the scopes"
    )
    assert CLIENT_SECRET not in str(error)


async def test_a_token_endpoint_400_is_not_retryable(router: respx.MockRouter) -> None:
    router.post(TOKEN_URL).respond(400, json={"error": "invalid_client"})

    async with client(make_auth()) as http:
        with pytest.raises(
            ConnectorError, match=r"answered 400: .*invalid_client"
        ) as caught:
            await http.get("/items")

    assert caught.value.retryable is False
    assert caught.value.code is FiscusErrorCode.AUTH_FAILURE


async def test_a_client_secret_echoed_by_the_endpoint_is_masked(
    router: respx.MockRouter,
) -> None:
    router.post(TOKEN_URL).respond(401, text=f"bad secret {CLIENT_SECRET}")

    async with client(make_auth()) as http:
        with pytest.raises(ConnectorError) as caught:
            await http.get("/items")

    assert CLIENT_SECRET not in str(caught.value)
    assert f"bad secret {MASK}" in str(caught.value)


async def test_a_token_answer_that_is_not_json_raises(router: respx.MockRouter) -> None:
    router.post(TOKEN_URL).respond(
        200, text="access_token=at-form-999&token_type=bearer"
    )

    async with client(make_auth()) as http:
        with pytest.raises(
            ConnectorError, match=r"answered 200 with a body that is not JSON"
        ) as caught:
            await http.get("/items")

    assert caught.value.code is FiscusErrorCode.AUTH_FAILURE
    assert caught.value.retryable is False
    assert "at-form-999" not in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(["at-list"], "JSON that is not an object", id="not-an-object"),
        pytest.param(
            {"token_type": "bearer"}, "without an 'access_token'", id="no-token"
        ),
        pytest.param(
            {"access_token": "", "token_type": "bearer"}, "without an", id="empty"
        ),
        pytest.param(
            {"access_token": 7, "token_type": "bearer"}, "without an", id="int"
        ),
        pytest.param(
            {"access_token": "at-x-1"}, "'token_type' is missing", id="no-type"
        ),
        pytest.param(
            {"access_token": "at-x-1", "token_type": "mac"},
            "'token_type' is 'mac'",
            id="mac",
        ),
        pytest.param(
            token_body("at-x-1", expires_in="soon"), "'expires_in'", id="word"
        ),
        pytest.param(
            token_body("at-x-1", expires_in=-5), "'expires_in'", id="negative"
        ),
        pytest.param(token_body("at-x-1", expires_in=True), "'expires_in'", id="bool"),
        pytest.param(token_body("at-x-1", expires_in=[1]), "'expires_in'", id="list"),
        pytest.param(token_body("at-x-1", expires_in="nan"), "'expires_in'", id="nan"),
    ],
)
async def test_an_unusable_token_answer_raises(
    router: respx.MockRouter, body: object, reason: str
) -> None:
    router.post(TOKEN_URL).respond(json=body)

    async with client(make_auth()) as http:
        with pytest.raises(ConnectorError, match=reason) as caught:
            await http.get("/items")

    assert caught.value.code is FiscusErrorCode.AUTH_FAILURE
    assert "at-x-1" not in str(caught.value)


async def test_a_failed_fetch_releases_the_lock(router: respx.MockRouter) -> None:
    token = router.post(TOKEN_URL)
    token.side_effect = [
        httpx.Response(503),
        httpx.Response(200, json=token_body("at-after-503")),
    ]
    router.get(ITEMS).respond(json=[])

    async with client(make_auth()) as http:
        with pytest.raises(ConnectorError, match="answered 503"):
            await http.get("/items")
        response = await asyncio.wait_for(http.get("/items"), timeout=5)

    assert response.status_code == 200


async def test_without_a_connector_name_the_message_omits_it(
    router: respx.MockRouter,
) -> None:
    router.post(TOKEN_URL).respond(500)
    auth = make_auth().for_origin(BASE)

    async with httpx.AsyncClient(base_url=BASE, auth=auth) as http:
        with pytest.raises(
            ConnectorError, match=rf"^Could not get an OAuth2 token from {TOKEN_URL}:"
        ):
            await http.get("/items")


# ---------------------------------------------------------------- origin and client


async def test_the_token_is_never_sent_to_another_origin() -> None:
    async with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        route = mock.route().respond(200)
        async with client(make_auth()) as http:
            with pytest.raises(UnsafeURLError, match="connector 'crm'"):
                await http.get("https://evil.example.com/v1/items")

    assert not route.called  # not even the token endpoint


def test_a_sync_client_is_refused_with_a_clear_error() -> None:
    auth = make_auth().for_origin(BASE)

    with (
        respx.mock(assert_all_called=False, assert_all_mocked=True),
        httpx.Client(base_url=BASE, auth=auth) as http,
        pytest.raises(OptionTypeError, match=r"works with httpx.AsyncClient only"),
    ):
        http.get("/items")


# ---------------------------------------------------------------- construction


def test_repr_never_shows_the_client_secret() -> None:
    auth = make_auth()

    assert repr(auth) == (
        f"OAuth2ClientCredentials({TOKEN_URL!r}, client_id={CLIENT_ID!r}, "
        "client_secret=Secret('**********'), scopes=('read', 'write'))"
    )
    assert CLIENT_SECRET not in f"{auth}"


def test_repr_scrubs_the_token_url() -> None:
    auth = OAuth2ClientCredentials(
        "https://u:p@auth.example.com/t?key=k1", "app", "cs-1234"
    )

    assert "https://REDACTED:REDACTED@auth.example.com/t?key=REDACTED" in repr(auth)


def test_oauth2_credentials_cannot_be_pickled() -> None:
    with pytest.raises(
        SecretPicklingError, match="OAuth2ClientCredentials cannot be pickled"
    ):
        pickle.dumps(make_auth())


def test_the_token_url_must_be_absolute() -> None:
    with pytest.raises(
        ConfigurationError, match=r"needs an absolute token_url, got '/token'"
    ):
        OAuth2ClientCredentials("/token", "app", "cs-1234")


def test_the_client_id_must_not_be_empty() -> None:
    with pytest.raises(ConfigurationError, match=r"needs a client_id"):
        OAuth2ClientCredentials(TOKEN_URL, "", "cs-1234")


def test_the_client_secret_must_not_be_empty() -> None:
    with pytest.raises(
        ConfigurationError, match=r"client_secret\) needs a Secret or a non-empty"
    ):
        OAuth2ClientCredentials(TOKEN_URL, "app", "")


def test_scopes_must_be_a_list_not_a_str() -> None:
    with pytest.raises(OptionTypeError, match=r"pass scopes=\['read', 'write'\]"):
        OAuth2ClientCredentials(TOKEN_URL, "app", "cs-1234", "read write")


def test_the_expiry_margin_must_not_be_negative() -> None:
    with pytest.raises(ConfigurationError, match=r"expiry_margin=-1.0\) is negative"):
        OAuth2ClientCredentials(TOKEN_URL, "app", "cs-1234", expiry_margin=-1.0)


def test_for_origin_needs_an_absolute_base_url() -> None:
    with pytest.raises(
        ConfigurationError, match=r"OAuth2ClientCredentials.for_origin\(\) needs"
    ):
        make_auth().for_origin("/v1")
