"""``mock_connectors()``: a ``ConnectorMock`` for a block or a function, outside pytest.

``MockScope`` starts a fresh mock when a ``with`` (or ``async with``)
block starts, or each time a decorated function is called, and stops it
at the end; a block that ends without an error has its mock's
expectations checked. The ``fiscus_mock`` fixture is the pytest form.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, TypeVar, cast, final

from fiscus_dsl.testing.mocks import ConnectorMock

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import TracebackType

R = TypeVar("R")


def mock_connectors() -> MockScope:
    """Mock every connector request in a block or a function, outside pytest.

    ``with mock_connectors() as mock:`` starts a fresh ``ConnectorMock``
    (``mock`` is what the ``fiscus_mock`` fixture gives a test); when the
    block ends without an error, it checks that every request had a mock
    and every mock (not optional) was called, and raises
    ``MockExpectationError`` if not. Stubs are restored either way. As a
    decorator (sync or async), each call gets a fresh mock, passed as the
    ``fiscus_mock`` argument if the function has one.

    Examples:
        >>> from fiscus_dsl import Connector
        >>> from fiscus_dsl.testing import mock_connectors
        >>> crm = Connector("CRM", "https://crm.example.com/v1")
        >>> @crm.operation("GET /contacts/{contact_id}")
        ... def get_contact(contact_id: str) -> dict[str, str]:
        ...     '''Fetch one contact.'''
        >>> with mock_connectors() as mock:
        ...     route = mock.operation(get_contact).respond(json={"id": "c1"})
        ...     get_contact("c1")
        {'id': 'c1'}
        >>> route.call_count
        1
    """
    return MockScope()


@final
class MockScope:
    """A block or function whose connector requests a fresh ``ConnectorMock`` answers.

    Made by ``mock_connectors()``; usable with ``with``, ``async with`` and
    as a decorator.
    """

    def __init__(self) -> None:
        self._active: list[ConnectorMock] = []

    def __enter__(self) -> ConnectorMock:
        """Start a fresh mock and return it."""
        mock = ConnectorMock()
        mock.start()
        self._active.append(mock)
        return mock

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the mock; check its expectations if the block raised nothing."""
        mock = self._active.pop()
        mock.stop()
        if exc is not None:
            mock.note_unmocked(exc)
            return
        mock.verify()

    async def __aenter__(self) -> ConnectorMock:
        """Start a fresh mock and return it (``async with``)."""
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the mock; see ``__exit__``."""
        self.__exit__(exc_type, exc, traceback)

    def __call__(self, function: Callable[..., R]) -> Callable[..., R]:
        """Decorate ``function``: each call runs inside a fresh mock."""
        wants_mock = "fiscus_mock" in inspect.signature(function).parameters

        def arguments(mock: ConnectorMock, kwargs: dict[str, Any]) -> dict[str, Any]:
            return {**kwargs, "fiscus_mock": mock} if wants_mock else kwargs

        if inspect.iscoroutinefunction(function):
            coroutine = cast(
                "Callable[..., Awaitable[Any]]", function
            )  # R is awaitable

            @functools.wraps(function)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                with self as mock:
                    return await coroutine(*args, **arguments(mock, kwargs))

            return cast("Callable[..., R]", awrapper)  # calling it gives R, awaitable

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> R:
            with self as mock:
                return function(*args, **arguments(mock, kwargs))

        return wrapper
