"""What the SQL credential stores share: keys, sealing, the statements, the CAS.

``CredentialCipher`` turns the key or keys a store is given into a
``MultiFernet`` (the first key encrypts, all decrypt: key rotation) and
seals a ``StoredCredential`` into one Fernet token: the JSON of its fields,
secrets revealed only inside the encryption, with its user id and
connector, so a row copied under another user does not open.
``SealedStore`` holds the statements both databases run (``:name``
placeholders) and the methods of ``CredentialStore`` on top of them: ``put``
bumps the version in one upsert; ``replace`` is a compare-and-swap, one
``UPDATE ... WHERE version = ...`` (or, from version 0, an insert that an
existing row makes a no-op). ``cryptography`` is an extra, imported when a
cipher is made. Errors never show a key, a token or a credential. Knows no
HTTP and no database driver.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Self, TypeAlias, final

from fiscus_dsl._connectors.auth import Secret
from fiscus_dsl._connectors.scrub import register_secret
from fiscus_dsl._users.credentials import (
    SECRET_FIELDS,
    StoredCredential,
    check_names,
    check_version,
)
from fiscus_dsl.errors import ConfigurationError, CredentialStoreError

if TYPE_CHECKING:
    from collections.abc import Callable

    from cryptography.fernet import MultiFernet

CredentialKey: TypeAlias = str | bytes | Secret
"""One Fernet key: what ``Fernet.generate_key()`` returns, as bytes, str or Secret."""

CredentialKeys: TypeAlias = CredentialKey | Sequence[CredentialKey]
"""A key, or a list of keys: the first encrypts, every one decrypts."""

Rows: TypeAlias = tuple[int, list[tuple[Any, ...]]]  # rowcount, rows
_FORMAT: Final = 1  # the version of the sealed JSON's layout
# Both databases read these; PostgreSQL's placeholders are made by _pyformat.
_WHERE: Final = "WHERE user_id = :user AND connector = :connector"
_GET: Final = f"SELECT version, sealed FROM fiscus_credentials {_WHERE}"
_INSERT: Final = (
    "INSERT INTO fiscus_credentials (user_id, connector, version, updated_at, "
    "sealed) VALUES (:user, :connector, 1, :now, :sealed) "
    "ON CONFLICT (user_id, connector) DO "
)
_PUT: Final = (
    f"{_INSERT}UPDATE SET version = fiscus_credentials.version + 1, "
    "updated_at = excluded.updated_at, sealed = excluded.sealed RETURNING version"
)
_INSERT_NEW: Final = f"{_INSERT}NOTHING"
_REPLACE: Final = (
    "UPDATE fiscus_credentials SET version = version + 1, updated_at = :now, "
    f"sealed = :sealed {_WHERE} AND version = :expected"
)
_RESEAL: Final = (
    f"UPDATE fiscus_credentials SET sealed = :sealed {_WHERE} AND version = :expected"
)
_DELETE: Final = f"DELETE FROM fiscus_credentials {_WHERE}"
_CONNECTORS: Final = (
    "SELECT connector FROM fiscus_credentials WHERE user_id = :user ORDER BY connector"
)
_ALL: Final = "SELECT user_id, connector, version, sealed FROM fiscus_credentials"


@final
class CredentialCipher:
    """Seal a credential, with its user and connector, into one Fernet token."""

    def __init__(self, key: object, *, shown: str, where: str) -> None:
        self._shown = shown
        self._where = where
        try:
            from cryptography.fernet import Fernet, InvalidToken, MultiFernet
        except ModuleNotFoundError as exc:
            msg = (
                f"{shown} encrypts credentials with the 'cryptography' package, "
                "which is not installed; install fiscus_dsl's credentials extra "
                "with pip install 'fiscus_dsl[credentials]'"
            )
            raise ConfigurationError(msg, option="key") from exc
        keys = _keys(key, shown=shown, where=where)
        fernets = []
        for index, given in enumerate(keys):
            try:
                fernets.append(Fernet(given))
            except ValueError as exc:
                which = "The key" if len(keys) == 1 else f"Key {index} of the list"
                msg = (
                    f"{which} given to {shown} is not a Fernet key (32 url-safe "
                    "base64-encoded bytes); make one with "
                    "cryptography.fernet.Fernet.generate_key() and keep it with "
                    "the application's other secrets"
                )
                raise CredentialStoreError(msg, store=where) from exc
        self._fernet: MultiFernet = MultiFernet(fernets)
        self._invalid: type[Exception] = InvalidToken

    def seal(self, user_id: str, connector: str, credential: StoredCredential) -> bytes:
        """Return the credential, but its version, as one encrypted token."""
        fields: dict[str, object] = {
            "format": _FORMAT,
            "user_id": user_id,
            "connector": connector,
            "kind": credential.kind,
            "expires_at": credential.expires_at,
            "scope": credential.scope,
            "token_type": credential.token_type,
        }
        for name in SECRET_FIELDS:
            secret: Secret | None = getattr(credential, name)
            fields[name] = None if secret is None else secret.reveal()
        return self._fernet.encrypt(json.dumps(fields).encode("utf-8"))

    def open(
        self, user_id: str, connector: str, sealed: bytes, version: int
    ) -> StoredCredential:
        """Return the credential a token seals, at the version its row holds."""
        plain = self._decrypt(user_id, connector, lambda: self._fernet.decrypt(sealed))
        try:
            fields = json.loads(plain)
            if (fields["user_id"], fields["connector"]) == (user_id, connector):
                return StoredCredential(
                    kind=fields["kind"],
                    expires_at=fields["expires_at"],
                    scope=fields["scope"],
                    token_type=fields["token_type"],
                    version=version,
                    **{name: _secret(fields[name]) for name in SECRET_FIELDS},
                )
        except (ValueError, TypeError, KeyError):
            # Not from the cause: it may hold the decrypted text.
            raise self._unreadable(user_id, connector) from None
        raise self._unreadable(user_id, connector)

    def rotate(self, user_id: str, connector: str, sealed: bytes) -> bytes:
        """Return the token encrypted again with the first key."""
        return self._decrypt(user_id, connector, lambda: self._fernet.rotate(sealed))

    def _decrypt(
        self, user_id: str, connector: str, decrypt: Callable[[], bytes]
    ) -> bytes:
        try:
            plain: bytes = decrypt()
        except self._invalid as exc:
            msg = (
                f"Credential store {self._shown}: the key does not decrypt the "
                f"credentials stored for user {user_id!r} connector {connector!r}; "
                "pass the key they were stored with, or a list of keys with it last"
            )
            raise CredentialStoreError(msg, store=self._where) from exc
        return plain

    def _unreadable(self, user_id: str, connector: str) -> CredentialStoreError:
        msg = (
            f"Credential store {self._shown}: the credential stored for user "
            f"{user_id!r} connector {connector!r} was sealed for another user or "
            "connector, or by another program; store the user's credential again"
        )
        return CredentialStoreError(msg, store=self._where)


def _keys(key: object, *, shown: str, where: str) -> list[bytes]:
    """Return the keys given as bytes, the one that encrypts first."""
    given: list[object] = (
        list(key)
        if isinstance(key, Sequence) and not isinstance(key, str | bytes)
        else [key]
    )
    if key is None or not given:
        raise missing_key(shown, where)
    keys = []
    for index, item in enumerate(given):
        value = item.reveal() if isinstance(item, Secret) else item
        if isinstance(value, str):
            value = value.encode("utf-8")
        if not isinstance(value, bytes) or not value:
            got = "empty" if value == b"" else f"of type {type(item).__name__}"
            msg = (
                f"Key {index} given to {shown} is {got}, not a Fernet key; pass "
                "the bytes or str cryptography.fernet.Fernet.generate_key() "
                "made, or a Secret holding it"
            )
            raise CredentialStoreError(msg, store=where)
        register_secret(value.decode("utf-8", "replace"))
        keys.append(value)
    return keys


def missing_key(shown: str, where: str) -> CredentialStoreError:
    """Return the error of a store given no key: it encrypts what it stores."""
    msg = (
        f"{shown} needs key=: it encrypts every credential it stores; pass "
        "key=Secret.from_env('FISCUS_CREDENTIALS_KEY') holding a key made "
        "with cryptography.fernet.Fernet.generate_key(), or use 'memory:'"
    )
    return CredentialStoreError(msg, store=where)


def _secret(value: object) -> Secret | None:
    return None if value is None else Secret(value)  # type: ignore[arg-type]  # a str, or Secret refuses it (a ValueError)


class SealedStore(ABC):
    """What both stores share: sealing, the statements and the compare-and-swap.

    A store runs each statement through ``_execute``, in a transaction of
    its own, and gives the time of a write as its database takes it.
    """

    _cipher: CredentialCipher

    @abstractmethod
    def _execute(self, doing: str, statement: str, values: dict[str, object]) -> Rows:
        """Run one statement in a transaction of its own: (rowcount, rows)."""

    @abstractmethod
    def _now(self) -> object:
        """Return the time of a write as the database takes it."""

    @abstractmethod
    def close(self) -> None:
        """Close the store's connections."""

    def get(self, user_id: str, connector: str) -> StoredCredential | None:
        """Return the user's credential for the connector, or ``None``.

        Raises:
            CredentialStoreError: The key does not decrypt it, or the
                database fails.
        """
        check_names(user_id, connector)
        doing = f"read the credential of user {user_id!r} for connector {connector!r}"
        _, rows = self._execute(doing, _GET, {"user": user_id, "connector": connector})
        if not rows:
            return None
        ((version, sealed),) = rows
        return self._cipher.open(user_id, connector, bytes(sealed), int(version))

    def put(
        self, user_id: str, connector: str, credential: StoredCredential
    ) -> StoredCredential:
        """Store a credential over any other; return it as stored, with its version."""
        check_names(user_id, connector)
        doing = f"store the credential of user {user_id!r} for connector {connector!r}"
        values = self._values(user_id, connector, credential)
        _, rows = self._execute(doing, _PUT, values)
        return dataclasses.replace(credential, version=int(rows[0][0]))

    def replace(
        self,
        user_id: str,
        connector: str,
        credential: StoredCredential,
        *,
        expected_version: int,
    ) -> StoredCredential | None:
        """Store a credential only if the stored version is still ``expected_version``.

        Version 0 means none is stored. One statement checks and writes,
        so of several processes replacing the same version, one wins.

        Returns:
            The credential as stored, or ``None`` when another writer
            changed it first (nothing written).
        """
        check_names(user_id, connector)
        expected = check_version(expected_version)
        doing = (
            f"replace the credential of user {user_id!r} for connector {connector!r}"
        )
        values = self._values(user_id, connector, credential)
        statement = _REPLACE if expected else _INSERT_NEW
        count, _ = self._execute(doing, statement, {**values, "expected": expected})
        return dataclasses.replace(credential, version=expected + 1) if count else None

    def _values(
        self, user_id: str, connector: str, credential: StoredCredential
    ) -> dict[str, object]:
        sealed = self._cipher.seal(user_id, connector, credential)
        return {
            "user": user_id,
            "connector": connector,
            "now": self._now(),
            "sealed": sealed,
        }

    def delete(self, user_id: str, connector: str) -> bool:
        """Delete the user's credential for the connector; say whether there was one."""
        check_names(user_id, connector)
        doing = f"delete the credential of user {user_id!r} for connector {connector!r}"
        values: dict[str, object] = {"user": user_id, "connector": connector}
        count, _ = self._execute(doing, _DELETE, values)
        return count > 0

    def connectors(self, user_id: str) -> list[str]:
        """Return the names of the connectors the user has credentials for, sorted."""
        check_names(user_id, "-")
        doing = f"list the connectors of user {user_id!r}"
        _, rows = self._execute(doing, _CONNECTORS, {"user": user_id})
        return [str(name) for (name,) in rows]

    def rotate(self) -> int:
        """Encrypt every stored credential again with the first key.

        After a new key was put first in the list, this lets the old keys
        go: once it returns, the new key alone reads every credential.
        A credential written meanwhile is left as its writer sealed it.

        Returns:
            How many credentials were encrypted again.

        Raises:
            CredentialStoreError: No key given decrypts one of them.
        """
        _, rows = self._execute("read every credential", _ALL, {})
        count = 0
        for user_id, connector, version, sealed in rows:
            values = {
                "user": user_id,
                "connector": connector,
                "expected": version,
                "sealed": self._cipher.rotate(user_id, connector, bytes(sealed)),
            }
            doing = (
                f"encrypt again the credential of user {user_id!r} for {connector!r}"
            )
            changed, _ = self._execute(doing, _RESEAL, values)
            count += changed
        return count

    def __enter__(self) -> Self:
        """Return the store; ``with`` closes it at the end."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the store."""
        self.close()
