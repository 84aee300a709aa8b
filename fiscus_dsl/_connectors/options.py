"""Checks of a connector's options, run where they are given.

``Connector(...)`` and ``connector.operation(...)`` refuse a wrong option at
once with a ``ConfigurationError`` (an ``OptionTypeError`` for a wrong type)
that shows the form that works, as ``@task`` does (see ``_dsl.options``),
rather than failing at the first request. Imports no client and sends
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import httpx

from fiscus_dsl._connectors.scrub import scrub_url
from fiscus_dsl._dsl.options import (
    check_count_type,
    check_name,
    check_retry,
    check_seconds,
)
from fiscus_dsl.errors import ConfigurationError, OptionTypeError

if TYPE_CHECKING:
    from fiscus_dsl._runtime.retry import Retry

TransportOption = httpx.AsyncBaseTransport | Literal["httpx", "aiohttp"] | None


def check_connector(
    name: object,
    *,
    auth: object,
    headers: object,
    timeout: object,
    max_concurrency: object,
    rate_limit: object,
    retry: object,
) -> None:
    """Refuse connector options of the wrong type or value, naming the connector.

    Raises:
        ConfigurationError: An option is wrong (``OptionTypeError``: its type).
    """
    check_name("Connector(...)", name)
    owner = f"Connector {name!r}"
    _check_auth(owner, auth)
    _check_headers(owner, headers)
    check_seconds(owner, "timeout", timeout)
    check_count_type(owner, "max_concurrency", max_concurrency)
    check_concurrency(owner, max_concurrency)
    if rate_limit is not None and not isinstance(rate_limit, str):
        msg = (
            f"{owner} got rate_limit={rate_limit!r}; pass requests per unit as a "
            f"str, e.g. rate_limit='{rate_limit}/s'"
        )
        raise OptionTypeError(msg, option="rate_limit")
    check_retry(owner, retry)


def _check_auth(owner: str, auth: object) -> None:
    if auth is not None and not callable(getattr(auth, "for_origin", None)):
        msg = (
            f"{owner} got auth={_shown(auth)}; pass an auth object such as "
            "auth=BearerAuth(Secret.from_env('TOKEN')), ApiKeyAuth, BasicAuth or "
            "OAuth2ClientCredentials"
        )
        raise OptionTypeError(msg, option="auth")


def _check_headers(owner: str, headers: object) -> None:
    if headers is not None and not (
        isinstance(headers, Mapping)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
    ):
        msg = (
            f"{owner} got headers of type {type(headers).__name__}; pass a mapping "
            "of str to str, e.g. headers={'Accept': 'application/json'}"
        )
        raise OptionTypeError(msg, option="headers")


def _shown(value: object) -> str:
    """Show an option without echoing what may be a credential."""
    return repr(value) if not isinstance(value, str | bytes) else type(value).__name__


def check_operation(
    connector: str,
    route: object,
    *,
    retry: Retry | Literal["connector"] | None,
    idempotency_key: object,
) -> None:
    """Refuse an operation's route, retry or idempotency key of the wrong type.

    Raises:
        OptionTypeError: An option is of the wrong type.
    """
    owner = f"{connector}.operation({route!r})"
    if not isinstance(route, str):
        msg = (
            f"Connector {connector!r} got the route {route!r}; pass it as a str, "
            "e.g. .operation('GET /contacts/{contact_id}')"
        )
        raise OptionTypeError(msg, option="route")
    if retry != "connector":
        check_retry(owner, retry, allowed="'connector' (the default)")
    if not isinstance(idempotency_key, bool) and not callable(idempotency_key):
        msg = (
            f"{owner} got idempotency_key={idempotency_key!r}; pass True, False, "
            "or a function of the arguments that returns the key"
        )
        raise OptionTypeError(msg, option="idempotency_key")


def check_base_url(name: str, base_url: object) -> httpx.URL:
    """Return the base URL, which must be http(s) with a host, no query or fragment.

    Raises:
        ConfigurationError: It is not such a URL (``OptionTypeError``: not a str).
    """
    if not isinstance(base_url, str | httpx.URL):
        msg = (
            f"Connector {name!r} got base_url of type {type(base_url).__name__}; "
            "pass a str such as 'https://api.example.com/v1'"
        )
        raise OptionTypeError(msg, option="base_url")
    url = httpx.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host or url.query or url.fragment:
        msg = (
            f"Connector {name!r} got base_url={scrub_url(url)!r}; give an http(s) URL "
            "with a host and an optional base path, no query or fragment"
        )
        raise ConfigurationError(msg, option="base_url")
    return url


def check_concurrency(owner: str, value: object) -> None:
    """Refuse a ``max_concurrency`` below 1 (``None``: no limit).

    Raises:
        ConfigurationError: It is 0 or negative.
    """
    if isinstance(value, int) and value < 1:
        msg = f"{owner} got max_concurrency={value!r}; pass 1 or more, or None"
        raise ConfigurationError(msg, option="max_concurrency")


def check_byte_limit(name: str, option: str, value: object) -> int | None:
    """Return a byte limit (``max_response_bytes``, ``max_request_bytes``).

    Raises:
        ConfigurationError: It is 0 or negative (``OptionTypeError``: not an int).
    """
    owner = f"Connector {name!r}"
    check_count_type(owner, option, value)
    if isinstance(value, int) and value < 1:
        msg = (
            f"{owner} got {option}={value!r}; pass 1 or more, e.g. "
            f"{option}=16 * 1024 * 1024, or None for no limit"
        )
        raise ConfigurationError(msg, option=option)
    return value  # type: ignore[return-value]  # an int or None, checked above


def check_transport(name: str, option: object) -> TransportOption:
    """Return the transport option: ``'httpx'``, ``'aiohttp'``, a transport or None.

    Raises:
        ConfigurationError: It is anything else.
    """
    if option is None or option in ("httpx", "aiohttp"):
        return option
    if isinstance(option, httpx.AsyncBaseTransport):
        return option
    msg = (
        f"Connector {name!r} got transport={option!r}; pass 'httpx', 'aiohttp' "
        "or an httpx.AsyncBaseTransport"
    )
    raise ConfigurationError(msg, option="transport")
