"""End users: one backend sends mail from each user's own account.

A newsletter product lets its users connect their mail account (OAuth2,
authorization code with PKCE) and sends each one's digest *from their own
account*. The workflow is written once; each run acts for one user
(``wf.run(..., user=user)``, or ``with acting_for(user):``), whose access
token the connector sends, refreshed when it expires. Bob's role only
lets him read his mailbox, so his run is refused before anything is
sent, and the audit log says so.
The mail provider is an in-process fake (``httpx.MockTransport``), so it
runs offline::

    python examples/end_users.py
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Final
from urllib.parse import parse_qs, urlsplit

import httpx

from fiscus_dsl import (
    Connector,
    FiscusUser,
    LoggingAuditLog,
    MemoryCredentialStore,
    OAuth2AuthorizationCode,
    RunResult,
    StoredCredential,
    UserAuth,
    acting_for,
    task,
    workflow,
)

PROVIDER: Final = "https://mail.example.com"
REDIRECT_URI: Final = "https://newsletter.example.com/oauth/callback"


class MailProvider:
    """The fake mail provider: authorizes users, issues tokens, sends mail."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}  # code -> user
        self.tokens: dict[str, str] = {}  # access token -> user
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user
        self.sent: list[tuple[str, str]] = []  # (from user, subject)
        self.refreshes = 0

    def approve(self, authorize_url: str, user: str) -> dict[str, str]:
        """Play the user's browser: approve, and return the callback's query."""
        query = parse_qs(urlsplit(authorize_url).query)
        code = secrets.token_urlsafe(8)
        self.codes[code] = user
        return {"code": code, "state": query["state"][0]}

    def expire_tokens(self, user: str) -> None:
        """Forget a user's access tokens, as the provider's clock would."""
        self.tokens = {key: who for key, who in self.tokens.items() if who != user}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return self._token(parse_qs(request.content.decode()))
        user = self.tokens.get(request.headers.get("Authorization", "")[7:])
        if user is None:
            return httpx.Response(401, json={"error": "invalid_token"})
        if request.url.path == "/api/messages":
            subject = json.loads(request.content)["subject"]
            self.sent.append((user, subject))
            return httpx.Response(202, json={"id": f"m{len(self.sent)}"})
        return httpx.Response(200, json={"unread": 3, "user": user})

    def _token(self, form: dict[str, list[str]]) -> httpx.Response:
        grant = form["grant_type"][0]
        if grant == "authorization_code":
            user = self.codes.pop(form["code"][0], None)
        else:
            self.refreshes += 1
            user = self.refresh_tokens.pop(form["refresh_token"][0], None)
        if user is None:
            return httpx.Response(400, json={"error": "invalid_grant"})
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.tokens[access], self.refresh_tokens[refresh] = user, user
        answer = {"access_token": access, "refresh_token": refresh, "expires_in": 3600}
        return httpx.Response(200, json={**answer, "token_type": "Bearer"})


provider = MailProvider()
mail = Connector(
    "Mail",
    f"{PROVIDER}/api",
    auth=UserAuth(
        oauth2=OAuth2AuthorizationCode(
            authorize_url=f"{PROVIDER}/authorize",
            token_url=f"{PROVIDER}/token",
            client_id="newsletter",
            client_secret="newsletter-client-secret",
            scopes=["mail.send", "mail.read"],
            redirect_uri=REDIRECT_URI,
            transport=httpx.MockTransport(provider),
        )
    ),
    transport=httpx.MockTransport(provider),
)


@mail.operation("GET /inbox")
def inbox() -> dict[str, object]:
    """Count the user's unread mail."""
    raise NotImplementedError  # an operation's body never runs


@mail.operation("POST /messages")
def send_message(to: str, subject: str) -> dict[str, str]:
    """Send a message from the user's account."""
    raise NotImplementedError  # an operation's body never runs


@task
def digest_subject(unread: dict[str, object], topic: str) -> str:
    """Write the digest's subject line."""
    return f"Your {topic} digest ({unread['unread']} unread)"


@workflow
def send_digest(topic: str) -> dict[str, str]:
    """Send the digest of ``topic`` from the user's own account."""
    subject = digest_subject(inbox(), topic)
    return send_message(to="me@self", subject=subject)


def connect(user: FiscusUser) -> None:
    """Authorize the user's mail account, as the product's OAuth routes do."""
    url = user.start_authorization("Mail")  # redirect the user's browser here
    callback = provider.approve(url, user.user_id)  # ... the user approves
    user.authenticate_connector("Mail", callback)  # the callback route


def age(user: FiscusUser) -> None:
    """Let the user's access token expire, as time would."""
    stored = user.stored_credential("Mail")
    assert stored is not None
    expired = StoredCredential(
        kind="oauth2",
        access_token=stored.access_token,
        refresh_token=stored.refresh_token,
        expires_at=time.time() - 1,
    )
    user.credentials.put(user.user_id, "Mail", expired)
    provider.expire_tokens(user.user_id)


def main() -> dict[str, RunResult[dict[str, str]]]:
    """Connect two users, then send each one's digest; return the runs."""
    store, audit = MemoryCredentialStore(), LoggingAuditLog()
    alice = FiscusUser("alice", connectors=[mail], credentials=store, audit=audit)
    bob = FiscusUser("bob", connectors=[mail], credentials=store, audit=audit)
    for user in (alice, bob):
        connect(user)
    alice.assign_role("subscriber")
    bob.assign_role("reader")
    for user in (alice, bob):
        user.add_policy(
            {"roles": ["subscriber"], "connectors": ["Mail"], "operations": ["*"]}
        )
        user.add_policy(
            {"roles": ["reader"], "connectors": ["Mail"], "operations": ["inbox"]}
        )
    # Each run acts for one user: send_digest.run("python", user=alice) says
    # the same; acting_for is the spelling type checkers accept.
    with acting_for(alice):
        runs = {"alice": send_digest.run("python")}
    age(alice)  # a day later: her token expired; the run refreshes it once
    with acting_for(alice):
        runs["alice, a day later"] = send_digest.run("python")
    with acting_for(bob):
        runs["bob"] = send_digest.run("python")
    for who, run in runs.items():
        print(f"{who}: {run.status.value}")
    print(f"sent: {provider.sent}; token refreshes: {provider.refreshes}")
    for event in audit.events(user_id="bob"):
        if event.action == "call_denied":
            print(f"audit: {event.describe()}")
    return runs


if __name__ == "__main__":
    main()
