"""A real OAuth2 authorization server and a protected API on 127.0.0.1, for tests.

``OAuthServer`` holds the server's knobs and counters; ``serve()`` runs its
Starlette app with ``loopback.serving`` (the ``oauth_server`` fixture of
``tests/users/conftest.py`` does, once per session, and resets it per
test). One client is registered (``client_id``, ``client_secret``, or a
public client when the secret is ``None``) with ``redirect_uris``. Its
codes and tokens live in a ``Grants`` (``oauth_grants.py``).

- ``GET /authorize``: checks ``client_id`` and ``redirect_uri`` (400
  otherwise), then ``response_type=code`` and an S256 ``code_challenge``
  (else redirects with ``error=``); approves at once for the user named by
  ``login_hint`` (or ``user``), else ``default_user``, else redirects with
  ``error=access_denied``; redirects 302 to ``redirect_uri?code=&state=``.
- ``POST /token``: authenticates the client (HTTP Basic, the form's
  ``client_secret``, or a public ``client_id``; else 401
  ``invalid_client``). ``authorization_code``: the code (single use: a
  second use revokes what it issued), its ``redirect_uri`` and the PKCE
  verifier must match. ``refresh_token``: rotated when
  ``rotate_refresh_tokens``, else none sent back. ``invalid_grant`` for
  unknown, used, revoked or expired codes and tokens. Access tokens live
  ``access_token_lifetime`` seconds.
- ``POST /revoke``: RFC 7009; revoking a refresh token revokes its grant.
- ``GET /api/me``: Bearer-protected (401 for missing, unknown, revoked or
  expired tokens); answers ``{"user": ..., "scope": ...}``.
  ``/api/echo/{path}`` (any method) also echoes the method, path, query
  and JSON body, for connectors whose base URL is ``api_url``.

Counters: ``token_calls`` and ``token_calls_by_grant``, ``revoke_calls``,
``api_calls``; ``requests`` records every request (``seen(path)``).
Helpers: ``authorize(url, user=)`` follows the authorize redirect and
returns the ``Callback``; ``issue(user)`` mints tokens without the flow;
``revoke_user``, ``expire_access_tokens`` and ``fail_token_requests``
change the server's mind. Imports no fiscus_dsl.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, final
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from loopback import Seen, serving
from starlette.applications import Starlette
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .oauth_grants import (
    NO_STORE,
    Client,
    Grants,
    RefusedError,
    authorize_error,
    check_client,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from starlette.requests import Request

CLIENT_ID: Final = "fiscus-test-app"
REDIRECT_URI: Final = "http://127.0.0.1/oauth/callback"
ACCESS_TOKEN_LIFETIME: Final = 300.0


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Callback:
    """Where ``/authorize`` sent the browser: the redirect URI and its query."""

    location: str
    params: dict[str, str]

    @property
    def code(self) -> str:
        """Return the authorization code; fail the test with the error if none."""
        if "code" not in self.params:
            msg = f"/authorize refused: {self.params}"
            raise AssertionError(msg)
        return self.params["code"]

    @property
    def state(self) -> str | None:
        """Return the ``state`` sent back, if any."""
        return self.params.get("state")


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Issued:
    """Tokens ``issue()`` minted: what a token answer would have carried."""

    access_token: str
    refresh_token: str
    expires_in: float
    scope: str


@final
@dataclass(slots=True)
class OAuthServer:
    """The authorization server's knobs, counters and requests (see the module)."""

    base_url: str = ""
    client_id: str = CLIENT_ID
    client_secret: str | None = field(default_factory=lambda: _new_secret())
    redirect_uris: list[str] = field(default_factory=lambda: [REDIRECT_URI])
    default_user: str | None = None
    access_token_lifetime: float = ACCESS_TOKEN_LIFETIME
    rotate_refresh_tokens: bool = True
    token_calls: int = 0
    token_calls_by_grant: Counter[str] = field(default_factory=Counter)
    revoke_calls: int = 0
    api_calls: int = 0
    requests: list[Seen] = field(default_factory=list)
    grants: Grants = field(default_factory=Grants)
    _failures: deque[tuple[int, str]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def authorize_url(self) -> str:
        """Return the authorization endpoint."""
        return f"{self.base_url}/authorize"

    @property
    def token_url(self) -> str:
        """Return the token endpoint."""
        return f"{self.base_url}/token"

    @property
    def revoke_url(self) -> str:
        """Return the revocation endpoint (RFC 7009)."""
        return f"{self.base_url}/revoke"

    @property
    def api_url(self) -> str:
        """Return the protected API's base URL (``/me``, ``/echo/...`` below it)."""
        return f"{self.base_url}/api"

    def reset(self) -> None:
        """Forget every code, token and request; knobs back; a new client secret."""
        with self._lock:
            self.client_id = CLIENT_ID
            self.client_secret = _new_secret()
            self.redirect_uris = [REDIRECT_URI]
            self.default_user = None
            self.access_token_lifetime = ACCESS_TOKEN_LIFETIME
            self.rotate_refresh_tokens = True
            self.token_calls = self.revoke_calls = self.api_calls = 0
            self.token_calls_by_grant.clear()
            self.requests.clear()
            self.grants.clear()
            self._failures.clear()

    def seen(self, path: str) -> list[Seen]:
        """Return the requests to ``path`` (e.g. ``"/token"``), in arrival order."""
        with self._lock:
            return [item for item in self.requests if item.path == path]

    def fail_token_requests(
        self, status: int, body: str = "", *, times: int = 1
    ) -> None:
        """Answer the next ``times`` token requests with ``status`` and ``body``."""
        with self._lock:
            self._failures.extend([(status, body)] * times)

    def issue(self, user: str, *, scope: str = "") -> Issued:
        """Mint an access and a refresh token for ``user``, as a grant would."""
        with self._lock:
            grant = self.grants.new_grant()
            lifetime = self.access_token_lifetime
            payload = self.grants.mint(user, scope, grant=grant, lifetime=lifetime)
        return Issued(
            access_token=str(payload["access_token"]),
            refresh_token=str(payload["refresh_token"]),
            expires_in=lifetime,
            scope=scope,
        )

    def revoke_user(self, user: str) -> None:
        """Revoke every access and refresh token of ``user``."""
        with self._lock:
            for token in self.grants.tokens():
                if token.user == user:
                    token.revoked = True

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expired (no sleeping)."""
        with self._lock:
            for token in self.grants.access.values():
                token.expires_at = 0.0

    def authorize(self, url: str, *, user: str | None = None) -> Callback:
        """GET ``url`` (an authorize URL) as a browser would; return the redirect."""
        params = {} if user is None else {"login_hint": user}
        target = httpx.URL(url).copy_merge_params(params)
        response = httpx.get(target, follow_redirects=False)
        if response.status_code != 302:
            msg = f"/authorize answered {response.status_code}: {response.text}"
            raise AssertionError(msg)
        location = response.headers["location"]
        query = urlsplit(location).query
        return Callback(location=location, params=dict(parse_qsl(query)))

    def app(self) -> Starlette:
        """Return the Starlette app serving this server's endpoints."""
        api_methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return Starlette(
            routes=[
                Route("/authorize", self._authorize, methods=["GET"]),
                Route("/token", self._token, methods=["POST"]),
                Route("/revoke", self._revoke, methods=["POST"]),
                Route("/api/me", self._api, methods=["GET"]),
                Route("/api/echo/{rest:path}", self._api, methods=api_methods),
            ]
        )

    async def _record(self, request: Request) -> Seen:
        seen = await Seen.of(request)
        with self._lock:
            self.requests.append(seen)
        return seen

    async def _authorize(self, request: Request) -> Response:
        await self._record(request)
        query = request.query_params
        if query.get("client_id") != self.client_id:
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        redirect_uri = query.get("redirect_uri")
        only = self.redirect_uris[0] if len(self.redirect_uris) == 1 else None
        target = redirect_uri or only
        if target is None or target not in self.redirect_uris:
            return JSONResponse({"error": "invalid_redirect_uri"}, status_code=400)
        back = {"state": query["state"]} if "state" in query else {}
        user = query.get("login_hint") or query.get("user") or self.default_user
        error = authorize_error(query, user=user)
        if error is not None or user is None:
            return _redirect(target, {"error": error or "access_denied", **back})
        with self._lock:
            code = self.grants.new_code(
                user,
                redirect_uri=redirect_uri,
                challenge=query["code_challenge"],
                scope=query.get("scope", ""),
            )
        return _redirect(target, {"code": code, **back})

    async def _token(self, request: Request) -> Response:
        form = (await self._record(request)).form()
        grant_type = form.get("grant_type", "")
        lifetime = self.access_token_lifetime
        with self._lock:
            self.token_calls += 1
            self.token_calls_by_grant[grant_type] += 1
            if self._failures:
                status, body = self._failures.popleft()
                return Response(body, status_code=status, headers=NO_STORE)
            try:
                check_client(self._client(), request.headers, form)
                payload = self.grants.answer(
                    grant_type,
                    form,
                    lifetime=lifetime,
                    rotate=self.rotate_refresh_tokens,
                )
            except RefusedError as refused:
                return refused.response()
        return JSONResponse(payload, headers=NO_STORE)

    async def _revoke(self, request: Request) -> Response:
        form = (await self._record(request)).form()
        with self._lock:
            self.revoke_calls += 1
            try:
                check_client(self._client(), request.headers, form)
            except RefusedError as refused:
                return refused.response()
            if "token" not in form:
                return RefusedError(400, "invalid_request", "no token").response()
            self.grants.revoke(form["token"])
        return Response(status_code=200)

    async def _api(self, request: Request) -> Response:
        seen = await self._record(request)
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            self.api_calls += 1
            token = self.grants.bearer(value) if scheme.lower() == "bearer" else None
        if token is None:
            challenge = 'Bearer error="invalid_token"' if value else "Bearer"
            return JSONResponse(
                {"error": "invalid_token"},
                status_code=401,
                headers={"WWW-Authenticate": challenge},
            )
        body: dict[str, object] = {"user": token.user, "scope": token.scope}
        if seen.path.startswith("/api/echo/"):
            text = seen.body.decode("utf-8", "replace")
            body |= {"method": seen.method, "path": seen.path, "query": seen.query}
            body["body"] = json.loads(text) if text else None
        return JSONResponse(body)

    def _client(self) -> Client:
        return Client(client_id=self.client_id, client_secret=self.client_secret)


def _new_secret() -> str:
    return f"cs_oauth_test_{secrets.token_hex(12)}"


def _redirect(target: str, params: Mapping[str, str]) -> Response:
    joiner = "&" if urlsplit(target).query else "?"
    return RedirectResponse(f"{target}{joiner}{urlencode(params)}", status_code=302)


def serve(server: OAuthServer) -> Iterator[OAuthServer]:
    """Serve ``server`` on 127.0.0.1 until the generator is closed."""
    with serving(server.app(), name="oauth-server") as port:
        server.base_url = f"http://127.0.0.1:{port}"
        yield server
