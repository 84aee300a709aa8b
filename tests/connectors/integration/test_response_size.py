"""``max_response_bytes`` against the live server: large bodies and compression bombs.

A body is counted as it arrives, decoded: a ``Content-Length`` over the
limit fails before the body is read, a body without one fails once it
passes the limit, and a gzip or deflate body is decoded under the limit a
chunk at a time, so a bomb that would decode to 256 MiB stops after the
limit and never sits in memory whole. The error is a
``ResponseTooLargeError`` (code 1004), never retried.
"""

from __future__ import annotations

import tracemalloc
from typing import TYPE_CHECKING, Final

import httpx  # noqa: TC002  (operations resolve their return annotations at run time)
import pytest

from fiscus_dsl import (
    ConfigurationError,
    Connector,
    FiscusErrorCode,
    OptionTypeError,
    ResponseTooLargeError,
    Retry,
)

if TYPE_CHECKING:
    from .conftest import LiveServer

pytestmark = pytest.mark.usefixtures("runner")

MIB: Final = 1 << 20
BOMB: Final = 256 * MIB  # decoded; about 250 KB on the wire
RETRY: Final = Retry(attempts=3, backoff=0.0)


def _loopback(live_server: LiveServer, **options: object) -> Connector:
    return Connector(
        "loopback",
        live_server.url,
        retry=RETRY,
        **options,  # type: ignore[arg-type]  # max_response_bytes, headers
    )


def _operations(connector: Connector) -> tuple[object, object]:
    @connector.operation("GET /big/{key}")
    def big(key: str, size: int, chunked: int = 0) -> str:
        """Fetch a JSON string of ``size`` bytes."""
        raise NotImplementedError

    @connector.operation("GET /encoded/{key}")
    def encoded(key: str, size: int, encoding: str = "gzip") -> str:
        """Fetch an encoded JSON string of ``size`` bytes (decoded)."""
        raise NotImplementedError

    return big, encoded


@pytest.mark.parametrize("chunked", [0, 1], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_a_response_too_large_error(
    live_server: LiveServer, key: str, chunked: int
) -> None:
    big, _ = _operations(_loopback(live_server, max_response_bytes=MIB))

    with pytest.raises(
        ResponseTooLargeError,
        match=r"^Response body over max_response_bytes=1048576 in operation 'big' "
        r"of connector 'loopback' \(GET http://127\.0\.0\.1:\d+/big/\w+\?size="
        r"2097152&chunked=[01]\); raise the connector's max_response_bytes",
    ) as info:
        big(key=key, size=2 * MIB, chunked=chunked)  # type: ignore[operator]  # a Task

    error = info.value
    assert error.limit == MIB
    assert error.code is FiscusErrorCode.INTERNAL_ERROR
    assert error.retryable is False
    assert len(live_server.state.requests(key)) == 1  # not retried


def test_a_body_at_the_limit_passes(live_server: LiveServer, key: str) -> None:
    big, encoded = _operations(_loopback(live_server, max_response_bytes=MIB))

    assert big(key=key, size=MIB, chunked=1) == "x" * (MIB - 2)  # type: ignore[operator]  # a Task
    assert encoded(key=key, size=MIB) == "0" * (MIB - 2)  # type: ignore[operator]  # a Task


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "rawdeflate"])
def test_a_compression_bomb_stops_at_the_limit_in_little_memory(
    live_server: LiveServer, key: str, encoding: str
) -> None:
    _, encoded = _operations(_loopback(live_server, max_response_bytes=MIB))
    with pytest.raises(ResponseTooLargeError):  # the server builds its bomb once
        encoded(key=f"{key}-warm", size=BOMB, encoding=encoding)  # type: ignore[operator]  # a Task
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLargeError) as info:
            encoded(key=key, size=BOMB, encoding=encoding)  # type: ignore[operator]  # a Task
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert info.value.limit == MIB
    # The server sends its cached bomb from this process too: its 250 KB and
    # the client's bounded chunks are all there is, far from 256 MiB.
    assert peak < 16 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_a_hand_written_task_gets_the_same_limit(
    live_server: LiveServer, key: str
) -> None:
    connector = _loopback(live_server, max_response_bytes=MIB)

    @connector.task
    async def fetch(client: httpx.AsyncClient) -> object:
        response = await client.get(
            f"/encoded/{key}", params={"size": BOMB, "encoding": "gzip"}
        )
        return response.json()

    with pytest.raises(
        ResponseTooLargeError, match=r"in operation 'fetch' of connector 'loopback'"
    ) as info:
        fetch()

    assert info.value.retryable is False
    assert len(live_server.state.requests(key)) == 1


def test_a_decoded_body_comes_without_its_content_encoding(
    live_server: LiveServer, key: str
) -> None:
    connector = _loopback(live_server)

    @connector.operation("GET /encoded/{key}")
    def raw(key: str, size: int) -> httpx.Response:
        """Fetch a gzip body, raw."""
        raise NotImplementedError

    response = raw(key=key, size=1000)

    assert "content-encoding" not in response.headers
    assert "content-length" not in response.headers
    assert response.json() == "0" * 998


def test_no_limit_leaves_decoding_to_httpx(live_server: LiveServer, key: str) -> None:
    connector = _loopback(live_server, max_response_bytes=None)

    @connector.operation("GET /encoded/{key}")
    def raw(key: str, size: int) -> httpx.Response:
        """Fetch a gzip body, raw."""
        raise NotImplementedError

    response = raw(key=key, size=2 * MIB)

    assert response.headers["content-encoding"] == "gzip"
    assert len(response.content) == 2 * MIB


def test_the_default_limit_is_64_mib_and_asks_for_gzip_and_deflate_only(
    live_server: LiveServer, key: str
) -> None:
    connector = Connector("loopback", live_server.url)
    _, encoded = _operations(connector)

    assert connector.max_response_bytes == 64 * MIB
    encoded(key=key, size=100)  # type: ignore[operator]  # a Task
    (seen,) = live_server.state.requests(key)
    assert seen.headers["accept-encoding"] == "gzip, deflate"


def test_the_connectors_headers_may_ask_for_another_encoding(
    live_server: LiveServer, key: str
) -> None:
    connector = _loopback(live_server, headers={"accept-encoding": "identity"})
    big, _ = _operations(connector)

    big(key=key, size=100)  # type: ignore[operator]  # a Task

    (seen,) = live_server.state.requests(key)
    assert seen.headers["accept-encoding"] == "identity"


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (0, ConfigurationError, r"max_response_bytes=0; pass 1 or more"),
        (-5, ConfigurationError, r"max_response_bytes=-5; pass 1 or more"),
        ("1024", OptionTypeError, r"max_response_bytes='1024'; pass a whole number"),
        (True, OptionTypeError, r"max_response_bytes=True; pass a whole number"),
    ],
)
def test_a_wrong_max_response_bytes_is_refused(
    value: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as info:
        Connector("CRM", "https://api.example.test", max_response_bytes=value)  # type: ignore[arg-type]  # the point

    assert getattr(info.value, "option", None) == "max_response_bytes"
