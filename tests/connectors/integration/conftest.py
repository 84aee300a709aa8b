"""Fixtures of the integration tests: a live loopback server and keys.

``live_server`` serves ``server.build_app`` with uvicorn on 127.0.0.1 (a
free port) in a background thread, once per session. Requests go through
real httpx (or aiohttp) sockets; nothing is mocked. ``fake_sleep``,
``provider`` and ``exporter`` come from ``tests/conftest.py``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, final

import pytest
from loopback import serving

from .server import ServerState, build_app

if TYPE_CHECKING:
    from collections.abc import Iterator


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
    with serving(build_app(state), name="loopback-server") as port:
        yield LiveServer(url=f"http://127.0.0.1:{port}", port=port, state=state)


@pytest.fixture
def key() -> str:
    """Return a key of this test's own, for the paths it calls."""
    return uuid.uuid4().hex
