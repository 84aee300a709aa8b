"""Loopback servers for the redirect tests: each its own origin, each logging requests.

``serve(name)`` starts a small Starlette app with uvicorn on 127.0.0.1 (a
free port) in a background thread, over plain HTTP or, given a ``trustme``
certificate, over HTTPS. Two servers on two ports are two origins. Every
request is logged with its headers and query as received, so a test can
say exactly what reached each origin. Endpoints (``{key}`` keeps each
test's requests apart):

- ``/v1/echo/{key}``: 200 with a small JSON body;
- ``/v1/hop/{key}?to=URL&status=302``: a redirect to ``to``; with
  ``cookie=VALUE`` it also sets the cookie ``session=VALUE``;
- ``/v1/loop/{key}``: a redirect to itself, for ever;
- ``/token``: an OAuth2 token endpoint handing out ``token`` of ``serve``.

Imports no fiscus_dsl.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, final

from loopback import Seen, serving
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from starlette.requests import Request


@final
@dataclass(slots=True)
class Server:
    """A running loopback server: its URL and what it received."""

    name: str
    url: str = ""
    token: str = ""
    _log: list[Seen] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def seen(self, key: str) -> list[Seen]:
        """Return the requests whose path carries ``key``, in arrival order."""
        with self._lock:
            return [item for item in self._log if key in item.path.split("/")]

    def token_requests(self) -> list[Seen]:
        """Return the requests to ``/token``."""
        with self._lock:
            return [item for item in self._log if item.path == "/token"]

    async def record(self, request: Request) -> None:
        seen = await Seen.of(request)
        with self._lock:
            self._log.append(seen)


def _app(server: Server) -> Starlette:
    async def echo(request: Request) -> Response:
        await server.record(request)
        return JSONResponse({"server": server.name})

    async def hop(request: Request) -> Response:
        await server.record(request)
        status = int(request.query_params.get("status", "302"))
        response = Response(
            status_code=status, headers={"Location": request.query_params["to"]}
        )
        cookie = request.query_params.get("cookie")
        if cookie is not None:
            response.set_cookie("session", cookie)
        return response

    async def loop(request: Request) -> Response:
        await server.record(request)
        return Response(status_code=302, headers={"Location": request.url.path})

    async def token(request: Request) -> Response:
        await server.record(request)
        return JSONResponse(
            {"access_token": server.token, "token_type": "bearer", "expires_in": 3600}
        )

    methods = ["GET", "POST", "PUT", "DELETE"]
    return Starlette(
        routes=[
            Route("/v1/echo/{key}", echo, methods=methods),
            Route("/v1/hop/{key}", hop, methods=methods),
            Route("/v1/loop/{key}", loop, methods=methods),
            Route("/token", token, methods=["POST"]),
        ]
    )


def serve(
    name: str, *, token: str = "", cert: tuple[Path, Path] | None = None
) -> Iterator[Server]:
    """Serve one origin on 127.0.0.1 until the generator is closed.

    Args:
        name: The server's name, echoed in its answers.
        token: The access token ``/token`` hands out.
        cert: ``(certificate chain, private key)`` files to serve HTTPS with.
    """
    server = Server(name, token=token)
    tls = (
        {}
        if cert is None
        else {"ssl_certfile": str(cert[0]), "ssl_keyfile": str(cert[1])}
    )
    with serving(_app(server), name=f"server-{name}", **tls) as port:
        server.url = f"{'http' if cert is None else 'https'}://127.0.0.1:{port}"
        yield server
