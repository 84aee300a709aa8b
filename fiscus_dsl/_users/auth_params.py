"""Auth params: what ``authenticate_connector`` is given, turned into a credential.

An API key (``{"api_key": ...}``), tokens the application obtained itself
(``{"access_token": ..., "refresh_token": ..., "expires_in": ...}``), or an
OAuth2 authorization code, exchanged at the connector's token endpoint
with the PKCE verifier of the authorization it completes (by ``state``, or
given as ``code_verifier``). Fiscus's ``client_id``, ``client_secret`` and
``redirect_uri`` keys: the first two come from the connector's
``OAuth2AuthorizationCode`` here, and are ignored if given.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from fiscus_dsl._connectors.auth import Secret
from fiscus_dsl._users.credentials import StoredCredential
from fiscus_dsl._users.user_auth import UserAuth
from fiscus_dsl.errors import ConfigurationError

if TYPE_CHECKING:
    from fiscus_dsl._users.user import FiscusUser


def find_user_auth(user: FiscusUser, name: str) -> UserAuth:
    """Return the ``UserAuth`` of the user's connector ``name``.

    Raises:
        ConfigurationError: No such connector, or one without ``UserAuth``.
    """
    connector = user.known_connector(name)
    if connector is None:
        msg = (
            f"User {user.user_id!r}: no connector {name!r} is known; give it to "
            "the FiscusClient (connectors=[...]) or to FiscusUser(connectors=[...])"
        )
        raise ConfigurationError(msg, option="connector")
    auth = connector.auth
    if not isinstance(auth, UserAuth):
        msg = (
            f"Connector {name!r} does not take end users' credentials; declare it "
            "with auth=UserAuth(...) to authenticate it per user"
        )
        raise ConfigurationError(msg, option="auth")
    return auth


async def authenticate(
    user: FiscusUser, name: str, auth_params: Mapping[str, object]
) -> StoredCredential:
    """Return the credential ``auth_params`` give (exchanging an OAuth2 code)."""
    given: object = auth_params  # annotated; callers may pass anything
    if not isinstance(given, Mapping):
        msg = (
            f"authenticate_connector({name!r}, ...) takes a dict of auth params, "
            f"got {type(auth_params).__name__}"
        )
        raise ConfigurationError(msg, option="auth_params")
    if "api_key" in auth_params:
        key = _secret(auth_params["api_key"], name, "api_key")
        return StoredCredential(kind="api_key", api_key=key)
    if "access_token" in auth_params:
        return _tokens(auth_params, name)
    if "code" in auth_params:
        return await _exchange(user, name, auth_params)
    msg = (
        f"authenticate_connector({name!r}, ...) needs 'api_key', an OAuth2 'code' "
        f"(with 'state' or 'code_verifier'), or 'access_token'; got keys "
        f"{sorted(str(key) for key in auth_params)}"
    )
    raise ConfigurationError(msg, option="auth_params")


def _tokens(params: Mapping[str, object], name: str) -> StoredCredential:
    expires_in = params.get("expires_in")
    expires_at = None
    if expires_in is not None:
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool):
            msg = f"authenticate_connector({name!r}): 'expires_in' must be seconds"
            raise ConfigurationError(msg, option="expires_in")
        expires_at = time.time() + float(expires_in)
    refresh = params.get("refresh_token")
    scope = params.get("scope")
    return StoredCredential(
        kind="oauth2",
        access_token=_secret(params["access_token"], name, "access_token"),
        refresh_token=None
        if refresh is None
        else _secret(refresh, name, "refresh_token"),
        expires_at=expires_at,
        scope=scope if isinstance(scope, str) else None,
    )


async def _exchange(
    user: FiscusUser, name: str, params: Mapping[str, object]
) -> StoredCredential:
    auth = find_user_auth(user, name)
    if auth.oauth2 is None:
        msg = f"Connector {name!r} takes an API key; it has no OAuth2 flow for a code"
        raise ConfigurationError(msg, option="code")
    verifier: object = params.get("code_verifier")
    redirect_uri = params.get("redirect_uri")
    state = params.get("state")
    if verifier is None and isinstance(state, str):
        started = user.pending_authorization(state)
        if started is not None:
            verifier = started.code_verifier
    if verifier is None:
        msg = (
            f"authenticate_connector({name!r}, ...) got a code without its PKCE "
            "verifier: pass the 'state' the redirect brought (after "
            "user.start_authorization) or the 'code_verifier'"
        )
        raise ConfigurationError(msg, option="code_verifier")
    code = params["code"]
    if not isinstance(code, str) or not code:
        msg = f"authenticate_connector({name!r}): 'code' must be the code text"
        raise ConfigurationError(msg, option="code")
    return await auth.oauth2.exchange(
        code,
        code_verifier=verifier,  # type: ignore[arg-type]  # a Secret or text
        redirect_uri=redirect_uri if isinstance(redirect_uri, str) else None,
    )


def _secret(value: object, name: str, key: str) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, str) and value:
        return Secret(value)
    msg = (
        f"authenticate_connector({name!r}): {key!r} must be non-empty text or a Secret"
    )
    raise ConfigurationError(msg, option=key)
