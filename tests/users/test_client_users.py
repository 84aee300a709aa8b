"""The dict API for end users, against a live OAuth2 server: Fiscus code, many users.

``FiscusClient(user_id=...)`` acts for its user, ``execute(..., user=)``
for another; both read the users' credentials from the client's store,
policies refuse calls before anything is sent, and a revoked grant calls
``fiscus_on_auth`` with the URL where the user authorizes again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet

from fiscus_dsl import (
    Connector,
    FiscusClient,
    FiscusErrorCode,
    FiscusUser,
    LoggingAuditLog,
    OAuth2AuthorizationCode,
    Runner,
    SQLiteAuditLog,
    SQLiteCredentialStore,
    SQLiteRunStore,
    StoredCredential,
    UserAuth,
)

from .oauth_server import REDIRECT_URI

if TYPE_CHECKING:
    from pathlib import Path

    from .oauth_server import OAuthServer


def _client(server: OAuthServer, tmp_path: Path, **options: object) -> FiscusClient:
    flow = OAuth2AuthorizationCode(
        authorize_url=server.authorize_url,
        token_url=server.token_url,
        client_id=server.client_id,
        client_secret=server.client_secret,
        redirect_uri=REDIRECT_URI,
    )
    mail = Connector("Mail", server.api_url, auth=UserAuth(oauth2=flow))

    @mail.operation("GET /me")
    def me() -> dict[str, object]:
        raise NotImplementedError  # an operation's body never runs

    @mail.operation("POST /echo/messages")
    def send_email(to: str) -> dict[str, object]:
        raise NotImplementedError  # an operation's body never runs

    store = SQLiteCredentialStore(tmp_path / "c.db", key=Fernet.generate_key())
    return FiscusClient(connectors=[mail], credential_store=store, **options)  # type: ignore[arg-type]


def _connect(server: OAuthServer, user: FiscusUser) -> None:
    callback = server.authorize(user.start_authorization("Mail"), user=user.user_id)
    user.authenticate_connector(
        "Mail", {"code": callback.code, "state": callback.state}
    )


def test_a_client_acts_for_its_user_and_execute_for_another(
    oauth_server: OAuthServer, tmp_path: Path
) -> None:
    client = _client(oauth_server, tmp_path, user_id="ann")
    assert isinstance(client.user, FiscusUser)
    _connect(oauth_server, client.user)
    ben = FiscusUser("ben", client)
    _connect(oauth_server, ben)

    mine = client.execute("Mail", "me", {})
    theirs = client.execute("Mail", "me", {}, user=ben)

    assert (mine.success, mine.result["user"]) == (True, "ann")  # type: ignore[index]
    assert theirs.result["user"] == "ben"  # type: ignore[index]
    # Both users' tokens live in the client's store, encrypted.
    store = client.credential_store
    assert store is not None
    assert sorted(store.connectors("ann") + store.connectors("ben")) == ["Mail", "Mail"]


def test_a_task_list_outside_the_users_policy_sends_nothing(
    oauth_server: OAuthServer, tmp_path: Path
) -> None:
    audit = LoggingAuditLog()
    client = _client(oauth_server, tmp_path, audit_log=audit)
    cid = FiscusUser("cid", client)
    _connect(oauth_server, cid)
    cid.assign_role("reader")
    cid.add_policy({"roles": ["reader"], "connectors": ["Mail"], "operations": ["me"]})

    response = client.execute(
        tasks=[
            {"connector": "Mail", "operation": "me", "params": {}},
            {"connector": "Mail", "operation": "send_email", "params": {"to": "x@y.z"}},
        ],
        user=cid,
    )

    assert not response.success
    first, second = response.results  # type: ignore[misc]
    assert first.success
    assert first.get_field("user") == "cid"
    assert second.error_code is FiscusErrorCode.AUTH_FAILURE
    assert "may not call Mail.send_email" in (second.error_message or "")
    assert oauth_server.seen("/api/echo/messages") == []
    assert [e.action.value for e in audit.events(user_id="cid")][-1] == "call_denied"


def test_a_revoked_grant_calls_fiscus_on_auth_with_the_authorization_url(
    oauth_server: OAuthServer, tmp_path: Path
) -> None:
    client = _client(oauth_server, tmp_path)
    dee = FiscusUser("dee", client)
    _connect(oauth_server, dee)
    stored = dee.stored_credential("Mail")
    assert stored is not None
    dee.credentials.put(
        "dee",
        "Mail",
        StoredCredential(
            kind="oauth2",
            access_token=stored.access_token,
            refresh_token=stored.refresh_token,
            expires_at=time.time() - 1,
        ),
    )
    oauth_server.revoke_user("dee")
    heard: list[dict[str, object]] = []

    response = client.execute(
        "Mail", "me", {}, user=dee, callbacks={"fiscus_on_auth": heard.append}
    )

    assert not response.success
    assert response.error_code is FiscusErrorCode.AUTH_FAILURE
    assert len(heard) == 1
    url = heard[0]["authorization_url"]
    assert isinstance(url, str)
    assert url.startswith(oauth_server.authorize_url)
    details = response.error_details
    assert details is not None
    assert details["authorization_url"] == url
    assert oauth_server.seen("/api/me") == []

    callback = oauth_server.authorize(url, user="dee")  # the user authorizes again
    dee.authenticate_connector("Mail", {"code": callback.code, "state": callback.state})
    assert client.execute("Mail", "me", {}, user=dee).result["user"] == "dee"  # type: ignore[index]


def test_refusals_are_recorded_in_the_run_stores_database(
    oauth_server: OAuthServer, tmp_path: Path
) -> None:
    database = tmp_path / "runs.db"
    client = _client(
        oauth_server, tmp_path, runner=Runner(store=SQLiteRunStore(database))
    )
    eve = FiscusUser("eve", client)
    _connect(oauth_server, eve)
    eve.add_policy({"connectors": ["Mail"], "operations": ["me"]})

    response = client.execute("Mail", "send_email", {"to": "a@b.c"}, user=eve)

    assert response.error_code is FiscusErrorCode.AUTH_FAILURE
    with SQLiteAuditLog(database) as stored:
        denied = [e for e in stored.events(user_id="eve") if e.action == "call_denied"]
    assert [(e.connector, e.operation) for e in denied] == [("Mail", "send_email")]
    assert denied[0].run_id == response.run.run_id  # type: ignore[union-attr]
