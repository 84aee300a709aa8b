"""A connection the server drops unanswered: retried only when that is safe.

The loopback server closes ``/drop/...`` connections without a response, so
httpx raises a genuine ``RemoteProtocolError`` (or ``ReadError`` when the
close reaches the client as a reset, which a loaded machine can cause).
A GET is idempotent and a keyed POST is deduplicated by its
``Idempotency-Key``, so both are retried (the same key on every attempt); a
POST without a key is not, since the server may have acted on it. The
runner's sleep is fake.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

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

#: The connectors' default retry policy makes three attempts in all.
DEFAULT_ATTEMPTS: Final = 3
QUOTED_UUID: Final = re.compile(
    r'^"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}"$'
)


def _dropped(error: BaseException | None, *, method: str, fix: str) -> ConnectorError:
    assert isinstance(error, ConnectorError)
    assert not isinstance(error, HTTPStatusError)
    with pytest.raises(
        ConnectorError,
        match=rf"^(?:RemoteProtocolError|ReadError) \(.*\) in operation '\w+' of "
        rf"connector 'loopback' \({method} http://127\.0\.0\.1:\d+/drop/\w+\); "
        rf"{fix}",
    ):
        raise error
    assert error.code is FiscusErrorCode.INTERNAL_ERROR
    assert error.connector == "loopback"
    assert error.method == method
    return error


def test_a_dropped_get_is_retried(
    live_server: LiveServer, key: str, fake_sleep: FakeSleep
) -> None:
    api = Connector("loopback", live_server.url)

    @api.operation("GET /drop/{key}")
    def get_dropped(key: str) -> dict[str, str]:
        raise NotImplementedError  # the connector sends the request

    @workflow
    def flow(key: str) -> dict[str, str]:
        return get_dropped(key)

    result = Runner(sleep=fake_sleep).run(flow, key=key)

    assert result["get_dropped"].status is TaskStatus.FAILED
    assert result["get_dropped"].attempts == DEFAULT_ATTEMPTS
    error = _dropped(
        result["get_dropped"].error,
        method="GET",
        fix="the request is idempotent, so the task's Retry policy may try again",
    )
    assert error.retryable is True
    assert error.operation == "get_dropped"
    seen = live_server.state.requests(key)
    assert [(s.method, s.path) for s in seen] == [("GET", f"/drop/{key}")] * 3
    assert len(fake_sleep.delays) == DEFAULT_ATTEMPTS - 1


def test_a_dropped_post_without_an_idempotency_key_is_not_retried(
    live_server: LiveServer, key: str, fake_sleep: FakeSleep
) -> None:
    api = Connector("loopback", live_server.url)

    @api.operation("POST /drop/{key}", idempotency_key=False)
    def charge(key: str, amount: int) -> dict[str, str]:
        raise NotImplementedError  # the connector sends the request

    @workflow
    def flow(key: str) -> dict[str, str]:
        return charge(key, amount=100)

    result = Runner(sleep=fake_sleep).run(flow, key=key)

    assert result["charge"].status is TaskStatus.FAILED
    assert result["charge"].attempts == 1
    error = _dropped(
        result["charge"].error,
        method="POST",
        fix=r"not retried: the request may have had an effect \(send an "
        r"Idempotency-Key\)",
    )
    assert error.retryable is False
    seen = live_server.state.requests(key)
    assert [(s.method, s.path) for s in seen] == [("POST", f"/drop/{key}")]
    assert "idempotency-key" not in seen[0].headers
    assert fake_sleep.delays == []


def test_a_dropped_post_with_its_idempotency_key_is_retried_with_the_same_key(
    live_server: LiveServer, key: str, fake_sleep: FakeSleep
) -> None:
    api = Connector("loopback", live_server.url)

    @api.operation("POST /drop/{key}")
    def charge(key: str, amount: int) -> dict[str, str]:
        raise NotImplementedError  # the connector sends the request

    @workflow
    def flow(key: str) -> dict[str, str]:
        return charge(key, amount=100)

    result = Runner(sleep=fake_sleep).run(flow, key=key)

    assert result["charge"].attempts == DEFAULT_ATTEMPTS
    error = _dropped(
        result["charge"].error,
        method="POST",
        fix="the request is idempotent, so the task's Retry policy may try again",
    )
    assert error.retryable is True
    seen = live_server.state.requests(key)
    assert [(s.method, s.path) for s in seen] == [("POST", f"/drop/{key}")] * 3
    keys = {s.headers.get("idempotency-key") for s in seen}
    assert len(keys) == 1
    (sent,) = keys
    assert sent is not None
    assert QUOTED_UUID.match(sent)
