"""HTTP attempts: limits, CLIENT spans and error classification around httpx.

Every request a connector sends, from an operation or a hand-written task,
passes through ``InstrumentedTransport``: it waits for the connector's
concurrency slot, rate limit and 429 cool-down, opens one CLIENT span per
attempt following the OpenTelemetry HTTP conventions, injects the W3C
``traceparent``, and releases the slot when the response is closed.
``classify`` turns httpx failures and error statuses into connector errors
that say whether a retry is safe and how long the server asked to wait.
``overriding_transport`` puts another transport under every connector for
one context only (the testing kit's mocks).
"""

from __future__ import annotations

import asyncio
import email.utils
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, final

import httpx
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from fiscus_dsl._connectors.body import (
    BodyTooLarge,
    RequestTooLarge,
    body_limit,
    check_request_body,
)
from fiscus_dsl._connectors.scrub import scrub_excerpt, scrub_text, scrub_url
from fiscus_dsl._connectors.spans import (
    end_with_error,
    end_with_response,
    end_with_status,
    start_client_span,
)
from fiscus_dsl._connectors.transports import direct_sender
from fiscus_dsl._runtime.end_user import CURRENT_USER
from fiscus_dsl._runtime.overrides import LOCAL_OVERRIDE
from fiscus_dsl.errors import (
    ConnectorError,
    FiscusErrorCode,
    HTTPStatusError,
    ResponseTooLargeError,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

    from opentelemetry.trace import Span

    from fiscus_dsl._connectors.aio import AiohttpTransport
    from fiscus_dsl._connectors.body import BodyLimit
    from fiscus_dsl._connectors.limits import Limits, UserLimits
    from fiscus_dsl._connectors.wire import Answer, Outgoing

#: Request extension keys the connector sets for the transport.
TEMPLATE_EXTENSION: Final = "fiscus.url_template"

RETRY_STATUSES: Final = frozenset({408, 500, 502, 503, 504})
TOO_MANY_REQUESTS: Final = 429
BODY_EXCERPT: Final = 200
#: The most characters of a URL a message shows; the error's ``url`` has it all.
URL_IN_MESSAGE: Final = 120
_NOT_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


# ---------------------------------------------------------------- the transport

# The transport that replaces every connector's own while set (the testing
# kit's mock router); limits, deadline, auth and spans still apply around it.
# A ContextVar, so an override in one thread or asyncio task (one test, one
# run) never reaches the requests of another.
_TRANSPORT_OVERRIDE: Final[ContextVar[httpx.AsyncBaseTransport | None]] = ContextVar(
    "fiscus_transport_override", default=None
)


# The connector whose slot the running operation took before it built its
# request: that operation's requests (an auth flow's too) use the slot they
# already hold rather than queue for another.
_HELD_SLOT: Final[ContextVar[Limits | None]] = ContextVar(
    "fiscus_held_slot", default=None
)


@final
class HeldSlot:
    """Say that this context holds one of the connector's slots, for the block.

    An operation waits for its slot (``await limits.acquire()``: the slot,
    the rate, a cool-down) before it builds its request, so that a fan-out
    of thousands waits parked and spends no CPU beside the requests already
    on their deadline. Through httpx's client, the attempt's requests (an
    auth flow's too) then find the slot held here and use it rather than
    queue for another; the operation frees it. A plain class: it runs once
    per request.
    """

    __slots__ = ("_limits", "_token")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits

    def __enter__(self) -> None:
        self._token = _HELD_SLOT.set(self._limits)

    def __exit__(self, *exc_info: object) -> None:
        _HELD_SLOT.reset(self._token)


def _outer_context() -> dict[str, str]:
    """Return the trace context to send when the request has no span of its own.

    On a Dask worker with no OpenTelemetry SDK the task span of the runner
    is current (its context came with the call): the API still sees the
    request as part of that trace. With no trace at all, nothing is sent.
    """
    if not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def _held() -> None:
    """Release nothing: the slot belongs to the ``holding_slot`` block."""


@contextmanager
def overriding_transport(transport: httpx.AsyncBaseTransport) -> Iterator[None]:
    """Send every connector request made in the block through ``transport``.

    Only requests sent from this context see it (the runs started in the
    block, their tasks and worker threads); the previous override, if any,
    comes back when the block ends, even by an exception.
    """
    token = _TRANSPORT_OVERRIDE.set(transport)
    local = LOCAL_OVERRIDE.set("a transport override (such as mock_connectors())")
    try:
        yield
    finally:
        LOCAL_OVERRIDE.reset(local)
        _TRANSPORT_OVERRIDE.reset(token)


@final
class InstrumentedTransport(httpx.AsyncBaseTransport):
    """Wrap a transport with a connector's limits, deadline and CLIENT spans.

    ``timeout`` bounds each request as a whole, from the moment it is handed
    to the transport (it has a slot, and so a connection of the pool) until
    its body is read: the waits for a slot, the rate or a cool-down are not
    on the clock. httpx's own timeouts only bound the gaps between chunks,
    so a server dribbling its answer would never trip them.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        limits: Limits | UserLimits,
        timeout: float | None,
        *,
        max_response_bytes: int | None = None,
        max_request_bytes: int | None = None,
    ) -> None:
        self._inner = inner
        self._limits = limits
        self._timeout = timeout
        self._max_response_bytes = max_response_bytes
        self._max_request_bytes = max_request_bytes
        self._direct = direct_sender(inner)

    @property
    def has_direct(self) -> bool:
        """Tell whether the transport under this one has an aiohttp pool made here."""
        return self._direct is not None

    def direct(self) -> AiohttpTransport | None:
        """Return the aiohttp transport an operation may send through directly.

        ``None`` for a transport of another kind, while the testing kit
        overrides the transport, and while a mock patches httpx or httpcore.
        """
        if self._direct is None or _TRANSPORT_OVERRIDE.get() is not None:
            return None
        return self._direct()

    async def send_whole(self, out: Outgoing, sender: AiohttpTransport) -> Answer:
        """Send an operation's request through ``sender``, its body read whole.

        The caller holds one of the connector's slots. The same deadline,
        CLIENT span, size limits and 429 cool-down as ``handle_async_request``;
        the span and the deadline cover the body too.

        Raises:
            RequestTooLarge: The body is over ``max_request_bytes``; not sent.
        """
        limit = self._max_request_bytes
        if limit is not None and out.body is not None and len(out.body) > limit:
            raise RequestTooLarge(limit, size=len(out.body))
        deadline = self._deadline()
        span = start_client_span(out.method, out.template, out.url)
        try:
            async with asyncio.timeout_at(deadline):
                if span is None:
                    outer = _outer_context()
                    if outer:
                        out.set_headers(outer)
                    answer = await sender.send_whole(
                        out, limit=self._max_response_bytes
                    )
                else:
                    context = trace.set_span_in_context(span)
                    carrier: dict[str, str] = {}
                    propagate.inject(carrier, context=context)
                    out.set_headers(carrier)
                    token = otel_context.attach(context)
                    try:
                        answer = await sender.send_whole(
                            out, limit=self._max_response_bytes
                        )
                    finally:
                        otel_context.detach(token)
        except BaseException as exc:
            end_with_error(span, exc)
            raise
        if answer.status == TOO_MANY_REQUESTS:  # the caller's (end user's) limits
            wait = retry_after(answer.as_response(out.as_request()))
            self._limits.current().cool_down(1.0 if wait is None else wait)
        end_with_status(span, answer.status)
        return answer

    @staticmethod
    async def _slot(limits: Limits) -> Callable[[], None]:
        """Wait for a slot unless this context holds one; return its release."""
        if _HELD_SLOT.get() is limits:
            return _held
        return await limits.acquire()

    def _deadline(self) -> float | None:
        if self._timeout is None:
            return None
        return asyncio.get_running_loop().time() + self._timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request within the connector's limits, in its own span."""
        check_request_body(request, self._max_request_bytes)
        # A hand-written task's request (an operation's holds its slot already).
        if _HELD_SLOT.get() is None:
            user = CURRENT_USER.get()
            if user is not None:  # the end user's policies, before anything is sent
                user.authorize(self._limits.name, None)
        limits = self._limits.current()  # the end user's, with limit_per="user"
        release = await self._slot(limits)
        deadline = self._deadline()
        span = start_client_span(
            request.method, request.extensions.get(TEMPLATE_EXTENSION), request.url
        )
        override = _TRANSPORT_OVERRIDE.get()
        inner = self._inner if override is None else override
        try:
            response = await self._within(
                inner.handle_async_request, request, span, deadline
            )
        except BaseException as exc:
            release()
            end_with_error(span, exc)
            raise
        if response.status_code == TOO_MANY_REQUESTS:
            wait = retry_after(response)  # "Retry-After: 0" means no wait
            limits.cool_down(1.0 if wait is None else wait)
        end_with_response(span, response)
        if isinstance(response.stream, httpx.ByteStream):
            # A body already in memory (a mock's): httpx never closes it when
            # it follows a redirect, so the slot is freed now.
            release()
            limit = self._max_response_bytes
            if limit is not None and len(response.content) > limit:
                raise BodyTooLarge(limit, declared=len(response.content))
            return response
        response.stream = _ReleasingStream(
            response.stream,  # type: ignore[arg-type]  # an async transport's stream
            release,
            deadline,
            limit=body_limit(response.headers, self._max_response_bytes),
        )
        return response

    @staticmethod
    async def _within(
        send: Callable[[httpx.Request], Awaitable[httpx.Response]],
        request: httpx.Request,
        span: Span | None,
        deadline: float | None,
    ) -> httpx.Response:
        """Call ``send`` before the deadline, its span current and propagated."""
        async with asyncio.timeout_at(deadline):
            if span is None:
                outer = _outer_context()
                if outer:
                    request.headers.update(outer)
                return await send(request)
            context = trace.set_span_in_context(span)
            propagate.inject(request.headers, context=context)
            token = otel_context.attach(context)
            try:
                return await send(request)
            finally:
                otel_context.detach(token)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


@final
class _ReleasingStream(httpx.AsyncByteStream):
    """A response body read within the deadline and the size limit.

    Closing it frees the slot. With a ``BodyLimit`` the body is counted,
    and decoded when the limit took its decoding over, as it arrives.
    """

    def __init__(
        self,
        inner: httpx.AsyncByteStream,
        release: Callable[[], None],
        deadline: float | None,
        *,
        limit: BodyLimit | None = None,
    ) -> None:
        self._inner = inner
        self._release: Callable[[], None] | None = release
        self._deadline = deadline
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        limit = self._limit
        if limit is not None:
            limit.check_declared()
        chunks = aiter(self._inner)
        while True:
            async with asyncio.timeout_at(self._deadline):
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
            if limit is not None:
                chunk = limit.feed(chunk)
            if chunk:
                yield chunk

    async def aclose(self) -> None:
        """Close the body and free the connector's slot, once."""
        try:
            await self._inner.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


# ---------------------------------------------------------------- errors


def retry_after(response: httpx.Response) -> float | None:
    """Read ``Retry-After`` in seconds or as an HTTP date; ``None`` if absent or bad."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # float() refuses "²", a digit too
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def status_error(
    response: httpx.Response, *, connector: str, operation: str | None, idempotent: bool
) -> HTTPStatusError:
    """Build the error for a 3xx, 4xx or 5xx response; the body is scrubbed and cut.

    The status comes first in the message, so that a cut keeps it.
    """
    request = response.request
    status = response.status_code
    url = scrub_url(request.url)
    body = scrub_excerpt(response.text, limit=BODY_EXCERPT)  # scrubbed, then cut
    retryable = status == TOO_MANY_REQUESTS or (status in RETRY_STATUSES and idempotent)
    msg = (
        f"HTTP {status} {response.reason_phrase} from "
        f"{describe_call(operation, connector, request.method, url)}: {body!r}; "
        f"{_status_fix(response, retryable=retryable)}"
    )
    return HTTPStatusError(
        msg,
        connector=connector,
        operation=operation,
        method=request.method,
        url=url,
        status_code=status,
        body=body,
        retryable=retryable,
        retry_after=retry_after(response),
    )


def describe_call(operation: str | None, connector: str, method: str, url: str) -> str:
    """Name the call in a message: task, connector, method and a URL cut short."""
    what = f"operation {operation!r}" if operation else "a request"
    if len(url) > URL_IN_MESSAGE:
        url = url[: URL_IN_MESSAGE - 1] + "\u2026"
    return f"{what} of connector {connector!r} ({method} {url})"


def _status_fix(response: httpx.Response, *, retryable: bool) -> str:
    status = response.status_code
    if status < httpx.codes.BAD_REQUEST:
        location = response.headers.get("Location")
        target = (
            "no Location"
            if location is None
            else f"Location {_location(response.request.url, location)}"
        )
        return (
            f"a redirect ({target}) is not a success: operations do not follow "
            "redirects (point base_url or the route at the new place, or return "
            "httpx.Response to handle it); a hand-written task follows them with "
            "follow_redirects=True"
        )
    if status in (401, 403):
        return "check the connector's credentials and their scopes"
    if retryable:
        return "retryable: the task's Retry policy may try again"
    if status >= httpx.codes.INTERNAL_SERVER_ERROR:
        return (
            "not retried: the request may have had an effect (send an Idempotency-Key)"
        )
    return "fix the request; a 4xx is never retried"


def _location(base: httpx.URL, location: str) -> str:
    # httpx read the Location already: one that is no URL raised there.
    shown = scrub_url(base.join(location))
    return shown if len(shown) <= URL_IN_MESSAGE else shown[:URL_IN_MESSAGE] + "\u2026"


@final
@dataclass(frozen=True, slots=True)
class _Failure:
    """How one kind of transport failure reads, counts and retries."""

    problem: str
    code: FiscusErrorCode
    fix: str
    retryable: bool


_NOT_SENT_FIX: Final = (
    "the request was not sent, so the task's Retry policy may try again"
)
_IDEMPOTENT_FIX: Final = (
    "the request is idempotent, so the task's Retry policy may try again"
)
_MAYBE_DONE_FIX: Final = (
    "not retried: the request may have had an effect (send an Idempotency-Key)"
)


def classify(error: Exception, *, idempotent: bool) -> _Failure:
    """Tell what a transport failure means: its wording, its code, whether to retry."""
    what = f"{type(error).__name__} ({scrub_text(str(error)) or 'no detail'})"
    if isinstance(error, BodyTooLarge):
        return _Failure(
            f"Response body over max_response_bytes={error.limit}",
            FiscusErrorCode.INTERNAL_ERROR,
            "raise the connector's max_response_bytes, or ask for less (pages, "
            "filters); not retried, the answer would be as large again",
            retryable=False,
        )
    if isinstance(error, RequestTooLarge):
        sent = "nothing was sent" if error.size is not None else "the upload was cut"
        return _Failure(
            f"Request body over max_request_bytes={error.limit}",
            FiscusErrorCode.INVALID_REQUEST,
            f"{sent}; send the data in smaller requests, or raise the "
            "connector's max_request_bytes; not retried",
            retryable=False,
        )
    if isinstance(error, TimeoutError):  # the connector's own deadline
        fix = _IDEMPOTENT_FIX if idempotent else _MAYBE_DONE_FIX
        return _Failure(
            "Timed out after the connector's timeout",
            FiscusErrorCode.TIMEOUT,
            fix,
            retryable=idempotent,
        )
    if isinstance(error, _REFUSED):
        return _Failure(
            what,
            FiscusErrorCode.INVALID_REQUEST,
            _REFUSED_FIX.get(type(error), "fix the request; nothing was sent")
            + "; not retried, it would fail the same way",
            retryable=False,
        )
    if isinstance(error, httpx.DecodingError):
        return _Failure(
            what,
            FiscusErrorCode.INTERNAL_ERROR,
            "ask the API's owners; not retried, the answer would be the same",
            retryable=False,
        )
    not_sent = isinstance(error, _NOT_SENT)
    if not_sent:
        fix = _NOT_SENT_FIX
    else:
        fix = _IDEMPOTENT_FIX if idempotent else _MAYBE_DONE_FIX
    timed_out = isinstance(error, httpx.TimeoutException)
    return _Failure(
        what,
        FiscusErrorCode.TIMEOUT if timed_out else FiscusErrorCode.INTERNAL_ERROR,
        fix,
        retryable=not_sent or idempotent,
    )


# Failures of the request itself: the same request would fail the same way.
_REFUSED: Final = (
    httpx.TooManyRedirects,
    httpx.LocalProtocolError,
    httpx.UnsupportedProtocol,
    httpx.InvalidURL,
)
_REFUSED_FIX: Final[dict[type[Exception], str]] = {
    httpx.TooManyRedirects: (
        "the API redirects in a loop or too often; request the final URL directly"
    ),
    httpx.LocalProtocolError: (
        "a header or the URL holds a character HTTP forbids (CR, LF, NUL); "
        "remove it, nothing was sent"
    ),
    httpx.UnsupportedProtocol: "give an http or https URL",
    httpx.InvalidURL: "shorten or fix the URL's path and query; nothing was sent",
}


def transport_error(
    error: Exception,
    *,
    request: httpx.Request | None,
    connector: str,
    operation: str | None,
    idempotent: bool,
    fallback_url: str = "",
) -> ConnectorError:
    """Build the error for a request that got no response (or no whole one).

    ``request`` is ``None`` when the URL could not even be built; the
    message then shows ``fallback_url`` (the connector's base URL).
    """
    method = "?" if request is None else request.method
    url = scrub_url(fallback_url if request is None else request.url)
    failure = classify(error, idempotent=idempotent)
    where = describe_call(operation, connector, method, url)
    msg = f"{failure.problem} in {where}; {failure.fix}"
    if isinstance(error, BodyTooLarge):
        return ResponseTooLargeError(
            msg,
            connector=connector,
            operation=operation,
            method=method,
            url=url,
            limit=error.limit,
        )
    return ConnectorError(
        msg,
        connector=connector,
        operation=operation,
        method=method,
        url=url,
        code=failure.code,
        retryable=failure.retryable,
    )
