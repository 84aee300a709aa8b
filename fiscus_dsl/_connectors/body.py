"""Bodies within a connector's limits: ``max_request_bytes`` and ``max_response_bytes``.

``check_request_body`` refuses a request whose ``Content-Length`` is over
``max_request_bytes`` before anything is sent; a streamed body of unknown
length is counted as it goes out and stopped at the limit.

``BodyLimit`` counts the bytes of a response body as they arrive and stops
the read with ``BodyTooLarge`` once they pass the limit. A gzip or deflate
body is decoded here, a chunk at a time with zlib's ``max_length``, so a
compression bomb is stopped after at most the limit's worth of output,
never expanded whole first; the response then carries no
``Content-Encoding`` and httpx passes the decoded bytes through. A body in
an encoding zlib cannot read (``br``, ``zstd``: the connector does not ask
for them) is counted as it arrives and left to httpx. This module imports
httpx and the standard library only.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Final, Protocol, final

import httpx

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

#: The default ``max_response_bytes`` of a connector: 64 MiB, decoded.
DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024

#: The default ``max_request_bytes`` of a connector: 16 MiB.
DEFAULT_MAX_REQUEST_BYTES: Final = 16 * 1024 * 1024

#: What a connector asks for: the encodings ``BodyLimit`` can decode within bounds.
ACCEPT_ENCODING: Final = "gzip, deflate"

_GZIP: Final = frozenset({"gzip", "x-gzip"})
_DEFLATE: Final = "deflate"
_IDENTITY: Final = "identity"


@final
class BodyTooLarge(httpx.RequestError):
    """A response body went past the connector's ``max_response_bytes``.

    A ``RequestError``, so httpx attaches the request and a hand-written
    task's ``except httpx.HTTPError`` still sees it; the connector turns it
    into ``ResponseTooLargeError``.
    """

    def __init__(self, limit: int, *, declared: int | None = None) -> None:
        self.limit = limit
        self.declared = declared
        super().__init__(f"the body is over {limit} bytes")


@final
class RequestTooLarge(httpx.RequestError):
    """A request body over the connector's ``max_request_bytes``.

    ``size`` is its length when known before sending (then nothing was
    sent), ``None`` for a streamed body stopped at the limit.
    """

    def __init__(self, limit: int, *, size: int | None) -> None:
        self.limit = limit
        self.size = size
        super().__init__(f"the request body is over {limit} bytes")


def check_request_body(request: httpx.Request, limit: int | None) -> None:
    """Refuse ``request`` if its body is over ``limit``; count it if streamed.

    Raises:
        RequestTooLarge: Its ``Content-Length`` is over the limit.
    """
    if limit is None:
        return
    declared = request.headers.get("Content-Length")
    if declared is not None and declared.isdigit():
        if int(declared) > limit:
            error = RequestTooLarge(limit, size=int(declared))
            error.request = request
            raise error
        return
    if isinstance(request.stream, httpx.AsyncByteStream) and not isinstance(
        request.stream, httpx.ByteStream
    ):
        request.stream = _CountedStream(request.stream, limit)


@final
class _CountedStream(httpx.AsyncByteStream):
    """A streamed request body of unknown length, stopped past the limit."""

    def __init__(self, inner: httpx.AsyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sent = 0
        async for chunk in self._inner:
            sent += len(chunk)
            if sent > self._limit:
                raise RequestTooLarge(self._limit, size=None)
            yield chunk

    async def aclose(self) -> None:
        """Close the body's source."""
        await self._inner.aclose()


class _Stage(Protocol):
    def decode(self, data: bytes, room: int) -> bytes: ...


@final
class _Inflate:
    """One zlib stage (gzip, or deflate with or without its zlib header)."""

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        wbits = zlib.MAX_WBITS | 16 if encoding in _GZIP else zlib.MAX_WBITS
        self._decoder = zlib.decompressobj(wbits)
        self._started = False

    def decode(self, data: bytes, room: int) -> bytes:
        """Decode ``data`` into at most ``room + 1`` bytes (one more shows overflow)."""
        try:
            return self._decoder.decompress(data, room + 1)
        except zlib.error as exc:
            if self._started or self._encoding in _GZIP:
                raise _decoding_error(self._encoding, exc) from exc
            # Deflate without the zlib header, as some servers send it (httpx
            # tries the same).
            self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
            self._started = True
            return self.decode(data, room)
        finally:
            self._started = True


def _decoding_error(encoding: str, error: zlib.error) -> httpx.DecodingError:
    return httpx.DecodingError(f"the {encoding} body does not decode: {error}")


@final
class BodyLimit:
    """Count (and, for gzip and deflate, decode) one response body under a limit.

    Args:
        limit: The most decoded bytes the body may have.
        encodings: The ``Content-Encoding`` values, in the order applied.
        declared: The ``Content-Length``, if given.
    """

    def __init__(
        self, limit: int, *, encodings: Sequence[str] = (), declared: int | None
    ) -> None:
        self.limit = limit
        self._declared = declared
        self._stages: list[_Stage] = [
            _Inflate(encoding) for encoding in reversed(encodings)
        ]
        self._totals = [0] * (len(self._stages) + 1)

    def check_declared(self) -> None:
        """Refuse a body whose ``Content-Length`` is over the limit, unread."""
        if self._declared is not None and self._declared > self.limit:
            raise BodyTooLarge(self.limit, declared=self._declared)

    def feed(self, chunk: bytes) -> bytes:
        """Return the decoded bytes of ``chunk``; raise once the body is too large.

        zlib gives out all it can decode of its input at once (below the
        limit), so nothing is left to flush when the body ends.
        """
        data = self._count(0, chunk)
        for index, stage in enumerate(self._stages, start=1):
            if not data:  # a stage still reading a header: nothing for the next
                return b""
            data = self._count(index, stage.decode(data, self._room(index)))
        return data

    def _room(self, index: int) -> int:
        return self.limit - self._totals[index]

    def _count(self, index: int, data: bytes) -> bytes:
        self._totals[index] += len(data)
        if self._totals[index] > self.limit:
            raise BodyTooLarge(self.limit)
        return data


def body_limit(headers: httpx.Headers, limit: int | None) -> BodyLimit | None:
    """Return the ``BodyLimit`` of a response, taking over its decoding if it can.

    ``headers`` are the response's, changed in place as said below.
    When every ``Content-Encoding`` is gzip, deflate or identity, the limit
    decodes the body and the header goes (with ``Content-Length``, which no
    longer matches), so that httpx does not decode it a second time.
    """
    if limit is None:
        return None
    counted, decodes = limit_for(
        headers.get_list("content-encoding"), headers.get("content-length"), limit
    )
    if decodes:
        del headers["content-encoding"]
        headers.pop("content-length", None)
    return counted


def limit_for(
    content_encoding: Sequence[str], content_length: str | None, limit: int
) -> tuple[BodyLimit, bool]:
    """Return the ``BodyLimit`` of a body with these headers, and whether it decodes.

    It decodes when every encoding is gzip, deflate or identity and one is
    not identity; otherwise it counts the body as it arrives, encoded.
    """
    encodings = [
        value.strip().lower()
        for header in content_encoding
        for value in header.split(",")
        if value.strip() and value.strip().lower() != _IDENTITY
    ]
    length = content_length or ""
    declared = int(length) if length.isascii() and length.isdigit() else None
    if not all(item in _GZIP or item == _DEFLATE for item in encodings):
        return BodyLimit(limit, declared=declared), False
    return BodyLimit(limit, encodings=encodings, declared=declared), bool(encodings)
