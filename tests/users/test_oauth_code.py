"""``OAuth2AuthorizationCode`` against a real OAuth2 server on 127.0.0.1.

The server (``oauth_server.py``) checks PKCE, redirect URIs and client
credentials as a provider does; the tests follow its authorize redirect
with httpx, exchange, refresh and revoke over real sockets, and read what
it received.
"""

from __future__ import annotations

import base64
import logging
import pickle
import re
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote_plus, urlsplit

import httpx
import pytest
from loopback import free_port

from fiscus_dsl._connectors.auth import Secret
from fiscus_dsl._users.credentials import StoredCredential
from fiscus_dsl._users.oauth_code import (
    AuthorizationRequest,
    OAuth2AuthorizationCode,
    code_challenge,
)
from fiscus_dsl.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    FiscusErrorCode,
    OptionTypeError,
    SecretPicklingError,
)

from .oauth_grants import s256
from .oauth_server import REDIRECT_URI

if TYPE_CHECKING:
    from .oauth_server import OAuthServer

SCOPES = ("mail.read", "mail.send")
CONNECTOR = "mail"


def make_flow(server: OAuthServer, **options: object) -> OAuth2AuthorizationCode:
    settings: dict[str, object] = {
        "authorize_url": server.authorize_url,
        "token_url": server.token_url,
        "client_id": server.client_id,
        "client_secret": server.client_secret,
        "scopes": SCOPES,
        "redirect_uri": REDIRECT_URI,
        "revocation_url": server.revoke_url,
    } | options
    return OAuth2AuthorizationCode(**settings)  # type: ignore[arg-type]  # the test's options


@pytest.fixture
def flow(oauth_server: OAuthServer) -> OAuth2AuthorizationCode:
    return make_flow(oauth_server)


async def authorized(
    flow: OAuth2AuthorizationCode, server: OAuthServer, user: str = "alice"
) -> StoredCredential:
    """Run the whole flow for ``user``: start, approve, exchange."""
    started = flow.start()
    callback = server.authorize(started.url, user=user)
    assert callback.state == started.state
    return await flow.exchange(callback.code, code_verifier=started.code_verifier)


async def me(server: OAuthServer, token: Secret) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(
            f"{server.api_url}/me",
            headers={"Authorization": f"Bearer {token.reveal()}"},
        )


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# ---------------------------------------------------------------- start


def test_start_sends_an_s256_challenge_the_state_and_the_scopes(
    flow: OAuth2AuthorizationCode, oauth_server: OAuthServer
) -> None:
    started = flow.start()

    verifier = started.code_verifier.reveal()
    assert 43 <= len(verifier) <= 128
    assert re.fullmatch(r"[A-Za-z0-9._~-]+", verifier)
    assert started.url.startswith(f"{oauth_server.authorize_url}?")
    assert query(started.url) == {
        "response_type": ["code"],
        "client_id": [oauth_server.client_id],
        "redirect_uri": [REDIRECT_URI],
        "scope": ["mail.read mail.send"],
        "state": [started.state],
        "code_challenge": [s256(verifier)],
        "code_challenge_method": ["S256"],
    }


def test_each_start_has_its_own_state_and_verifier(
    flow: OAuth2AuthorizationCode,
) -> None:
    first, second = flow.start(), flow.start()

    assert first.state != second.state
    assert first.code_verifier != second.code_verifier
    assert len(first.state) >= 32


def test_start_takes_a_given_state_and_redirect_uri_and_keeps_the_urls_query(
    oauth_server: OAuthServer,
) -> None:
    flow = make_flow(
        oauth_server,
        authorize_url=f"{oauth_server.authorize_url}?access_type=offline",
        scopes=(),
    )

    started = flow.start(redirect_uri="https://app.example.com/back", state="s-123")

    params = query(started.url)
    assert params["access_type"] == ["offline"]
    assert params["redirect_uri"] == ["https://app.example.com/back"]
    assert params["state"] == ["s-123"]
    assert started.state == "s-123"
    assert "scope" not in params


async def test_without_a_redirect_uri_the_providers_registered_one_is_used(
    oauth_server: OAuthServer,
) -> None:
    flow = make_flow(oauth_server, redirect_uri=None)

    started = flow.start()
    callback = oauth_server.authorize(started.url, user="carol")
    credential = await flow.exchange(callback.code, code_verifier=started.code_verifier)

    assert "redirect_uri" not in query(started.url)
    assert callback.location.startswith(f"{REDIRECT_URI}?")
    assert "redirect_uri" not in oauth_server.seen("/token")[0].form()
    assert credential.access_token is not None
    assert (await me(oauth_server, credential.access_token)).json()["user"] == "carol"


def test_code_challenge_is_the_rfc_7636_example() -> None:
    # RFC 7636, Appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


# ---------------------------------------------------------------- exchange


async def test_exchange_returns_the_users_tokens(
    flow: OAuth2AuthorizationCode, oauth_server: OAuthServer
) -> None:
    oauth_server.access_token_lifetime = 120.0
    before = time.time()

    credential = await authorized(flow, oauth_server, user="alice")

    assert credential.kind == "oauth2"
    assert credential.access_token is not None
    assert credential.refresh_token is not None
    assert credential.scope == "mail.read mail.send"
    assert credential.token_type == "Bearer"
    assert credential.version == 0
    assert credential.expires_at is not None
    assert before + 120.0 <= credential.expires_at <= time.time() + 120.0
    answer = await me(oauth_server, credential.access_token)
    assert answer.json() == {"user": "alice", "scope": "mail.read mail.send"}
    assert oauth_server.token_calls_by_grant == {"authorization_code": 1}


async def test_exchange_sends_the_code_verifier_and_redirect_uri(
    flow: OAuth2AuthorizationCode, oauth_server: OAuthServer
) -> None:
    started = flow.start()
    code = oauth_server.authorize(started.url, user="alice").code

    await flow.exchange(code, code_verifier=started.code_verifier.reveal())

    (sent,) = oauth_server.seen("/token")
    assert sent.form() == {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": started.code_verifier.reveal(),
        "redirect_uri": REDIRECT_URI,
    }
    assert dict(sent.headers)["accept"] == "application/json"


async def test_exchange_with_another_starts_verifier_is_refused(
    flow: OAuth2AuthorizationCode, oauth_server: OAuthServer
) -> None:
    started, other = flow.start(), flow.start()
    code = oauth_server.authorize(started.url, user="alice").code

    with pytest.raises(ConnectorError, match=r"Could not exchange .* 400") as caught:
        await flow.exchange(code, code_verifier=other.code_verifier)

    error = caught.value
    assert "PKCE verification failed" in str(error)
    assert error.retryable is False
    assert error.code is FiscusErrorCode.AUTH_FAILURE
    assert error.url == oauth_server.token_url
    assert code not in str(error)
    assert other.code_verifier.reveal() not in str(error)


async def test_a_code_works_once(
    flow: OAuth2AuthorizationCode, oauth_server: OAuthServer
) -> None:
    started = flow.start()
    code = oauth_server.authorize(started.url, user="alice").code
    first = await flow.exchange(code, code_verifier=started.code_verifier)

    with pytest.raises(ConnectorError, match="code already used"):
        await flow.exchange(code, code_verifier=started.code_verifier)

    assert first.access_token is not None
    assert (await me(oauth_server, first.access_token)).status_code == 401


async def test_exchange_without_expires_in_or_scope_keeps_no_expiry() -> None:
    def token(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"access_token": "gho_x1y2z3", "token_type": "bearer"}
        )

    transport = httpx.MockTransport(token)
    flow = OAuth2AuthorizationCode(
        authorize_url="https://github.example/login/oauth/authorize",
        token_url="https://github.example/login/oauth/access_token",
        client_id="app",
        client_secret="cs_github_example_1",
        scopes=["repo"],
        transport=transport,
    )

    first = await flow.exchange("code-1", code_verifier="v" * 43)
    second = await flow.exchange(
        "code-2", code_verifier="v" * 43
    )  # transport still open

    assert first.expires_at is None
    assert first.scope == "repo"
    assert first.refresh_token is None
    assert second.access_token == Secret("gho_x1y2z3")


async def test_a_public_client_sends_its_id_in_the_form(
    oauth_server: OAuthServer,
) -> None:
    oauth_server.client_secret = None
    flow = make_flow(oauth_server, client_secret=None)

    credential = await authorized(flow, oauth_server)

    assert credential.access_token is not None
    (sent,) = oauth_server.seen("/token")
    assert sent.form()["client_id"] == oauth_server.client_id
    assert "authorization" not in dict(sent.headers)


# ---------------------------------------------------------------- refresh


async def test_refresh_stores_the_rotated_refresh_token(
    flow: OAuth2AuthorizationCode, oauth_server: OAuthServer
) -> None:
    credential = await authorized(flow, oauth_server)
    oauth_server.expire_access_tokens()
    assert credential.access_token is not None
    assert (await me(oauth_server, credential.access_token)).status_code == 401

    fresh = await flow.refresh(credential, connector=CONNECTOR, user_id="alice")

    assert oauth_server.token_calls_by_grant["refresh_token"] == 1
    assert fresh.access_token is not None
    assert fresh.access_token != credential.access_token
    assert fresh.refresh_token is not None
    assert fresh.refresh_token != credential.refresh_token
    assert (await me(oauth_server, fresh.access_token)).json()["user"] == "alice"
    again = await flow.refresh(fresh, connector=CONNECTOR, user_id="alice")
    assert again.access_token != fresh.access_token


async def test_refresh_keeps_the_refresh_token_when_none_is_sent(
    flow: OAuth2AuthorizationCode, oauth_server: OAuthServer
) -> None:
    oauth_server.rotate_refresh_tokens = False
    credential = await authorized(flow, oauth_server)
    stored = StoredCredential(
        kind="oauth2",
        access_token=credential.access_token,
        refresh_token=credential.refresh_token,
        expires_at=credential.expires_at,
        scope=credential.scope,
        version=7,
    )

    fresh = await flow.refresh(stored, connector=CONNECTOR, user_id="alice")

    assert fresh.refresh_token == credential.refresh_token
    assert fresh.access_token != credential.access_token
    assert fresh.version == 7
    assert fresh.scope == "mail.read mail.send"
    (sent,) = [
        s for s in oauth_server.seen("/token") if "refresh" in s.form()["grant_type"]
    ]
    assert sent.form() == {
        "grant_type": "refresh_token",
        "refresh_token": credential.refresh_token.reveal(),  # type: ignore[union-attr]  # set above
    }


async def test_a_revoked_refresh_token_asks_the_user_to_authorize_again(
    flow: OAuth2AuthorizationCode, oauth_server: OAuthServer
) -> None:
    credential = await authorized(flow, oauth_server, user="alice")
    assert credential.refresh_token is not None
    assert credential.access_token is not None

    await flow.revoke(credential.refresh_token)

    assert oauth_server.revoke_calls == 1
    assert (await me(oauth_server, credential.access_token)).status_code == 401
    with pytest.raises(
        AuthenticationError,
        match=r"credential of user 'alice' for connector 'mail' has a refresh token "
        r"that http://127\.0\.0\.1:\d+/token refused \(invalid_grant\); the user "
        "must authorize the connector again",
    ) as caught:
        await flow.refresh(credential, connector=CONNECTOR, user_id="alice")
    error = caught.value
    assert (error.connector, error.user_id, error.retryable) == (
        CONNECTOR,
        "alice",
        False,
    )
    assert error.authorization_url is not None
    assert query(error.authorization_url)["code_challenge_method"] == ["S256"]
    assert oauth_server.authorize(error.authorization_url, user="alice").code


async def test_a_refresh_refused_with_401_asks_to_authorize_again(
    flow: OAuth2AuthorizationCode, oauth_server: OAuthServer
) -> None:
    credential = await authorized(flow, oauth_server)
    oauth_server.fail_token_requests(401, '{"error": "invalid_token"}')

    with pytest.raises(AuthenticationError, match=r"refused \(invalid_token\)"):
        await flow.refresh(credential, connector=CONNECTOR, user_id=None)


async def test_a_credential_without_refresh_token_asks_to_authorize_again(
    flow: OAuth2AuthorizationCode, oauth_server: OAuthServer
) -> None:
    credential = StoredCredential(kind="oauth2", access_token=Secret("at_no_refresh_1"))

    with pytest.raises(
        AuthenticationError,
        match="of an unnamed user for connector 'mail' has no refresh",
    ) as caught:
        await flow.refresh(credential, connector=CONNECTOR, user_id=None)

    assert caught.value.authorization_url is not None
    assert oauth_server.token_calls == 0


async def test_a_wrong_client_secret_is_the_applications_error(
    flow: OAuth2AuthorizationCode, oauth_server: OAuthServer
) -> None:
    credential = await authorized(flow, oauth_server)
    oauth_server.client_secret = "cs_rotated_by_the_provider"

    with pytest.raises(
        ConnectorError, match=r"invalid_client.*check the URL, the client id"
    ) as caught:
        await flow.refresh(credential, connector=CONNECTOR, user_id="alice")

    assert type(caught.value) is ConnectorError  # not an AuthenticationError
    assert caught.value.retryable is False
    assert caught.value.connector == CONNECTOR


@pytest.mark.parametrize(
    ("status", "body", "retryable"),
    [
        (503, "upstream unavailable", True),
        (429, '{"error": "slow_down"}', True),
        (400, '{"error": "invalid_scope"}', False),
        (200, "<html>login</html>", False),
    ],
)
async def test_other_token_endpoint_failures_are_connector_errors(
    flow: OAuth2AuthorizationCode,
    oauth_server: OAuthServer,
    status: int,
    body: str,
    retryable: bool,
) -> None:
    credential = await authorized(flow, oauth_server)
    oauth_server.fail_token_requests(status, body)

    with pytest.raises(
        ConnectorError, match=rf"Could not refresh .*user 'alice'.* {status}"
    ) as caught:
        await flow.refresh(credential, connector=CONNECTOR, user_id="alice")

    assert type(caught.value) is ConnectorError  # not an AuthenticationError
    assert caught.value.retryable is retryable
    assert caught.value.code is FiscusErrorCode.AUTH_FAILURE


async def test_a_token_endpoint_that_does_not_answer_is_retryable(
    oauth_server: OAuthServer,
) -> None:
    port = free_port()
    flow = make_flow(oauth_server, token_url=f"http://127.0.0.1:{port}/token")
    credential = StoredCredential(
        kind="oauth2",
        access_token=Secret("at_unused_1"),
        refresh_token=Secret("rt_unused_1"),
    )

    with pytest.raises(
        ConnectorError, match=r"ConnectError.*try again later"
    ) as caught:
        await flow.refresh(credential, connector=CONNECTOR, user_id="alice")

    assert caught.value.retryable is True


# ---------------------------------------------------------------- revoke


async def test_revoking_an_access_token_keeps_the_refresh_token(
    flow: OAuth2AuthorizationCode, oauth_server: OAuthServer
) -> None:
    credential = await authorized(flow, oauth_server)
    assert credential.access_token is not None

    await flow.revoke(credential.access_token)

    (sent,) = oauth_server.seen("/revoke")
    assert sent.form() == {"token": credential.access_token.reveal()}
    assert (await me(oauth_server, credential.access_token)).status_code == 401
    fresh = await flow.refresh(credential, connector=CONNECTOR, user_id="alice")
    assert fresh.access_token is not None
    assert (await me(oauth_server, fresh.access_token)).status_code == 200


async def test_a_failed_revocation_raises(
    flow: OAuth2AuthorizationCode, oauth_server: OAuthServer
) -> None:
    oauth_server.client_secret = "cs_rotated_by_the_provider"

    with pytest.raises(ConnectorError, match=r"Could not revoke .* 401") as caught:
        await flow.revoke(Secret("at_whatever_1"))

    assert caught.value.retryable is False


async def test_revoke_needs_a_revocation_url(oauth_server: OAuthServer) -> None:
    flow = make_flow(oauth_server, revocation_url=None)

    with pytest.raises(ConfigurationError, match="pass revocation_url=") as caught:
        await flow.revoke(Secret("at_whatever_2"))

    assert caught.value.option == "revocation_url"
    assert oauth_server.revoke_calls == 0


# ---------------------------------------------------------------- secrets


async def test_the_client_secret_goes_to_the_token_and_revocation_endpoints_only(
    flow: OAuth2AuthorizationCode, oauth_server: OAuthServer
) -> None:
    secret = oauth_server.client_secret
    assert secret is not None
    basic = base64.b64encode(
        f"{quote_plus(oauth_server.client_id)}:{quote_plus(secret)}".encode()
    ).decode()
    credential = await authorized(flow, oauth_server)
    assert credential.access_token is not None
    await me(oauth_server, credential.access_token)
    fresh = await flow.refresh(credential, connector=CONNECTOR, user_id="alice")
    assert fresh.refresh_token is not None
    await flow.revoke(fresh.refresh_token)

    paths = [seen.path for seen in oauth_server.requests]
    assert paths == ["/authorize", "/token", "/api/me", "/token", "/revoke"]
    for seen in oauth_server.requests:
        holds = secret in seen.text() or basic in seen.text()
        assert holds is (seen.path in ("/token", "/revoke")), seen.path
        if holds:
            assert dict(seen.headers)["authorization"] == f"Basic {basic}"
            assert "client_secret" not in seen.form()


async def test_no_token_code_verifier_or_secret_shows_in_messages_logs_or_reprs(
    flow: OAuth2AuthorizationCode,
    oauth_server: OAuthServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="fiscus_dsl")
    started = flow.start()
    code = oauth_server.authorize(started.url, user="alice").code
    credential = await flow.exchange(code, code_verifier=started.code_verifier)
    fresh = await flow.refresh(credential, connector=CONNECTOR, user_id="alice")
    assert fresh.refresh_token is not None
    await flow.revoke(fresh.refresh_token)
    with pytest.raises(AuthenticationError) as refused:
        await flow.refresh(fresh, connector=CONNECTOR, user_id="alice")
    with pytest.raises(ConnectorError) as reused:
        await flow.exchange(code, code_verifier=started.code_verifier)

    shown = "\n".join(
        [
            *(record.getMessage() for record in caplog.records),
            str(refused.value),
            str(reused.value),
            repr(flow),
            repr(started),
            repr(credential),
            repr(fresh),
        ]
    )
    assert "Refreshed the OAuth2 token of user 'alice'" in shown
    assert "refused (invalid_grant)" in shown
    hidden = [
        code,
        started.code_verifier.reveal(),
        str(oauth_server.client_secret),
        *(s.reveal() for s in (credential.access_token, credential.refresh_token) if s),
        *(s.reveal() for s in (fresh.access_token, fresh.refresh_token) if s),
    ]
    for value in hidden:
        assert value not in shown


def test_the_flow_shows_no_secret_and_refuses_pickling(
    flow: OAuth2AuthorizationCode, oauth_server: OAuthServer
) -> None:
    assert repr(flow) == (
        f"OAuth2AuthorizationCode(authorize_url={oauth_server.authorize_url!r}, "
        f"token_url={oauth_server.token_url!r}, client_id='fiscus-test-app', "
        "client_secret=Secret('**********'), scopes=('mail.read', 'mail.send'))"
    )
    with pytest.raises(SecretPicklingError, match="create it in each process"):
        pickle.dumps(flow)
    assert isinstance(flow.start(), AuthorizationRequest)
    assert str(flow.token_url) == oauth_server.token_url
    assert flow.scopes == SCOPES


# ---------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"token_url": "/token"}, "token_url"),
        ({"authorize_url": "auth.example.com/authorize"}, "authorize_url"),
        ({"revocation_url": "/revoke"}, "revocation_url"),
        ({"client_id": ""}, "client_id"),
        ({"client_secret": ""}, "client_secret"),
        ({"timeout": 0.0}, "timeout"),
    ],
)
def test_bad_options_are_refused(
    oauth_server: OAuthServer, options: dict[str, object], option: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_flow(oauth_server, **options)

    assert caught.value.option == option


def test_scopes_as_a_str_are_refused(oauth_server: OAuthServer) -> None:
    with pytest.raises(OptionTypeError, match=r"pass scopes=\['a', 'b'\]"):
        make_flow(oauth_server, scopes="a b")


async def test_misused_calls_are_refused(flow: OAuth2AuthorizationCode) -> None:
    with pytest.raises(ConfigurationError, match="non-empty state"):
        flow.start(state="")
    with pytest.raises(ConfigurationError) as empty:
        await flow.exchange("", code_verifier="v" * 43)
    assert empty.value.option == "code"
    key = StoredCredential(kind="api_key", api_key=Secret("sk_user_key_1"))
    with pytest.raises(ConfigurationError, match="only an 'oauth2' credential"):
        await flow.refresh(key, connector=CONNECTOR, user_id="alice")


# ---------------------------------------------------------------- the test server


async def test_the_servers_api_echoes_the_call_for_the_tokens_user(
    oauth_server: OAuthServer,
) -> None:
    issued = oauth_server.issue("bob", scope="mail.read")

    async with httpx.AsyncClient(base_url=oauth_server.api_url) as client:
        echoed = await client.post(
            "/echo/items?x=1",
            json={"a": 1},
            headers={"Authorization": f"Bearer {issued.access_token}"},
        )
        anonymous = await client.get("/me")

    assert echoed.json() == {
        "user": "bob",
        "scope": "mail.read",
        "method": "POST",
        "path": "/api/echo/items",
        "query": "x=1",
        "body": {"a": 1},
    }
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert oauth_server.api_calls == 2
