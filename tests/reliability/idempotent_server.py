"""A loopback ledger API that applies each ``Idempotency-Key`` once (crash matrix).

``IdempotentServer`` serves ``POST /entries`` with Starlette and uvicorn on
127.0.0.1 (a free port), in a thread of the test process, so that what it
saw outlives every worker process the test kills. The first request with a
key applies its effect: it appends an entry to the ledger of the body's
``label``, whose id digests every entry applied before it, and stores the
answer. A repeat of the key with the same body gets the stored answer and
applies nothing; with another body it gets a 422. The server counts, per
logical task (``label``, ``step``), the requests, the effects applied, the
stored answers replayed and the keys seen, and keeps every body seen per
key. ``arm_kill`` makes it SIGKILL the sender of one step (the pid in its
``X-Worker-Pid`` header) right after applying it, and wait until that
process's connection is closed, which the kernel does only once every
thread of the process has exited: the answer is never delivered. Imports
no fiscus_dsl.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, final

from loopback import serving
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from collections.abc import Iterator

    from starlette.requests import Request

#: How long a kill waits for the killed worker's connection to close.
KILL_TIMEOUT: Final = 10.0
PID_HEADER: Final = "X-Worker-Pid"

Step = tuple[str, int]


@final
@dataclass(slots=True)
class Ledger:
    """One label's entries, as applied."""

    seq: int = 0
    last_id: str = ""
    trail: str = ""


@final
@dataclass(slots=True)
class Tally:
    """What the server saw; read it under ``IdempotentServer.lock``."""

    requests: Counter[Step] = field(default_factory=Counter)
    applied: Counter[Step] = field(default_factory=Counter)
    replayed: Counter[Step] = field(default_factory=Counter)
    keys: defaultdict[Step, set[str]] = field(default_factory=lambda: defaultdict(set))
    bodies: defaultdict[str, set[bytes]] = field(
        default_factory=lambda: defaultdict(set)
    )
    #: Requests whose ``after`` was not the id of the label's last entry.
    broken_links: int = 0
    unkeyed: int = 0
    #: Armed kills that fired, and how many saw the worker's connection close.
    kills: int = 0
    kills_confirmed: int = 0


@final
@dataclass(frozen=True, slots=True)
class Stored:
    """The body that first came with a key, and the answer it got."""

    body: bytes
    answer: dict[str, object]


@final
class IdempotentServer:
    """The ledger API's state and handler; ``serve_ledger`` runs it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tally = Tally()
        self.url = ""
        self._ledgers: dict[str, Ledger] = {}
        self._answers: dict[str, Stored] = {}
        self._armed: set[Step] = set()

    def arm_kill(self, label: str, step: int) -> None:
        """Kill the sender of ``step`` of ``label`` right after applying it, once."""
        with self.lock:
            self._armed.add((label, step))

    def two_bodies(self) -> int:
        """Return how many keys were seen with two different bodies."""
        with self.lock:
            return sum(len(bodies) > 1 for bodies in self.tally.bodies.values())

    def app(self) -> Starlette:
        """Return the ASGI app: ``POST /entries``."""
        return Starlette(routes=[Route("/entries", self._entries, methods=["POST"])])

    async def _entries(self, request: Request) -> JSONResponse:
        body = await request.body()
        payload = json.loads(body)
        step: Step = (str(payload["label"]), int(payload["step"]))
        key = request.headers.get("idempotency-key")
        with self.lock:
            self.tally.requests[step] += 1
            if key is None:
                self.tally.unkeyed += 1
                return JSONResponse({"error": "Idempotency-Key missing"}, 400)
            self.tally.keys[step].add(key)
            self.tally.bodies[key].add(body)
            stored = self._answers.get(key)
            if stored is not None:
                if stored.body != body:
                    return JSONResponse({"error": "key reused, other body"}, 422)
                self.tally.replayed[step] += 1
                return JSONResponse(stored.answer, 201)
            answer = self._apply(step, str(payload["after"]))
            self._answers[key] = Stored(body, answer)
            armed = step in self._armed
            self._armed.discard(step)
        if armed:
            await self._kill_sender(request)
        return JSONResponse(answer, 201)

    def _apply(self, step: Step, after: str) -> dict[str, object]:
        """Append one entry to its label's ledger (under the lock)."""
        label, number = step
        ledger = self._ledgers.setdefault(label, Ledger())
        if after != ledger.last_id:
            self.tally.broken_links += 1
        self.tally.applied[step] += 1
        ledger.seq += 1
        text = f"{ledger.trail}|{number}|{after}|{ledger.seq}"
        ledger.trail = hashlib.sha256(text.encode()).hexdigest()[:16]
        ledger.last_id = f"e{number}-{ledger.trail[:8]}"
        return {
            "id": ledger.last_id,
            "step": number,
            "seq": ledger.seq,
            "trail": ledger.trail,
        }

    async def _kill_sender(self, request: Request) -> None:
        """SIGKILL the worker that sent ``request``; wait for its socket to close."""
        pid = int(request.headers[PID_HEADER])
        os.kill(pid, signal.SIGKILL)
        until = time.monotonic() + KILL_TIMEOUT
        closed = False
        while time.monotonic() < until:
            if await request.is_disconnected():
                closed = True
                break
            await asyncio.sleep(0.001)
        with self.lock:
            self.tally.kills += 1
            self.tally.kills_confirmed += closed


def serve_ledger() -> Iterator[IdempotentServer]:
    """Serve the ledger API on 127.0.0.1 until the generator is closed."""
    server = IdempotentServer()
    with serving(server.app(), name="ledger-server", log_level="error") as port:
        server.url = f"http://127.0.0.1:{port}"
        yield server
