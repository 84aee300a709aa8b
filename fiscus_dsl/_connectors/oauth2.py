"""``OAuth2ClientCredentials``: fetch, cache and refresh a client-credentials token.

The token request (RFC 6749 §4.4) is yielded from the ``httpx.Auth`` flow,
so it goes through the connector's own client and transport (respx mocks
it like any other call). One token is cached per credentials object until
shortly before it expires; concurrent requests share one fetch, and a 401
answer causes one refresh and one resend. This module may import httpx; it
imports no runtime module and no opentelemetry.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, NoReturn, final
from urllib.parse import quote_plus
from weakref import WeakKeyDictionary

import httpx

from fiscus_dsl._connectors.auth import Secret, as_secret
from fiscus_dsl._connectors.origins import Origin, base_origin, check_origin
from fiscus_dsl._connectors.scrub import (
    register_basic_credentials,
    scrub_excerpt,
    scrub_url,
)
from fiscus_dsl.errors import (
    ConfigurationError,
    ConnectorError,
    FiscusErrorCode,
    OptionTypeError,
    SecretPicklingError,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Generator, Sequence
    from typing import SupportsIndex

DEFAULT_EXPIRES_IN: Final = 3600.0
"""Seconds a token lives when the token endpoint does not say (``expires_in``)."""


def absolute_url(url: str, *, owner: str, option: str) -> httpx.URL:
    """Return ``url`` parsed, if absolute: an OAuth2 endpoint an auth asks.

    Raises:
        ConfigurationError: The URL has no scheme or host.
    """
    parsed = httpx.URL(url)
    if not parsed.scheme or not parsed.host:
        msg = (
            f"{owner} needs an absolute {option}, got {scrub_url(parsed)!r}; "
            "pass one such as 'https://auth.example.com/token'"
        )
        raise ConfigurationError(msg, option=option)
    return parsed


def check_client(*, owner: str, client_id: str, scopes: Sequence[str]) -> None:
    """Check an OAuth2 client's id and scopes.

    Raises:
        ConfigurationError: The client id is empty.
        OptionTypeError: The scopes are one str, not a list of them.
    """
    if not client_id:
        msg = (
            f"{owner} needs a client_id, got an empty str; pass the client id "
            "your provider issued"
        )
        raise ConfigurationError(msg, option="client_id")
    if isinstance(scopes, str):
        msg = (
            f"{owner}(scopes={scopes!r}) takes a list of scopes, not a str; "
            f"pass scopes={scopes.split()!r}"
        )
        raise OptionTypeError(msg, option="scopes")


@final
class OAuth2ClientCredentials:
    """Authenticate with an OAuth2 client-credentials token (RFC 6749 §4.4).

    The first request fetches a token with a POST to ``token_url``
    (``grant_type=client_credentials``, ``scope`` when scopes are given,
    the client id and secret in HTTP Basic auth as RFC 6749 §2.3.1 says, or
    in the form body with ``client_auth="body"``) and sends it as
    ``Authorization: Bearer <token>``. The token is cached until
    ``expires_in - expiry_margin`` seconds later (``expires_in`` defaults
    to an hour), and concurrent requests share one fetch. A 401 answer
    causes one fresh token and one resend; a second 401 is returned as it
    is. Every token is registered as a secret, so it is scrubbed
    everywhere, and so are the client secret and the base64 of the Basic
    credentials, should the token endpoint or an API echo them. Use it
    with an ``httpx.AsyncClient`` only.

    ``token_url`` may use any scheme; use ``https`` everywhere but a local
    test server, since the client secret travels with every token request.

    Args:
        token_url: The token endpoint, an absolute URL.
        client_id: The client identifier.
        client_secret: The client secret; a str becomes a ``Secret``.
        scopes: The scopes to ask for; none by default.
        clock: Seconds from a monotonic clock; tests pass a fake one.
        expiry_margin: Refresh this many seconds before the token expires.
        client_auth: How the client authenticates to the token endpoint:
            ``"basic"`` (HTTP Basic auth, the default) or ``"body"``
            (``client_id`` and ``client_secret`` in the form body, for
            providers that ask for ``client_secret_post``).

    Raises:
        ConfigurationError: If ``token_url`` is not absolute, ``client_id`` is empty,
            ``expiry_margin`` is negative, or ``client_auth`` is neither
            ``"basic"`` nor ``"body"``.
        OptionTypeError: If ``scopes`` is a str rather than a list of scopes.

    Examples:
        >>> from fiscus_dsl import OAuth2ClientCredentials, Secret
        >>> url, secret = "https://auth.example.com/token", Secret("cs_example_1")
        >>> OAuth2ClientCredentials(url, "app", secret, ["read"])
        OAuth2ClientCredentials('https://auth.example.com/token', client_id='app', \
client_secret=Secret('**********'), scopes=('read',))
    """

    __slots__ = ("_cache", "_endpoint")

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: Secret | str,
        scopes: Sequence[str] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
        expiry_margin: float = 30.0,
        client_auth: Literal["basic", "body"] = "basic",
    ) -> None:
        url = absolute_url(
            token_url, owner="OAuth2ClientCredentials", option="token_url"
        )
        check_client(
            owner="OAuth2ClientCredentials", client_id=client_id, scopes=scopes
        )
        if expiry_margin < 0:
            msg = (
                f"OAuth2ClientCredentials(expiry_margin={expiry_margin!r}) is "
                "negative; pass the seconds to refresh before expiry, 0 or more"
            )
            raise ConfigurationError(msg, option="expiry_margin")
        if client_auth not in ("basic", "body"):
            msg = (
                f"OAuth2ClientCredentials(client_auth={client_auth!r}) is not a "
                "client authentication method; pass 'basic' (HTTP Basic, the "
                "default) or 'body' (client_secret_post)"
            )
            raise ConfigurationError(msg, option="client_auth")
        self._endpoint = _TokenEndpoint(
            url=url,
            client_id=client_id,
            client_secret=as_secret(
                client_secret, owner="OAuth2ClientCredentials(client_secret)"
            ),
            scopes=tuple(scopes),
            client_auth=client_auth,
        )
        if self._endpoint.client_secret.missing is None:  # deferred: when first sent
            self._endpoint.register()
        self._cache = _TokenCache(clock=clock, margin=expiry_margin)

    def __repr__(self) -> str:
        endpoint = self._endpoint
        auth = "" if endpoint.client_auth == "basic" else ", client_auth='body'"
        return (
            f"OAuth2ClientCredentials({scrub_url(endpoint.url)!r}, "
            f"client_id={endpoint.client_id!r}, "
            f"client_secret={endpoint.client_secret!r}, scopes={endpoint.scopes!r}"
            f"{auth})"
        )

    @property
    def token_url(self) -> httpx.URL:
        """Return the token endpoint, where the client credentials may go."""
        return self._endpoint.url

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        msg = (
            "OAuth2ClientCredentials cannot be pickled: it holds a Secret and its "
            "token; create it in each process, e.g. with Secret.from_env('NAME')"
        )
        raise SecretPicklingError(msg, owner="OAuth2ClientCredentials")

    def for_origin(
        self, base_url: str | httpx.URL, *, connector: str = ""
    ) -> httpx.Auth:
        """Return an ``httpx.Auth`` that sends the token to ``base_url``'s origin only.

        Every ``httpx.Auth`` it returns shares this object's cached token.

        Raises:
            ConfigurationError: If ``base_url`` is not absolute.
        """
        origin = base_origin(base_url, owner="OAuth2ClientCredentials")
        return _OAuth2Flow(
            origin, connector=connector, endpoint=self._endpoint, cache=self._cache
        )


@final
@dataclass(frozen=True, slots=True)
class _Token:
    """A cached access token and the clock reading after which it is stale."""

    secret: Secret
    refresh_at: float


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class _TokenEndpoint:
    """Build token requests and read token responses."""

    url: httpx.URL
    client_id: str
    client_secret: Secret
    scopes: tuple[str, ...]
    client_auth: Literal["basic", "body"] = "basic"

    def register(self) -> str:
        """Register the Basic token of the client credentials; return it."""
        # RFC 6749 §2.3.1: both are form-encoded before they go into Basic auth.
        return register_basic_credentials(
            quote_plus(self.client_id), quote_plus(self.client_secret.reveal())
        )

    def request(self) -> httpx.Request:
        form = {"grant_type": "client_credentials"}
        if self.scopes:
            form["scope"] = " ".join(self.scopes)
        headers = {"Accept": "application/json"}
        if self.client_auth == "body":
            form["client_id"] = self.client_id
            form["client_secret"] = self.client_secret.reveal()
        else:
            headers["Authorization"] = f"Basic {self.register()}"
        return httpx.Request("POST", self.url, data=form, headers=headers)

    def parse(self, response: httpx.Response, *, connector: str) -> tuple[str, float]:
        """Return the access token and its lifetime, or raise ``ConnectorError``."""
        try:
            return _token_fields(response)
        except ValueError as exc:
            where = f" for connector {connector!r}" if connector else ""
            url = scrub_url(self.url)
            msg = (
                f"Could not get an OAuth2 token{where} from {url}: {exc}; check "
                "the token URL, the client id, the client secret and the scopes"
            )
            status = response.status_code
            raise ConnectorError(
                msg,
                connector=connector,
                operation=None,
                method="POST",
                url=url,
                code=FiscusErrorCode.AUTH_FAILURE,
                retryable=status == 429 or status >= 500,
            ) from exc


def _token_fields(response: httpx.Response) -> tuple[str, float]:
    """Read ``access_token`` and ``expires_in``, or raise ValueError saying why not."""
    status = response.status_code
    if not response.is_success:
        msg = f"the token endpoint answered {status}: {scrub_excerpt(response.text)!r}"
        raise ValueError(msg)
    try:
        payload: object = response.json()
    except ValueError as exc:
        excerpt = scrub_excerpt(response.text)
        msg = (
            f"the token endpoint answered {status} with a body that is not JSON: "
            f"{excerpt!r}"
        )
        raise ValueError(msg) from exc
    if not isinstance(payload, dict):
        msg = f"the token endpoint answered {status} with JSON that is not an object"
        raise ValueError(msg)  # noqa: TRY004 (translated to ConnectorError by parse)
    token = payload.get("access_token")
    if not isinstance(token, str) or not token:
        msg = f"the token endpoint answered {status} without an 'access_token'"
        raise ValueError(msg)
    token_type = payload.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        shown = repr(token_type[:20]) if isinstance(token_type, str) else "missing"
        msg = f"its 'token_type' is {shown}, expected 'bearer'"
        raise ValueError(msg)
    return token, _expires_in(payload.get("expires_in"))


def _expires_in(value: object) -> float:
    if value is None:
        return DEFAULT_EXPIRES_IN
    seconds = math.nan
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except ValueError:
            seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        msg = "its 'expires_in' is not a number of seconds"
        raise ValueError(msg)
    return seconds


@final
class _TokenCache:
    """The token shared by every flow of one credentials object, and its locks."""

    def __init__(self, *, clock: Callable[[], float], margin: float) -> None:
        self._clock = clock
        self._margin = margin
        self._token: _Token | None = None
        # An asyncio.Lock belongs to one event loop, so each loop gets its own.
        self._locks: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            WeakKeyDictionary()
        )

    def current(self, stale: _Token | None = None) -> _Token | None:
        """Return the cached token unless it is missing, expiring or ``stale``."""
        token = self._token
        if token is None or token is stale or self._clock() >= token.refresh_at:
            return None
        return token

    def store(self, value: str, expires_in: float) -> _Token:
        token = _Token(Secret(value), self._clock() + expires_in - self._margin)
        self._token = token
        return token

    def lock(self) -> asyncio.Lock:
        return self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())


@final
class _OAuth2Flow(httpx.Auth):
    """Attach the cached token, fetching it when needed; resend once on 401."""

    def __init__(
        self,
        origin: Origin,
        *,
        connector: str,
        endpoint: _TokenEndpoint,
        cache: _TokenCache,
    ) -> None:
        self._origin = origin
        self._connector = connector
        self._endpoint = endpoint
        self._cache = cache

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        msg = (
            "OAuth2ClientCredentials works with httpx.AsyncClient only; "
            "send the request from an AsyncClient"
        )
        raise OptionTypeError(msg, option="auth")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        check_origin(request, self._origin, self._connector)
        await request.aread()  # so that the request can be sent again after a 401
        stale: _Token | None = None
        for _ in range(2):
            token = self._cache.current(stale)
            if token is None:
                async with self._cache.lock():
                    # Another request may have fetched one while this one waited.
                    token = self._cache.current(stale)
                    # The exit of "async with" on the else path is traced on the
                    # store() line in Python 3.11; the concurrency tests take it.
                    if token is None:  # pragma: no branch
                        response = yield self._endpoint.request()
                        await response.aread()
                        value, expires_in = self._endpoint.parse(
                            response, connector=self._connector
                        )
                        token = self._cache.store(value, expires_in)
            request.headers["Authorization"] = f"Bearer {token.secret.reveal()}"
            response = yield request
            if response.status_code != httpx.codes.UNAUTHORIZED:
                return
            stale = token
