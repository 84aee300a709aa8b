"""The direct route: an operation's request to aiohttp's pool, past httpx's client.

On the default transport and on ``transport="aiohttp"``, an operation
writes the request the connector's client would send as plain data
(``wire.Outgoing``: the URL as httpx writes it, the client's headers
merged as httpx merges them, the credential, the JSON body) and hands it
to the connector's ``InstrumentedTransport.send_whole``: the same slot,
deadline, CLIENT span, size limits and error names, and the answer's
cookies go to the client's jar. What it skips is the client's
per-request machinery (the auth flow and redirect loops, event hooks,
cookie merging, httpx's request and response objects and the body
streams between the layers), which cost more than aiohttp itself when
thousands of requests are in flight.

The route is taken only when the client would do nothing more: no cookies
in its jar, its auth and event hooks as the connector made them (an
``OriginBoundAuth``, applied here the same way; a ``PerRequestAuth``, an
end user's, whose credential the operation asks for each request and,
after a 401, once more; or none), and no mock
patching httpx or httpcore, nor the testing kit's override. The client's
request hooks do nothing for such a request: ``OriginGuard`` keeps
credentials on the connector's origin, and the operation has checked that
the URL is on it; the userinfo hook has no userinfo to register, as the
route is not made for a base URL that has some. Whenever one of these does
not hold, the operation goes through the client as before.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, final
from urllib.parse import urlencode

import httpx

from fiscus_dsl._connectors.origins import OriginBoundAuth, PerRequestAuth
from fiscus_dsl._connectors.scrub import scrub_url
from fiscus_dsl._connectors.wire import (
    Outgoing,
    json_body,
    merged_headers,
    written_headers,
)
from fiscus_dsl._runtime.logs import CONNECTOR_LOGGER

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fiscus_dsl._connectors.aio import AiohttpTransport
    from fiscus_dsl._connectors.http import InstrumentedTransport
    from fiscus_dsl._connectors.origins import Credential
    from fiscus_dsl._connectors.request import RequestParts
    from fiscus_dsl._connectors.wire import Answer

#: httpx refuses a longer URL; so does the route, with the same error.
MAX_URL_LENGTH: Final = 65_536
_JSON: Final = ("Content-Type", "application/json")


@final
class DirectRoute:
    """The direct route of one connector's client on one event loop.

    Args:
        client: The connector's client, whose headers, auth, cookies and
            hooks the route follows.
        transport: The client's ``InstrumentedTransport``.
        origin: The base URL's ``scheme://host[:port]`` as httpx writes it.
    """

    __slots__ = (
        "_auth",
        "_client",
        "_client_auth",
        "_hooks",
        "_origin",
        "_transport",
        "per_request",
    )

    def __init__(
        self, client: httpx.AsyncClient, transport: InstrumentedTransport, origin: str
    ) -> None:
        self._client = client
        self._transport = transport
        self._origin = origin
        auth = client.auth
        self._client_auth = auth
        self._auth = auth if isinstance(auth, OriginBoundAuth) else None
        #: An end user's auth: the operation asks it for each request's credential.
        self.per_request = auth if isinstance(auth, PerRequestAuth) else None
        self._hooks = {name: list(hooks) for name, hooks in client.event_hooks.items()}

    def sender(self) -> AiohttpTransport | None:
        """Return the transport to send through now, or ``None`` to use the client.

        Anything changed on the client since it was made (a cookie set by an
        answer, another auth, an added hook) sends the request through it.
        """
        client = self._client
        if (
            client.cookies
            or client.auth is not self._client_auth
            or client.event_hooks != self._hooks
        ):
            return None
        return self._transport.direct()

    def prepare(
        self,
        parts: RequestParts,
        headers: Mapping[str, str],
        credential: Credential | None = None,
    ) -> Outgoing:
        """Return the request ``client.build_request`` would make, credential attached.

        The URL's path and query are written as httpx writes them. The
        credential is the connector's static one, or ``credential`` (an end
        user's, from ``per_request``).

        Raises:
            httpx.InvalidURL: The query made the URL too long.
        """
        params = parts.params
        added: dict[str, str] = dict(headers)
        if credential is None and self._auth is not None:
            credential = self._auth.credential()
        if credential is not None:
            where, name, value = credential
            if where == "query":
                params = _set_param(params, name, value)
            else:
                added[name] = value
        url = self._origin + parts.path
        if params:
            url = f"{url}?{urlencode(_grouped(params))}"
        if len(url) > MAX_URL_LENGTH:
            msg = "URL too long"
            raise httpx.InvalidURL(msg)
        headers_out = merged_headers(written_headers(self._client.headers), added)
        body = None
        if parts.has_body:
            body = json_body(parts.json)
            # httpx's default for a JSON body, unless a header names another
            if all(name.lower() != "content-type" for name, _ in headers_out):
                headers_out.append(_JSON)
        return Outgoing(parts.method, url, headers_out, body, parts.template)

    @property
    def transport(self) -> InstrumentedTransport:
        """Return the client's transport, whose ``send_whole`` sends on this route."""
        return self._transport

    def received(self, out: Outgoing, answer: Answer) -> None:
        """Keep the answer's cookies in the client's jar, as the client does; log it."""
        if answer.sets_cookies:
            self._client.cookies.extract_cookies(answer.as_response(out.as_request()))
        if CONNECTOR_LOGGER.isEnabledFor(logging.DEBUG):
            CONNECTOR_LOGGER.debug(
                'HTTP Request: %s %s "HTTP/1.1 %d %s"',
                out.method,
                scrub_url(out.url),
                answer.status,
                answer.reason,
            )


def direct_route(
    client: httpx.AsyncClient, transport: InstrumentedTransport, base_url: httpx.URL
) -> DirectRoute | None:
    """Return the direct route of a connector's new client, if it can have one.

    None when the transport has no aiohttp pool made by the connector, when
    the base URL carries userinfo (the client turns it into Basic auth), a
    query or a fragment, and for an auth that is neither a static credential
    nor a per-request one (an OAuth2 client-credentials flow asks its token
    endpoint through the client). The
    environment's proxy variables change nothing: httpx reads them only
    for a client without a transport of its own, and aiohttp's session
    does not read them.
    """
    if not transport.has_direct or base_url.userinfo or base_url.query:
        return None
    if base_url.fragment:
        return None
    auth = client.auth
    if auth is not None and not isinstance(auth, OriginBoundAuth | PerRequestAuth):
        return None
    origin = str(base_url.copy_with(raw_path=b""))
    return DirectRoute(client, transport, origin)


def _grouped(params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Order query pairs as ``httpx.QueryParams`` does: a name's values together.

    Names keep the order of their first value.
    """
    names = {name for name, _ in params}
    if len(names) == len(params):
        return params
    values: dict[str, list[str]] = {}
    for name, value in params:
        values.setdefault(name, []).append(value)
    return [(name, value) for name, found in values.items() for value in found]


def _set_param(
    params: list[tuple[str, str]], name: str, value: str
) -> list[tuple[str, str]]:
    """Set one query parameter as ``httpx.URL.copy_set_param`` does."""
    if all(key != name for key, _ in params):
        return [*params, (name, value)]
    at = next(index for index, (key, _) in enumerate(params) if key == name)
    kept = [(key, item) for key, item in params if key != name]
    kept.insert(at, (name, value))
    return kept
