"""End users' credentials: ``StoredCredential``, ``CredentialStore``, the memory store.

A ``StoredCredential`` is one end user's API key or OAuth2 tokens for one
connector, its secrets held as ``Secret`` (never shown); a
``CredentialStore`` keeps them per (user id, connector name), with a
version that every write bumps, so that two processes refreshing the same
token agree on one winner (``replace`` is a compare-and-swap).
``MemoryCredentialStore`` is the default, for one process. The stores in
files and databases, encrypted at rest, are in ``credential_sql``. This
module imports connectors (for ``Secret``) and errors, and nothing that
is an extra.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Final, Literal, Protocol, final, runtime_checkable

from fiscus_dsl._connectors.auth import Secret
from fiscus_dsl.errors import ConfigurationError

_KINDS: Final = ("api_key", "oauth2")
# Which secret field each kind must hold, and the fields it must not.
_NEEDS: Final = {"api_key": "api_key", "oauth2": "access_token"}
_FORBIDS: Final = {
    "api_key": ("access_token", "refresh_token"),
    "oauth2": ("api_key",),
}
SECRET_FIELDS: Final = ("api_key", "access_token", "refresh_token")
"""The fields of a ``StoredCredential`` that hold a ``Secret``."""


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCredential:
    """One end user's credential for one connector: an API key or OAuth2 tokens.

    Every secret is a ``Secret``, so the credential's ``repr`` never shows
    one. ``version`` is set by the store: it bumps on every ``put`` and
    ``replace``, and a credential not yet stored has version 0.

    Args:
        kind: ``"api_key"`` (then ``api_key`` is set) or ``"oauth2"`` (then
            ``access_token`` is set, and ``refresh_token`` may be).
        api_key: The API key of an ``api_key`` credential.
        access_token: The access token of an ``oauth2`` credential.
        refresh_token: The refresh token, if the server gave one.
        expires_at: The unix time (``time.time()``) the access token
            expires, or ``None`` if it does not say.
        scope: The scopes granted, space-separated, as the server sent them.
        token_type: The token type, ``"Bearer"`` unless the server says.
        version: The version in the store; set by the store.

    Raises:
        ConfigurationError: ``kind`` is neither, a secret is not a
            ``Secret``, the secret the kind needs is missing, or one of the
            other kind is given.

    Examples:
        >>> from fiscus_dsl import StoredCredential
        >>> from fiscus_dsl import Secret
        >>> key = StoredCredential(kind="api_key", api_key=Secret("sk_live_42"))
        >>> key
        StoredCredential(kind='api_key', api_key=Secret('**********'), ...)
        >>> token = StoredCredential(
        ...     kind="oauth2", access_token=Secret("at_42"), expires_at=1000.0
        ... )
        >>> token.expired(now=980.0), token.expired(now=960.0)
        (True, False)
    """

    kind: Literal["api_key", "oauth2"]
    api_key: Secret | None = None
    access_token: Secret | None = None
    refresh_token: Secret | None = None
    expires_at: float | None = None
    scope: str | None = None
    token_type: str = "Bearer"
    version: int = 0

    def __post_init__(self) -> None:
        kind: object = self.kind
        if kind not in _KINDS:
            msg = (
                f"StoredCredential(kind={kind!r}) is not a credential kind; "
                "write kind='api_key' or kind='oauth2'"
            )
            raise ConfigurationError(msg, option="kind")
        for name in SECRET_FIELDS:
            _check_secret(self.kind, name, getattr(self, name))
        needed = _NEEDS[self.kind]
        if getattr(self, needed) is None:
            msg = (
                f"StoredCredential(kind={self.kind!r}) needs {needed}; pass "
                f"{needed}=Secret('...')"
            )
            raise ConfigurationError(msg, option=needed)
        for name in _FORBIDS[self.kind]:
            if getattr(self, name) is not None:
                msg = (
                    f"StoredCredential(kind={self.kind!r}) holds no {name}; "
                    f"leave it out, or store an {_other(self.kind)!r} credential"
                )
                raise ConfigurationError(msg, option=name)

    def expired(self, *, now: float, margin: float = 30.0) -> bool:
        """Return whether the access token expires within ``margin`` seconds of ``now``.

        A credential that says no expiry (an API key, a token without
        ``expires_at``) never expires.

        Args:
            now: The current unix time, ``time.time()``.
            margin: Seconds before the expiry that already count as expired,
                so a token is refreshed before a request could carry it late.
        """
        return self.expires_at is not None and now >= self.expires_at - margin


def _check_secret(kind: str, name: str, value: object) -> None:
    """Refuse a secret field that is not a ``Secret``: its repr would show it."""
    if value is None or isinstance(value, Secret):
        return
    msg = (
        f"StoredCredential(kind={kind!r}) needs {name} as a Secret, got "
        f"{type(value).__name__}; pass {name}=Secret('...')"
    )
    raise ConfigurationError(msg, option=name)


def _other(kind: str) -> str:
    return "oauth2" if kind == "api_key" else "api_key"


@runtime_checkable
class CredentialStore(Protocol):
    """Credentials per (user id, connector name), each with a version.

    The methods are sync; async callers use ``asyncio.to_thread``. Every
    write bumps the credential's version; ``replace`` writes only over the
    version the caller read, so that of two processes refreshing the same
    token, one stores its token and the other reads it.
    """

    def get(self, user_id: str, connector: str) -> StoredCredential | None:
        """Return the user's credential for the connector, or ``None``."""
        ...

    def put(
        self, user_id: str, connector: str, credential: StoredCredential
    ) -> StoredCredential:
        """Store a credential over any other; return it as stored, with its version."""
        ...

    def replace(
        self,
        user_id: str,
        connector: str,
        credential: StoredCredential,
        *,
        expected_version: int,
    ) -> StoredCredential | None:
        """Store a credential only if the stored version is still ``expected_version``.

        Version 0 means none is stored. Returns the credential as stored,
        or ``None`` when another writer changed it first (nothing written).
        """
        ...

    def delete(self, user_id: str, connector: str) -> bool:
        """Delete the user's credential for the connector; say whether there was one."""
        ...

    def connectors(self, user_id: str) -> list[str]:
        """Return the names of the connectors the user has credentials for, sorted."""
        ...


def check_names(user_id: object, connector: object) -> None:
    """Refuse a user id or connector name that is not a non-empty str.

    Raises:
        ConfigurationError: Naming the argument at fault.
    """
    for option, value in (("user_id", user_id), ("connector", connector)):
        if not isinstance(value, str) or not value:
            got = "an empty str" if isinstance(value, str) else type(value).__name__
            msg = (
                f"A credential store needs {option} as a non-empty str, got "
                f"{got}; pass the {option.replace('_', ' ')} the credential is for"
            )
            raise ConfigurationError(msg, option=option)


def check_version(expected_version: object) -> int:
    """Return ``expected_version`` if it is an int of at least 0.

    Raises:
        ConfigurationError: It is not.
    """
    if (
        isinstance(expected_version, int)
        and not isinstance(expected_version, bool)
        and expected_version >= 0
    ):
        return expected_version
    msg = (
        f"replace(expected_version={expected_version!r}) needs the version "
        "read with the credential (an int, 0 when none was stored); pass "
        "expected_version=credential.version"
    )
    raise ConfigurationError(msg, option="expected_version")


@final
class MemoryCredentialStore:
    """A ``CredentialStore`` in this process's memory: the default, thread-safe.

    It keeps each ``StoredCredential`` as given, its secrets as ``Secret``
    objects, without encryption: nothing is written anywhere, and
    everything is gone when the process ends. For credentials that outlive
    the process or are shared by processes, use ``SQLiteCredentialStore``
    or ``PostgresCredentialStore``, which encrypt them.

    Examples:
        >>> from fiscus_dsl import MemoryCredentialStore, Secret, StoredCredential
        >>> store = MemoryCredentialStore()
        >>> key = StoredCredential(kind="api_key", api_key=Secret("sk_live_42"))
        >>> store.put("user-1", "crm", key).version
        1
        >>> store.replace("user-1", "crm", key, expected_version=0) is None
        True
        >>> store.connectors("user-1")
        ['crm']
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credentials: dict[tuple[str, str], StoredCredential] = {}

    def get(self, user_id: str, connector: str) -> StoredCredential | None:
        """Return the user's credential for the connector, or ``None``."""
        check_names(user_id, connector)
        with self._lock:
            return self._credentials.get((user_id, connector))

    def put(
        self, user_id: str, connector: str, credential: StoredCredential
    ) -> StoredCredential:
        """Store a credential over any other; return it as stored, with its version."""
        check_names(user_id, connector)
        with self._lock:
            stored = self._credentials.get((user_id, connector))
            version = 0 if stored is None else stored.version
            return self._store(user_id, connector, credential, version + 1)

    def replace(
        self,
        user_id: str,
        connector: str,
        credential: StoredCredential,
        *,
        expected_version: int,
    ) -> StoredCredential | None:
        """Store a credential only if the stored version is still ``expected_version``.

        Version 0 means none is stored. Returns the credential as stored,
        or ``None`` when another writer changed it first (nothing written).
        """
        check_names(user_id, connector)
        expected = check_version(expected_version)
        with self._lock:
            stored = self._credentials.get((user_id, connector))
            if (0 if stored is None else stored.version) != expected:
                return None
            return self._store(user_id, connector, credential, expected + 1)

    def _store(
        self, user_id: str, connector: str, credential: StoredCredential, version: int
    ) -> StoredCredential:
        """Keep a credential at a version; the caller holds the lock."""
        stored = dataclasses.replace(credential, version=version)
        self._credentials[user_id, connector] = stored
        return stored

    def delete(self, user_id: str, connector: str) -> bool:
        """Delete the user's credential for the connector; say whether there was one."""
        check_names(user_id, connector)
        with self._lock:
            return self._credentials.pop((user_id, connector), None) is not None

    def connectors(self, user_id: str) -> list[str]:
        """Return the names of the connectors the user has credentials for, sorted."""
        check_names(user_id, "-")
        with self._lock:
            return sorted(name for user, name in self._credentials if user == user_id)

    def close(self) -> None:
        """Do nothing: a memory store holds no file or connection."""

    def __enter__(self) -> MemoryCredentialStore:
        """Return the store; ``with`` closes it at the end."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the store."""
        self.close()

    def __repr__(self) -> str:
        return "MemoryCredentialStore()"
