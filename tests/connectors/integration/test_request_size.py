"""``max_request_bytes``: no request body over the connector's limit leaves.

Against the live loopback server, on the default transport and on
httpcore's: a hand-written task's body with a ``Content-Length`` over the
limit is refused before anything is sent, a streamed body of unknown length
is stopped at the limit, and an operation's JSON body is measured before it
is built. Each failure is a ``ConnectorError`` (``INVALID_REQUEST``), never
retried. A body a mock holds in memory is held to ``max_response_bytes``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Final, Literal

import httpx
import pytest

from fiscus_dsl import (
    Body,
    ConfigurationError,
    Connector,
    ConnectorError,
    FiscusErrorCode,
    ResponseTooLargeError,
    Retry,
)
from fiscus_dsl._connectors.http import overriding_transport

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from .conftest import LiveServer

LIMIT: Final = 1024
TRANSPORTS: Final = pytest.mark.parametrize(
    "transport", [None, "httpx"], ids=["default", "httpx"]
)


def _connector(
    live_server: LiveServer, transport: Literal["httpx"] | None
) -> Connector:
    return Connector(
        "uploads",
        live_server.url,
        max_request_bytes=LIMIT,
        retry=Retry(attempts=3, backoff=0.0),
        transport=transport,
    )


@TRANSPORTS
def test_a_hand_written_body_over_the_limit_is_refused_unsent(
    live_server: LiveServer, key: str, transport: Literal["httpx"] | None
) -> None:
    api = _connector(live_server, transport)

    @api.task
    async def upload(client: httpx.AsyncClient, size: int) -> int:
        """Post ``size`` bytes of JSON."""
        response = await client.post(
            f"/contacts/{key}", content=b'{"a": "' + b"x" * size + b'"}'
        )
        return response.status_code

    assert upload(LIMIT - 10) == 201  # exactly at the limit: 1,024 bytes, sent
    with pytest.raises(ConnectorError) as caught:
        upload(LIMIT)

    error = caught.value
    assert error.code is FiscusErrorCode.INVALID_REQUEST
    assert error.retryable is False
    assert str(error).startswith(f"Request body over max_request_bytes={LIMIT} in ")
    assert "nothing was sent" in str(error)
    assert len(live_server.state.requests(key)) == 1  # the first call only


@TRANSPORTS
def test_a_streamed_body_is_stopped_at_the_limit(
    live_server: LiveServer, key: str, transport: Literal["httpx"] | None
) -> None:
    api = _connector(live_server, transport)

    async def chunks(count: int) -> AsyncIterator[bytes]:
        yield b'{"a": "'
        for _ in range(count):
            yield b"x" * 500
        yield b'"}'

    @api.task
    async def stream(client: httpx.AsyncClient, count: int) -> int:
        """Post ``count`` chunks of 500 bytes, no length known in advance."""
        response = await client.post(f"/contacts/{key}", content=chunks(count))
        return response.status_code

    assert stream(2) == 201  # 1,009 bytes: within the limit
    with pytest.raises(ConnectorError) as caught:
        stream(3)

    error = caught.value
    assert error.code is FiscusErrorCode.INVALID_REQUEST
    assert error.retryable is False
    assert f"max_request_bytes={LIMIT}" in str(error)
    assert "the upload was cut" in str(error)
    # The one attempt: a streamed body over the limit is not sent again.
    assert len(live_server.state.requests(key)) <= 2


@TRANSPORTS
def test_an_operation_body_is_held_to_the_connectors_limit(
    live_server: LiveServer, key: str, transport: Literal["httpx"] | None
) -> None:
    api = _connector(live_server, transport)

    @api.operation("POST /contacts/{key}")
    def create(key: str, payload: Annotated[dict[str, str], Body()]) -> dict[str, str]:
        """Create a contact."""
        raise NotImplementedError

    with pytest.raises(ConnectorError, match=r"over 1,024 bytes of JSON") as caught:
        create(key, {"note": "x" * LIMIT})

    assert caught.value.code is FiscusErrorCode.INVALID_REQUEST
    assert live_server.state.requests(key) == []
    assert create(key, {"note": "short"})["note"] == "short"


def test_no_limit_sends_any_body(live_server: LiveServer, key: str) -> None:
    api = Connector("open", live_server.url, max_request_bytes=None)

    @api.task
    async def upload(client: httpx.AsyncClient) -> int:
        """Post a body of 64 KiB."""
        response = await client.post(
            f"/contacts/{key}", content=b'{"a": "' + b"x" * 65536 + b'"}'
        )
        return response.status_code

    assert upload() == 201


@pytest.mark.parametrize("value", [0, -1])
def test_a_limit_below_one_is_a_configuration_error(value: int) -> None:
    with pytest.raises(ConfigurationError, match="max_request_bytes") as caught:
        Connector("bad", "https://api.example.test", max_request_bytes=value)

    assert caught.value.option == "max_request_bytes"


def test_a_body_a_mock_holds_in_memory_is_held_to_max_response_bytes() -> None:
    api = Connector("mocked", "https://api.example.test", max_response_bytes=100)

    @api.operation("GET /big")
    def big() -> dict[str, str]:
        """Return a big answer."""
        raise NotImplementedError

    answer = httpx.MockTransport(lambda _: httpx.Response(200, json={"a": "x" * 200}))
    with overriding_transport(answer), pytest.raises(ResponseTooLargeError) as caught:
        big()

    assert caught.value.limit == 100
    assert caught.value.retryable is False
