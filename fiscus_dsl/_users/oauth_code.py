"""The OAuth2 authorization-code flow with PKCE, for connectors end users authorize.

``OAuth2AuthorizationCode`` builds the authorization URL (RFC 6749 §4.1
with an S256 PKCE challenge, RFC 7636), exchanges the code the redirect
brings for tokens, refreshes them and revokes them (RFC 7009). Tokens come
back as a ``StoredCredential`` whose secrets are ``Secret``s (registered
for scrubbing). The HTTP side (client authentication, a short-lived
``httpx.AsyncClient`` per call, token answers, failures) is in
``oauth_endpoint``. This module may import
connectors, the runtime's loggers and errors; nothing below imports it.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, NoReturn, final

from fiscus_dsl._connectors.auth import Secret, as_secret
from fiscus_dsl._connectors.oauth2 import absolute_url, check_client
from fiscus_dsl._connectors.scrub import scrub_url
from fiscus_dsl._runtime.logs import CONNECTOR_LOGGER
from fiscus_dsl._users.credentials import StoredCredential
from fiscus_dsl._users.oauth_endpoint import (
    TokenClient,
    is_refused,
    oauth_error,
    revocation_failure,
)
from fiscus_dsl.errors import (
    AuthenticationError,
    ConfigurationError,
    SecretPicklingError,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import SupportsIndex

    import httpx

VERIFIER_BYTES: Final = 64
"""Random bytes of a PKCE code verifier: 86 characters (RFC 7636 asks 43 to 128)."""

STATE_BYTES: Final = 32
"""Random bytes of a ``state`` that ``start()`` makes."""


_OWNER: Final = "OAuth2AuthorizationCode"


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorizationRequest:
    """A started authorization: the URL to send the user to, its state and verifier.

    Keep ``state`` and ``code_verifier`` (in the user's session, say) until
    the redirect comes back: check that the redirect carries the same
    ``state``, then pass its ``code`` and this ``code_verifier`` to
    ``exchange``. The verifier is a ``Secret``; store
    ``code_verifier.reveal()`` only somewhere private to the user.

    Attributes:
        url: The authorization URL, with the S256 code challenge and state.
        state: The random value the redirect must bring back (CSRF check).
        code_verifier: The PKCE code verifier, for ``exchange``.
    """

    url: str
    state: str
    code_verifier: Secret


@final
class OAuth2AuthorizationCode:
    """The OAuth2 authorization-code flow with PKCE, for connectors users authorize.

    ``start()`` makes the URL where the user approves the connector;
    ``exchange()`` turns the code the redirect brings into tokens;
    ``refresh()`` gets a new access token with the refresh token;
    ``revoke()`` revokes a token. A client secret authenticates the client
    to the token and revocation endpoints with HTTP Basic (RFC 6749
    §2.3.1) and goes nowhere else; without one the client is public and
    sends its ``client_id`` in the form. Extra authorization parameters a
    provider wants (``access_type=offline``, ``prompt=consent``) can sit in
    ``authorize_url``'s query: ``start()`` keeps them.

    Failures: a refresh token the server refuses (400 or 401
    ``invalid_grant``, or 401 other than ``invalid_client``) raises
    ``AuthenticationError`` (not retryable: the user must authorize again).
    Any other failure of the token or revocation endpoint raises
    ``ConnectorError`` with code ``AUTH_FAILURE``, retryable for a 429, a
    5xx, a timeout or a network error, not for other answers (a rejected
    code or verifier, ``invalid_client``, a body that is not a token).
    Messages quote no token, code, verifier or client secret.

    Args:
        authorize_url: The authorization endpoint, an absolute URL.
        token_url: The token endpoint, an absolute URL.
        client_id: The client identifier.
        client_secret: The client secret (a str becomes a ``Secret``);
            ``None`` for a public client.
        scopes: The scopes to ask for.
        redirect_uri: The redirect URI registered for the client; ``start``
            and ``exchange`` may pass another.
        revocation_url: The revocation endpoint (RFC 7009), for ``revoke``.
        timeout: Seconds each request to the provider may take.
        transport: The httpx transport to send with (tests pass one); it is
            not closed here.

    Raises:
        ConfigurationError: A URL is not absolute, ``client_id`` is empty,
            the client secret is an empty str, or ``timeout`` is not positive.
        OptionTypeError: ``scopes`` is a str rather than a list of scopes.

    Examples:
        >>> from fiscus_dsl import OAuth2AuthorizationCode
        >>> flow = OAuth2AuthorizationCode(
        ...     authorize_url="https://auth.example.com/authorize",
        ...     token_url="https://auth.example.com/token",
        ...     client_id="app",
        ...     scopes=["read"],
        ...     redirect_uri="https://app.example.com/callback",
        ... )
        >>> started = flow.start()
        >>> started.url.startswith("https://auth.example.com/authorize?")
        True
        >>> "code_challenge_method=S256" in started.url
        True
    """

    __slots__ = (
        "_authorize_url",
        "_client",
        "_client_id",
        "_client_secret",
        "_redirect_uri",
        "_revocation_url",
        "_scopes",
        "_token_url",
    )

    def __init__(
        self,
        *,
        authorize_url: str,
        token_url: str,
        client_id: str,
        client_secret: Secret | str | None = None,
        scopes: Sequence[str] = (),
        redirect_uri: str | None = None,
        revocation_url: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._authorize_url = absolute_url(
            authorize_url, owner=_OWNER, option="authorize_url"
        )
        self._token_url = absolute_url(token_url, owner=_OWNER, option="token_url")
        self._revocation_url = (
            None
            if revocation_url is None
            else absolute_url(revocation_url, owner=_OWNER, option="revocation_url")
        )
        _check_options(client_id=client_id, scopes=scopes, timeout=timeout)
        self._client_id = client_id
        self._client_secret = (
            None
            if client_secret is None
            else as_secret(
                client_secret, owner="OAuth2AuthorizationCode(client_secret)"
            )
        )
        self._scopes = tuple(scopes)
        self._redirect_uri = redirect_uri
        self._client = TokenClient(
            client_id=client_id,
            client_secret=self._client_secret,
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        authorize_url = scrub_url(self._authorize_url)
        return (
            f"OAuth2AuthorizationCode(authorize_url={authorize_url!r}, "
            f"token_url={scrub_url(self._token_url)!r}, "
            f"client_id={self._client_id!r}, client_secret={self._client_secret!r}, "
            f"scopes={self._scopes!r})"
        )

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        msg = (
            "OAuth2AuthorizationCode cannot be pickled: it may hold a Secret; "
            "create it in each process, e.g. with Secret.from_env('NAME')"
        )
        raise SecretPicklingError(msg, owner="OAuth2AuthorizationCode")

    @property
    def token_url(self) -> httpx.URL:
        """Return the token endpoint, where the client secret may go."""
        return self._token_url

    @property
    def scopes(self) -> tuple[str, ...]:
        """Return the scopes the flow asks for."""
        return self._scopes

    def start(
        self, *, redirect_uri: str | None = None, state: str | None = None
    ) -> AuthorizationRequest:
        """Start an authorization: return its URL, state and PKCE verifier.

        Args:
            redirect_uri: Where the provider sends the user back; the one
                given to the constructor by default (none: the provider's).
            state: The CSRF state to send; a random one by default.

        Raises:
            ConfigurationError: If ``state`` is an empty str.
        """
        if state is not None and not state:
            msg = (
                "OAuth2AuthorizationCode.start(state='') needs a non-empty state; "
                "leave it out for a random one"
            )
            raise ConfigurationError(msg, option="state")
        state = state or secrets.token_urlsafe(STATE_BYTES)
        verifier = Secret(secrets.token_urlsafe(VERIFIER_BYTES))
        params = {"response_type": "code", "client_id": self._client_id}
        uri = redirect_uri or self._redirect_uri
        if uri:
            params["redirect_uri"] = uri
        if self._scopes:
            params["scope"] = " ".join(self._scopes)
        params |= {
            "state": state,
            "code_challenge": code_challenge(verifier.reveal()),
            "code_challenge_method": "S256",
        }
        url = str(self._authorize_url.copy_merge_params(params))
        return AuthorizationRequest(url=url, state=state, code_verifier=verifier)

    async def exchange(
        self,
        code: str,
        *,
        code_verifier: Secret | str,
        redirect_uri: str | None = None,
    ) -> StoredCredential:
        """Exchange the code the redirect brought for the user's tokens.

        Args:
            code: The ``code`` query parameter of the redirect.
            code_verifier: The ``code_verifier`` of the ``start()`` whose
                state the redirect brought back.
            redirect_uri: The redirect URI that ``start()`` sent, if not the
                constructor's.

        Returns:
            An ``oauth2`` credential, not yet stored (version 0);
            ``expires_at`` is ``None`` when the provider says no
            ``expires_in``, and ``scope`` the requested scopes when it says
            none.

        Raises:
            ConfigurationError: If ``code`` or ``code_verifier`` is empty.
            ConnectorError: The token endpoint refused the code (used,
                expired, or a verifier or redirect URI that does not match),
                or failed; see the class for when it is retryable.
        """
        given = as_secret(code, owner="OAuth2AuthorizationCode.exchange(code)")
        verifier = as_secret(
            code_verifier, owner="OAuth2AuthorizationCode.exchange(code_verifier)"
        )
        form = {
            "grant_type": "authorization_code",
            "code": given.reveal(),
            "code_verifier": verifier.reveal(),
        }
        uri = redirect_uri or self._redirect_uri
        if uri:
            form["redirect_uri"] = uri
        what = "exchange the OAuth2 authorization code"
        response = await self._client.post(
            self._token_url, form, what=what, connector=""
        )
        answer = self._client.read_token(response, what=what, connector="")
        return StoredCredential(
            kind="oauth2",
            access_token=answer.access_token,
            refresh_token=answer.refresh_token,
            expires_at=answer.expires_at,
            scope=answer.scope or " ".join(self._scopes) or None,
        )

    async def refresh(
        self, credential: StoredCredential, *, connector: str, user_id: str | None
    ) -> StoredCredential:
        """Get a new access token with the credential's refresh token.

        A server that rotates refresh tokens sends a new one, which the
        returned credential holds; one that sends none leaves the old one
        in place. The scope is kept unless the server names another.

        Args:
            credential: The user's ``oauth2`` credential.
            connector: The connector's name, for messages.
            user_id: The end user's id, for messages.

        Returns:
            The credential with the new tokens and expiry, and the same
            ``version`` (so ``store.replace(..., expected_version=...)``
            can compare-and-swap); not yet stored.

        Raises:
            AuthenticationError: The credential has no refresh token, or the
                server refused it: the user must authorize the connector
                again. Its ``authorization_url`` comes from a fresh
                ``start()`` whose verifier is not kept: an application that
                completes authorizations calls ``start()`` itself and keeps
                that ``AuthorizationRequest``.
            ConfigurationError: If the credential is an API key.
            ConnectorError: Any other failure; see the class.
        """
        if credential.kind != "oauth2":
            msg = (
                f"OAuth2AuthorizationCode.refresh got the {credential.kind!r} "
                f"credential of connector {connector!r}; only an 'oauth2' "
                "credential has a refresh token"
            )
            raise ConfigurationError(msg, option="credential")
        if credential.refresh_token is None:
            self._refused(connector, user_id, problem="has no refresh token")
        form = {
            "grant_type": "refresh_token",
            "refresh_token": credential.refresh_token.reveal(),
        }
        what = f"refresh the OAuth2 token {_whose(connector, user_id)}"
        response = await self._client.post(
            self._token_url, form, what=what, connector=connector
        )
        if is_refused(response):
            refusal = oauth_error(response) or str(response.status_code)
            token_url = scrub_url(self._token_url)
            problem = f"has a refresh token that {token_url} refused ({refusal})"
            self._refused(connector, user_id, problem=problem)
        answer = self._client.read_token(response, what=what, connector=connector)
        CONNECTOR_LOGGER.debug(
            "Refreshed the OAuth2 token %s", _whose(connector, user_id)
        )
        return dataclasses.replace(
            credential,
            access_token=answer.access_token,
            refresh_token=answer.refresh_token or credential.refresh_token,
            expires_at=answer.expires_at,
            scope=answer.scope or credential.scope,
            token_type="Bearer",
        )

    async def revoke(self, token: Secret) -> None:
        """Revoke an access or refresh token at ``revocation_url`` (RFC 7009).

        Revoking a refresh token usually revokes its access tokens too. A
        token the server does not know counts as revoked (it answers 200).

        Raises:
            ConfigurationError: If the flow has no ``revocation_url``.
            ConnectorError: The endpoint failed; see the class.
        """
        if self._revocation_url is None:
            msg = (
                "OAuth2AuthorizationCode.revoke needs the provider's revocation "
                "endpoint; pass revocation_url=... to OAuth2AuthorizationCode"
            )
            raise ConfigurationError(msg, option="revocation_url")
        secret = as_secret(token, owner="OAuth2AuthorizationCode.revoke(token)")
        what = "revoke the OAuth2 token"
        url = self._revocation_url
        response = await self._client.post(
            url, {"token": secret.reveal()}, what=what, connector=""
        )
        if not response.is_success:
            raise revocation_failure(response, what=what)

    def _refused(
        self, connector: str, user_id: str | None, *, problem: str
    ) -> NoReturn:
        """Raise the ``AuthenticationError`` that sends the user to authorize again."""
        whose = _whose(connector, user_id)
        CONNECTOR_LOGGER.info("The OAuth2 credential %s %s", whose, problem)
        msg = (
            f"The OAuth2 credential {whose} {problem}; the user must authorize "
            "the connector again: send them to the URL of a start() and keep its "
            "code_verifier for exchange()"
        )
        raise AuthenticationError(
            msg,
            connector=connector,
            user_id=user_id,
            authorization_url=self.start().url,
        )


def code_challenge(verifier: str) -> str:
    """Return the S256 PKCE code challenge of ``verifier`` (RFC 7636 §4.2).

    Examples:
        >>> code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
    """
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _check_options(*, client_id: str, scopes: Sequence[str], timeout: float) -> None:
    check_client(owner=_OWNER, client_id=client_id, scopes=scopes)
    if not timeout > 0:
        msg = (
            f"OAuth2AuthorizationCode(timeout={timeout!r}) is not positive; "
            "pass the seconds a request to the provider may take, e.g. 10.0"
        )
        raise ConfigurationError(msg, option="timeout")


def _whose(connector: str, user_id: str | None) -> str:
    user = "of an unnamed user" if user_id is None else f"of user {user_id!r}"
    return f"{user} for connector {connector!r}"
