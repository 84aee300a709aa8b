"""Serve an ASGI app with uvicorn on 127.0.0.1 (a free port), in a test thread.

``serving(app, name=...)`` starts it, waits until it listens, yields its
port and stops it at the end (the thread must end); ``free_port()`` gives a
port nothing listens on. What it saw stays in
the test process, so it outlives any worker process a test kills. Used by
the test servers of several folders; ``Seen`` is a request as one of them
received it. Imports no fiscus_dsl.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, final
from urllib.parse import parse_qsl

import uvicorn

if TYPE_CHECKING:
    from collections.abc import Iterator

    from starlette.requests import Request

STARTUP_TIMEOUT: Final = 10.0
SHUTDOWN_TIMEOUT: Final = 10.0


def free_port() -> int:
    """Return a loopback port nothing listens on (until something binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Seen:
    """One request as a test server received it.

    Attributes:
        method: The HTTP method.
        path: The path.
        query: The raw query string.
        headers: ``(name, value)`` pairs, names lowercased, as sent.
        body: The request body.
    """

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @classmethod
    async def of(cls, request: Request) -> Seen:
        """Return what ``request`` carried, its body read whole."""
        return cls(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers=tuple(
                (name.decode("latin-1").lower(), value.decode("latin-1"))
                for name, value in request.scope["headers"]
            ),
            body=await request.body(),
        )

    def text(self) -> str:
        """Return everything the server got, as one text to search."""
        headers = "\n".join(f"{name}: {value}" for name, value in self.headers)
        body = self.body.decode("utf-8", "replace")
        return f"{self.method} {self.path}?{self.query}\n{headers}\n\n{body}"

    def form(self) -> dict[str, str]:
        """Return a form body as a dict."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace")))
