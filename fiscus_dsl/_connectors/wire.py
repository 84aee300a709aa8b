"""What the direct route sends and gets back: plain records, not httpx objects.

An ``Outgoing`` holds the bytes of one operation's request as httpx would
have sent them (the method, the URL text, the headers, the JSON body); an
``Answer`` holds the status, the raw headers and the body read whole.
Making ``httpx.Request`` and ``httpx.Response`` objects for each of
thousands of concurrent requests cost more than aiohttp's own work, so the
route makes them only when something needs one: an error message, a 429's
``Retry-After``, a cookie to keep (``as_request``, ``as_response``).
Imports httpx and the standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, final

import httpx

if TYPE_CHECKING:
    from collections.abc import Mapping

#: The headers a decoded body no longer matches.
_ENCODING_HEADERS: Final = frozenset({b"content-encoding", b"content-length"})
_SET_COOKIE: Final = b"set-cookie"
_CONTENT_ENCODING: Final = b"content-encoding"
_NO_ENCODING: Final = frozenset({b"", b"identity"})
_HTTP_11: Final = b"HTTP/1.1"


def json_body(value: object) -> bytes:
    """Return ``value`` as JSON bytes, exactly as httpx encodes a ``json=`` body."""
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def written_headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    """Return headers as httpx writes them: names in their own case, in order."""
    encoding = headers.encoding
    return [
        (name.decode(encoding), value.decode(encoding)) for name, value in headers.raw
    ]


def merged_headers(
    headers: list[tuple[str, str]], added: Mapping[str, str]
) -> list[tuple[str, str]]:
    """Merge as ``httpx.Headers.update`` does: an added name replaces all of its own.

    Names compare without case; ``headers`` itself is returned when nothing
    is added.
    """
    if not added:
        return headers
    replaced = {name.lower() for name in added}
    merged = [(name, value) for name, value in headers if name.lower() not in replaced]
    merged.extend(added.items())
    return merged


@final
@dataclass(slots=True)
class Outgoing:
    """One request of the direct route, ready for the wire.

    ``headers`` are the client's defaults merged with the request's own as
    httpx merges them; aiohttp adds ``Host`` and ``Content-Length``.
    """

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes | None = None
    template: str = ""
    _request: httpx.Request | None = field(default=None, repr=False)

    def set_headers(self, values: Mapping[str, str]) -> None:
        """Set headers, each replacing those of its name, as ``httpx.Headers`` does."""
        self.headers = merged_headers(self.headers, values)
        self._request = None

    def as_request(self) -> httpx.Request:
        """Return the request as an ``httpx.Request`` (made once, on first use)."""
        if self._request is None:
            self._request = httpx.Request(
                self.method, self.url, headers=self.headers, content=self.body
            )
        return self._request


@final
@dataclass(slots=True)
class Answer:
    """A response of the direct route, its body read whole (decoded if ``decoded``)."""

    status: int
    reason: str
    raw_headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    decoded: bool = False

    @property
    def is_success(self) -> bool:
        """Tell whether the status is 2xx."""
        return 200 <= self.status < 300  # the 2xx class

    @property
    def encoded(self) -> bool:
        """Tell whether the body is still encoded (then httpx decodes it)."""
        return not self.decoded and any(
            token.strip() not in _NO_ENCODING
            for name, value in self.raw_headers
            if name.lower() == _CONTENT_ENCODING
            for token in value.lower().split(b",")
        )

    @property
    def sets_cookies(self) -> bool:
        """Tell whether the answer carries a ``Set-Cookie`` header."""
        return any(name.lower() == _SET_COOKIE for name, _ in self.raw_headers)

    def as_response(self, request: httpx.Request) -> httpx.Response:
        """Return the answer as an ``httpx.Response`` to ``request``, body in memory."""
        headers = self.raw_headers
        if self.decoded:
            headers = tuple(
                (name, value)
                for name, value in headers
                if name.lower() not in _ENCODING_HEADERS
            )
        extensions: dict[str, object] = {"http_version": _HTTP_11}
        if self.reason:
            extensions["reason_phrase"] = self.reason.encode()
        return httpx.Response(
            self.status,
            headers=headers,
            content=self.body,
            request=request,
            extensions=extensions,
        )
