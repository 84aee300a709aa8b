"""A loopback HTTP server that fails on purpose and counts what it receives.

``FaultServer`` serves ``POST /orders`` with aiohttp.web on 127.0.0.1 (a
free port), on an event loop of its own in a background thread. Each
request draws a fault from a seeded generator: a 503, a stall past the
client's deadline, or a reset connection (``SO_LINGER`` 0, so the client
reads a TCP RST); the rest get a 201 echoing the ``Idempotency-Key``. The
server counts requests and bodies by ``Idempotency-Key`` and measures how
many requests it held at once. Imports no fiscus_dsl.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, final

from aiohttp import web

if TYPE_CHECKING:
    from types import TracebackType

STARTUP_TIMEOUT: Final = 10.0

#: Turns of the loop a request waits before it counts as in flight, so that
#: a connection the client closed just before (a request it gave up on) is
#: seen closed first: on loopback its FIN precedes any later request's bytes.
_SETTLE_TURNS: Final = 5


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """The share of requests that get each fault (the rest succeed).

    ``latency`` is how long the server takes over every answer, faults
    aside, as an API does: it keeps requests in flight long enough for a
    client's concurrency limit to be reached and measured.
    """

    unavailable: float = 0.05
    stall: float = 0.01
    reset: float = 0.005
    stall_seconds: float = 0.5
    latency: float = 0.0
    seed: int = 11


@final
@dataclass(slots=True)
class Counts:
    """What the server saw; read it once the run is over."""

    requests: Counter[str] = field(default_factory=Counter)
    bodies: dict[str, set[bytes]] = field(default_factory=dict)
    faults: Counter[str] = field(default_factory=Counter)
    unkeyed: int = 0
    in_flight: int = 0
    most_in_flight: int = 0


@final
class FaultServer:
    """Serve faults on 127.0.0.1 in a thread; use as a context manager."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.counts = Counts()
        self._random = random.Random(faults.seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fault-server", daemon=True
        )
        self._runner: web.AppRunner | None = None
        self.url = ""

    def __enter__(self) -> FaultServer:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        port = started.result(STARTUP_TIMEOUT)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stopped = asyncio.run_coroutine_threadsafe(self._stop(), self._loop)
        stopped.result(STARTUP_TIMEOUT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STARTUP_TIMEOUT)
        self._loop.close()

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_post("/orders", self._order)
        # Cancel a handler whose client went away: a stalled request stops
        # counting as in flight when the client gives up on it.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _order(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        for _ in range(_SETTLE_TURNS):
            await asyncio.sleep(0)
        counts = self.counts
        counts.in_flight += 1
        counts.most_in_flight = max(counts.most_in_flight, counts.in_flight)
        try:
            key = request.headers.get("Idempotency-Key")
            if key is None:
                counts.unkeyed += 1
            else:
                counts.requests[key] += 1
                counts.bodies.setdefault(key, set()).add(body)
            return await self._answer(request, key)
        finally:
            counts.in_flight -= 1

    async def _answer(self, request: web.Request, key: str | None) -> web.Response:
        faults, draw = self.faults, self._random.random()
        if draw < faults.reset:
            self.counts.faults["reset"] += 1
            _reset(request)
            raise asyncio.CancelledError  # nothing more to send on this connection
        if draw < faults.reset + faults.stall:
            self.counts.faults["stall"] += 1
            await asyncio.sleep(faults.stall_seconds)  # cancelled if the client goes
            return web.json_response({"key": key, "late": True}, status=201)
        if draw < faults.reset + faults.stall + faults.unavailable:
            self.counts.faults["503"] += 1
            await asyncio.sleep(faults.latency)
            return web.json_response({"error": "try again"}, status=503)
        await asyncio.sleep(faults.latency)
        return web.json_response({"key": key}, status=201)


def _reset(request: web.Request) -> None:
    """Close the request's connection with a TCP RST instead of an answer."""
    transport = request.transport
    assert transport is not None
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
