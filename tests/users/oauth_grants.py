"""The book of the test OAuth2 server: its codes, tokens and grants, and its checks.

``Grants`` issues authorization codes, exchanges them (single use; the
redirect URI and the PKCE S256 verifier must match), refreshes (with or
without rotating the refresh token), revokes (a refresh token takes its
whole grant with it) and tells a live access token from an expired,
revoked or unknown one. A refusal is a ``RefusedError`` carrying the
OAuth2 error answer. No HTTP here: ``oauth_server.py`` serves it, holding
its lock around every call. Imports no fiscus_dsl.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final
from urllib.parse import unquote_plus

from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from collections.abc import Mapping

    from starlette.responses import Response

CODE_LIFETIME: Final = 60.0
NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Client:
    """The registered client: its id and secret (``None``: a public client)."""

    client_id: str
    client_secret: str | None


@dataclass(slots=True, kw_only=True)
class Code:
    """An authorization code and what it was issued for."""

    user: str
    redirect_uri: str | None
    challenge: str
    scope: str
    expires_at: float
    grant: int = 0
    used: bool = False


@dataclass(slots=True, kw_only=True)
class Token:
    """An access or refresh token: whose, for what, until when."""

    user: str
    scope: str
    grant: int
    expires_at: float | None = None  # refresh tokens do not expire
    revoked: bool = False

    def is_live(self) -> bool:
        """Tell whether the token is neither revoked nor expired."""
        return not self.revoked and (
            self.expires_at is None or time.time() < self.expires_at
        )


class RefusedError(Exception):
    """An OAuth2 error answer: its status, ``error`` and description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def response(self) -> Response:
        """Return the JSON error answer (RFC 6749 §5.2)."""
        headers = dict(NO_STORE)
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="oauth"'
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, status_code=self.status, headers=headers)


@final
class Grants:
    """Codes, access tokens and refresh tokens; not thread-safe (lock around it)."""

    def __init__(self) -> None:
        self.codes: dict[str, Code] = {}
        self.access: dict[str, Token] = {}
        self.refresh: dict[str, Token] = {}
        self._grants = 0

    def clear(self) -> None:
        """Forget every code and token."""
        self.codes.clear()
        self.access.clear()
        self.refresh.clear()

    def new_code(
        self, user: str, *, redirect_uri: str | None, challenge: str, scope: str
    ) -> str:
        """Issue a code for ``user``, bound to the redirect URI and the challenge."""
        code = f"code_{secrets.token_urlsafe(24)}"
        self.codes[code] = Code(
            user=user,
            redirect_uri=redirect_uri,
            challenge=challenge,
            scope=scope,
            expires_at=time.time() + CODE_LIFETIME,
        )
        return code

    def answer(
        self, grant_type: str, form: Mapping[str, str], *, lifetime: float, rotate: bool
    ) -> dict[str, object]:
        """Answer a token request of ``grant_type``, or raise ``RefusedError``."""
        if grant_type == "authorization_code":
            return self.exchange(form, lifetime=lifetime)
        if grant_type == "refresh_token":
            return self.refreshed(form, lifetime=lifetime, rotate=rotate)
        raise RefusedError(400, "unsupported_grant_type", grant_type)

    def exchange(
        self, form: Mapping[str, str], *, lifetime: float
    ) -> dict[str, object]:
        """Answer an ``authorization_code`` grant, or raise ``RefusedError``."""
        code = self.codes.get(form.get("code", ""))
        if code is None or code.expires_at < time.time():
            raise RefusedError(400, "invalid_grant", "unknown or expired code")
        if code.used:  # RFC 6749 §4.1.2: revoke what the code issued
            self.revoke_grant(code.grant)
            raise RefusedError(400, "invalid_grant", "code already used")
        code.used = True
        if (
            code.redirect_uri is not None
            and form.get("redirect_uri") != code.redirect_uri
        ):
            raise RefusedError(400, "invalid_grant", "redirect_uri does not match")
        if s256(form.get("code_verifier", "")) != code.challenge:
            raise RefusedError(400, "invalid_grant", "PKCE verification failed")
        code.grant = self.new_grant()
        return self.mint(code.user, code.scope, grant=code.grant, lifetime=lifetime)

    def refreshed(
        self, form: Mapping[str, str], *, lifetime: float, rotate: bool
    ) -> dict[str, object]:
        """Answer a ``refresh_token`` grant, or raise ``RefusedError``."""
        token = self.refresh.get(form.get("refresh_token", ""))
        if token is None or not token.is_live():
            raise RefusedError(400, "invalid_grant", "unknown or revoked refresh token")
        token.revoked = rotate
        return self.mint(
            token.user,
            token.scope,
            grant=token.grant,
            lifetime=lifetime,
            refresh=rotate,
        )

    def mint(
        self,
        user: str,
        scope: str,
        *,
        grant: int,
        lifetime: float,
        refresh: bool = True,
    ) -> dict[str, object]:
        """Issue an access token (and a refresh token); return the token answer."""
        access = f"at_{secrets.token_urlsafe(24)}"
        self.access[access] = Token(
            user=user, scope=scope, grant=grant, expires_at=time.time() + lifetime
        )
        payload: dict[str, object] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": scope,
        }
        if refresh:
            value = f"rt_{secrets.token_urlsafe(24)}"
            self.refresh[value] = Token(user=user, scope=scope, grant=grant)
            payload["refresh_token"] = value
        return payload

    def new_grant(self) -> int:
        """Return a new grant number (every token of one authorization shares it)."""
        self._grants += 1
        return self._grants

    def revoke(self, value: str) -> None:
        """Revoke a token (RFC 7009); a refresh token takes its grant with it."""
        if value in self.refresh:
            self.revoke_grant(self.refresh[value].grant)
        elif value in self.access:
            self.access[value].revoked = True

    def revoke_grant(self, grant: int) -> None:
        """Revoke every token of one grant."""
        for token in self.tokens():
            if token.grant == grant:
                token.revoked = True

    def tokens(self) -> list[Token]:
        """Return every access and refresh token."""
        return [*self.access.values(), *self.refresh.values()]

    def bearer(self, value: str) -> Token | None:
        """Return the live access token ``value``, else ``None``."""
        token = self.access.get(value)
        return token if token is not None and token.is_live() else None


def check_client(
    client: Client, headers: Mapping[str, str], form: Mapping[str, str]
) -> None:
    """Authenticate the client (Basic, form secret, or public id), or refuse 401."""
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    given: tuple[str, str | None]
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        client_id, _, secret = decoded.partition(":")
        given = (unquote_plus(client_id), unquote_plus(secret))  # RFC 6749 §2.3.1
    elif "client_secret" in form:
        given = (form.get("client_id", ""), form["client_secret"])
    else:
        given = (form.get("client_id", ""), None)
    if given != (client.client_id, client.client_secret):
        raise RefusedError(401, "invalid_client", "client authentication failed")


def authorize_error(query: Mapping[str, str], *, user: str | None) -> str | None:
    """Return the error an authorization request gets, else ``None``."""
    if query.get("response_type") != "code":
        return "unsupported_response_type"
    if not query.get("code_challenge") or query.get("code_challenge_method") != "S256":
        return "invalid_request"
    if not user:
        return "access_denied"
    return None


def s256(verifier: str) -> str:
    """Return the PKCE S256 challenge of ``verifier`` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
