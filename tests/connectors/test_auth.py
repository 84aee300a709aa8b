"""Bearer, Basic and API-key auth: sent to the connector's origin, and nowhere else."""

from __future__ import annotations

import base64
import pickle
from typing import TYPE_CHECKING

import httpx
import pytest
import respx

from fiscus_dsl import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    ConfigurationError,
    OAuth2ClientCredentials,
    Secret,
    SecretPicklingError,
    UnsafeURLError,
)
from fiscus_dsl._connectors.scrub import scrub_text, scrub_url

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fiscus_dsl._connectors.auth import Auth

BASE = "https://api.example.com/v1"
TOKEN = "sk_test_bearer_CANARY_9a8b7c"
KEY = "sk_test_apikey_CANARY_1d2e3f"
PASSWORD = "pw_test_basic_CANARY_4g5h6i"


@pytest.fixture
async def router() -> AsyncIterator[respx.MockRouter]:
    async with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        yield mock


def client(auth: httpx.Auth, base_url: str = BASE) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, auth=auth)


# ---------------------------------------------------------------- sent to the origin


async def test_bearer_auth_sends_the_token_to_the_origin(
    router: respx.MockRouter,
) -> None:
    route = router.get(f"{BASE}/items").respond(json=[])

    async with client(BearerAuth(Secret(TOKEN)).for_origin(BASE)) as http:
        response = await http.get("/items")

    assert response.status_code == 200
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_bearer_auth_accepts_a_plain_str(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/items").respond(json=[])

    async with client(BearerAuth(TOKEN).for_origin(BASE)) as http:
        await http.get("/items")

    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_basic_auth_sends_the_standard_header(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/items").respond(json=[])

    async with client(BasicAuth("alice", Secret(PASSWORD)).for_origin(BASE)) as http:
        await http.get("/items")

    expected = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert route.calls.last.request.headers["Authorization"] == f"Basic {expected}"


def test_basic_auth_registers_its_header_token_as_a_secret() -> None:
    BasicAuth("alice", Secret("pw_basic_token_CANARY"))

    token = base64.b64encode(b"alice:pw_basic_token_CANARY").decode()
    assert scrub_text(f"echo: Basic {token}") == "echo: Basic **********"


async def test_basic_auth_encodes_non_ascii_as_utf8(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/items").respond(json=[])

    async with client(BasicAuth("jürgen", "pässwört-1").for_origin(BASE)) as http:
        await http.get("/items")

    header = route.calls.last.request.headers["Authorization"]
    assert (
        base64.b64decode(header.removeprefix("Basic ")) == "jürgen:pässwört-1".encode()
    )


async def test_api_key_auth_sends_the_key_in_its_header(
    router: respx.MockRouter,
) -> None:
    route = router.get(f"{BASE}/items").respond(json=[])

    async with client(
        ApiKeyAuth(Secret(KEY), header="X-API-Key").for_origin(BASE)
    ) as http:
        await http.get("/items")

    assert route.calls.last.request.headers["X-API-Key"] == KEY
    assert "Authorization" not in route.calls.last.request.headers


async def test_api_key_auth_sends_the_key_as_a_query_parameter(
    router: respx.MockRouter,
) -> None:
    route = router.get(f"{BASE}/items").respond(json=[])

    async with client(ApiKeyAuth(KEY, query="api_key").for_origin(BASE)) as http:
        await http.get("/items", params={"page": 2})

    sent = route.calls.last.request.url
    assert sent.params["api_key"] == KEY
    assert sent.params["page"] == "2"
    assert scrub_url(sent) == f"{BASE}/items?page=2&api_key=REDACTED"


async def test_api_key_auth_replaces_a_query_parameter_of_the_same_name(
    router: respx.MockRouter,
) -> None:
    route = router.get(f"{BASE}/items").respond(json=[])

    async with client(ApiKeyAuth(KEY, query="api_key").for_origin(BASE)) as http:
        await http.get("/items", params={"api_key": "forged"})

    assert route.calls.last.request.url.params.get_list("api_key") == [KEY]


async def test_a_key_in_a_custom_query_name_is_still_scrubbed(
    router: respx.MockRouter,
) -> None:
    route = router.get(f"{BASE}/items").respond(json=[])

    async with client(ApiKeyAuth(KEY, query="appid").for_origin(BASE)) as http:
        await http.get("/items")

    sent = route.calls.last.request.url
    assert sent.params["appid"] == KEY
    assert KEY not in scrub_url(sent)


async def test_the_origin_check_defaults_the_port_by_scheme(
    router: respx.MockRouter,
) -> None:
    route = router.get("https://api.example.com:443/v1/items").respond(json=[])

    async with client(
        BearerAuth(TOKEN).for_origin("https://API.example.com/v1")
    ) as http:
        await http.get("https://api.example.com:443/v1/items")

    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_the_origin_may_be_a_loopback_address_with_a_port(
    router: respx.MockRouter,
) -> None:
    base = "http://[::1]:8080/api"
    route = router.get(f"{base}/items").respond(json=[])

    async with client(BearerAuth(TOKEN).for_origin(httpx.URL(base)), base) as http:
        await http.get("/items")

    assert route.called


def test_static_auth_works_with_a_sync_client_too() -> None:
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        route = mock.get(f"{BASE}/items").respond(json=[])
        with httpx.Client(
            base_url=BASE, auth=BearerAuth(TOKEN).for_origin(BASE)
        ) as http:
            http.get("/items")

    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


# ---------------------------------------------------------------- never sent elsewhere

ELSEWHERE = [
    pytest.param("https://evil.example.com/v1/items", id="another-host"),
    pytest.param("https://api.example.com.evil.test/v1/items", id="suffixed-host"),
    pytest.param("https://api.example.com:8443/v1/items", id="another-port"),
    pytest.param("http://api.example.com/v1/items", id="another-scheme"),
]
AUTHS = [
    pytest.param(BearerAuth(TOKEN), id="bearer"),
    pytest.param(BasicAuth("alice", PASSWORD), id="basic"),
    pytest.param(ApiKeyAuth(KEY, header="X-API-Key"), id="api-key-header"),
    pytest.param(ApiKeyAuth(KEY, query="api_key"), id="api-key-query"),
]


@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize("url", ELSEWHERE)
async def test_credentials_are_never_sent_to_another_origin(
    auth: BearerAuth | BasicAuth | ApiKeyAuth, url: str
) -> None:
    async with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        route = mock.route().respond(200)
        async with client(auth.for_origin(BASE, connector="crm")) as http:
            with pytest.raises(UnsafeURLError, match="Refused to send the credentials"):
                await http.get(url)

    assert not route.called


async def test_the_unsafe_url_error_names_the_connector_and_both_origins() -> None:
    auth = ApiKeyAuth(KEY, query="api_key").for_origin(BASE, connector="crm")
    url = f"https://evil.example.com/steal?api_key={KEY}"

    async with (
        respx.mock(assert_all_called=False, assert_all_mocked=True),
        client(auth) as http,
    ):
        with pytest.raises(UnsafeURLError) as caught:
            await http.post(url)

    error = caught.value
    assert str(error) == (
        "Refused to send the credentials of connector 'crm' to "
        "https://evil.example.com/steal?api_key=REDACTED: its origin "
        "https://evil.example.com:443 is not the connector's origin "
        "https://api.example.com:443; send requests under the connector's base_url "
        "only, or give the other API its own connector"
    )
    assert error.connector == "crm"
    assert error.operation is None
    assert error.method == "POST"
    assert error.url == "https://evil.example.com/steal?api_key=REDACTED"
    assert isinstance(error, ValueError)


async def test_without_a_connector_name_the_error_says_the_connector() -> None:
    auth = BearerAuth(TOKEN).for_origin(BASE)

    async with (
        respx.mock(assert_all_called=False, assert_all_mocked=True),
        client(auth) as http,
    ):
        with pytest.raises(
            UnsafeURLError, match="credentials of the connector to"
        ) as caught:
            await http.get("https://evil.example.com/")

    assert caught.value.connector == ""
    assert TOKEN not in str(caught.value)


# ---------------------------------------------------------------- construction


def test_for_origin_needs_an_absolute_base_url() -> None:
    with pytest.raises(
        ConfigurationError, match=r"BearerAuth.for_origin\(\) needs an absolute"
    ):
        BearerAuth(TOKEN).for_origin("/v1")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: BasicAuth("alice", PASSWORD), id="basic"),
        pytest.param(lambda: ApiKeyAuth(KEY, header="X-Key"), id="api-key"),
    ],
)
def test_every_static_auth_checks_its_base_url(make: object) -> None:
    auth = make()  # type: ignore[operator]  # the lambdas above

    with pytest.raises(ConfigurationError, match=r"needs an absolute base URL"):
        auth.for_origin("api.example.com")


def test_api_key_auth_needs_a_header_or_a_query_name() -> None:
    with pytest.raises(
        ConfigurationError, match=r"exactly one of header= and query=, got neither"
    ):
        ApiKeyAuth(KEY)


def test_api_key_auth_takes_only_one_place() -> None:
    with pytest.raises(
        ConfigurationError, match=r"exactly one of header= and query=, got both"
    ):
        ApiKeyAuth(KEY, header="X-Key", query="key")


@pytest.mark.parametrize(
    ("where", "name"),
    [
        ("header", ""),
        ("header", "X Key"),
        ("header", "X-Key\n"),
        ("query", ""),
        ("query", "a&b"),
    ],
)
def test_api_key_auth_rejects_an_invalid_name(where: str, name: str) -> None:
    with pytest.raises(
        ConfigurationError, match=rf"ApiKeyAuth\({where}=.*\) is not a valid"
    ):
        ApiKeyAuth(KEY, **{where: name})


def test_basic_auth_rejects_a_colon_in_the_user_name() -> None:
    with pytest.raises(ConfigurationError, match=r"may not contain ':'"):
        BasicAuth("alice:pw", PASSWORD)


@pytest.mark.parametrize("value", ["", None, 123])
def test_auth_objects_need_a_secret_or_a_non_empty_str(value: object) -> None:
    with pytest.raises(
        ConfigurationError, match=r"BearerAuth\(token\) needs a Secret or a non-empty"
    ):
        BearerAuth(value)  # type: ignore[arg-type]  # the wrong types are the point


# ---------------------------------------------------------------- never shown


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (BearerAuth(TOKEN), "BearerAuth(Secret('**********'))"),
        (BasicAuth("alice", PASSWORD), "BasicAuth('alice', Secret('**********'))"),
        (
            ApiKeyAuth(KEY, header="X-API-Key"),
            "ApiKeyAuth(Secret('**********'), header='X-API-Key')",
        ),
        (ApiKeyAuth(KEY, query="key"), "ApiKeyAuth(Secret('**********'), query='key')"),
    ],
)
def test_repr_never_shows_the_credential(
    auth: BearerAuth | BasicAuth | ApiKeyAuth, expected: str
) -> None:
    assert repr(auth) == expected
    assert f"{auth}" == expected


@pytest.mark.parametrize("auth", AUTHS)
def test_auth_objects_cannot_be_pickled(
    auth: BearerAuth | BasicAuth | ApiKeyAuth,
) -> None:
    with pytest.raises(SecretPicklingError, match="A Secret cannot be pickled"):
        pickle.dumps(auth)


def test_every_auth_object_is_an_auth() -> None:
    auths: list[Auth] = [
        BearerAuth(TOKEN),
        BasicAuth("alice", PASSWORD),
        ApiKeyAuth(KEY, header="X-Key"),
        OAuth2ClientCredentials("https://auth.example.com/token", "app", PASSWORD),
    ]

    assert all(isinstance(auth.for_origin(BASE), httpx.Auth) for auth in auths)
