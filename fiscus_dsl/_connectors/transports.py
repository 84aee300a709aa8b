"""The transports under a connector's instrumentation, chosen by its option.

``transport=None`` (the default) is ``DefaultTransport``: aiohttp's
connection pool through httpx-aiohttp, which stays fast at thousands of
concurrent requests where one httpcore pool slows down with its own size
(encode/httpcore#1035), and httpcore whenever a mock patches it (respx's
default ``respx.mock``), so that a plain ``respx.mock`` still answers a
connector's requests. ``"httpx"`` is httpcore's pool, ``"aiohttp"`` the
httpx-aiohttp transport alone, and a transport instance is used as given.
Both of the first two hand operations their aiohttp transport for the
direct route (``direct``), unless a mock patches httpx or httpcore: the
route skips httpx's client, where such a mock answers.
Every transport made here shares one TLS context per process: loading the
CA bundle takes tens of milliseconds, and a connector makes a client per run.
Imports nothing of the runtime.
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Final, final

import httpcore
import httpx

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable

    from fiscus_dsl._connectors.aio import AiohttpTransport
    from fiscus_dsl._connectors.options import TransportOption

#: Connections a transport keeps when its connector sets no ``max_concurrency``
#: (aiohttp's own default), and so the requests it is handed at once.
DEFAULT_POOL: Final = 100

# Where httpcore's and httpx's own request methods live: a mock that patches
# them (respx's "httpcore" mocker, pytest-httpx) replaces these functions
# with its own, defined elsewhere.
_HTTPCORE_POOL: Final = "httpcore._async.connection_pool"
_HTTPX_TRANSPORT: Final = "httpx._transports.default"
# Where httpx's client picks a request's transport: respx's "httpx" mocker
# replaces it with its own.
_HTTPX_CLIENT: Final = "httpx._client"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Return the process's TLS context for verified HTTPS (certifi's CA bundle)."""
    return httpx.create_ssl_context()


def pool_size(max_concurrency: int | None) -> int:
    """Return how many connections a connector with ``max_concurrency`` keeps."""
    return max_concurrency or DEFAULT_POOL


def is_httpcore_mocked() -> bool:
    """Tell whether a mock has patched httpcore's pool or httpx's own transport."""
    pool = httpcore.AsyncConnectionPool.handle_async_request
    own = httpx.AsyncHTTPTransport.handle_async_request
    return (
        getattr(pool, "__module__", None) != _HTTPCORE_POOL
        or getattr(own, "__module__", None) != _HTTPX_TRANSPORT
    )


def is_httpx_mocked() -> bool:
    """Tell whether a mock has patched httpx's client, its transport or httpcore."""
    pick = httpx.AsyncClient._transport_for_url  # noqa: SLF001  # respx's "httpx" mocker patches it
    return getattr(pick, "__module__", None) != _HTTPX_CLIENT or is_httpcore_mocked()


@final
class DefaultTransport(httpx.AsyncBaseTransport):
    """Send through aiohttp, or through httpcore while a mock patches httpcore.

    The check runs per request, so a ``respx.mock`` entered after the
    connector's client was made (a decorator, a fixture, a ``with`` block)
    still answers; the httpcore pool is made on the first such request.
    """

    def __init__(self, connections: int) -> None:
        self._connections = connections
        self._aiohttp = aiohttp_transport(connections)
        self._httpcore: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the transport that fits the moment."""
        if not is_httpcore_mocked():
            return await self._aiohttp.handle_async_request(request)
        if self._httpcore is None:
            self._httpcore = httpcore_transport(self._connections)
        return await self._httpcore.handle_async_request(request)

    def direct(self) -> AiohttpTransport | None:
        """Return the aiohttp transport for the direct route, ``None`` while mocked."""
        return None if is_httpx_mocked() else self._aiohttp

    async def aclose(self) -> None:
        """Close both pools."""
        try:
            await self._aiohttp.aclose()
        finally:
            if self._httpcore is not None:
                await self._httpcore.aclose()


def aiohttp_transport(connections: int) -> AiohttpTransport:
    """Return the httpx-aiohttp transport with a pool of ``connections``.

    httpx-aiohttp is imported here: importing aiohttp takes a tenth of a
    second, which a program that never sends a request should not pay.
    """
    try:
        from fiscus_dsl._connectors.aio import AiohttpTransport
    except ImportError as exc:
        msg = (
            "A connector's aiohttp transport (the default) needs the httpx-aiohttp "
            "package, a dependency of fiscus_dsl; reinstall fiscus_dsl, or pass "
            "transport='httpx'"
        )
        raise ImportError(msg) from exc
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections
    )
    return AiohttpTransport(verify=tls_context(), limits=limits)


def httpcore_transport(connections: int | None) -> httpx.AsyncHTTPTransport:
    """Return httpx's own transport, one httpcore pool of ``connections``."""
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections
    )
    return httpx.AsyncHTTPTransport(verify=tls_context(), limits=limits)


def inner_transport(
    option: TransportOption, max_concurrency: int | None
) -> httpx.AsyncBaseTransport:
    """Return the transport a connector's ``transport=`` option names."""
    if isinstance(option, httpx.AsyncBaseTransport):
        return option
    if option == "httpx":
        return httpcore_transport(max_concurrency)
    if option == "aiohttp":
        return aiohttp_transport(pool_size(max_concurrency))
    return DefaultTransport(pool_size(max_concurrency))


def direct_sender(
    inner: httpx.AsyncBaseTransport,
) -> Callable[[], AiohttpTransport | None] | None:
    """Return how operations reach ``inner``'s aiohttp transport directly, if made here.

    ``None`` for httpcore's pool and for a transport the user passed.
    """
    if isinstance(inner, DefaultTransport):
        return inner.direct
    # The module is loaded if ``inner`` is its transport.
    aio = sys.modules.get("fiscus_dsl._connectors.aio")
    if aio is None or type(inner) is not aio.AiohttpTransport:
        return None
    made: AiohttpTransport = inner  # type: ignore[assignment]  # checked just above
    return functools.partial(_unless_mocked, made)


def _unless_mocked(transport: AiohttpTransport) -> AiohttpTransport | None:
    return None if is_httpx_mocked() else transport
