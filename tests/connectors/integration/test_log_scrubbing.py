"""Logs of a connector's requests: httpx's, httpcore's and ours carry no secret.

Against the live loopback server, with every logger at DEBUG: an API key
sent in the query, a password in the base URL's userinfo and one in a URL
a hand-written task builds, and the cool-down after a 429.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, Literal

import pytest

from fiscus_dsl import ApiKeyAuth, Connector, Retry, Runner, Secret, workflow
from fiscus_dsl._connectors.logs import HTTP_LOGGERS, cover_http_loggers
from fiscus_dsl._connectors.scrub import MASK, scrub_text
from fiscus_dsl._runtime.logs import ScrubFilter

if TYPE_CHECKING:
    import httpx

    from fiscus_dsl.testing import FakeSleep

    from .conftest import LiveServer

KEY: Final = "sk_query_CANARY_8d2c41"
PASSWORD: Final = "pw_userinfo_CANARY_3b7e"


def _names(caplog: pytest.LogCaptureFixture) -> set[str]:
    return {record.name for record in caplog.records}


@pytest.mark.parametrize(
    ("transport", "loggers", "shown"),
    [
        # the default: the direct route to aiohttp's pool logs on ours, scrubbed
        (None, {"fiscus_dsl.connector"}, "REDACTED"),
        # httpx's client logs the URL; the filter masks the registered key
        ("httpx", {"httpx", "httpcore.connection", "httpcore.http11"}, MASK),
    ],
)
def test_http_logs_never_show_a_query_api_key(
    live_server: LiveServer,
    key: str,
    caplog: pytest.LogCaptureFixture,
    transport: Literal["httpx"] | None,
    loggers: set[str],
    shown: str,
) -> None:
    api = Connector(
        "loopback",
        live_server.url,
        auth=ApiKeyAuth(Secret(KEY), query="api_key"),
        transport=transport,
    )

    @api.operation("GET /echo/{key}")
    def echo(key: str) -> dict[str, object]:
        """Echo the query."""
        raise NotImplementedError  # the connector sends the request

    with caplog.at_level(logging.DEBUG):
        assert echo(key)["query"] == {"api_key": KEY}  # it was sent

    assert KEY not in caplog.text
    assert f"/echo/{key}?api_key={shown} " in caplog.text
    assert loggers <= _names(caplog)


def test_logs_never_show_the_password_of_a_base_url(
    live_server: LiveServer, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    host = live_server.url.removeprefix("http://")
    api = Connector("loopback", f"http://ada:{PASSWORD}@{host}")

    @api.operation("GET /echo/{key}")
    def echo(key: str) -> dict[str, object]:
        """Echo the key."""
        raise NotImplementedError  # the connector sends the request

    with caplog.at_level(logging.DEBUG):
        assert echo(key)["key"] == key

    (seen,) = live_server.state.requests(key)
    assert seen.headers["authorization"].startswith("Basic ")  # httpx sent it
    assert PASSWORD not in caplog.text
    assert seen.headers["authorization"][6:] not in caplog.text
    assert f"http://REDACTED:REDACTED@{host}/echo/{key}" in caplog.text


def test_a_password_a_hand_written_task_puts_in_a_url_is_registered(
    live_server: LiveServer, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    api = Connector("loopback", live_server.url)
    password = f"{PASSWORD}_task"
    host = live_server.url.removeprefix("http://")

    @api.task
    async def fetch(client: httpx.AsyncClient, key: str) -> str:
        response = await client.get(f"http://ada:{password}@{host}/echo/{key}")
        return response.request.headers["Authorization"]

    with caplog.at_level(logging.INFO):
        header = fetch(key)

    assert scrub_text(f"{password} {header}") == f"{MASK} Basic {MASK}"
    assert password not in caplog.text


def test_a_cool_down_after_a_429_is_logged_at_info(
    live_server: LiveServer,
    key: str,
    fake_sleep: FakeSleep,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = Connector(
        "loopback", live_server.url, retry=Retry(attempts=2, backoff=0, jitter=False)
    )

    @api.operation("GET /flaky/{key}")
    def flaky(key: str, failures: int, status: int, retry_after: int) -> object:
        """Fail ``failures`` times with ``status``."""

    @workflow
    def flow() -> object:
        return flaky(key, 1, 429, 2)

    with caplog.at_level(logging.INFO, logger="fiscus_dsl"):
        assert Runner(sleep=fake_sleep).run(flow).success

    cooling = [r for r in caplog.records if r.name == "fiscus_dsl.connector"]
    assert [(r.levelname, r.getMessage()) for r in cooling] == [
        (
            "INFO",
            "Connector 'loopback' got 429 Too Many Requests; holding its next "
            "requests back 2.000 s",
        )
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_cover_http_loggers_covers_the_stack_and_the_children_it_made() -> None:
    child = logging.getLogger("httpcore.tests_child")

    cover_http_loggers()

    for name in (*HTTP_LOGGERS, child.name):
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, ScrubFilter) for f in filters) == 1


async def test_a_credential_header_of_a_connector_is_registered() -> None:
    api = Connector(
        "headers",
        "https://api.example.com",
        headers={"X-API-Key": "k_default_header_CANARY", "Accept": "text/plain"},
    )

    api.client()  # a connector in use
    await api.aclose()

    assert scrub_text("k_default_header_CANARY text/plain") == f"{MASK} text/plain"
