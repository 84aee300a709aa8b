"""``UserAuth``: a connector that sends each end user's own credentials.

``Connector("Gmail", url, auth=UserAuth(oauth2=OAuth2AuthorizationCode(...)))``
sends, for each request, the credential of the end user the run acts for
(``wf.run(..., user=user)``): their API key or their OAuth2 access token,
refreshed with their refresh token when it has expired, or once when the
API answers 401. Like every fiscus_dsl auth it attaches the credential only
to the connector's origin, and refuses a request for another origin before
anything is sent. A run that acts for no user, or for a user without
credentials for the connector (and no auth callback to supply them), fails
the task with ``AuthenticationError`` before anything is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn, final

from fiscus_dsl._connectors.origins import (
    Credential,
    Origin,
    PerRequestAuth,
    base_origin,
    check_origin,
)
from fiscus_dsl._runtime.end_user import current_end_user
from fiscus_dsl._users.credentials import StoredCredential
from fiscus_dsl._users.sessions import credential_for, refreshed_after_401
from fiscus_dsl.errors import AuthenticationError, ConfigurationError

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Generator

    import httpx

    from fiscus_dsl._users.oauth_code import OAuth2AuthorizationCode


@final
class UserAuth:
    """Send the credential of the end user each run acts for.

    Args:
        header: The header an API key goes in (default ``Authorization``).
        prefix: What comes before an API key in that header (default
            ``"Bearer"``; ``None`` for the bare key). OAuth2 access tokens
            always go as ``Authorization: Bearer``.
        query: Send an API key as this query parameter instead of a header.
        oauth2: The OAuth2 authorization-code flow users authorize the
            connector with, for connectors that take OAuth2 tokens.

    Examples:
        >>> from fiscus_dsl import Connector, UserAuth
        >>> crm = Connector("CRM", "https://crm.example.com", auth=UserAuth(
        ...     header="X-API-Key", prefix=None))
        >>> crm.auth
        UserAuth(header='X-API-Key')
    """

    __slots__ = ("header", "oauth2", "prefix", "query")

    def __init__(
        self,
        *,
        header: str = "Authorization",
        prefix: str | None = "Bearer",
        query: str | None = None,
        oauth2: OAuth2AuthorizationCode | None = None,
    ) -> None:
        given: object = header  # annotated str; callers may pass anything
        if not isinstance(given, str) or not header:
            msg = f"UserAuth(header=...) takes a header name, got {header!r}"
            raise ConfigurationError(msg, option="header")
        named: object = query
        if named is not None and (not isinstance(named, str) or not named):
            msg = f"UserAuth(query=...) takes a parameter name, got {query!r}"
            raise ConfigurationError(msg, option="query")
        self.header = header
        self.prefix = prefix
        self.query = query
        self.oauth2 = oauth2

    def __repr__(self) -> str:
        if self.oauth2 is not None:
            return "UserAuth(oauth2=...)"
        if self.query is not None:
            return f"UserAuth(query={self.query!r})"
        return f"UserAuth(header={self.header!r})"

    @property
    def header_names(self) -> frozenset[str]:
        """Return the headers that carry a credential (stripped off the origin)."""
        return frozenset({self.header.lower(), "authorization"})

    @property
    def query_names(self) -> frozenset[str]:
        """Return the query parameters that carry a credential."""
        return frozenset() if self.query is None else frozenset({self.query})

    def for_origin(
        self, base_url: str | httpx.URL, *, connector: str = ""
    ) -> httpx.Auth:
        """Return the auth flow that sends users' credentials to ``base_url`` only."""
        origin = base_origin(base_url, owner="UserAuth")
        return _UserAuthFlow(self, origin, connector)

    def credential_of(self, credential: StoredCredential) -> Credential:
        """Return where ``credential`` goes: ("header" or "query", name, value)."""
        if credential.kind == "oauth2":
            token = credential.access_token
            assert token is not None  # an oauth2 credential has its token
            return ("header", "Authorization", f"Bearer {token.reveal()}")
        key = credential.api_key
        assert key is not None  # an api_key credential has its key
        if self.query is not None:
            return ("query", self.query, key.reveal())
        value = key.reveal() if self.prefix is None else f"{self.prefix} {key.reveal()}"
        return ("header", self.header, value)

    def apply(self, request: httpx.Request, credential: StoredCredential) -> None:
        """Put ``credential`` on ``request``, where this auth sends it."""
        where, name, value = self.credential_of(credential)
        if where == "query":
            request.url = request.url.copy_set_param(name, value)
        else:
            request.headers[name] = value


@final
class _UserAuthFlow(PerRequestAuth):
    """The per-request flow: the current user's credential, on the origin only.

    Operations on the direct route ask ``request_credential`` and
    ``refreshed_credential`` (the origin is checked by the operation);
    requests through httpx's client run ``async_auth_flow``.
    """

    def __init__(self, auth: UserAuth, origin: Origin, connector: str) -> None:
        self._auth = auth
        self._origin = origin
        self._connector = connector

    async def request_credential(self) -> tuple[Credential, object]:
        """Return the current user's credential, refreshed if it expired."""
        user = current_end_user()
        if user is None:
            _no_user(self._connector)
        stored = await credential_for(user, self._connector, self._auth)
        return self._auth.credential_of(stored), stored

    async def refreshed_credential(
        self, sent: object
    ) -> tuple[Credential, object] | None:
        """Return a fresh credential after a 401 to ``sent``, or ``None``."""
        user = current_end_user()
        if user is None or not isinstance(sent, StoredCredential):
            return None
        if sent.kind != "oauth2":
            return None
        fresh = await refreshed_after_401(user, self._connector, self._auth, sent)
        return None if fresh is None else (self._auth.credential_of(fresh), fresh)

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        msg = (
            f"Connector {self._connector!r} sends end users' credentials from "
            "async code only; send with its async client"
        )
        raise AuthenticationError(msg, connector=self._connector, user_id=None)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        check_origin(request, self._origin, self._connector)
        user = current_end_user()
        if user is None:
            _no_user(self._connector)
        credential = await credential_for(user, self._connector, self._auth)
        self._auth.apply(request, credential)
        response = yield request
        if response.status_code != 401 or credential.kind != "oauth2":
            return
        fresh = await refreshed_after_401(user, self._connector, self._auth, credential)
        if fresh is None:
            return
        await response.aclose()
        self._auth.apply(request, fresh)
        yield request


def _no_user(connector: str) -> NoReturn:
    msg = (
        f"Connector {connector!r} sends each end user's own credentials, and "
        "this run acts for no user; nothing was sent. Run it for one: "
        "wf.run(..., user=user), client.execute(..., user=user) or "
        "`with acting_for(user):`"
    )
    raise AuthenticationError(msg, connector=connector, user_id=None)
