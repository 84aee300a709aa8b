"""Fixtures of the integration tests: a live loopback server and keys.

``live_server`` serves ``server.build_app`` with uvicorn on 127.0.0.1 (a
free port) in a background thread, once per session. Requests go through
real httpx (or aiohttp) sockets; nothing is mocked. ``fake_sleep``,
``provider`` and ``exporter`` come from ``tests/conftest.py``.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

import pytest
import uvicorn

from .server import ServerState, build_app

if TYPE_CHECKING:
    from collections.abc import Iterator

STARTUP_TIMEOUT: Final = 10.0
SHUTDOWN_TIMEOUT: Final = 10.0


@final
@dataclass(frozen=True, slots=True)
class LiveServer:
    """The running loopback server: its base URL, port and state."""

    url: str
    port: int
    state: ServerState


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    """Serve the loopback API on 127.0.0.1 for the whole session."""
    state = ServerState()
    config = uvicorn.Config(
        build_app(state),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        http="h11",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="loopback-server", daemon=True)
    thread.start()
    try:
        _wait_started(server, thread)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield LiveServer(url=f"http://127.0.0.1:{port}", port=port, state=state)
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT)
    assert not thread.is_alive(), "the loopback server did not shut down"


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    until = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > until:
            msg = "The loopback server did not start on 127.0.0.1"
            raise RuntimeError(msg)
        time.sleep(0.01)


@pytest.fixture
def key() -> str:
    """Return a key of this test's own, for the paths it calls."""
    return uuid.uuid4().hex
