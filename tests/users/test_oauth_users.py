"""End users who authorize a connector with OAuth2, against a live authorization server.

The whole path a backend takes: the user authorizes at the server (PKCE),
the code is exchanged, runs send the user's access token, an expired one
is refreshed once however many requests need it and the new tokens are
stored (encrypted, in a SQLite credential store), and a revoked refresh
token fails the task with the URL where the user authorizes again.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import httpx  # noqa: TC002  (a task's annotation, resolved at run time)
import pytest
from cryptography.fernet import Fernet

from fiscus_dsl import Connector, TaskStatus, Workflow, default_runner, workflow
from fiscus_dsl._users.credential_sql import SQLiteCredentialStore
from fiscus_dsl._users.credentials import StoredCredential
from fiscus_dsl._users.oauth_code import OAuth2AuthorizationCode
from fiscus_dsl._users.user import FiscusUser
from fiscus_dsl._users.user_auth import UserAuth
from fiscus_dsl.errors import AuthenticationError

from .oauth_server import REDIRECT_URI

if TYPE_CHECKING:
    from pathlib import Path

    from fiscus_dsl._users.credentials import CredentialStore

    from .oauth_server import OAuthServer


def _mail(
    server: OAuthServer,
) -> tuple[Connector, Workflow[[], object], Workflow[[list[str]], object]]:
    flow = OAuth2AuthorizationCode(
        authorize_url=server.authorize_url,
        token_url=server.token_url,
        client_id=server.client_id,
        client_secret=server.client_secret,
        scopes=["mail.send"],
        redirect_uri=REDIRECT_URI,
    )
    mail = Connector("Mail", server.api_url, auth=UserAuth(oauth2=flow))

    @mail.operation("GET /me")
    def me() -> dict[str, object]:
        raise NotImplementedError  # an operation's body never runs

    @mail.operation("POST /echo/messages")
    def send(to: str) -> dict[str, object]:
        raise NotImplementedError  # an operation's body never runs

    @workflow
    def whoami() -> object:
        return me()

    @workflow
    def send_many(recipients: list[str]) -> object:
        return send.map(to=recipients)

    return mail, whoami, send_many


def _authorized(
    server: OAuthServer, mail: Connector, name: str, **kw: object
) -> FiscusUser:
    user = FiscusUser(name, connectors=[mail], **kw)  # type: ignore[arg-type]
    url = user.start_authorization("Mail")
    callback = server.authorize(url, user=name)
    user.authenticate_connector(
        "Mail", {"code": callback.code, "state": callback.state}
    )
    return user


def _expire(user: FiscusUser) -> StoredCredential:
    """Mark the user's stored access token expired, as time would."""
    stored = user.stored_credential("Mail")
    assert stored is not None
    aged = StoredCredential(
        kind="oauth2",
        access_token=stored.access_token,
        refresh_token=stored.refresh_token,
        expires_at=time.time() - 60,
        scope=stored.scope,
    )
    return user.credentials.put(user.user_id, "Mail", aged)


def test_a_user_authorizes_and_runs_send_their_token(oauth_server: OAuthServer) -> None:
    mail, whoami, _ = _mail(oauth_server)
    alice = _authorized(oauth_server, mail, "alice")
    bob = _authorized(oauth_server, mail, "bob")

    assert default_runner().run(whoami, user=alice).output["user"] == "alice"  # type: ignore[index]
    assert default_runner().run(whoami, user=bob).output["user"] == "bob"  # type: ignore[index]
    assert alice.connectors["Mail"].authenticated
    token_requests = oauth_server.seen("/token")
    assert [seen.form()["grant_type"] for seen in token_requests] == [
        "authorization_code",
        "authorization_code",
    ]
    assert all("code_verifier" in seen.form() for seen in token_requests)


def test_an_expired_token_is_refreshed_once_for_many_requests(
    oauth_server: OAuthServer, tmp_path: Path
) -> None:
    mail, _, send_many = _mail(oauth_server)
    store = SQLiteCredentialStore(
        tmp_path / "credentials.db", key=Fernet.generate_key()
    )
    user = _authorized(oauth_server, mail, "carol", credentials=store)
    before = _expire(user)
    oauth_server.expire_access_tokens()

    result = default_runner().run(
        send_many, [f"r{i}@example.com" for i in range(12)], user=user
    )

    assert result.status.value == "succeeded", result
    assert oauth_server.token_calls_by_grant["refresh_token"] == 1
    after = store.get("carol", "Mail")
    assert after is not None
    assert after.version > before.version
    assert after.refresh_token != before.refresh_token  # the server rotated it
    assert after.access_token != before.access_token
    raw = (tmp_path / "credentials.db").read_bytes()
    assert after.access_token is not None
    assert after.access_token.reveal().encode() not in raw  # encrypted at rest


def test_a_401_refreshes_once_and_the_request_is_sent_again(
    oauth_server: OAuthServer,
) -> None:
    mail, whoami, _ = _mail(oauth_server)
    user = _authorized(oauth_server, mail, "dana")
    oauth_server.expire_access_tokens()  # the server says no; the store says fine

    assert default_runner().run(whoami, user=user).output["user"] == "dana"  # type: ignore[index]
    assert oauth_server.token_calls_by_grant["refresh_token"] == 1
    assert [seen.path for seen in oauth_server.requests].count("/api/me") == 2


def test_a_revoked_refresh_token_asks_the_user_to_authorize_again(
    oauth_server: OAuthServer,
) -> None:
    mail, whoami, _ = _mail(oauth_server)
    user = _authorized(oauth_server, mail, "erik")
    _expire(user)
    oauth_server.revoke_user("erik")

    result = default_runner().run(whoami, user=user)

    assert result.tasks["me"].status is TaskStatus.FAILED
    error = result.tasks["me"].error
    assert isinstance(error, AuthenticationError)
    assert error.user_id == "erik"
    assert error.authorization_url is not None
    assert error.authorization_url.startswith(oauth_server.authorize_url)
    assert "refresh token the server refused" in str(error)
    assert oauth_server.seen("/api/me") == []  # nothing sent with a dead token
    events = [e.action.value for e in user.audit_log.events(user_id="erik")]
    assert "token_refresh_failed" in events

    # The URL of the error completes: the user authorizes again and runs work.
    callback = oauth_server.authorize(error.authorization_url, user="erik")
    user.authenticate_connector(
        "Mail", {"code": callback.code, "state": callback.state}
    )
    assert default_runner().run(whoami, user=user).output["user"] == "erik"  # type: ignore[index]


def test_concurrent_runs_of_one_user_refresh_once(oauth_server: OAuthServer) -> None:
    mail, whoami, _ = _mail(oauth_server)
    user = _authorized(oauth_server, mail, "fay")
    _expire(user)

    async def runs() -> list[object]:
        results = await asyncio.gather(
            *(default_runner().arun(whoami, user=user) for _ in range(8))
        )
        return [result.output for result in results]

    outputs = asyncio.run(runs())

    assert all(output["user"] == "fay" for output in outputs)  # type: ignore[index]
    assert oauth_server.token_calls_by_grant["refresh_token"] == 1


def test_a_code_without_its_verifier_is_refused(oauth_server: OAuthServer) -> None:
    mail, _, _ = _mail(oauth_server)
    user = FiscusUser("gus", connectors=[mail])
    url = user.start_authorization("Mail")
    callback = oauth_server.authorize(url, user="gus")

    with pytest.raises(Exception, match="verifier"):
        user.authenticate_connector("Mail", {"code": callback.code, "state": "other"})
    assert user.stored_credential("Mail") is None


def test_the_store_outlives_the_user_object(
    oauth_server: OAuthServer, tmp_path: Path
) -> None:
    mail, whoami, _ = _mail(oauth_server)
    key = Fernet.generate_key()
    store: CredentialStore = SQLiteCredentialStore(tmp_path / "c.db", key=key)
    _authorized(oauth_server, mail, "hal", credentials=store)

    again = FiscusUser(
        "hal",
        connectors=[mail],
        credentials=SQLiteCredentialStore(tmp_path / "c.db", key=key),
    )

    assert again.connectors["Mail"].authenticated
    assert default_runner().run(whoami, user=again).output["user"] == "hal"  # type: ignore[index]


def test_a_refused_refresh_is_asked_once_for_concurrent_requests(
    oauth_server: OAuthServer,
) -> None:
    mail, _, send_many = _mail(oauth_server)
    user = _authorized(oauth_server, mail, "ida")
    _expire(user)
    oauth_server.revoke_user("ida")

    result = default_runner().run(
        send_many, [f"r{i}@example.com" for i in range(10)], user=user
    )

    errors = [task.error for task in result.tasks.values() if task.error is not None]
    assert len(errors) >= 10  # each request (and the map that joins them)
    assert all(isinstance(error, AuthenticationError) for error in errors)
    assert oauth_server.token_calls_by_grant["refresh_token"] == 1
    assert oauth_server.seen("/api/echo/messages") == []


def test_a_hand_written_task_refreshes_once_after_a_401(
    oauth_server: OAuthServer,
) -> None:
    mail, _, _ = _mail(oauth_server)

    @mail.task
    async def raw_me(client: httpx.AsyncClient) -> object:
        return (await client.get("/me")).json()

    @workflow
    def flow() -> object:
        return raw_me()

    user = _authorized(oauth_server, mail, "joy")
    oauth_server.expire_access_tokens()  # the server says no; the store says fine

    result = default_runner().run(flow, user=user)

    assert result.output == {"user": "joy", "scope": "mail.send"}
    assert oauth_server.token_calls_by_grant["refresh_token"] == 1
    assert [seen.path for seen in oauth_server.requests].count("/api/me") == 2


def test_operations_of_an_end_user_take_the_direct_route(
    oauth_server: OAuthServer,
) -> None:
    mail, whoami, _ = _mail(oauth_server)
    user = _authorized(oauth_server, mail, "kai")

    async def run() -> object:
        result = await default_runner().arun(whoami, user=user)
        assert mail.state().route is not None
        assert mail.state().route.per_request is not None  # type: ignore[union-attr]
        return result.output

    assert asyncio.run(run()) == {"user": "kai", "scope": "mail.send"}
