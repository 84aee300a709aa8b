"""The canary scan's parts: an API that echoes credentials, and a workflow that fails.

``build_app(state)`` is an ASGI app (Starlette) that answers every error
with an echo of the request (headers, query, cookies, body), serves an
OAuth2 token endpoint that echoes too, and answers 200 to ``/ok``.
``plant(form, canary, base_url)`` builds the connectors that carry
``canary`` in one credential form; ``build_flow(connectors)`` declares on
them the calls whose errors, logs and spans the scan reads: an operation
answered 400, 503 (retried) and 429 (cool-down), a response that fails
validation, and hand-written tasks whose tracebacks chain httpx's errors
and quote the echo. ``flow_from_env()`` does both for ``fiscus run``.
Imports only the public API of fiscus_dsl.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, final

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from fiscus_dsl import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    Connector,
    OAuth2ClientCredentials,
    Retry,
    Secret,
    Workflow,
    workflow,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx
    from starlette.requests import Request

#: Every credential form the scan plants a canary in.
FORMS: Final = (
    "header_api_key",
    "query_api_key",
    "bearer_token",
    "basic_auth",
    "url_userinfo",
    "oauth2_secret_basic",
    "oauth2_secret_body",
    "oauth2_access_token",
    "cookie",
)
USER: Final = "canary-user"
CLIENT_ID: Final = "canary-client"
#: The environment variables ``flow_from_env`` reads (the CLI's run).
ENV_FORM: Final = "FISCUS_CANARY_FORM"
ENV_VALUE: Final = "FISCUS_CANARY_VALUE"
ENV_URL: Final = "FISCUS_CANARY_URL"
ENV_TRANSPORT: Final = "FISCUS_CANARY_TRANSPORT"  # "httpx", or "" for the default
TRANSPORTS: Final = ("", "httpx")  # the default (aiohttp's pool) and httpcore's
_QUICK: Final = Retry(attempts=2, backoff=0.01, jitter=False)


@final
@dataclass
class EchoState:
    """What the echo API saw, and the access token its token endpoint issues."""

    token: str = "at-not-a-canary-0000"
    seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, text: str) -> None:
        """Keep the text of one request as the server received it."""
        with self.lock:
            self.seen.append(text)


async def _echo(request: Request) -> dict[str, Any]:
    body = (await request.body()).decode("latin-1")
    echo = {
        "headers": dict(request.headers),
        "query": request.url.query,
        "cookies": dict(request.cookies),
        "body": body,
    }
    state: EchoState = request.app.state.echo
    state.record(json.dumps(echo))
    return echo


async def _ok(request: Request) -> JSONResponse:
    await _echo(request)
    return JSONResponse({"ok": True})


async def _fail(request: Request) -> JSONResponse:
    status = int(request.path_params["status"])
    headers = {"Retry-After": "0"} if status == 429 else None
    echo = await _echo(request)
    return JSONResponse({"error": "refused", "echo": echo}, status, headers=headers)


async def _mistyped(request: Request) -> JSONResponse:
    return JSONResponse({"echo": await _echo(request)})


async def _token(request: Request) -> JSONResponse:
    echo = await _echo(request)
    if "reject" in echo["body"]:
        return JSONResponse({"error": "invalid_client", "echo": echo}, 401)
    state: EchoState = request.app.state.echo
    return JSONResponse(
        {"access_token": state.token, "token_type": "bearer", "echo": echo}
    )


def build_app(state: EchoState) -> Starlette:
    """Return the echo API; ``state`` records every request it gets."""
    app = Starlette(
        routes=[
            Route("/ok", _ok),
            Route("/fail/{status:int}", _fail),
            Route("/mistyped", _mistyped),
            Route("/token", _token, methods=["POST"]),
        ]
    )
    app.state.echo = state
    return app


def plant(
    form: str, canary: str, base_url: str, transport: str = ""
) -> list[Connector]:
    """Return the connectors that carry ``canary`` in credential form ``form``.

    ``transport`` is ``"httpx"`` for httpcore's pool, or ``""`` for the default.
    """
    options: dict[str, Any] = {"transport": transport or None}
    name = f"canary_{form}"
    token_url = f"{base_url}/token"
    if form == "url_userinfo":
        scheme, _, rest = base_url.partition("://")
        return [
            Connector(
                name, f"{scheme}://{USER}:{canary}@{rest}", retry=_QUICK, **options
            )
        ]
    if form == "cookie":
        cookie = f"theme=dark; session={canary}"
        return [
            Connector(
                name, base_url, headers={"Cookie": cookie}, retry=_QUICK, **options
            )
        ]
    if form.startswith("oauth2"):
        secret = canary if form != "oauth2_access_token" else "cs-not-a-canary-000"
        client_auth: Literal["basic", "body"] = (
            "body" if form == "oauth2_secret_body" else "basic"
        )
        good = OAuth2ClientCredentials(
            token_url, CLIENT_ID, Secret(secret), client_auth=client_auth
        )
        rejected = OAuth2ClientCredentials(
            token_url, CLIENT_ID, Secret(secret), ["reject"], client_auth=client_auth
        )
        return [
            Connector(name, base_url, auth=good, retry=_QUICK, **options),
            Connector(
                f"{name}_rejected", base_url, auth=rejected, retry=None, **options
            ),
        ]
    auths: dict[str, Callable[[], ApiKeyAuth | BearerAuth | BasicAuth]] = {
        "header_api_key": lambda: ApiKeyAuth(Secret(canary), header="X-API-Key"),
        "query_api_key": lambda: ApiKeyAuth(Secret(canary), query="api_key"),
        "bearer_token": lambda: BearerAuth(Secret(canary)),
        "basic_auth": lambda: BasicAuth(USER, Secret(canary)),
    }
    return [Connector(name, base_url, auth=auths[form](), retry=_QUICK, **options)]


def build_flow(connectors: list[Connector]) -> Workflow[[], list[object]]:
    """Declare the failing calls on ``connectors`` and the workflow making them."""
    calls = [call for api in connectors for call in _declare(api)]

    @workflow
    def canary_flow() -> list[object]:
        return [call() for call in calls]

    return canary_flow


def _declare(api: Connector) -> list[Any]:
    """Declare on ``api`` the calls of the scan; return them, argument-free."""

    @api.operation("GET /ok", on_error="continue")
    def ok() -> dict[str, bool]:
        """Succeed: the credential is sent and nothing echoes it."""
        raise NotImplementedError  # the connector sends the request

    @api.operation("GET /fail/{status}", on_error="continue")
    def fail(status: int) -> dict[str, object]:
        """Fail with ``status``; the body echoes the request."""
        raise NotImplementedError  # the connector sends the request

    @api.operation("GET /mistyped", on_error="continue")
    def mistyped() -> int:
        """Get the echo back with 200, which is not an int: a validation error."""
        raise NotImplementedError  # the connector sends the request

    @api.task(on_error="continue", retry=None)
    async def raise_for_status(client: httpx.AsyncClient, status: int) -> object:
        response = await client.get(f"/fail/{status}")
        response.raise_for_status()  # httpx's error quotes the URL
        return None

    @api.task(on_error="continue", retry=None)
    async def quote_the_echo(client: httpx.AsyncClient) -> object:
        response = await client.get("/fail/400")
        try:
            return int(response.text)  # ValueError quotes the echo
        except ValueError:
            msg = f"the API refused: {response.text}"
            raise RuntimeError(msg)  # noqa: B904  (the __context__ chain is the point)

    return [
        ok,
        lambda: fail(400),
        lambda: fail(503),
        lambda: fail(429),
        mistyped,
        lambda: raise_for_status(400),
        quote_the_echo,
    ]


def flow_from_env() -> Workflow[[], list[object]]:
    """Build the scan's workflow from the environment, for ``fiscus run``."""
    form, canary = os.environ[ENV_FORM], os.environ[ENV_VALUE]
    transport = os.environ.get(ENV_TRANSPORT, "")
    return build_flow(plant(form, canary, os.environ[ENV_URL], transport))
