"""aiohttp's pool under httpx, sending the URL and headers httpx writes.

``AiohttpTransport`` keeps httpx-aiohttp's configuration (TLS context,
pool size, keep-alive) and sends each request itself, because
httpx-aiohttp's own send differs from httpx's in ways a connector cannot
accept:

- it hands aiohttp the URL as text to parse again, and yarl decodes
  ``%2E``, ``%2F`` and ``%3F`` and drops dot segments, so a path value
  ``..`` climbed a segment; here the URL goes as httpx encoded it;
- it maps every ``aiohttp.ClientConnectionError`` it does not know to
  ``httpx.ConnectTimeout``, so a server that drops the connection after
  reading the request looks as if it was never sent and a POST would be
  retried without an ``Idempotency-Key``; here aiohttp's own error types
  decide the httpx name (``renamed``), on the request and on its body;
- aiohttp's session keeps cookies of its own and resends an idempotent
  request unseen when a reused connection drops; here httpx's jar is the
  only one, and the task's ``Retry`` decides every attempt;
- aiohttp labels a POST without a body ``application/octet-stream``,
  which httpx never sends.

A URL's userinfo, which httpx has turned into an ``Authorization`` header,
is taken off the URL, as aiohttp refuses both at once.

``send_whole`` is the operations' route: one request sent straight through
aiohttp's session and its body read whole, within the response limit,
with no stream objects between; the caller's deadline bounds it. The same
failures come out under the same httpx names.
Imported only when a connector makes an aiohttp transport (aiohttp takes a
tenth of a second to import); imports nothing of the runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, final

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport as _HttpxAiohttpTransport
from httpx_aiohttp.transport import AIOHTTP_EXC_MAP
from yarl import URL

from fiscus_dsl._connectors.body import BodyTooLarge, RequestTooLarge, limit_for
from fiscus_dsl._connectors.wire import Answer, written_headers

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fiscus_dsl._connectors.wire import Outgoing

# The first match wins, so a subclass comes before its base.
_ERRORS: Final[tuple[tuple[type[BaseException], type[httpx.TransportError]], ...]] = (
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # no connection: not sent
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),  # no connection in time
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.ClientConnectionResetError, httpx.WriteError),
    (aiohttp.ClientOSError, httpx.ReadError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
)


# The caller's deadline bounds a whole send; aiohttp's session default (five
# minutes in all) must not cut a connector whose timeout is longer or None.
_NO_TIMEOUT: Final = aiohttp.ClientTimeout()
# aiohttp labels a request without a body application/octet-stream; httpx
# sends no Content-Type then.
_NO_AUTO_TYPE: Final = frozenset({"Content-Type"})
_HTTP_11: Final = b"HTTP/1.1"
_CHUNK: Final = 16 * 1024


def renamed(error: httpx.TransportError) -> httpx.RequestError:
    """Return the httpx error that names ``error``'s aiohttp cause, or ``error``.

    Our own ``RequestTooLarge``, raised by a streamed body aiohttp was
    sending, comes back as itself.
    """
    cut = _request_too_large(error)
    if cut is not None:
        return cut
    cause = error.__cause__
    for source, target in _ERRORS:
        if isinstance(cause, source):
            if isinstance(error, target) and type(error) is target:
                return error
            return target(str(cause) or type(cause).__name__)
    return error


@final
class AiohttpTransport(_HttpxAiohttpTransport):
    """aiohttp's pool under httpx; see the module's docstring for what differs."""

    def get_client(self) -> aiohttp.ClientSession:
        """Return a session on the configured pool, with no cookie jar or resend."""
        limit = self.limits.max_connections
        connector = aiohttp.TCPConnector(
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
            limit=0 if limit is None else limit,
        )
        session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar()
        )
        # No public switch exists; it is a plain attribute read per request.
        session._retry_connection = False  # noqa: SLF001
        return session

    def _session(self) -> aiohttp.ClientSession:
        session = self.client
        if not isinstance(session, aiohttp.ClientSession):
            session = self.client = self.get_client()
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through aiohttp's pool; its body streams as it comes."""
        url = request.url
        if url.userinfo:
            # httpx made the userinfo an Authorization header already, and
            # aiohttp refuses a request that carries both.
            url = url.copy_with(username=None, password=None)
        headers = written_headers(request.headers)
        data: bytes | httpx.AsyncByteStream | None
        try:
            data = request.content or None
        except httpx.RequestNotRead:  # a streamed body: aiohttp chunks it itself
            data = request.stream  # type: ignore[assignment]  # an async one here
            headers = [(n, v) for n, v in headers if n.lower() != "transfer-encoding"]
        timeout = request.extensions.get("timeout", {})
        try:
            answer = await self._session().request(
                request.method,
                URL(str(url), encoded=True),
                headers=headers,
                data=data,
                skip_auto_headers=_NO_AUTO_TYPE if data is None else None,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                    connect=timeout.get("pool"),
                ),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        except Exception as exc:  # aiohttp's failures renamed; the rest goes up as is
            failure = _failure(exc)
            if failure is exc:
                raise
            raise failure from exc
        extensions: dict[str, object] = {"http_version": _HTTP_11}
        if answer.reason:
            extensions["reason_phrase"] = answer.reason.encode()
        return httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            stream=_AnswerStream(answer),
            request=request,
            extensions=extensions,
        )

    async def send_whole(self, out: Outgoing, *, limit: int | None) -> Answer:
        """Send ``out`` through aiohttp's pool and read its body whole.

        The body is counted (and gzip or deflate decoded) within ``limit``
        as it arrives.

        Raises:
            httpx.TransportError: The same subclass ``handle_async_request``
                raises for the same failure.
            BodyTooLarge: The body went past ``limit``.
        """
        try:
            answer = await self._session().request(
                out.method,
                URL(out.url, encoded=True),
                headers=out.headers,
                data=out.body,
                skip_auto_headers=_NO_AUTO_TYPE if out.body is None else None,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=_NO_TIMEOUT,
            )
            try:
                body, decoded = await _read(answer, limit)
            except BaseException:
                answer.close()  # a body left unread: the connection goes
                raise
            answer.release()  # read whole: the connection goes back to the pool
        except Exception as exc:  # aiohttp's failures renamed; the rest goes up as is
            failure = _failure(exc)
            if failure is exc:
                raise
            raise failure from exc
        return Answer(
            answer.status, answer.reason or "", answer.raw_headers, body, decoded
        )


async def _read(
    answer: aiohttp.ClientResponse, limit: int | None
) -> tuple[bytes, bool]:
    """Read a body whole within ``limit``; tell whether it was decoded here.

    A body of a declared length within the limit and in no encoding is
    read as it is (aiohttp stops at the length); any other is counted, and
    decoded if gzip or deflate, as it arrives.

    Raises:
        BodyTooLarge: The body is, or says it is, over ``limit``.
    """
    if limit is None:
        return await answer.read(), False
    headers = answer.headers
    encodings = headers.getall("Content-Encoding", ())
    length = headers.get("Content-Length", "")
    if not encodings and length.isascii() and length.isdigit():
        if int(length) > limit:
            raise BodyTooLarge(limit, declared=int(length))
        return await answer.read(), False
    counted, decoded = limit_for(encodings, length, limit)
    counted.check_declared()
    chunks = [counted.feed(chunk) async for chunk in answer.content.iter_any()]
    return b"".join(chunks), decoded


def _failure(error: Exception) -> Exception:
    """Return what to raise for an error of a send: its httpx name, or itself.

    A header or URL aiohttp refuses (a ``ValueError``) is an
    ``httpx.LocalProtocolError``: nothing was sent.
    """
    named = _httpx_error(error)
    if named is not None:
        return named
    if isinstance(error, ValueError):
        return httpx.LocalProtocolError(str(error))
    return error


def _httpx_error(error: Exception) -> httpx.RequestError | None:
    """Return the httpx error ``handle_async_request`` raises for an aiohttp one.

    httpx-aiohttp's mapping, then ``renamed``'s: the same name for the same
    failure on both ways to the pool. ``None`` for an error not of aiohttp.
    """
    mapped: type[httpx.TransportError] | None = None
    for source, target in AIOHTTP_EXC_MAP.items():
        if isinstance(error, source) and (mapped is None or issubclass(target, mapped)):
            mapped = target
    if mapped is None:
        return None
    named = mapped(str(error))
    named.__cause__ = error
    return renamed(named)


def _request_too_large(error: BaseException) -> RequestTooLarge | None:
    """Return the ``RequestTooLarge`` aiohttp wrapped in ``error``'s chain, if any."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, RequestTooLarge):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


@final
class _AnswerStream(httpx.AsyncByteStream):
    """An aiohttp response's body as httpx reads it, failures named as httpx's."""

    def __init__(self, answer: aiohttp.ClientResponse) -> None:
        self._answer = answer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._answer.content.iter_chunked(_CHUNK):
                yield chunk
        except Exception as exc:  # aiohttp's failures renamed; the rest goes up as is
            named = _httpx_error(exc)
            if named is None:
                raise
            raise named from exc

    async def aclose(self) -> None:
        """Close the body and hand its connection back to the pool (if read whole)."""
        self._answer.release()
        await self._answer.wait_for_close()
