"""Log scrubbing for connectors: httpx's and httpcore's loggers, and ours.

Importing this module hands the runtime's logging (``_runtime/logs.py``)
the scrubbers of ``scrub.py``: ``scrub_message`` for log text and
``scrub_exception`` for exceptions and their chains. ``cover_http_loggers``
puts the scrubbing filter on the loggers of the HTTP stack a connector
sends through (httpx, httpcore and hpack, which log URLs, headers and
HTTP/2 header blocks at INFO and DEBUG); ``client_scrubbing`` does that
and the rest a connector's new client needs. Imports no opentelemetry.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from fiscus_dsl._connectors.scrub import (
    register_headers,
    register_request_userinfo,
    scrub_exception,
    scrub_message,
)
from fiscus_dsl._runtime.logs import cover, install_scrubber

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    import httpx

    EventHook = Callable[[httpx.Request], Awaitable[None]]

#: The loggers of the HTTP stack, by the names their packages give them.
HTTP_LOGGERS: Final = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "hpack",
    "hpack.hpack",
    "hpack.table",
    "aiohttp",
    "aiohttp.client",
    "aiohttp.internal",
)
_HTTP_PACKAGES: Final = ("httpx", "httpcore", "hpack")

install_scrubber(text=scrub_message, error=scrub_exception)


def cover_http_loggers() -> None:
    """Scrub every record of the HTTP stack's loggers from now on.

    The loggers named in ``HTTP_LOGGERS`` are covered, and any other logger
    of those packages that exists by now (a logger's filters see only the
    records logged on it, not those of its children).
    """
    existing = [
        name
        for name in list(logging.Logger.manager.loggerDict)
        if name.partition(".")[0] in _HTTP_PACKAGES
    ]
    cover(*HTTP_LOGGERS, *existing)


def client_scrubbing(headers: Mapping[str, str]) -> dict[str, list[EventHook]]:
    """Ready the scrubbing for a connector's new client; return its event hooks.

    The HTTP stack's loggers are covered, the credential headers among the
    connector's ``headers`` are registered (a ``Cookie``, an ``X-API-Key``),
    and the request hook returned registers the userinfo of every URL the
    client sends to, before it is sent.
    """
    cover_http_loggers()
    register_headers(headers)
    return {"request": [register_request_userinfo]}
