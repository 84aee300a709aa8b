"""Credentials: ``Secret`` and the auth objects a connector attaches per request.

A ``Secret`` holds a credential that never prints, pickles or serializes;
``BearerAuth``, ``ApiKeyAuth`` and ``BasicAuth`` (and
``OAuth2ClientCredentials`` in ``oauth2.py``) take secrets and turn them,
through ``for_origin``, into an ``httpx.Auth`` that attaches the credential
only to requests for the connector's own origin (scheme, host and port)
and refuses every other request with ``UnsafeURLError`` before anything is
sent (``origins.py``, where ``OriginGuard`` checks every hop too). This
module may import httpx and pydantic; it imports no runtime module and no
opentelemetry.
"""

from __future__ import annotations

import hmac
import os
import re
from typing import TYPE_CHECKING, ClassVar, Final, NoReturn, Protocol, final

from pydantic_core import core_schema

from fiscus_dsl._connectors.origins import Credential, OriginBoundAuth, base_origin
from fiscus_dsl._connectors.scrub import (
    MASK,
    register_basic_credentials,
    register_secret,
)
from fiscus_dsl.errors import (
    ConfigurationError,
    MissingSecretError,
    SecretPicklingError,
)

if TYPE_CHECKING:
    from typing import SupportsIndex

    import httpx
    from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue

# RFC 9110 token characters: what a header name may be made of.
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# A query parameter name: anything printable but the characters that split a query.
_QUERY_NAME: Final = re.compile(r"[^\s&=#]+")


@final
class Secret:
    """A credential that never shows: not in repr, str, f-strings, pickles or JSON.

    Every ``Secret`` registers its value, so that it is masked in every
    message, span and record fiscus_dsl writes. Two secrets are equal when
    their values are (compared in constant time); a secret never equals a
    plain str.

    Args:
        value: The credential. It must be a non-empty str.

    Raises:
        ConfigurationError: If ``value`` is not a str, or is empty.

    Examples:
        >>> from fiscus_dsl import Secret
        >>> token = Secret("sk_example_4242")
        >>> token
        Secret('**********')
        >>> f"Bearer {token}"
        'Bearer **********'
        >>> token.reveal()
        'sk_example_4242'
    """

    __slots__ = ("_env", "_value")
    __fiscus_mask__: ClassVar[str] = MASK  # how to_jsonable writes a secret
    _value: str
    #: The environment variable a deferred secret reads at its first use.
    _env: str | None

    def __init__(self, value: str) -> None:
        given: object = value
        if not isinstance(given, str) or not given:
            got = "an empty str" if isinstance(given, str) else type(given).__name__
            msg = (
                f"Secret(...) needs the credential as a non-empty str, got {got}; "
                "pass Secret('...') or Secret.from_env('NAME')"
            )
            raise ConfigurationError(msg, option="value")
        object.__setattr__(self, "_value", given)
        object.__setattr__(self, "_env", None)
        register_secret(given)

    @classmethod
    def from_env(cls, name: str, *, defer: bool = False) -> Secret:
        """Read a secret from the environment variable ``name``.

        With ``defer=True`` the variable is read when the secret is first
        used (the first request that sends it), in the process that uses it:
        a module can be imported where the credential is not set (the
        process that runs a workflow on Dask workers, a dry-run plan, which
        then names it among its problems), and a missing variable fails the
        task that needed it.

        Raises:
            MissingSecretError: If the variable is unset or empty (with
                ``defer=True``: when the secret is first used).

        Examples:
            >>> import os
            >>> from fiscus_dsl import Secret
            >>> os.environ["EXAMPLE_CRM_TOKEN"] = "sk_example_env"
            >>> Secret.from_env("EXAMPLE_CRM_TOKEN")
            Secret('**********')
        """
        if defer:
            deferred = object.__new__(cls)
            object.__setattr__(deferred, "_value", "")
            object.__setattr__(deferred, "_env", name)
            return deferred
        value = os.environ.get(name, "")
        if not value:
            raise MissingSecretError(name)
        return cls(value)

    @property
    def missing(self) -> str | None:
        """Return the variable a deferred secret would read, if it is not set."""
        if self._value or self._env is None:
            return None
        return None if os.environ.get(self._env) else self._env

    def reveal(self) -> str:
        """Return the credential itself.

        This is the only way to read it. Call it only where the credential
        is sent (an auth flow, a request body), never to log or print it.
        """
        if not self._value and self._env is not None:  # deferred: read it now
            value = os.environ.get(self._env, "")
            if not value:
                raise MissingSecretError(self._env)
            object.__setattr__(self, "_value", value)
            register_secret(value)
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, format_spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(
            self.reveal().encode("utf-8"), other.reveal().encode("utf-8")
        )

    def __hash__(self) -> int:
        return hash((Secret, self.reveal()))

    def __setattr__(self, name: str, value: object) -> NoReturn:
        msg = "A Secret is immutable; create a new Secret(...) instead"
        raise AttributeError(msg)

    def __delattr__(self, name: str) -> NoReturn:
        msg = "A Secret is immutable; create a new Secret(...) instead"
        raise AttributeError(msg)

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        _refuse_pickle()

    def __reduce__(self) -> NoReturn:
        _refuse_pickle()

    def __getstate__(self) -> NoReturn:
        _refuse_pickle()

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: object, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Validate a ``Secret`` or a str into a ``Secret``; serialize it masked."""
        from_str = core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(min_length=1)
        )
        return core_schema.json_or_python_schema(
            json_schema=from_str,
            python_schema=core_schema.union_schema(
                [core_schema.is_instance_schema(cls), from_str]
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(
                _masked, when_used="json"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Describe a secret as a write-only password string, as ``SecretStr`` does."""
        json_schema = handler(schema)
        json_schema.update(format="password", writeOnly=True)
        return json_schema


def _masked(_: Secret) -> str:
    return MASK


def _refuse_pickle() -> NoReturn:
    msg = (
        "A Secret cannot be pickled; so that it never lands in a pickle, a log "
        "or a cache, create it where it is used, e.g. with Secret.from_env('NAME')"
    )
    raise SecretPicklingError(msg, owner="Secret")


def as_secret(value: Secret | str, *, owner: str) -> Secret:
    """Return ``value`` as a ``Secret``; ``owner`` names the argument in errors."""
    given: object = value
    if isinstance(given, Secret):
        return given
    if isinstance(given, str) and given:
        return Secret(given)
    got = "an empty str" if isinstance(given, str) else type(given).__name__
    msg = (
        f"{owner} needs a Secret or a non-empty str, got {got}; "
        "pass Secret.from_env('NAME') or Secret('...')"
    )
    raise ConfigurationError(msg, option=owner.partition("(")[2].rstrip(")") or owner)


class Auth(Protocol):
    """Credentials a connector attaches to its requests, bound to its origin."""

    def for_origin(
        self, base_url: str | httpx.URL, *, connector: str = ""
    ) -> httpx.Auth:
        """Return an ``httpx.Auth`` that sends the credentials to ``base_url`` only."""


# ---------------------------------------------------------------- static auth


@final
class BearerAuth:
    """Send ``Authorization: Bearer <token>`` to the connector's origin.

    Args:
        token: The bearer token; a str becomes a ``Secret``.

    Examples:
        >>> from fiscus_dsl import BearerAuth, Secret
        >>> BearerAuth(Secret("sk_example_bearer"))
        BearerAuth(Secret('**********'))
    """

    __slots__ = ("_token",)

    def __init__(self, token: Secret | str) -> None:
        self._token = as_secret(token, owner="BearerAuth(token)")

    def __repr__(self) -> str:
        return f"BearerAuth({self._token!r})"

    def for_origin(
        self, base_url: str | httpx.URL, *, connector: str = ""
    ) -> httpx.Auth:
        """Return an ``httpx.Auth`` that sends the token to ``base_url``'s origin only.

        Raises:
            ConfigurationError: If ``base_url`` is not absolute.
        """
        origin = base_origin(base_url, owner="BearerAuth")
        return OriginBoundAuth(origin, connector=connector, credential=self._credential)

    def _credential(self) -> Credential:
        return "header", "Authorization", f"Bearer {self._token.reveal()}"


@final
class ApiKeyAuth:
    """Send an API key in a header or a query parameter to the connector's origin.

    Args:
        key: The API key; a str becomes a ``Secret``.
        header: The header that carries the key, such as ``"X-API-Key"``.
        query: The query parameter that carries the key, such as ``"api_key"``.
            A URL that carries a key is scrubbed before any message or span
            shows it.

    Raises:
        ConfigurationError: Unless exactly one of ``header`` and ``query`` is given.

    Examples:
        >>> from fiscus_dsl import ApiKeyAuth, Secret
        >>> ApiKeyAuth(Secret("sk_example_apikey"), header="X-API-Key")
        ApiKeyAuth(Secret('**********'), header='X-API-Key')
    """

    __slots__ = ("_in_query", "_key", "_name")

    def __init__(
        self, key: Secret | str, *, header: str | None = None, query: str | None = None
    ) -> None:
        self._key = as_secret(key, owner="ApiKeyAuth(key)")
        if header is not None and query is None:
            name, self._in_query = header, False
        elif query is not None and header is None:
            name, self._in_query = query, True
        else:
            given = "both" if header is not None else "neither"
            msg = (
                f"ApiKeyAuth takes exactly one of header= and query=, got {given}; "
                "pass header='X-API-Key' or query='api_key', as the API documents"
            )
            raise ConfigurationError(msg, option="header")
        if not (_QUERY_NAME if self._in_query else _HEADER_NAME).fullmatch(name):
            where = "query" if self._in_query else "header"
            what = "query parameter" if self._in_query else "header"
            example = "api_key" if self._in_query else "X-API-Key"
            msg = (
                f"ApiKeyAuth({where}={name!r}) is not a valid {what} name; pass the "
                f"name the API documents, such as {where}={example!r}"
            )
            raise ConfigurationError(msg, option=where)
        self._name = name

    def __repr__(self) -> str:
        where = "query" if self._in_query else "header"
        return f"ApiKeyAuth({self._key!r}, {where}={self._name!r})"

    @property
    def name(self) -> str:
        """Return the header or query parameter that carries the key."""
        return self._name

    @property
    def in_query(self) -> bool:
        """Tell whether the key goes in the query (else in a header)."""
        return self._in_query

    @property
    def header_names(self) -> frozenset[str]:
        """Return the header that carries the key (stripped off the origin)."""
        return frozenset() if self._in_query else frozenset({self._name.lower()})

    @property
    def query_names(self) -> frozenset[str]:
        """Return the query parameter that carries the key."""
        return frozenset({self._name}) if self._in_query else frozenset()

    def for_origin(
        self, base_url: str | httpx.URL, *, connector: str = ""
    ) -> httpx.Auth:
        """Return an ``httpx.Auth`` that sends the key to ``base_url``'s origin only.

        Raises:
            ConfigurationError: If ``base_url`` is not absolute.
        """
        origin = base_origin(base_url, owner="ApiKeyAuth")
        return OriginBoundAuth(origin, connector=connector, credential=self._credential)

    def _credential(self) -> Credential:
        return "query" if self._in_query else "header", self._name, self._key.reveal()


@final
class BasicAuth:
    """Send HTTP Basic credentials (RFC 7617) to the connector's origin.

    Args:
        username: The user name; it is not secret, but may not hold ``:``.
        password: The password; a str becomes a ``Secret``.

    Examples:
        >>> from fiscus_dsl import BasicAuth, Secret
        >>> BasicAuth("alice", Secret("pw_example_basic"))
        BasicAuth('alice', Secret('**********'))
    """

    __slots__ = ("_password", "_username")

    def __init__(self, username: str, password: Secret | str) -> None:
        if ":" in username:
            msg = (
                f"BasicAuth(username={username!r}) may not contain ':' (RFC 7617); "
                "check that the user name and the password are not swapped"
            )
            raise ConfigurationError(msg, option="username")
        self._username = username
        self._password = as_secret(password, owner="BasicAuth(password)")
        # The header's base64 is as secret as the password: an API may echo it
        # (a deferred password registers it when it is first sent: _basic).
        if not _deferred(self._password):
            register_basic_credentials(username, self._password.reveal())

    def __repr__(self) -> str:
        return f"BasicAuth({self._username!r}, {self._password!r})"

    def for_origin(
        self, base_url: str | httpx.URL, *, connector: str = ""
    ) -> httpx.Auth:
        """Return an ``httpx.Auth`` that sends the credentials to ``base_url`` only.

        Raises:
            ConfigurationError: If ``base_url`` is not absolute.
        """
        origin = base_origin(base_url, owner="BasicAuth")
        return OriginBoundAuth(origin, connector=connector, credential=self._credential)

    def _credential(self) -> Credential:
        return (
            "header",
            "Authorization",
            _basic(self._username, self._password.reveal()),
        )


def _deferred(secret: Secret) -> bool:
    """Tell whether ``secret`` reads its variable only when first used."""
    return secret._env is not None and not secret._value  # noqa: SLF001  (Secret's own state)


def _basic(username: str, password: str) -> str:
    return f"Basic {register_basic_credentials(username, password)}"
