"""The loopback API the Dask tests call from worker processes.

``ApiServer`` runs a Starlette app with uvicorn on 127.0.0.1 (a free port)
in a thread of the test process, so what it saw outlives every worker
process a test kills. Routes:

- ``POST /calls``: records the call's ``label``, its ``Idempotency-Key``
  the sending worker's pid (``X-Worker-Pid``), its ``traceparent`` and
  ``Authorization``, and answers
  ``{"label", "key", "applied"}``; a key seen before is answered from the
  first answer and applies nothing. ``fail_first[label] = n`` answers the
  first ``n`` calls of a label with a 503. ``kill_after = n`` makes the
  server SIGKILL the sender of the n-th call once it has applied it,
  before answering, and wait until its connection closes.
- ``GET /slow/{index}``: waits ``slow_seconds``, counting the requests in
  flight at once (``most_in_flight``), the time each one started and the
  pids that sent them.

Imports no fiscus_dsl.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Final, final

from loopback import serving
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from collections.abc import Iterator

    from starlette.requests import Request

PID_HEADER: Final = "X-Worker-Pid"
KILL_TIMEOUT: Final = 10.0


@final
class ApiServer:
    """What the API saw; read it under ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.url = ""
        self.requests: Counter[str] = Counter()
        self.keys: defaultdict[str, set[str]] = defaultdict(set)
        self.pids: defaultdict[str, set[int]] = defaultdict(set)
        self.traceparents: defaultdict[str, list[str]] = defaultdict(list)
        self.authorizations: set[str] = set()
        self.answers: dict[str, dict[str, object]] = {}
        self.fail_first: dict[str, int] = {}
        self.kill_after: int | None = None
        self.killed: list[int] = []
        self.slow_seconds = 0.1
        self.in_flight = 0
        self.most_in_flight = 0
        self.slow_starts: list[float] = []
        self.slow_pids: set[int] = set()

    def reset(self) -> None:
        """Forget every call, failure and kill order (between tests)."""
        with self.lock:
            self.requests.clear()
            self.keys.clear()
            self.pids.clear()
            self.traceparents.clear()
            self.authorizations.clear()
            self.answers.clear()
            self.fail_first.clear()
            self.kill_after = None
            self.killed.clear()
            self.in_flight = self.most_in_flight = 0
            self.slow_starts.clear()
            self.slow_pids.clear()

    def app(self) -> Starlette:
        """Return the ASGI app."""
        return Starlette(
            routes=[
                Route("/calls", self._calls, methods=["POST"]),
                Route("/slow/{index:int}", self._slow, methods=["GET"]),
            ]
        )

    async def _calls(self, request: Request) -> JSONResponse:
        payload = await request.json()
        label = str(payload["label"])
        key = request.headers.get("idempotency-key", "")
        pid = int(request.headers.get(PID_HEADER, "0"))
        with self.lock:
            self.requests[label] += 1
            self.keys[label].add(key)
            self.pids[label].add(pid)
            self.traceparents[label].append(request.headers.get("traceparent", ""))
            self.authorizations.add(request.headers.get("authorization", ""))
            failing = self.fail_first.get(label, 0)
            if failing:
                self.fail_first[label] = failing - 1
                return JSONResponse({"error": "try again"}, 503)
            answer = self.answers.get(key)
            if answer is None:
                answer = self.answers[key] = {"label": label, "key": key, "applied": 1}
            kill = self.kill_after is not None and len(self.answers) >= self.kill_after
            if kill:
                self.kill_after = None
                self.killed.append(pid)
        if kill:
            await self._kill(request, pid)
        return JSONResponse(answer)

    async def _kill(self, request: Request, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        until = time.monotonic() + KILL_TIMEOUT
        # Starlette says a client went away only when asked: poll it.
        while time.monotonic() < until and not await request.is_disconnected():  # noqa: ASYNC110
            await asyncio.sleep(0.005)

    async def _slow(self, request: Request) -> JSONResponse:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.slow_starts.append(time.monotonic())
            self.slow_pids.add(int(request.headers.get(PID_HEADER, "0")))
        try:
            await asyncio.sleep(self.slow_seconds)
        finally:
            with self.lock:
                self.in_flight -= 1
        return JSONResponse({"index": request.path_params["index"]})


def serve() -> Iterator[ApiServer]:
    """Serve the API on 127.0.0.1 until the generator is closed."""
    server = ApiServer()
    with serving(server.app(), name="dask-api-server", log_level="error") as port:
        server.url = f"http://127.0.0.1:{port}"
        yield server
