"""httpx-aiohttp's transport with aiohttp's failures named as httpx names them.

httpx-aiohttp maps every ``aiohttp.ClientConnectionError`` it does not know
to ``httpx.ConnectTimeout``, so a server that drops the connection after
reading the request looks as if the request was never sent, and a POST
would be retried without an ``Idempotency-Key``. ``AiohttpTransport`` here
maps by aiohttp's own error types instead, on the request and on its body,
and turns off aiohttp's silent second send of an idempotent request. A
URL's userinfo, which httpx has turned into an ``Authorization`` header,
is taken off the URL, as aiohttp refuses both at once.

``send_whole`` is the operations' route: one request sent straight through
aiohttp's session and its body read whole, within the response limit,
without httpx-aiohttp's per-request wrapping (a timeout object, a body
stream and its exception mapping per chunk); the caller's deadline bounds
it. The same failures come out under the same httpx names.
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
from fiscus_dsl._connectors.wire import Answer

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
    """httpx-aiohttp's transport, its failures named by aiohttp's error types.

    aiohttp sends an idempotent request a second time, unseen, when a
    reused connection drops; here it does not: the task's ``Retry`` decides,
    and every attempt gets its span and counts.
    """

    def get_client(self) -> aiohttp.ClientSession:
        """Return the aiohttp session, without aiohttp's own silent resend."""
        session = super().get_client()
        # No public switch exists; it is a plain attribute read per request.
        session._retry_connection = False  # noqa: SLF001
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through aiohttp's pool."""
        url = request.url
        if url.userinfo:
            # httpx made the userinfo an Authorization header already, and
            # aiohttp refuses a request that carries both.
            request.url = url.copy_with(username=None, password=None)
        try:
            response = await super().handle_async_request(request)
        except httpx.TransportError as exc:
            error = renamed(exc)
            if error is exc:
                raise
            raise error from exc.__cause__
        except ValueError as exc:  # aiohttp refuses a header or URL it cannot send
            raise httpx.LocalProtocolError(str(exc)) from exc
        finally:
            request.url = url
        response.stream = _RenamingStream(response.stream)  # type: ignore[arg-type]  # an async byte stream
        return response

    async def send_whole(self, out: Outgoing, *, limit: int | None) -> Answer:
        """Send ``out`` through aiohttp's pool and read its body whole.

        The body is counted (and gzip or deflate decoded) within ``limit``
        as it arrives.

        Raises:
            httpx.TransportError: The same subclass ``handle_async_request``
                raises for the same failure.
            BodyTooLarge: The body went past ``limit``.
        """
        session = self.client
        if not isinstance(session, aiohttp.ClientSession):
            session = self.client = self.get_client()
        try:
            answer = await session.request(
                out.method,
                URL(out.url, encoded=True),
                headers=out.headers,
                data=out.body,
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
        except Exception as exc:
            error = _httpx_error(exc)
            if error is not None:
                raise error from exc
            if isinstance(exc, ValueError):  # a header or URL aiohttp refuses
                raise httpx.LocalProtocolError(str(exc)) from exc
            raise
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
class _RenamingStream(httpx.AsyncByteStream):
    """A response body whose read failures carry the right httpx name."""

    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except httpx.TransportError as exc:
            error = renamed(exc)
            if error is exc:
                raise
            raise error from exc.__cause__

    async def aclose(self) -> None:
        """Close the body (and hand its connection back to the pool)."""
        await self._inner.aclose()
