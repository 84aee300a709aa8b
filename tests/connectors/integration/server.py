"""A loopback HTTP API for the connector integration tests, with faults on purpose.

``build_app(state)`` returns the ASGI app the ``live_server`` fixture serves
with uvicorn on 127.0.0.1: a small Starlette app behind a raw ASGI layer
that logs every request (method, path, query, headers, arrival time) and
drops ``/drop/...`` connections unanswered; ``/raw/...`` answers a request
as it arrived (raw path and query, headers, body bytes) and
``/cookies/...`` sets a cookie. Every path carries the calling
test's ``key`` as its second segment, so one shared server keeps per-test
logs and counters. The app runs on the server's thread; tests read
``ServerState`` from theirs once their run is over. Imports no fiscus_dsl.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import threading
import time
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final

from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.requests import Request
    from starlette.types import Receive, Scope, Send

#: How often a held request looks for its client having gone away.
_POLL: Final = 0.02


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Seen:
    """One request as the server received it.

    Attributes:
        method: The HTTP method.
        path: The path, without the query.
        query: The raw query string.
        headers: Header names lowercased; the last value of a repeated one.
        at: ``time.monotonic()`` on arrival (one clock for server and tests).
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    at: float


@final
class ServerState:
    """What the server saw and counted, per test key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: list[Seen] = []
        self._answered: dict[str, int] = {}
        self._in_flight: dict[str, int] = {}
        self._most_in_flight: dict[str, int] = {}
        self._ids = itertools.count(1)

    def record(self, scope: Scope) -> None:
        """Log one request from its ASGI scope."""
        seen = Seen(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers={
                name.decode("latin-1").lower(): value.decode("latin-1")
                for name, value in scope["headers"]
            },
            at=time.monotonic(),
        )
        with self._lock:
            self._log.append(seen)

    def requests(self, key: str) -> list[Seen]:
        """Return the requests whose path carries ``key``, in arrival order."""
        with self._lock:
            return [seen for seen in self._log if key in seen.path.split("/")]

    def most_in_flight(self, key: str) -> int:
        """Return the most ``/items`` requests of ``key`` the server held at once."""
        return self._most_in_flight.get(key, 0)

    def next_call(self, key: str) -> int:
        """Count one more call of ``key`` to a counting endpoint; return its number."""
        number = self._answered.get(key, 0) + 1
        self._answered[key] = number
        return number

    def enter(self, key: str) -> None:
        """Count a request of ``key`` in flight."""
        now = self._in_flight.get(key, 0) + 1
        self._in_flight[key] = now
        self._most_in_flight[key] = max(self._most_in_flight.get(key, 0), now)

    def leave(self, key: str) -> None:
        """Count a request of ``key`` out of flight."""
        self._in_flight[key] -= 1

    def new_id(self) -> str:
        """Return a fresh contact id."""
        return f"c-{next(self._ids)}"


# ---------------------------------------------------------------- endpoints


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.loopback
    return state


def _number(request: Request, name: str, default: float) -> float:
    return float(request.query_params.get(name, default))


async def _hold(request: Request, seconds: float) -> bool:
    """Wait ``seconds`` unless the client goes first; tell whether it stayed."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while (left := until - loop.time()) > 0:
        if await request.is_disconnected():
            return False
        await asyncio.sleep(min(_POLL, left))
    return True


async def create_contact(request: Request) -> Response:
    """Create a contact: echo the JSON body with a new id, 201."""
    body = await request.json()
    return JSONResponse({"id": _state(request).new_id(), **body}, status_code=201)


async def echo(request: Request) -> Response:
    """Echo the key and the query."""
    return JSONResponse(
        {"key": request.path_params["key"], "query": dict(request.query_params)}
    )


async def slow(request: Request) -> Response:
    """Answer after ``delay`` seconds (default 2), headers included."""
    await _hold(request, _number(request, "delay", 2.0))
    return JSONResponse({"slow": True})


async def dribble(request: Request) -> Response:
    """Send a JSON list at once, then one item every ``gap`` seconds."""
    chunks = int(_number(request, "chunks", 12))
    gap = _number(request, "gap", 0.05)

    async def body() -> AsyncIterator[bytes]:
        yield b"[0"
        for item in range(1, chunks):
            await asyncio.sleep(gap)
            yield f",{item}".encode()
        yield b"]"

    return StreamingResponse(body(), media_type="application/json")


async def flaky(request: Request) -> Response:
    """Fail the first ``failures`` calls with ``status`` and ``Retry-After``."""
    call = _state(request).next_call(request.path_params["key"])
    failures = int(_number(request, "failures", 2))
    if call <= failures:
        status = int(_number(request, "status", 503))
        retry_after = request.query_params.get("retry_after", "0")
        return JSONResponse(
            {"error": "try again", "call": call},
            status_code=status,
            headers={"Retry-After": retry_after},
        )
    return JSONResponse({"call": call})


async def item(request: Request) -> Response:
    """Hold the request ``hold`` seconds (default 0) while counting it in flight."""
    state, key = _state(request), request.path_params["key"]
    state.enter(key)
    try:
        await asyncio.sleep(_number(request, "hold", 0.0))
    finally:
        state.leave(key)
    return JSONResponse({"item": int(request.path_params["item"])})


async def _drop(receive: Receive) -> None:
    """Close the connection without a word: the client sees it dropped.

    ASGI has no message for that, so this reaches uvicorn's transport
    through its ``receive`` (a method of the request-response cycle).
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if not isinstance(transport, asyncio.Transport):
        msg = "Dropping a connection needs uvicorn's h11 or httptools protocol"
        raise TypeError(msg)
    transport.close()
    while (await receive())["type"] != "http.disconnect":
        pass  # the request's body, already read


_CHUNK: Final = 64 * 1024


@functools.cache
def _encoded(size: int, encoding: str) -> bytes:
    """Return a JSON string of ``size`` bytes, encoded (cached: bombs take a while)."""
    wbits = {"gzip": 31, "deflate": 15, "rawdeflate": -15}[encoding]
    encoder = zlib.compressobj(9, zlib.DEFLATED, wbits)
    parts = [encoder.compress(b'"')]
    block = b"0" * (1 << 20)
    left = size - 2
    while left > 0:
        parts.append(encoder.compress(block[: min(left, len(block))]))
        left -= len(block)
    parts.extend((encoder.compress(b'"'), encoder.flush()))
    return b"".join(parts)


async def big(request: Request) -> Response:
    """Answer a JSON string of ``size`` bytes; ``chunked=1``: without a length."""
    size = int(_number(request, "size", 1024))
    body = b'"' + b"x" * (size - 2) + b'"'
    if request.query_params.get("chunked") != "1":
        return Response(body, media_type="application/json")

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), _CHUNK):
            yield body[start : start + _CHUNK]

    return StreamingResponse(chunks(), media_type="application/json")


async def encoded(request: Request) -> Response:
    """Answer a JSON string of ``size`` bytes in ``encoding`` (a bomb, if large)."""
    size = int(_number(request, "size", 1024))
    encoding = request.query_params.get("encoding", "gzip")
    if encoding == "broken-gzip":  # says gzip, is not
        return Response(
            b"not gzip at all",
            media_type="application/json",
            headers={"Content-Encoding": "gzip"},
        )
    header = "deflate" if encoding == "rawdeflate" else encoding
    return Response(
        _encoded(size, encoding),
        media_type="application/json",
        headers={"Content-Encoding": header},
    )


#: Every method ``/raw/...`` answers (HEAD has no body to answer with).
RAW_METHODS: Final = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def raw(request: Request) -> Response:
    """Answer the request as it arrived: raw path and query, headers, body.

    Names as uvicorn gives them (lowercased), values and body as latin-1
    text, so that every byte comes back.
    """
    scope = request.scope
    body = await request.body()
    return JSONResponse(
        {
            "method": scope["method"],
            "raw_path": scope["raw_path"].decode("latin-1"),
            "query": scope["query_string"].decode("latin-1"),
            "headers": [
                [name.decode("latin-1"), value.decode("latin-1")]
                for name, value in scope["headers"]
            ],
            "body": body.decode("latin-1"),
        }
    )


async def cookies(request: Request) -> Response:
    """Set the cookie ``session=<key>``; answer the ``Cookie`` header received."""
    response = JSONResponse({"cookie": request.headers.get("cookie")})
    response.set_cookie("session", request.path_params["key"], path="/")
    return response


# ---------------------------------------------------------------- the app


@final
class LoopbackApp:
    """The raw ASGI layer: log every request, drop ``/drop/...``, route the rest."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.routes = Starlette(
            routes=[
                Route("/contacts/{key}", create_contact, methods=["POST"]),
                Route("/echo/{key}", echo),
                Route("/slow/{key}", slow),
                Route("/dribble/{key}", dribble),
                Route("/flaky/{key}", flaky),
                Route("/items/{key}/{item:int}", item),
                Route("/big/{key}", big),
                Route("/encoded/{key}", encoded),
                Route("/raw/{key}", raw, methods=RAW_METHODS),
                Route("/raw/{key}/{rest:path}", raw, methods=RAW_METHODS),
                Route("/cookies/{key}", cookies),
            ]
        )
        self.routes.state.loopback = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        if scope["type"] == "http":
            self.state.record(scope)
            if scope["path"].startswith("/drop/"):
                await _drop(receive)
                return
        await self.routes(scope, receive, send)


def build_app(state: ServerState) -> LoopbackApp:
    """Return the loopback API, recording into ``state``."""
    return LoopbackApp(state)
