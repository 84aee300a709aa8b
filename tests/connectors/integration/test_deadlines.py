"""A connector's ``timeout`` is a deadline for the whole request, body included.

Against the live loopback server: a response whose headers come late, and
one whose body trickles in faster than httpx's gap timeout but slower than
the deadline. The server's delays are the only real waiting.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Final

import httpx
import pytest

from fiscus_dsl import (
    Connector,
    ConnectorError,
    FiscusErrorCode,
    HTTPStatusError,
    Runner,
    TaskStatus,
    workflow,
)

if TYPE_CHECKING:
    from fiscus_dsl.testing import FakeSleep

    from .conftest import LiveServer

DEADLINE: Final = 0.2
#: How late past the deadline a failure may come on a busy shared machine.
MARGIN: Final = 0.5
#: The dribbled body: 16 items 0.05 s apart, 0.75 s in all (more than
#: DEADLINE + MARGIN); each gap is well inside httpx's read timeout (the
#: connector's 0.2 s), the sum is not.
CHUNKS: Final = 16
GAP: Final = 0.05


def _loopback(live_server: LiveServer) -> Connector:
    return Connector("loopback", live_server.url, timeout=DEADLINE, retry=None)


def _assert_timed_out(
    error: BaseException | None, *, url: str, kind: str = r"\w+"
) -> ConnectorError:
    assert isinstance(error, ConnectorError)
    assert not isinstance(error, HTTPStatusError)
    with pytest.raises(
        ConnectorError,
        match=rf"^({kind} \(.*\)|Timed out after the connector's timeout) in "
        rf"operation '\w+' of connector 'loopback' \(GET {re.escape(url)}\)",
    ):
        raise error
    assert error.code is FiscusErrorCode.TIMEOUT
    assert int(error.code) == 1005
    assert error.connector == "loopback"
    assert error.method == "GET"
    assert error.url == url
    return error


def _assert_about_the_deadline(duration: float | None) -> None:
    """The task (one attempt) ended at the deadline, at most MARGIN late."""
    assert duration is not None
    assert DEADLINE <= duration < DEADLINE + MARGIN


def test_headers_later_than_the_deadline_fail_with_a_timeout(
    live_server: LiveServer, key: str, fake_sleep: FakeSleep
) -> None:
    api = _loopback(live_server)

    @api.operation("GET /slow/{key}")
    def get_slow(key: str, delay: float) -> dict[str, bool]:
        raise NotImplementedError  # the connector sends the request

    @workflow
    def flow(key: str) -> dict[str, bool]:
        return get_slow(key, delay=2.0)

    result = Runner(sleep=fake_sleep).run(flow, key=key)

    assert result["get_slow"].status is TaskStatus.FAILED
    assert result["get_slow"].attempts == 1
    error = _assert_timed_out(
        result["get_slow"].error, url=f"{live_server.url}/slow/{key}?delay=2.0"
    )
    assert error.operation == "get_slow"
    _assert_about_the_deadline(result["get_slow"].duration)
    assert len(live_server.state.requests(key)) == 1


def test_a_body_dribbling_past_the_deadline_fails_at_the_deadline(
    live_server: LiveServer, key: str, fake_sleep: FakeSleep
) -> None:
    api = _loopback(live_server)

    @api.operation("GET /dribble/{key}")
    def get_dribble(key: str, chunks: int, gap: float) -> list[int]:
        raise NotImplementedError  # the connector sends the request

    @workflow
    def flow(key: str) -> list[int]:
        return get_dribble(key, chunks=CHUNKS, gap=GAP)

    result = Runner(sleep=fake_sleep).run(flow, key=key)

    assert result["get_dribble"].status is TaskStatus.FAILED
    _assert_timed_out(
        result["get_dribble"].error,
        url=f"{live_server.url}/dribble/{key}?chunks={CHUNKS}&gap={GAP}",
        kind="TimeoutError",  # the connector's deadline, not httpx's ReadTimeout
    )
    _assert_about_the_deadline(result["get_dribble"].duration)


async def test_httpx_timeouts_alone_let_the_same_body_dribble_on(
    live_server: LiveServer, key: str
) -> None:
    """The contrast: httpx's read timeout bounds gaps, not the whole body."""
    async with httpx.AsyncClient(base_url=live_server.url, timeout=DEADLINE) as client:
        started = time.monotonic()
        response = await client.get(
            f"/dribble/{key}", params={"chunks": CHUNKS, "gap": GAP}
        )
        elapsed = time.monotonic() - started

    assert response.json() == list(range(CHUNKS))
    assert elapsed > (CHUNKS - 1) * GAP > DEADLINE
