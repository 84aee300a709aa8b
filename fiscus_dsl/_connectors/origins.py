"""Origins: where a connector's credentials may go, checked at every hop.

An ``Origin`` is a scheme, host and port. ``OriginBoundAuth`` attaches a
credential only to requests for its connector's origin and refuses any
other with ``UnsafeURLError`` before anything is sent; ``PerRequestAuth``
is the base of auth that finds its credential per request (an end user's).
``OriginGuard`` applies the same check to every hop httpx sends,
redirects included, and strips each credential from a hop that leaves the
origin. This module may import httpx; it imports no runtime module and no
opentelemetry.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, final

import httpx

from fiscus_dsl._connectors.scrub import scrub_text, scrub_url
from fiscus_dsl.errors import ConfigurationError, UnsafeURLError

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# Headers that carry credentials whatever their value (RFC 9110, RFC 6265).
_CREDENTIAL_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "cookie"}
)
# Header names that look like credentials: X-API-Key, X-Auth-Token, X-Session-Id.
_CREDENTIAL_NAME: Final = re.compile(
    r"auth|key|token|secret|session|cookie|signature|passw|credential", re.IGNORECASE
)
# Not credentials, though their names look so: they stay on every hop.
_PLAIN_HEADERS: Final = frozenset({"idempotency-key"})


@final
@dataclass(frozen=True, slots=True)
class Origin:
    """Scheme, host and port of a URL, the port defaulted by the scheme."""

    scheme: str
    host: str
    port: int | None

    @classmethod
    def of(cls, url: httpx.URL) -> Origin:
        scheme = url.scheme.lower()
        return cls(scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(scheme))

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port is None else f":{self.port}"
        return f"{self.scheme}://{host}{port}"


def base_origin(base_url: str | httpx.URL, *, owner: str) -> Origin:
    """Return the origin of a connector's base URL, which must be absolute."""
    url = httpx.URL(base_url)
    if not url.scheme or not url.host:
        msg = (
            f"{owner}.for_origin() needs an absolute base URL, got "
            f"{scrub_url(url)!r}; pass one such as 'https://api.example.com/v1'"
        )
        raise ConfigurationError(msg, option="base_url")
    return Origin.of(url)


def check_origin(request: httpx.Request, origin: Origin, connector: str) -> None:
    """Raise ``UnsafeURLError`` unless the request goes to ``origin``."""
    actual = Origin.of(request.url)
    if actual == origin:
        return
    url = scrub_url(request.url)
    owner = f"connector {connector!r}" if connector else "the connector"
    msg = (
        f"Refused to send the credentials of {owner} to {url}: its origin "
        f"{actual} is not the connector's origin {origin}; send requests under "
        "the connector's base_url only, or give the other API its own connector"
    )
    raise UnsafeURLError(
        msg, connector=connector, operation=None, method=request.method, url=url
    )


#: Where a static credential goes: ("header" or "query", its name, its value).
Credential = tuple[Literal["header", "query"], str, str]


class PerRequestAuth(httpx.Auth, ABC):
    """An auth whose credential is found for each request (an end user's).

    Besides its httpx flow, it gives the credential to an operation that
    sends past httpx's client (the direct route): ``request_credential``
    returns it with a token of what was sent, and, after the API answered
    401, ``refreshed_credential`` returns a fresh one to send once more (or
    ``None``: the answer stands).
    """

    @abstractmethod
    async def request_credential(self) -> tuple[Credential, object]:
        """Return the credential for the request about to go, and its token."""

    @abstractmethod
    async def refreshed_credential(
        self, sent: object
    ) -> tuple[Credential, object] | None:
        """Return a credential to send again after a 401, or ``None``."""


@final
class OriginBoundAuth(httpx.Auth):
    """Apply a static credential to requests for one origin, refuse the others."""

    def __init__(
        self,
        origin: Origin,
        *,
        connector: str,
        credential: Callable[[], Credential],
    ) -> None:
        self._origin = origin
        self._connector = connector
        self.credential = credential

    def apply(self, request: httpx.Request) -> None:
        """Refuse ``request`` unless it goes to the origin; attach the credential."""
        check_origin(request, self._origin, self._connector)
        where, name, value = self.credential()
        if where == "query":
            request.url = request.url.copy_set_param(name, value)
        else:
            request.headers[name] = value

    def auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        self.apply(request)
        yield request


@final
class OriginGuard:
    """Strip every credential from a request that leaves the connector's origin.

    An httpx ``request`` event hook: the client calls it for every request
    it sends, after the auth flow and for each redirect hop, which the auth
    flow never sees. A request for another origin (scheme, host or port)
    loses the ``Authorization``, ``Proxy-Authorization`` and ``Cookie``
    headers, every header whose name looks like a credential (``X-API-Key``)
    or whose value holds a registered secret, every query value that holds
    one (or carries an ``ApiKeyAuth(query=...)`` name), and the URL's
    userinfo. Query values the redirect chose itself, such as a presigned
    URL's signature, stay: they are the new origin's, not the connector's.

    Args:
        base_url: The connector's base URL, whose origin keeps credentials.
        auth: The connector's auth, whose header or query name is stripped too.
    """

    def __init__(
        self, base_url: httpx.URL, *, auth: object | None, connector: str = ""
    ) -> None:
        self.origin = Origin.of(base_url)
        self._connector = connector
        self._header_names, self._query_names = _credential_names(auth)
        token_url = getattr(auth, "token_url", None)  # OAuth2ClientCredentials
        self._token_url = token_url if isinstance(token_url, httpx.URL) else None

    async def __call__(self, request: httpx.Request) -> None:
        """Leave a request for the origin alone; strip the credentials of another."""
        if Origin.of(request.url) == self.origin or self._is_token_request(request):
            return
        self._refuse_secret_body(request)
        self.strip(request)

    def _is_token_request(self, request: httpx.Request) -> bool:
        """Tell whether OAuth2 asks its token endpoint, where its secret belongs."""
        token_url = self._token_url
        return (
            token_url is not None
            and request.method == "POST"
            and Origin.of(request.url) == Origin.of(token_url)
            and request.url.path == token_url.path
        )

    def _refuse_secret_body(self, request: httpx.Request) -> None:
        """Refuse a hop whose body holds a credential: a body cannot be stripped."""
        if not isinstance(request.stream, httpx.ByteStream):
            return  # streamed from a file or a generator: not built from a credential
        body = b"".join(request.stream)  # in memory already; a redirect resends it
        if body and _holds_secret(body.decode("utf-8", "replace")):
            url = scrub_url(request.url)
            owner = (
                f"connector {self._connector!r}" if self._connector else "a connector"
            )
            msg = (
                f"Refused to send a body holding a credential of {owner} to {url}, "
                f"outside the connector's origin {self.origin} (a redirect with "
                "307 or 308 resends the body); nothing was sent there. Send the "
                "request to the final URL, without the credential"
            )
            raise UnsafeURLError(
                msg,
                connector=self._connector,
                operation=None,
                method=request.method,
                url=url,
            )

    def strip(self, request: httpx.Request) -> None:
        """Remove every credential from ``request``'s headers, query and userinfo."""
        for name in {name.lower() for name in request.headers}:
            if name in _PLAIN_HEADERS:
                continue
            if (
                name in _CREDENTIAL_HEADERS
                or name in self._header_names
                or _CREDENTIAL_NAME.search(name)
                or any(_holds_secret(v) for v in request.headers.get_list(name))
            ):
                del request.headers[name]
        url = request.url
        items = url.params.multi_items()
        kept = [
            (name, value)
            for name, value in items
            if name not in self._query_names and not _holds_secret(value)
        ]
        if len(kept) != len(items):
            url = url.copy_with(params=kept)
        if url.userinfo:
            url = url.copy_with(userinfo=b"")
        request.url = url


def _holds_secret(value: str) -> bool:
    return scrub_text(value) != value


def _credential_names(auth: object | None) -> tuple[frozenset[str], frozenset[str]]:
    """Return the header and query names that carry ``auth``'s credential.

    An auth that puts its credential under a name of its choosing says so
    (``ApiKeyAuth``, ``UserAuth``: ``header_names`` and ``query_names``).
    """
    headers: frozenset[str] = getattr(auth, "header_names", frozenset())
    queries: frozenset[str] = getattr(auth, "query_names", frozenset())
    return frozenset(headers), frozenset(queries)
