"""Requests that cannot be sent, against the live server: nothing arrives, no retry.

A header value with CR/LF (h11 refuses it) and a path value over httpx's
65,536-character URL limit fail before a byte is sent, as a
``ConnectorError`` with code 1002 that the connector's default ``Retry``
does not try again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import pytest

from fiscus_dsl import Connector, ConnectorError, FiscusErrorCode, Header

if TYPE_CHECKING:
    import httpx

    from fiscus_dsl.testing import FakeSleep

    from .conftest import LiveServer

pytestmark = pytest.mark.usefixtures("runner")


def test_a_hand_written_header_with_cr_lf_is_refused_and_not_retried(
    live_server: LiveServer, key: str, fake_sleep: FakeSleep
) -> None:
    connector = Connector("loopback", live_server.url)  # the default Retry

    @connector.task
    async def fetch(client: httpx.AsyncClient) -> object:
        headers = {"X-Trace": "a\r\nX-Injected: 1"}
        return (await client.get(f"/echo/{key}", headers=headers)).json()

    with pytest.raises(
        ConnectorError, match=r"^LocalProtocolError \(.*\) in operation 'fetch'"
    ) as info:
        fetch()

    assert info.value.code is FiscusErrorCode.INVALID_REQUEST
    assert info.value.retryable is False
    assert live_server.state.requests(key) == []
    assert fake_sleep.delays == []


def test_an_operation_header_with_cr_lf_names_its_parameter(
    live_server: LiveServer, key: str
) -> None:
    connector = Connector("loopback", live_server.url)

    @connector.operation("GET /echo/{key}")
    def echo(key: str, trace: Annotated[str, Header(alias="X-Trace")]) -> object:
        """Echo, traced."""
        raise NotImplementedError

    with pytest.raises(ConnectorError, match=r"header 'X-Trace' \(parameter 'trace'\)"):
        echo(key=key, trace="a\r\nX-Injected: 1")

    assert live_server.state.requests(key) == []


def test_a_path_value_over_the_url_limit_sends_nothing(
    live_server: LiveServer, key: str, fake_sleep: FakeSleep
) -> None:
    connector = Connector("loopback", live_server.url)

    @connector.operation("GET /echo/{key}/{name}")
    def echo(key: str, name: str) -> object:
        """Echo a name."""
        raise NotImplementedError

    with pytest.raises(ConnectorError, match=r"parameter 'name', 65537 characters"):
        echo(key=key, name="n" * 65_537)

    assert live_server.state.requests(key) == []
    assert fake_sleep.delays == []
