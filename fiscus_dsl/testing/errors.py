"""The testing kit's errors: test failures that are also fiscus_dsl errors.

Each subclasses ``FiscusError`` (so a run records it like any task error,
and never retries it) and ``AssertionError`` (so a test that lets it
escape fails, as respx's ``AllMockedAssertionError`` does). Imports only
``fiscus_dsl.errors``.
"""

from __future__ import annotations

from typing import final

from fiscus_dsl.errors import FiscusError, FiscusErrorCode


class _KitError(FiscusError, AssertionError):
    """Root of the testing kit's errors: a test expectation was not met."""

    retryable = False  # a retry cannot make a missing mock appear
    code = FiscusErrorCode.TESTING_FAILURE


@final
class UnmockedRequestError(_KitError):
    """A connector request matched no mock (or its mock ran out); it was not sent.

    Attributes:
        method: The HTTP method.
        url: The URL, scrubbed of credentials and secret-looking values.
        connector: The connector that sent it, when the kit could tell.
        operation: The operation (or task) that sent it, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        connector: str | None,
        operation: str | None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.connector = connector
        self.operation = operation


@final
class MockExpectationError(_KitError):
    """Mocks were never called, or requests matched no mock, in one mocking scope.

    Raised when a ``mock_connectors()`` block ends (the ``fiscus_mock``
    fixture fails the test with the same message).

    Attributes:
        uncalled: The mocks never called, as ``"METHOD URL (label)"``.
        unmocked: The messages of the requests that matched no mock.
    """

    def __init__(
        self, message: str, *, uncalled: list[str], unmocked: list[str]
    ) -> None:
        super().__init__(message)
        self.uncalled = uncalled
        self.unmocked = unmocked


@final
class RequestBodyError(_KitError, ValueError):
    """A recorded request's body is not JSON, so ``call.json`` cannot read it.

    Also a ``ValueError``, as ``json.loads`` raises, so ``except ValueError``
    keeps working; read ``call.request.content`` for the raw bytes.
    """


@final
class StubExhaustedError(_KitError):
    """A stub's ``side_effect`` sequence had no item left for a call.

    Attributes:
        task: The stubbed task's name.
        calls: The number of the call that found the sequence empty.
    """

    def __init__(self, message: str, *, task: str, calls: int) -> None:
        super().__init__(message)
        self.task = task
        self.calls = calls
