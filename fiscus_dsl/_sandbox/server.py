"""``sandbox()``: serve the sandbox API on loopback from a background thread.

``with sandbox() as base_url:`` starts uvicorn on ``127.0.0.1`` with a port
the system picks, waits until it listens, yields ``http://127.0.0.1:PORT``
and, on the way out, asks the server to exit and joins its thread, so no
socket or event loop outlives the block. uvicorn's logging is left as the
application configured it (no ``dictConfig``); only warnings get through.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

import uvicorn

from fiscus_dsl._sandbox.app import create_app

if TYPE_CHECKING:
    from collections.abc import Iterator

    from starlette.types import ASGIApp

LOOPBACK: Final = "127.0.0.1"
STOP_TIMEOUT: Final = 10
"""Seconds the server has to finish its requests and stop at the end."""

_POLL: Final = 0.005


@contextmanager
def sandbox(
    app: ASGIApp | None = None,
    *,
    host: str = LOOPBACK,
    start_timeout: float = 10.0,
) -> Iterator[str]:
    """Serve the sandbox API (or ``app``) on a free port; yield its base URL.

    Args:
        app: The ASGI app to serve; a fresh ``create_app()`` by default.
        host: The address to listen on; keep the loopback default.
        start_timeout: Seconds to wait for the server to listen.

    Raises:
        RuntimeError: The server did not listen within ``start_timeout``, or
            could not (uvicorn's error log says why).

    Examples:
        >>> import httpx
        >>> with sandbox() as base_url:
        ...     httpx.get(f"{base_url}/health").json()["status"]
        'ok'
    """
    config = uvicorn.Config(
        app or create_app(),
        host=host,
        port=0,
        loop="asyncio",
        http="h11",
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=STOP_TIMEOUT,
    )
    server = uvicorn.Server(config)
    exits: list[SystemExit] = []
    thread = threading.Thread(
        target=_serve, args=(server, exits), name="fiscus-sandbox", daemon=True
    )
    thread.start()
    try:
        port = _wait_until_listening(server, exits, host, start_timeout)
        yield f"http://{_url_host(host)}:{port}"
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        if thread.is_alive():  # pragma: no cover  (a request that never ends)
            server.force_exit = True
            thread.join(STOP_TIMEOUT)


def _serve(server: uvicorn.Server, exits: list[SystemExit]) -> None:
    """Run the server; keep the ``SystemExit`` uvicorn raises when it cannot listen."""
    try:
        server.run()
    except SystemExit as exc:  # the waiting caller reports it
        exits.append(exc)


def _wait_until_listening(
    server: uvicorn.Server, exits: list[SystemExit], host: str, timeout: float
) -> int:
    """Return the port once the server listens; raise if it exited or took too long."""
    deadline = time.monotonic() + timeout
    while not server.started:
        if exits or time.monotonic() >= deadline:
            why = "it exited" if exits else f"it took over {timeout} s"
            msg = (
                f"The sandbox API could not start on {host} ({why}; uvicorn's error "
                "log says why); serve it on a loopback address such as 127.0.0.1"
            )
            raise RuntimeError(msg)
        time.sleep(_POLL)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    return port


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
