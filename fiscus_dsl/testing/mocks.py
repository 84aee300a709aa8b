"""``ConnectorMock``: every connector request answered by a respx router.

While a ``ConnectorMock`` is started, the connectors send every request
through one transport that asks its ``respx.Router`` (the connectors' own
transports, httpx or aiohttp, are left aside; limits, deadline, auth and
CLIENT spans still apply around it). A request that matches no route fails
its task with ``UnmockedRequestError`` and is remembered, so the test fails
even where the run swallowed the error; a route never called fails it too,
unless it is optional. Retry waits return at once (recorded in
``waits``). A started mock changes nothing global: its transport and its
``FakeSleep`` are context-scoped overrides, seen by the runs started in the
thread or asyncio task that started it, and by no other. The
``fiscus_mock`` fixture and ``mock_connectors()`` (``scope.py``) start and
stop one. respx is imported when a mock is made.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, final, overload

import httpx

from fiscus_dsl._connectors.http import overriding_transport
from fiscus_dsl._connectors.scrub import scrub_url
from fiscus_dsl._runtime.attempts import current_attempt
from fiscus_dsl.errors import OptionTypeError
from fiscus_dsl.testing.errors import MockExpectationError, UnmockedRequestError
from fiscus_dsl.testing.fake_time import FakeSleep
from fiscus_dsl.testing.stubs import stub_task
from fiscus_dsl.testing.targets import (
    OperationCall,
    Target,
    named_target,
    operation_for,
    route_target,
    sender_connector,
    task_target,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    import respx

    from fiscus_dsl._connectors.connector import Connector
    from fiscus_dsl._dsl.task import Task
    from fiscus_dsl.testing.stubs import TaskStub

P = ParamSpec("P")
R = TypeVar("R")


@final
class ConnectorMock:
    """Mocks for every connector's requests, on a respx router, and task stubs.

    ``operation(...)`` returns the respx ``Route`` of an operation, so
    ``.respond(...)``, ``.mock(side_effect=[...])``, ``.called`` and
    ``.calls.last.request`` work as in respx. Strict by default: a request
    no route matches fails the test, and so does a route never called
    (unless made with ``optional=True``).

    Attributes:
        router: The ``respx.Router`` answering every connector request; add
            routes of your own to it as with respx.
        waits: The retry delays the runs asked for while the mock was
            started (they did not wait).

    Examples:
        >>> from fiscus_dsl import Connector
        >>> from fiscus_dsl.testing import ConnectorMock
        >>> wiki = Connector("Wiki", "https://wiki.example.com/api")
        >>> @wiki.operation("GET /pages/{page_id}")
        ... def get_page(page_id: str) -> dict[str, str]:
        ...     '''Fetch a page.'''
        >>> mock = ConnectorMock()
        >>> mock.start()
        >>> route = mock.operation(get_page).respond(json={"title": "Home"})
        >>> get_page("home")
        {'title': 'Home'}
        >>> mock.calls(get_page)[-1].path_params
        {'page_id': 'home'}
        >>> mock.stop()
        >>> mock.verify()  # every request had a mock, every mock was called
    """

    def __init__(self) -> None:
        import respx

        self.router: respx.Router = respx.Router(
            assert_all_called=False, assert_all_mocked=True
        )
        self._sleep = FakeSleep()
        self.waits: list[float] = self._sleep.delays
        self._transport = httpx.MockTransport(self._handle)
        self._targets: dict[tuple[str, str], tuple[respx.Route, Target]] = {}
        self._optional: set[int] = set()
        self._stubs: list[TaskStub[Any]] = []
        self._unmocked: list[str] = []
        self._overrides: ExitStack | None = None

    def __repr__(self) -> str:
        state = "started" if self.is_started else "stopped"
        return f"<ConnectorMock {state}, {len(self.router.routes)} route(s)>"

    # ------------------------------------------------------------ mocks

    @overload
    def operation(
        self, task: Task[P, R], /, *, optional: bool = False
    ) -> respx.Route: ...
    @overload
    def operation(
        self, connector: str, name: str, /, *, optional: bool = False
    ) -> respx.Route: ...
    def operation(
        self,
        task: Task[P, R] | str,
        name: str | None = None,
        /,
        *,
        optional: bool = False,
    ) -> respx.Route:
        """Return the respx route of an operation (made on first use).

        The route matches the operation's method and URL: the connector's
        host and base path, the path with any value per ``{param}``, any
        query. A callable ``side_effect`` receives the request and the path
        parameters as keyword arguments, as respx passes named groups.

        Args:
            task: The operation task, or the connector's name.
            name: The operation's name, with a connector name.
            optional: Do not fail the test if the route is never called.

        Raises:
            OptionTypeError: The task is not an operation of a connector.
            LookupError: No connector or operation of those names.
        """
        return self._route(_target_of(task, name), optional=optional)

    def route(
        self, connector: Connector, route: str, /, *, optional: bool = False
    ) -> respx.Route:
        """Return the respx route of ``"METHOD /path/{param}"`` on ``connector``.

        For the requests of a hand-written ``@connector.task``; the path is
        relative to the connector's base URL.

        Raises:
            ConfigurationError: The route is not of that form.
        """
        return self._route(route_target(connector, route), optional=optional)

    def calls(
        self, task: Task[P, R] | str, name: str | None = None, /
    ) -> list[OperationCall]:
        """Return the calls an operation's route answered, read back as sent.

        ``calls(create_contact)[-1].json`` is the last request's body;
        ``.query`` and ``.path_params`` are its query and path parameters.

        Raises:
            LookupError: The operation has no route: mock it first.
        """
        target = _target_of(task, name)
        found = self._targets.get(target.key)
        if found is None:
            msg = (
                f"Operation {target.label} has no mock, so it answered no call; "
                "mock it first with fiscus_mock.operation(...)"
            )
            raise LookupError(msg)
        route, _ = found
        return [
            OperationCall(
                request=call.request,
                response=call.optional_response,
                path_params=target.path_params(call.request),
            )
            for call in route.calls
        ]

    def stub(
        self,
        task: Task[P, R],
        /,
        *,
        returns: R | None = None,
        raises: BaseException | type[BaseException] | None = None,
        side_effect: Callable[P, R]
        | Callable[P, Awaitable[R]]
        | Iterable[R | BaseException | type[BaseException]]
        | None = None,
    ) -> TaskStub[R]:
        """Make ``task`` run a stub instead of its body (or its HTTP request).

        The runner still runs the task: its hooks, retries, timeout, span
        and guards apply to the stub. Restored when the mock stops. See
        ``stub_task`` for the arguments.
        """
        made = stub_task(task, returns=returns, raises=raises, side_effect=side_effect)
        self._stubs.append(made)
        return made

    def _route(self, target: Target, *, optional: bool) -> respx.Route:
        found = self._targets.get(target.key)
        if found is None:
            route = self.router.route(method=target.method, url__regex=target.pattern)
            self._targets[target.key] = (route, target)
        else:
            route = found[0]
        if optional:
            self._optional.add(id(route))
        return route

    def _sort_routes(self) -> None:
        """Put the most specific routes first: ``/contacts/me`` before ``/{id}``.

        Routes added to the router by hand come before all others, as the
        most deliberate. Done before each request, so the order never
        depends on the order the test declared its mocks in.
        """
        from respx.models import RouteList

        ours = {id(route): target for route, target in self._targets.values()}
        ordered = sorted(
            self.router.routes,
            key=lambda route: (
                ours[id(route)].specificity if id(route) in ours else (-1, 0)
            ),  # routes added to the router by hand come first
        )
        routes = RouteList()
        for route in ordered:
            routes.add(route)
        self.router.routes[:] = routes

    # ------------------------------------------------------------ the transport

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        from respx.models import AllMockedAssertionError

        self._sort_routes()
        try:
            return await self.router.async_handler(request)
        except AllMockedAssertionError:
            error = self._unmocked_error(request, exhausted=False)
        except RuntimeError as exc:
            if not isinstance(exc.__cause__, StopIteration):
                raise
            error = self._unmocked_error(request, exhausted=True)
        self._unmocked.append(str(error))
        raise error

    def _unmocked_error(
        self, request: httpx.Request, *, exhausted: bool
    ) -> UnmockedRequestError:
        url = scrub_url(request.url)
        connector = sender_connector(request)
        attempt = current_attempt()
        task = None if attempt is None else attempt.task_name
        operation = (
            None if connector is None else operation_for(connector, request, task)
        )
        sender = _describe_sender(connector, operation, task)
        if exhausted:
            route = next(r for r in self.router.routes if r.pattern.match(request))
            message = (
                f"The mock {self._describe(route)} ran out of side effects: it "
                f"answered {route.call_count} call(s), and {request.method} {url}"
                f"{sender} found none left, so nothing was sent; add items to its "
                "side_effect, or expect fewer attempts"
            )
        else:
            message = (
                f"Unmocked request: {request.method} {url}{sender} matched no mock, "
                f"so nothing was sent. The mocks: {self._mock_list()}. "
                f"{_fix(connector, operation, request)}"
            )
        return UnmockedRequestError(
            message,
            method=request.method,
            url=url,
            connector=None if connector is None else connector.name,
            operation=operation or task,
        )

    def _describe(self, route: respx.Route) -> str:
        for known, target in self._targets.values():
            if known is route:
                return target.describe()
        return repr(route)

    def _mock_list(self) -> str:
        described = [self._describe(route) for route in self.router.routes]
        return "; ".join(described) if described else "none"

    # ------------------------------------------------------------ lifecycle

    @property
    def is_started(self) -> bool:
        """Tell whether connector requests go through this mock now."""
        return self._overrides is not None

    def start(self) -> None:
        """Send connector requests through the router; make retries instant.

        For the runs started from here on in this thread or asyncio task
        (and the tasks and threads they start), until ``stop()``, which
        must be called in the same thread or task.
        """
        if self._overrides is not None:
            return
        with ExitStack() as overrides:
            overrides.enter_context(overriding_transport(self._transport))
            overrides.enter_context(self._sleep)
            self._overrides = overrides.pop_all()

    def stop(self) -> None:
        """Undo ``start``: connectors send for real, stubs are restored."""
        if self._overrides is None:
            return
        overrides, self._overrides = self._overrides, None
        try:
            overrides.close()
        finally:
            for made in reversed(self._stubs):
                made.restore()
            self._stubs.clear()

    def problems(self) -> str | None:
        """Describe what the mocks expected and did not get, if anything.

        That is each request no route matched, and each route that is not
        optional and was never called.
        """
        uncalled = self._uncalled()
        if not self._unmocked and not uncalled:
            return None
        lines: list[str] = []
        if self._unmocked:
            lines.append(f"{len(self._unmocked)} request(s) matched no mock:")
            lines.extend(f"  - {message}" for message in self._unmocked)
        if uncalled:
            lines.append(
                f"{len(uncalled)} mock(s) were never called; call them, remove "
                "them, or make them optional: fiscus_mock.operation(..., "
                "optional=True):"
            )
            lines.extend(f"  - {text}" for text in uncalled)
        return "\n".join(lines)

    def verify(self) -> None:
        """Raise ``MockExpectationError`` if ``problems()`` has anything to say."""
        problems = self.problems()
        if problems is not None:
            raise MockExpectationError(
                problems, uncalled=self._uncalled(), unmocked=list(self._unmocked)
            )

    def note_unmocked(self, error: BaseException) -> None:
        """Add the unmocked requests to ``error``'s notes, unless it says them."""
        text = str(error)
        for message in self._unmocked:
            if message not in text:
                error.add_note(f"fiscus_mock: {message}")

    def _uncalled(self) -> list[str]:
        return [
            self._describe(route)
            for route in self.router.routes
            if not route.called and id(route) not in self._optional
        ]


def _target_of(task: Task[P, R] | str, name: str | None) -> Target:
    if not isinstance(task, str):
        return task_target(task)
    if name is None:
        msg = (
            f"Give the operation's name after the connector's: ({task!r}, "
            "'create_contact'), or pass the operation task itself"
        )
        raise OptionTypeError(msg, option="name")
    return named_target(task, name)


def _describe_sender(
    connector: Connector | None, operation: str | None, task: str | None
) -> str:
    if connector is None:
        return "" if task is None else f" (task {task!r})"
    what = (
        f"operation {operation!r}"
        if operation
        else "a request"
        if task is None
        else f"task {task!r}"
    )
    return f" ({what} of connector {connector.name!r})"


def _fix(
    connector: Connector | None, operation: str | None, request: httpx.Request
) -> str:
    if connector is None:
        return (
            "No connector has this base URL; mock it with fiscus_mock.router, "
            "as with respx"
        )
    if operation is not None:
        return (
            f"Mock it: fiscus_mock.operation({connector.name!r}, "
            f"{operation!r}).respond(...)"
        )
    base = connector.base_url.raw_path.decode("ascii").rstrip("/")
    path = request.url.raw_path.decode("ascii").split("?")[0]
    relative = path[len(base) :] or "/"
    return (
        f"Mock it: fiscus_mock.route(connector, '{request.method} {relative}')"
        ".respond(...)"
    )
