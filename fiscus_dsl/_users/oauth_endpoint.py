"""The provider's token and revocation endpoints, as the code flow calls them.

``TokenClient`` posts a form with the client's authentication (HTTP Basic
when there is a client secret, RFC 6749 §2.3.1; the ``client_id`` in the
form for a public client) through a short-lived ``httpx.AsyncClient``
that follows no redirect, and reads a token answer into a ``TokenAnswer``
(secrets wrapped in ``Secret``), with the client-credentials flow's
``_token_fields``. ``endpoint_error`` builds the ``ConnectorError`` of a
failure: retryable for a 429, a 5xx, a timeout or a network error. Used by
``oauth_code``; imports connectors and errors only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, final
from urllib.parse import quote_plus

import httpx

from fiscus_dsl._connectors.auth import Secret
from fiscus_dsl._connectors.oauth2 import _token_fields
from fiscus_dsl._connectors.scrub import (
    register_basic_credentials,
    scrub_excerpt,
    scrub_message,
    scrub_url,
)
from fiscus_dsl.errors import ConnectorError, FiscusErrorCode

if TYPE_CHECKING:
    from collections.abc import Mapping

_TRANSIENT: Final = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class TokenAnswer:
    """What a token endpoint answered, its secrets wrapped."""

    access_token: Secret
    refresh_token: Secret | None
    expires_at: float | None  # None: the provider said no expires_in
    scope: str | None


@final
class TokenClient:
    """Post authenticated forms to the provider; read its token answers."""

    __slots__ = ("_client_id", "_client_secret", "_timeout", "_transport")

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: Secret | None,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout = timeout
        self._transport = None if transport is None else _Borrowed(transport)

    async def post(
        self, url: httpx.URL, form: Mapping[str, str], *, what: str, connector: str
    ) -> httpx.Response:
        """POST ``form`` with the client's authentication; network failures raise.

        Raises:
            ConnectorError: The request failed before an answer came.
        """
        headers = {"Accept": "application/json"}
        data = dict(form)
        if self._client_secret is None:
            data["client_id"] = self._client_id
        else:  # RFC 6749 §2.3.1: both are form-encoded before they go into Basic
            basic = register_basic_credentials(
                quote_plus(self._client_id), quote_plus(self._client_secret.reveal())
            )
            headers["Authorization"] = f"Basic {basic}"
        async with httpx.AsyncClient(
            transport=self._transport, timeout=self._timeout, follow_redirects=False
        ) as client:
            try:
                return await client.post(url, data=data, headers=headers)
            except httpx.TransportError as exc:
                detail = f"{type(exc).__name__}: {scrub_message(str(exc))}"
                raise endpoint_error(
                    url,
                    detail,
                    what=what,
                    connector=connector,
                    retryable=isinstance(exc, _TRANSIENT),
                ) from exc

    def read_token(
        self, response: httpx.Response, *, what: str, connector: str
    ) -> TokenAnswer:
        """Read a token answer.

        Raises:
            ConnectorError: It is not a bearer token answer (an error status,
                a body that is not JSON, no ``access_token``).
        """
        try:
            token, expires_in = _token_fields(response)
        except ValueError as exc:
            raise endpoint_error(
                response.request.url,
                str(exc),
                what=what,
                connector=connector,
                retryable=is_transient(response.status_code),
            ) from exc
        payload: dict[str, object] = response.json()
        refresh = payload.get("refresh_token")
        scope = payload.get("scope")
        return TokenAnswer(
            access_token=Secret(token),
            refresh_token=(
                Secret(refresh) if isinstance(refresh, str) and refresh else None
            ),
            # No expires_in: the provider does not say, and a 401 will tell.
            expires_at=(time.time() + expires_in if "expires_in" in payload else None),
            scope=scope if isinstance(scope, str) else None,
        )


@final
class _Borrowed(httpx.AsyncBaseTransport):
    """A caller's transport: sent through, never closed by a short-lived client."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport.handle_async_request(request)


def is_transient(status: int) -> bool:
    """Tell whether an answer of ``status`` may change if asked again (429, 5xx)."""
    return status == 429 or status >= 500


def endpoint_error(
    url: httpx.URL, detail: str, *, what: str, retryable: bool, connector: str = ""
) -> ConnectorError:
    """Return the ``ConnectorError`` of a failed call to the provider."""
    fix = (
        "try again later"
        if retryable
        else "check the URL, the client id and the client secret; for a code, "
        "that exchange() got the verifier and redirect URI of its start() (a "
        "code works once: start the authorization again)"
    )
    msg = f"Could not {what} at {scrub_url(url)}: {detail}; {fix}"
    return ConnectorError(
        msg,
        connector=connector,
        operation=None,
        method="POST",
        url=scrub_url(url),
        code=FiscusErrorCode.AUTH_FAILURE,
        retryable=retryable,
    )


def is_refused(response: httpx.Response) -> bool:
    """Tell whether a token answer refuses the grant rather than the client.

    A 400 or 401 ``invalid_grant``, or a 401 other than ``invalid_client``
    (a wrong client secret is the application's to fix, not the user's).
    """
    error = oauth_error(response)
    if response.status_code == 401:
        return error != "invalid_client"
    return response.status_code == 400 and error == "invalid_grant"


def oauth_error(response: httpx.Response) -> str | None:
    """Return the ``error`` of an OAuth2 error answer (RFC 6749 §5.2), if any."""
    try:
        payload: object = response.json()
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    return scrub_excerpt(error, limit=40) if isinstance(error, str) else None


def revocation_failure(response: httpx.Response, *, what: str) -> ConnectorError:
    """Return the ``ConnectorError`` of a revocation endpoint's error answer."""
    status = response.status_code
    detail = f"the endpoint answered {status}: {scrub_excerpt(response.text)!r}"
    return endpoint_error(
        response.request.url, detail, what=what, retryable=is_transient(status)
    )
