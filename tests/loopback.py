"""Serve an ASGI app with uvicorn on 127.0.0.1 (a free port), in a test thread.

``serving(app, name=...)`` starts it, waits until it listens, yields its
port and stops it at the end (the thread must end). What it saw stays in
the test process, so it outlives any worker process a test kills. Used by
the test servers of several folders; imports no fiscus_dsl.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

import uvicorn

if TYPE_CHECKING:
    from collections.abc import Iterator

STARTUP_TIMEOUT: Final = 10.0
SHUTDOWN_TIMEOUT: Final = 10.0


@contextmanager
def serving(
    app: Any,
    *,
    name: str,
    log_level: str = "warning",
    **options: Any,
) -> Iterator[int]:
    """Serve ``app`` until the block ends; yield the port it listens on.

    Raises:
        RuntimeError: It did not start within ``STARTUP_TIMEOUT`` seconds.
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level=log_level,
        lifespan="off",
        http="h11",
        timeout_graceful_shutdown=5,
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    try:
        until = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > until:
                msg = f"The loopback server {name!r} did not start on 127.0.0.1"
                raise RuntimeError(msg)
            time.sleep(0.01)
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT)
    assert not thread.is_alive(), f"the loopback server {name!r} did not shut down"
