"""``BodyLimit``: counting and decoding a response body under a byte limit.

Unit tests of the decoder behind ``max_response_bytes``; the connector-level
behaviour against a live server is in integration/test_response_size.py.
"""

from __future__ import annotations

import zlib
from typing import Final

import httpx
import pytest

from fiscus_dsl._connectors.body import BodyLimit, BodyTooLarge, body_limit

TEXT: Final = b"fiscus " * 2000


def _encode(data: bytes, wbits: int) -> bytes:
    encoder = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return encoder.compress(data) + encoder.flush()


def _feed(limit: BodyLimit, data: bytes, size: int = 100) -> bytes:
    out = [
        limit.feed(data[start : start + size]) for start in range(0, len(data), size)
    ]
    return b"".join(out)


@pytest.mark.parametrize(
    ("encoding", "wbits"),
    [("gzip", 31), ("x-gzip", 31), ("deflate", 15), ("deflate", -15)],
    ids=["gzip", "x-gzip", "deflate", "raw-deflate"],
)
def test_a_body_decodes_whole_within_the_limit(encoding: str, wbits: int) -> None:
    limit = BodyLimit(len(TEXT), encodings=[encoding], declared=None)

    assert _feed(limit, _encode(TEXT, wbits)) == TEXT


def test_a_body_one_byte_over_the_limit_stops() -> None:
    limit = BodyLimit(len(TEXT) - 1, encodings=["gzip"], declared=None)

    with pytest.raises(BodyTooLarge, match=rf"^the body is over {len(TEXT) - 1} bytes"):
        _feed(limit, _encode(TEXT, 31))


@pytest.mark.parametrize("size", [1, 100])
def test_a_chain_of_encodings_decodes_in_reverse_order(size: int) -> None:
    body = _encode(_encode(TEXT, 15), 31)  # "Content-Encoding: deflate, gzip"
    limit = BodyLimit(len(TEXT), encodings=["deflate", "gzip"], declared=None)

    assert _feed(limit, body, size=size) == TEXT


def test_a_chain_stops_when_its_decoded_body_passes_the_limit() -> None:
    body = _encode(_encode(TEXT, 15), 31)
    limit = BodyLimit(1000, encodings=["deflate", "gzip"], declared=None)

    with pytest.raises(BodyTooLarge):
        _feed(limit, body, size=len(body))


def test_a_declared_length_over_the_limit_fails_before_reading() -> None:
    limit = BodyLimit(10, declared=11)

    with pytest.raises(BodyTooLarge) as info:
        limit.check_declared()

    assert (info.value.limit, info.value.declared) == (10, 11)


def test_a_body_that_does_not_decode_is_a_decoding_error() -> None:
    limit = BodyLimit(100, encodings=["gzip"], declared=None)

    with pytest.raises(httpx.DecodingError, match=r"^the gzip body does not decode"):
        limit.feed(b"not gzip at all")


def test_a_deflate_body_broken_after_its_start_is_a_decoding_error() -> None:
    body = _encode(TEXT, 15)
    limit = BodyLimit(len(TEXT), encodings=["deflate"], declared=None)
    limit.feed(body[:50])

    with pytest.raises(httpx.DecodingError, match=r"^the deflate body does not"):
        limit.feed(b"\xff" * 50)


def _response(headers: dict[str, str]) -> httpx.Response:
    return httpx.Response(200, headers=headers, stream=httpx.ByteStream(b""))


def test_body_limit_takes_over_gzip_and_drops_its_headers() -> None:
    response = _response({"Content-Encoding": "identity, GZIP", "Content-Length": "9"})

    limit = body_limit(response.headers, 100)

    assert limit is not None
    assert "content-encoding" not in response.headers
    assert "content-length" not in response.headers


def test_body_limit_leaves_an_encoding_zlib_cannot_read_to_httpx() -> None:
    response = _response({"Content-Encoding": "br", "Content-Length": "500"})

    limit = body_limit(response.headers, 100)

    assert limit is not None
    assert response.headers["content-encoding"] == "br"
    with pytest.raises(BodyTooLarge):  # still counted, encoded
        limit.check_declared()


def test_body_limit_of_no_limit_is_none() -> None:
    response = _response({"Content-Encoding": "gzip"})

    assert body_limit(response.headers, None) is None
    assert response.headers["content-encoding"] == "gzip"


def test_a_length_that_is_no_number_is_ignored() -> None:
    response = _response({"Content-Length": "lots"})

    limit = body_limit(response.headers, 10)

    assert limit is not None
    limit.check_declared()
