"""The body of an operation task: build the request, check it, send it, read the answer.

``OperationSender.send`` binds the arguments, builds the request from the
operation's layout (``request.py``), refuses what cannot be sent (a URL
leaving the base URL or over httpx's length limit, a header value HTTP
cannot carry) before anything goes out, sends it through the connector's
client, turns a failure or a 3xx, 4xx or 5xx answer into a
``ConnectorError`` and validates the body against the return annotation.
Imports no runtime module but the current attempt.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Final, final

import httpx
from pydantic import ValidationError

from fiscus_dsl._connectors.http import (
    TEMPLATE_EXTENSION,
    HeldSlot,
    describe_call,
    status_error,
    transport_error,
)
from fiscus_dsl._connectors.request import (
    UnsendableValueError,
    describe_validation,
    same_origin,
)
from fiscus_dsl._connectors.scrub import scrub_url
from fiscus_dsl._graph.specs import OperationRef
from fiscus_dsl._runtime.attempts import current_attempt
from fiscus_dsl._runtime.end_user import CURRENT_USER
from fiscus_dsl.errors import (
    ConnectorError,
    FiscusErrorCode,
    ResponseValidationError,
    UnsafeURLError,
)

if TYPE_CHECKING:
    from fiscus_dsl._connectors.aio import AiohttpTransport
    from fiscus_dsl._connectors.connector import Connector
    from fiscus_dsl._connectors.origins import Credential
    from fiscus_dsl._connectors.request import Operation, RequestParts
    from fiscus_dsl._connectors.route import DirectRoute
    from fiscus_dsl._connectors.wire import Answer, Outgoing

IDEMPOTENCY_NAMESPACE: Final = uuid.UUID("6f1c2c9e-3c1a-5b7e-9f0e-1d2a3b4c5d6e")
_KEYED_METHODS: Final = frozenset({"POST", "PATCH"})
_KEY_HEADER: Final = "idempotency-key"
UNAUTHORIZED: Final = 401

IdempotencyKey = bool | Callable[[Mapping[str, object]], str]
Recorder = Callable[
    ["OperationSender", tuple[object, ...], dict[str, object]], Awaitable[object]
]
#: Set while a dry-run plan runs code of fiscus_dsl's own that calls
#: operations (the dict API's steps): each call is recorded, never sent.
PLAN_RECORDER: Final[ContextVar[Recorder | None]] = ContextVar(
    "fiscus_plan_recorder", default=None
)


@final
class OperationSender:
    """The body of an operation task: build, check, send, classify, validate."""

    def __init__(
        self, connector: Connector, spec: Operation, key: IdempotencyKey
    ) -> None:
        self.connector = connector
        self.spec = spec
        self.key = key
        parameters = spec.signature.parameters
        self._order = tuple(parameters)
        self._defaults = {
            name: parameter.default
            for name, parameter in parameters.items()
            if parameter.default is not parameter.empty
        }

    def reference(self) -> OperationRef:
        """Return what a graph node says of the operation (its connector, method, URL).

        The URL template is the base URL's scheme, host and port (never its
        userinfo), base path and route, placeholders kept, with any
        registered secret masked as in every URL fiscus_dsl shows.
        """
        spec, base_url = self.spec, self.connector.base_url
        origin = f"{base_url.scheme}://{base_url.netloc.decode('ascii')}"
        template = spec.template(base_url.raw_path.decode("ascii"))
        url = scrub_url(origin + template)
        return OperationRef(connector=spec.connector, method=spec.method, url=url)

    def version_text(self) -> str:
        """Return what the code version a run store keeps covers: the route."""
        spec = self.spec
        return f"{spec.connector} {spec.method} {spec.path}"

    async def run(self, *args: object, **kwargs: object) -> object:
        """Take one of the connector's slots, then build and send (one attempt).

        The slot comes first, so that thousands of mapped calls wait parked
        rather than build requests beside those on their deadline. The
        direct route is awaited here, with no coroutine between: each one
        a request waits in is kept alive, and collected, thousands of times.
        """
        recorder = PLAN_RECORDER.get()
        if recorder is not None:  # a dry-run plan: recorded, not sent
            return await recorder(self, args, kwargs)
        user = CURRENT_USER.get()
        if user is not None:  # the end user's policies, before anything is sent
            user.authorize(self.spec.connector, self.spec.name)
        state = self.connector.state()
        limits = state.limits.current()  # the end user's, with limit_per="user"
        release = await limits.acquire()
        try:
            arguments = self._bind(args, kwargs)
            parts, headers, idempotent = self._parts(arguments)
            route = state.route
            sender = None
            if route is not None and self.spec.returns is not httpx.Response:
                sender = route.sender()
            if route is None or sender is None:
                with HeldSlot(limits):
                    return await self._send(
                        state.client, parts, headers, arguments, idempotent=idempotent
                    )
            per_user = route.per_request
            if per_user is None:
                out, answer = await self._direct(
                    route, sender, parts, headers, arguments, None, idempotent
                )
            else:  # an end user's credential; after a 401, a fresh one, once
                credential, sent = await per_user.request_credential()
                out, answer = await self._direct(
                    route, sender, parts, headers, arguments, credential, idempotent
                )
                again = None
                if answer.status == UNAUTHORIZED:
                    again = await per_user.refreshed_credential(sent)
                if again is not None:
                    out, answer = await self._direct(
                        route, sender, parts, headers, arguments, again[0], idempotent
                    )
        finally:
            release()
        route.received(out, answer)
        return self._answered(out, answer, idempotent=idempotent)

    async def _direct(
        self,
        route: DirectRoute,
        sender: AiohttpTransport,
        parts: RequestParts,
        headers: dict[str, str],
        arguments: Mapping[str, object],
        credential: Credential | None,
        idempotent: bool,  # noqa: FBT001  (a private helper's flag, positional)
    ) -> tuple[Outgoing, Answer]:
        """Build and send one request on the direct route."""
        try:
            out = route.prepare(parts, headers, credential)
        except httpx.InvalidURL as exc:  # the query made the URL too long
            raise self._unsendable(_too_long(exc, arguments)) from exc
        try:
            answer = await route.transport.send_whole(out, sender)
        except (httpx.HTTPError, TimeoutError) as exc:
            request = out.as_request()
            raise self._failed(exc, request, idempotent=idempotent) from exc
        return out, answer

    async def _send(
        self,
        client: httpx.AsyncClient,
        parts: RequestParts,
        headers: dict[str, str],
        arguments: Mapping[str, object],
        *,
        idempotent: bool,
    ) -> object:
        """Send through httpx's client (mocks, cookies, OAuth2, ``httpx.Response``)."""
        spec = self.spec
        try:
            request = client.build_request(
                parts.method,
                parts.url,
                params=parts.params or None,  # type: ignore[arg-type]  # a list of str pairs
                headers=headers,
                json=parts.json if parts.has_body else None,
                extensions={TEMPLATE_EXTENSION: parts.template},
            )
        except httpx.InvalidURL as exc:  # the query made the URL too long
            raise self._unsendable(_too_long(exc, arguments)) from exc
        try:
            response = await client.send(request)
        except (httpx.HTTPError, TimeoutError) as exc:
            raise self._failed(exc, request, idempotent=idempotent) from exc
        # Not followed, a redirect is no success: its body is not the answer.
        if response.is_error or (
            not response.is_success and spec.returns is not httpx.Response
        ):
            raise self._status(response, idempotent=idempotent)
        if spec.returns is httpx.Response:
            return response
        return self._parse(response.content, request)

    def _answered(self, out: Outgoing, answer: Answer, *, idempotent: bool) -> object:
        """Return the direct route's answer as the operation's value, or raise."""
        if not answer.is_success:
            response = answer.as_response(out.as_request())
            raise self._status(response, idempotent=idempotent)
        if answer.encoded:  # an encoding the route does not decode: httpx does
            request = out.as_request()
            try:
                content = answer.as_response(request).content
            except httpx.DecodingError as exc:  # as the client path names it
                raise self._failed(exc, request, idempotent=idempotent) from exc
            return self._parse(content, out)
        return self._parse(answer.body, out)

    def _bind(
        self, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> dict[str, object]:
        """Bind a call's arguments by name, defaults applied, in signature order.

        Raises:
            TypeError: The arguments do not bind (``inspect`` says why).
        """
        bound = self.spec.call_signature.bind(args, kwargs)
        if bound is None:  # inspect's TypeError says why
            bound = dict(self.spec.signature.bind(*args, **kwargs).arguments)
        defaults = self._defaults
        if not defaults or len(bound) == len(self._order):
            return bound
        return {
            name: bound[name] if name in bound else defaults[name]
            for name in self._order
            if name in bound or name in defaults
        }

    def _parts(
        self, arguments: Mapping[str, object]
    ) -> tuple[RequestParts, dict[str, str], bool]:
        """Lay out the request; tell whether it may be repeated. Nothing is sent.

        Raises:
            UnsafeURLError: The URL would leave the connector's base URL.
            ConnectorError: A value cannot be sent (too long, CR/LF in a header).
        """
        connector, spec = self.connector, self.spec
        try:
            parts = spec.build(
                arguments, connector.base_url, max_body=connector.max_request_bytes
            )
        except UnsendableValueError as exc:
            if exc.location == "path":  # an empty path value would change the path
                raise self._unsafe_value(exc.problem) from exc
            raise self._unsendable(exc.problem) from exc
        except httpx.InvalidURL as exc:
            raise self._unsendable(_too_long(exc, arguments)) from exc
        # Without dot segments the path is the base path, the route and
        # quoted values: it cannot leave the base path.
        if parts.normalized and not same_origin(parts.url, connector.base_url):
            raise self._unsafe(parts.url)
        headers = dict(parts.headers)
        has_key = any(name.lower() == _KEY_HEADER for name in headers)
        key = None if has_key else self._idempotency_key(arguments)
        if key is not None:
            headers["Idempotency-Key"] = key  # a key argument wins, in any case
        return parts, headers, spec.is_idempotent or has_key or key is not None

    def _failed(
        self, error: Exception, request: httpx.Request, *, idempotent: bool
    ) -> ConnectorError:
        return transport_error(
            error,
            request=request,
            connector=self.connector.name,
            operation=self.spec.name,
            idempotent=idempotent,
        )

    def _status(self, response: httpx.Response, *, idempotent: bool) -> ConnectorError:
        return status_error(
            response,
            connector=self.connector.name,
            operation=self.spec.name,
            idempotent=idempotent,
        )

    def _parse(self, content: bytes, request: httpx.Request | Outgoing) -> object:
        spec = self.spec
        try:
            return spec.parse_body(content)
        except ValidationError as exc:
            fields, summary = describe_validation(exc)
            problem = f"does not match {_type_name(spec.returns)} ({summary})"
        except ValueError:
            fields, problem = ["<body>"], "is not JSON"
        url = scrub_url(request.url)
        call = describe_call(spec.name, spec.connector, request.method, url)
        msg = (
            f"The answer {problem}: {call}; fix the return annotation or ask the "
            "API's owners"
        )
        # Not chained: pydantic's error text would echo the values it got.
        raise ResponseValidationError(
            msg,
            connector=spec.connector,
            operation=spec.name,
            method=request.method,
            url=url,
            fields=fields,
        ) from None

    def _idempotency_key(self, arguments: Mapping[str, object]) -> str | None:
        if self.spec.method not in _KEYED_METHODS or self.key is False:
            return None
        if callable(self.key):
            return self.key(arguments)
        attempt = current_attempt()
        seed = (
            f"{attempt.run_id}/{attempt.task_id}"
            if attempt is not None
            else uuid.uuid4().hex
        )
        return f'"{uuid.uuid5(IDEMPOTENCY_NAMESPACE, seed)}"'

    def _unsafe_value(self, problem: str) -> UnsafeURLError:
        spec, connector = self.spec, self.connector
        msg = (
            f"Operation {spec.name!r} of connector {connector.name!r}: {problem}, "
            "which would change the path; nothing was sent. Pass a non-empty value"
        )
        return UnsafeURLError(
            msg,
            connector=connector.name,
            operation=spec.name,
            method=spec.method,
            url=scrub_url(connector.base_url),
        )

    def _unsendable(self, problem: str) -> ConnectorError:
        spec, connector = self.spec, self.connector
        msg = (
            f"Unsendable value: operation {spec.name!r} of connector "
            f"{connector.name!r} got {problem}; nothing was sent, and it is not "
            "retried. Pass a shorter value, or one without control characters"
        )
        return ConnectorError(
            msg,
            connector=connector.name,
            operation=spec.name,
            method=spec.method,
            url=scrub_url(connector.base_url),
            code=FiscusErrorCode.INVALID_REQUEST,
            retryable=False,
        )

    def _unsafe(self, url: httpx.URL) -> UnsafeURLError:
        spec, connector = self.spec, self.connector
        text = scrub_url(url)
        msg = (
            f"Operation {spec.name!r} of connector {connector.name!r} built {text}, "
            f"which leaves {scrub_url(connector.base_url)}; nothing was sent. Pass "
            "path values, not URLs"
        )
        return UnsafeURLError(
            msg,
            connector=connector.name,
            operation=spec.name,
            method=spec.method,
            url=text,
        )


def _too_long(error: httpx.InvalidURL, arguments: Mapping[str, object]) -> str:
    """Describe a URL httpx refused, naming the argument with the longest text."""
    lengths = {
        name: len(value) if isinstance(value, str) else len(str(value))
        for name, value in arguments.items()
        if value is not None
    }
    if not lengths:  # pragma: no cover - httpx refuses no URL without a value
        return f"a URL httpx refuses ({error})"
    longest = max(lengths, key=lengths.__getitem__)
    return (
        f"a URL httpx refuses ({error}); its longest value is parameter "
        f"{longest!r}, {lengths[longest]} characters"
    )


def _type_name(annotation: object) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)
