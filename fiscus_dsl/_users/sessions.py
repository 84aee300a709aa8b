"""Taking an end user's credential for a request: stored, supplied, or refreshed.

``credential_for`` reads the user's credential for a connector from their
store; with none, it asks the user's auth callback once and stores what it
gives; an OAuth2 access token that has expired is refreshed with the
refresh token first. A refresh happens once however many requests need
it: requests of the same user and connector on one event loop wait on one
lock, and the store's compare-and-swap (``replace``) keeps a refresh made
by another process instead of refreshing again. The new tokens are stored;
a refresh token the server refuses fails the request with
``AuthenticationError`` carrying the URL where the user authorizes again.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, NoReturn, final

from fiscus_dsl._runtime.hooks import call_hook
from fiscus_dsl._users.audit import AuditAction
from fiscus_dsl._users.credentials import MemoryCredentialStore
from fiscus_dsl.errors import AuthenticationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from fiscus_dsl._runtime.end_user import EndUser
    from fiscus_dsl._users.credentials import StoredCredential
    from fiscus_dsl._users.user import FiscusUser
    from fiscus_dsl._users.user_auth import UserAuth

# One lock per (user, connector) on each event loop: asyncio locks are per loop.
_LOCKS: Final[
    weakref.WeakKeyDictionary[
        asyncio.AbstractEventLoop, dict[tuple[str, str], _Refreshing]
    ]
] = weakref.WeakKeyDictionary()


# ---------------------------------------------------------------- during runs


async def credential_for(
    end_user: EndUser, connector: str, auth: UserAuth
) -> StoredCredential:
    """Return the credential to send for the user, refreshed if it has expired."""
    user = _fiscus_user(end_user, connector)
    credential = await _read(user, connector)
    if credential is None and user.auth_callback is not None:
        params = await call_hook(user.auth_callback, connector)
        await user.aauthenticate_connector(connector, params)  # type: ignore[arg-type]
        credential = await _read(user, connector)
    if credential is None:
        _fail(user, connector, auth, "has not authenticated it")
    if credential.kind == "oauth2" and credential.expired(now=time.time()):
        if credential.refresh_token is None:
            _fail(
                user,
                connector,
                auth,
                "has an access token that expired, and no refresh token",
            )
        credential = await _refresh(user, connector, auth, credential)
    return credential


async def refreshed_after_401(
    end_user: EndUser, connector: str, auth: UserAuth, sent: StoredCredential
) -> StoredCredential | None:
    """Return a fresh credential after the API refused ``sent`` (``None``: none)."""
    if sent.refresh_token is None or auth.oauth2 is None:
        return None
    user = _fiscus_user(end_user, connector)
    return await _refresh(user, connector, auth, sent)


async def _refresh(
    user: FiscusUser, connector: str, auth: UserAuth, stale: StoredCredential
) -> StoredCredential:
    """Refresh once: wait for a refresh in progress, keep one made elsewhere."""
    key = (user.user_id, connector)
    locks = _LOCKS.setdefault(asyncio.get_running_loop(), {})
    refreshing = locks.setdefault(key, _Refreshing())
    refreshing.waiting += 1
    try:
        async with refreshing.lock:
            return await _refresh_held(user, connector, auth, stale, refreshing)
    finally:
        refreshing.waiting -= 1
        if refreshing.waiting == 0:  # nobody waits: forget it (users come and go)
            locks.pop(key, None)


async def _refresh_held(
    user: FiscusUser,
    connector: str,
    auth: UserAuth,
    stale: StoredCredential,
    refreshing: _Refreshing,
) -> StoredCredential:
    current = await _read(user, connector)
    if current is None:
        _fail(user, connector, auth, "has not authenticated it")
    if current.version != stale.version and not current.expired(now=time.time()):
        return current  # refreshed meanwhile, here or by another process
    if refreshing.refused == current.version:  # refused for a request before
        _fail(user, connector, auth, "has a refresh token the server refused")
    assert auth.oauth2 is not None  # only oauth2 credentials are refreshed
    try:
        fresh = await auth.oauth2.refresh(
            current, connector=connector, user_id=user.user_id
        )
    except AuthenticationError as exc:
        refreshing.refused = current.version
        user.audit(
            AuditAction.TOKEN_REFRESH_FAILED,
            connector=connector,
            detail=f"refresh refused: {exc}",
        )
        _fail(user, connector, auth, "has a refresh token the server refused")
    stored: StoredCredential | None = await _call(
        user,
        user.credentials.replace,
        user.user_id,
        connector,
        fresh,
        expected_version=current.version,
    )
    user.audit(AuditAction.TOKEN_REFRESHED, connector=connector, detail="refreshed")
    if stored is None:  # another process stored its refresh first
        stored = await _read(user, connector)
    assert stored is not None  # a refresh was stored, ours or another's
    return stored


@final
@dataclass(slots=True)
class _Refreshing:
    """The refresh of one user's connector on one loop, while requests need it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0
    #: The credential version whose refresh the server refused: the requests
    #: waiting behind that refresh fail at once rather than ask again.
    refused: int | None = None


async def _read(user: FiscusUser, connector: str) -> StoredCredential | None:
    found: StoredCredential | None = await _call(
        user, user.credentials.get, user.user_id, connector
    )
    return found


async def _call(
    user: FiscusUser, method: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    """Call a store method: in place for memory, in a thread for a database."""
    if isinstance(user.credentials, MemoryCredentialStore):
        return method(*args, **kwargs)
    return await asyncio.to_thread(method, *args, **kwargs)


def _fiscus_user(end_user: EndUser, connector: str) -> FiscusUser:
    if not hasattr(end_user, "stored_credential"):
        msg = (
            f"Connector {connector!r} sends end users' credentials, and the run "
            f"acts for {type(end_user).__name__}, not a FiscusUser; run it with a "
            "FiscusUser"
        )
        raise AuthenticationError(msg, connector=connector, user_id=end_user.user_id)
    return end_user  # type: ignore[return-value]  # a FiscusUser, by its methods


def _fail(user: FiscusUser, connector: str, auth: UserAuth, problem: str) -> NoReturn:
    url = None
    if auth.oauth2 is not None:
        started = auth.oauth2.start()
        user.keep_authorization(started)
        url = started.url
    again = (
        "authorize it at the authorization_url of this error, then "
        "user.authenticate_connector(name, {'code': ..., 'state': ...})"
        if url is not None
        else f"user.authenticate_connector({connector!r}, {{'api_key': ...}})"
    )
    msg = (
        f"Connector {connector!r}: user {user.user_id!r} {problem}; nothing was "
        f"sent. Have the user {again}, or set an auth callback"
    )
    raise AuthenticationError(
        msg, connector=connector, user_id=user.user_id, authorization_url=url
    )
