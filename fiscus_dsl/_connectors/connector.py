"""``Connector``: a declared HTTP API whose operations are tasks.

A connector holds what every call to one API shares: the base URL, the
auth (sent only to that origin), default headers, a timeout, limits, the
default retry policy and the httpx transport. ``connector.operation(...)``
makes a task from a signature (its body is ``operation.OperationSender``);
``connector.task`` gives a hand-written task the connector's
``httpx.AsyncClient``. Both put an ``OperationRef`` in the task's options
for its graph nodes: the connector, and an operation's method and URL
template. There is one client per connector per event loop, created
lazily and closed when the last run using it ends. The client's
``OriginGuard`` keeps credentials on the connector's origin on every hop,
redirects included; its transport stops a body past
``max_response_bytes``. Every failure of a request reaches the user as a
``ConnectorError`` with its code, retryable only when a retry may succeed.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import traceback
import weakref
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    Literal,
    ParamSpec,
    Protocol,
    TypeVar,
    final,
    overload,
)

import httpx

from fiscus_dsl._connectors.body import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
)
from fiscus_dsl._connectors.http import (
    InstrumentedTransport,
    status_error,
    transport_error,
)
from fiscus_dsl._connectors.limits import check_limit_per, make_limits, parse_rate
from fiscus_dsl._connectors.logs import client_scrubbing
from fiscus_dsl._connectors.operation import (
    IDEMPOTENCY_NAMESPACE as IDEMPOTENCY_NAMESPACE,  # where tests and users read it
)
from fiscus_dsl._connectors.operation import IdempotencyKey as IdempotencyKey
from fiscus_dsl._connectors.operation import OperationSender
from fiscus_dsl._connectors.options import (
    TransportOption,
    check_base_url,
    check_byte_limit,
    check_connector,
    check_operation,
    check_transport,
)
from fiscus_dsl._connectors.origins import OriginGuard
from fiscus_dsl._connectors.request import (
    IDEMPOTENT_METHODS,
    read_operation,
)
from fiscus_dsl._connectors.route import DirectRoute, direct_route
from fiscus_dsl._connectors.scrub import scrub_url
from fiscus_dsl._connectors.transports import inner_transport
from fiscus_dsl._dsl.hooks import Hooks
from fiscus_dsl._dsl.options import check_decorated
from fiscus_dsl._dsl.signature import CallSignature
from fiscus_dsl._dsl.task import Task, TaskOptions
from fiscus_dsl._graph.specs import OperationRef
from fiscus_dsl._runtime.lifecycle import current_run_exit
from fiscus_dsl._runtime.retry import Retry
from fiscus_dsl.errors import ConnectorError, SignatureError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from fiscus_dsl._connectors.limits import LimitPer, Limits, Rate, UserLimits
    from fiscus_dsl._dsl.hooks import HookFunction
    from fiscus_dsl._dsl.task import OnError

P = ParamSpec("P")
R = TypeVar("R")

#: Connector operations retry by default: connection errors and 429 always,
#: timeouts and 408/5xx when the request is idempotent (see ``http.classify``).
DEFAULT_RETRY: Final = Retry(attempts=3, backoff=0.5, max_delay=30.0)


class ConnectorAuth(Protocol):
    """What a connector needs of its auth: an ``httpx.Auth`` for its origin."""

    def for_origin(
        self, base_url: str | httpx.URL, *, connector: str = ""
    ) -> httpx.Auth:
        """Return an auth that sends credentials only to ``base_url``'s origin."""
        ...


@final
@dataclass(slots=True)
class _LoopState:
    """A connector's client, limits and route on one loop, and the runs using them."""

    client: httpx.AsyncClient
    limits: Limits | UserLimits
    route: DirectRoute | None
    runs: set[int] = field(default_factory=set)


# Every connector alive, for lookups by name (the testing kit's mocks); weak,
# so a connector goes when its last user drops it.
_LIVE: Final[weakref.WeakSet[Connector]] = weakref.WeakSet()
_LIVE_LOCK: Final = threading.Lock()


def live_connectors() -> list[Connector]:
    """Return every connector alive in the process, in name order."""
    with _LIVE_LOCK:
        found = list(_LIVE)
    return sorted(found, key=lambda connector: connector.name)


@final
class Connector:
    """A declared HTTP API: base URL, auth, limits and retries for its operations.

    Args:
        name: The connector's name (need not be unique).
        base_url: Scheme, host, port and base path every request keeps.
        auth: ``BearerAuth``, ``ApiKeyAuth``, ``BasicAuth`` or
            ``OAuth2ClientCredentials``; sent only to ``base_url``'s origin.
        headers: Headers sent with every request.
        timeout: Seconds one request may take as a whole, body included,
            from the moment it is handed to the transport.
        max_concurrency: The most requests in flight at once on one event
            loop, shared by every run there; the transport's pool has as
            many connections (``None``: 100, aiohttp's default pool).
        rate_limit: Requests per unit, such as ``"10/s"`` or ``"600/min"``.
        limit_per: ``"connector"`` (the default) or ``"user"``: limits and
            429 cool-downs per end user the run acts for, in each process
            (requests for no user share one set; see docs/connectors.md).
        retry: The default ``Retry`` of its operations and tasks.
        transport: ``None`` (the default: aiohttp's pool, or httpcore's
            while a respx mock patches it), ``"aiohttp"``, ``"httpx"``
            (one httpcore pool), or any ``httpx.AsyncBaseTransport``.
        max_response_bytes: The most bytes one response body may have,
            decoded (64 MiB by default; ``None``: no limit). A larger body
            stops the read with ``ResponseTooLargeError``.
        max_request_bytes: The most bytes one request body may have (16 MiB
            by default; ``None``: no limit). A larger one is refused before
            it is sent, operations and hand-written tasks alike.

    Examples:
        >>> from fiscus_dsl import BearerAuth, Connector, Secret
        >>> crm = Connector("CRMSystem", "https://crm.example.com/v1",
        ...                 auth=BearerAuth(Secret("t0ken")), max_concurrency=10)
        >>> "t0ken" in repr(crm)
        False
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        auth: ConnectorAuth | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = 30.0,
        max_concurrency: int | None = 10,
        rate_limit: str | None = None,
        retry: Retry | None = DEFAULT_RETRY,
        transport: TransportOption = None,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        max_request_bytes: int | None = DEFAULT_MAX_REQUEST_BYTES,
        limit_per: LimitPer = "connector",
    ) -> None:
        check_connector(
            name,
            auth=auth,
            headers=headers,
            timeout=timeout,
            max_concurrency=max_concurrency,
            rate_limit=rate_limit,
            retry=retry,
        )
        self.name = name
        self.base_url = check_base_url(name, base_url)
        self.auth = auth
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.max_concurrency = max_concurrency
        self.rate: Rate | None = None if rate_limit is None else parse_rate(rate_limit)
        self.limit_per = check_limit_per(name, limit_per)
        self.retry = retry
        self.transport = check_transport(name, transport)
        self.max_response_bytes = check_byte_limit(
            name, "max_response_bytes", max_response_bytes
        )
        self.max_request_bytes = check_byte_limit(
            name, "max_request_bytes", max_request_bytes
        )
        self._tasks: dict[str, Task[..., Any]] = {}
        self.models: dict[str, object] = {}  # an OpenAPI document's, by name
        self._states: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, _LoopState
        ] = weakref.WeakKeyDictionary()
        with _LIVE_LOCK:
            _LIVE.add(self)

    @classmethod
    def from_openapi(
        cls,
        source: object,
        *,
        name: str | None = None,
        base_url: str | None = None,
        auth: object = None,
        operations: Sequence[str] | None = None,
        **options: Any,
    ) -> Connector:
        """Make a connector of an OpenAPI 3.0/3.1 document's operations.

        ``source`` is a path (JSON or YAML), a URL or a parsed dict; each
        operation is a task named after its ``operationId`` in snake_case,
        in ``connector.operations`` and as an attribute (``operations=``
        builds those named only). ``auth`` gives the credentials of the
        document's security scheme; ``options`` are the Connector's own.

        Raises:
            ConfigurationError: The document cannot be read, names no server
                (give ``base_url``), or uses what fiscus_dsl does not read.
        """
        from fiscus_dsl._connectors.openapi import connector_from_openapi as build

        return build(cls, source, name, base_url, auth, operations, **options)

    def __getattr__(self, name: str) -> Task[..., Any]:
        """Return the operation ``name`` (an OpenAPI connector's are reached so)."""
        found: Task[..., Any] | None = self.__dict__.get("_tasks", {}).get(name)
        if found is None:
            raise AttributeError(f"'Connector' object has no attribute {name!r}")  # noqa: EM102
        return found

    def __repr__(self) -> str:
        auth = "" if self.auth is None else f", auth={self.auth!r}"
        return f"Connector({self.name!r}, base_url={scrub_url(self.base_url)!r}{auth})"

    @property
    def operations(self) -> Mapping[str, Task[..., Any]]:
        """Return the connector's operations and tasks by name, as declared."""
        return dict(self._tasks)

    def _register(self, made: Task[P, R]) -> Task[P, R]:
        self._tasks[made.name] = made
        return made

    # ------------------------------------------------------------ clients

    def client(self) -> httpx.AsyncClient:
        """Return this connector's client for the running event loop.

        The client carries the auth, headers, limits and spans; it is
        closed when the last run that used it on this loop ends.
        """
        return self.state().client

    def limits(self) -> Limits:
        """Return this connector's limits on this loop (per user: the end user's)."""
        return self.state().limits.current()

    def state(self) -> _LoopState:
        """Return this connector's client, limits and route on the running loop.

        Made on first use; the run in progress, if any, closes the client
        when it ends (the last run using it, when several do).
        """
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = self._new_state()
        run_exit = current_run_exit()
        if run_exit is not None and id(run_exit) not in state.runs:
            state.runs.add(id(run_exit))
            run_exit.register((id(self), id(loop)), self._leave(loop, id(run_exit)))
        return state

    def _new_state(self) -> _LoopState:
        max_cool_down = (self.retry or DEFAULT_RETRY).max_delay
        limits, connections = make_limits(self, max_cool_down=max_cool_down)
        inner = inner_transport(self.transport, connections)
        # Only what BodyLimit decodes within bounds, unless the user says else.
        headers = httpx.Headers({"Accept-Encoding": ACCEPT_ENCODING})
        headers.update(self.headers)
        hooks = client_scrubbing(self.headers)  # logs, headers, userinfo
        # Every hop, redirects included: credentials stay on the origin.
        hooks["request"] += [
            OriginGuard(self.base_url, auth=self.auth, connector=self.name),
            _remember,
        ]
        transport = InstrumentedTransport(
            inner,
            limits,
            self.timeout,
            max_response_bytes=self.max_response_bytes,
            max_request_bytes=self.max_request_bytes,
        )
        client = httpx.AsyncClient(
            base_url=self.base_url,  # hand-written tasks send relative paths
            auth=None
            if self.auth is None
            else self.auth.for_origin(self.base_url, connector=self.name),
            headers=headers,
            timeout=httpx.Timeout(self.timeout, pool=None),
            transport=transport,
            follow_redirects=False,
            event_hooks=hooks,
        )
        route = direct_route(client, transport, self.base_url)
        return _LoopState(client=client, limits=limits, route=route)

    def _leave(
        self, loop: asyncio.AbstractEventLoop, run: int
    ) -> Callable[[], Awaitable[None]]:
        async def leave() -> None:
            state = self._states.get(loop)
            if state is None:
                return
            state.runs.discard(run)
            if not state.runs:
                del self._states[loop]
                await state.client.aclose()

        return leave

    async def aclose(self) -> None:
        """Close the client of the running event loop, if there is one."""
        state = self._states.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.client.aclose()

    # ------------------------------------------------------------ operations

    def operation(
        self,
        route: str,
        *,
        name: str | None = None,
        retry: Retry | Literal["connector"] | None = "connector",
        timeout: float | None = None,
        on_error: OnError = "fail",
        before: HookFunction | Sequence[HookFunction] | None = None,
        after: HookFunction | Sequence[HookFunction] | None = None,
        on_retry: HookFunction | Sequence[HookFunction] | None = None,
        idempotency_key: IdempotencyKey = True,
    ) -> Callable[[Callable[P, R]], Task[P, R]]:
        """Make a task of an HTTP operation from a signature whose body is not run.

        Args:
            route: ``"METHOD /path/{param}"``, relative to the base URL.
            name: The task's name (default: the function's name).
            retry: The task's ``Retry`` (default: the connector's; ``None``: none).
            timeout: Seconds per attempt, hooks and retries aside.
            on_error: ``"fail"`` or ``"continue"``, as for ``@task``.
            before: ``before_task`` hooks for this operation.
            after: ``after_task`` hooks for this operation.
            on_retry: ``on_retry`` hooks for this operation.
            idempotency_key: POST and PATCH carry an ``Idempotency-Key``
                derived from the run and task ids; ``False`` sends none (and
                an ambiguous failure is then not retried), a function of the
                arguments returns the key to send.

        Examples:
            >>> from fiscus_dsl import Connector
            >>> crm = Connector("CRMSystem", "https://crm.example.com/v1")
            >>> @crm.operation("GET /contacts/{contact_id}")
            ... def get_contact(contact_id: str) -> dict[str, str]:
            ...     '''Fetch one contact.'''
            >>> get_contact.name
            'get_contact'
        """
        check_operation(self.name, route, retry=retry, idempotency_key=idempotency_key)

        def decorate(function: Callable[P, R]) -> Task[P, R]:
            check_decorated(f"@{self.name}.operation", function)
            task_name = name or function.__name__
            signature = CallSignature(function, task_name)
            spec = read_operation(signature, route, connector=self.name)
            sender = OperationSender(self, spec, idempotency_key)
            options = self._options(
                task_name,
                retry,
                timeout,
                on_error,
                before,
                after,
                on_retry,
                operation=sender.reference(),
            )
            made = Task(function, options, body=sender.run, signature=signature)
            return self._register(made)

        return decorate

    @overload
    def task(self, function: Callable[..., Awaitable[R]], /) -> Task[..., R]: ...
    @overload
    def task(
        self,
        function: None = None,
        /,
        *,
        name: str | None = None,
        retry: Retry | Literal["connector"] | None = "connector",
        timeout: float | None = None,
        on_error: OnError = "fail",
    ) -> Callable[[Callable[..., Awaitable[R]]], Task[..., R]]: ...
    def task(
        self,
        function: Callable[..., Awaitable[R]] | None = None,
        /,
        *,
        name: str | None = None,
        retry: Retry | Literal["connector"] | None = "connector",
        timeout: float | None = None,
        on_error: OnError = "fail",
    ) -> Task[..., R] | Callable[[Callable[..., Awaitable[R]]], Task[..., R]]:
        """Make a hand-written task whose first parameter receives the client.

        The task is called without that parameter; its requests get the
        connector's auth, limits, deadline and spans.

        Examples:
            >>> import httpx
            >>> from fiscus_dsl import Connector
            >>> crm = Connector("CRMSystem", "https://crm.example.com/v1")
            >>> @crm.task
            ... async def search(client: httpx.AsyncClient, q: str) -> list[str]:
            ...     response = await client.get("/search", params={"q": q})
            ...     return list(response.json())
        """

        def decorate(target: Callable[..., Awaitable[R]]) -> Task[..., R]:
            task_name = name or target.__name__
            options = self._options(
                task_name,
                retry,
                timeout,
                on_error,
                None,
                None,
                None,
                operation=OperationRef(connector=self.name),
            )
            if not inspect.iscoroutinefunction(target):
                msg = (
                    f"@{self.name}.task {target.__qualname__} is not async; write "
                    "`async def` and await the client's requests"
                )
                raise SignatureError(msg, task=task_name, parameter=None)
            visible = _without_first_parameter(target, connector=self.name)

            async def body(*args: object, **kwargs: object) -> R:
                token = _SENDING.set(None)
                try:
                    return await target(self.client(), *args, **kwargs)
                except httpx.HTTPStatusError as exc:  # raise_for_status(): classify it
                    raise status_error(
                        exc.response,
                        connector=self.name,
                        operation=task_name,
                        idempotent=_is_idempotent(exc.request),
                    ) from exc
                except (httpx.RequestError, httpx.InvalidURL) as exc:
                    raise self._failed(exc, task_name) from exc
                except TimeoutError as exc:
                    if not _from_connector(exc):
                        raise  # the task's own wait, not one of its requests
                    raise self._failed(exc, task_name) from exc
                finally:
                    _SENDING.reset(token)

            made: Task[..., R] = Task(visible, options, body=body)  # type: ignore[arg-type]  # visible stands for target
            return self._register(made)

        if function is not None:
            return decorate(function)
        return decorate

    def _failed(self, error: Exception, task: str) -> ConnectorError:
        """Turn a hand-written task's failed request into a ``ConnectorError``."""
        request = _request_of(error)
        return transport_error(
            error,
            request=request,
            connector=self.name,
            operation=task,
            idempotent=request is not None and _is_idempotent(request),
            fallback_url=str(self.base_url),
        )

    def _options(
        self,
        name: str,
        retry: Retry | Literal["connector"] | None,
        timeout: float | None,
        on_error: OnError,
        before: HookFunction | Sequence[HookFunction] | None,
        after: HookFunction | Sequence[HookFunction] | None,
        on_retry: HookFunction | Sequence[HookFunction] | None,
        *,
        operation: OperationRef,
    ) -> TaskOptions:
        hooks = Hooks(before_task=before, after_task=after, on_retry=on_retry)
        return TaskOptions(
            name=name,
            retry=self.retry if retry == "connector" else retry,
            timeout=timeout,
            on_error=on_error,
            hooks=None if hooks.is_empty() else hooks,
            attempt_context=True,
            operation=operation,
        )


# ---------------------------------------------------------------- helpers

# The request a hand-written task sent last (each redirect hop included), so
# that a failure httpx reports without one still names its method and URL.
_SENDING: Final[ContextVar[httpx.Request | None]] = ContextVar(
    "fiscus_sending", default=None
)
_TRANSPORT_MODULES: Final = ("httpx.", "httpcore.", "fiscus_dsl._connectors.")


async def _remember(request: httpx.Request) -> None:
    """Remember the request being sent (an httpx ``request`` event hook)."""
    _SENDING.set(request)


def _request_of(error: Exception) -> httpx.Request | None:
    if isinstance(error, httpx.RequestError):
        try:
            return error.request
        except RuntimeError:  # httpx raised it before it had a request
            pass
    return _SENDING.get()


def _from_connector(error: TimeoutError) -> bool:
    """Tell whether a ``TimeoutError`` came out of the client: the connector's deadline.

    A task's own ``asyncio.timeout`` raises where the task awaits, so its
    traceback never enters httpx or the connector's transport.
    """
    return any(
        str(frame.f_globals.get("__name__", "")).startswith(_TRANSPORT_MODULES)
        for frame, _ in traceback.walk_tb(error.__traceback__)
        if frame.f_globals.get("__name__") != __name__
    )


def _is_idempotent(request: httpx.Request) -> bool:
    """Tell whether a request may be repeated: its method, or an Idempotency-Key."""
    return request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers


def _without_first_parameter(
    function: Callable[..., object], *, connector: str
) -> Callable[..., object]:
    """Return a stand-in for ``function`` whose signature drops the client."""
    import functools

    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    if not parameters:
        msg = (
            f"@{connector}.task {function.__qualname__} takes no parameter for the "
            "client; make the first parameter `client: httpx.AsyncClient`"
        )
        name = getattr(function, "__name__", repr(function))
        raise SignatureError(msg, task=name, parameter=None)

    @functools.wraps(function)
    def visible(*args: object, **kwargs: object) -> object:
        return function(*args, **kwargs)

    visible.__signature__ = signature.replace(parameters=parameters[1:])  # type: ignore[attr-defined]  # what inspect reads
    annotations = dict(getattr(function, "__annotations__", {}))
    annotations.pop(parameters[0].name, None)
    visible.__annotations__ = annotations
    return visible
