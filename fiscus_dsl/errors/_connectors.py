"""Errors of HTTP calls through connectors."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict, Unpack, final

from fiscus_dsl.errors._base import STATUS_CODES, FiscusError, FiscusErrorCode

if TYPE_CHECKING:
    from collections.abc import Sequence


class _Call(TypedDict):
    """Where a ``ConnectorError`` happened: the fields every one of them has."""

    connector: str
    operation: str | None
    method: str
    url: str


class ConnectorError(FiscusError):
    """An HTTP call through a connector failed.

    The URL is recorded without credentials or secret-looking query values.

    Attributes:
        connector: The connector's name.
        operation: The operation (task) name, if the call was one.
        method: The HTTP method.
        url: The URL, scrubbed.
        retry_after: Seconds the server asked to wait (``Retry-After``), if any.
    """

    def __init__(
        self,
        message: str,
        *,
        connector: str,
        operation: str | None,
        method: str,
        url: str,
        code: FiscusErrorCode = FiscusErrorCode.EXECUTION_FAILURE,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.connector = connector
        self.operation = operation
        self.method = method
        self.url = url
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


@final
class HTTPStatusError(ConnectorError):
    """The API answered 4xx or 5xx, or 3xx to an operation (never retried).

    A 3xx is a success only for an operation that returns ``httpx.Response``.

    Attributes:
        status_code: The HTTP status.
        body: At most 200 characters of the response body, scrubbed.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str,
        retryable: bool,
        retry_after: float | None = None,
        **call: Unpack[_Call],
    ) -> None:
        code = status_code_to_error_code(status_code)
        super().__init__(
            message, code=code, retryable=retryable, retry_after=retry_after, **call
        )
        self.status_code = status_code
        self.body = body


def status_code_to_error_code(status_code: int) -> FiscusErrorCode:
    """Map an HTTP status to its Fiscus error number (a 3xx: the request must move)."""
    default = FiscusErrorCode.INTERNAL_ERROR
    if 300 <= status_code < 500:
        default = FiscusErrorCode.INVALID_REQUEST
    return STATUS_CODES.get(status_code, default)


@final
class UnsafeURLError(ConnectorError, ValueError):
    """A built URL left the connector's scheme, host, port or base path.

    Nothing was sent.
    """


@final
class ResponseTooLargeError(ConnectorError):
    """A response body went past the connector's ``max_response_bytes``, decoded.

    The read stops there; never retried, the same answer would come again.

    Attributes:
        limit: The connector's ``max_response_bytes``.
    """

    def __init__(self, message: str, *, limit: int, **call: Unpack[_Call]) -> None:
        super().__init__(message, code=FiscusErrorCode.INTERNAL_ERROR, **call)
        self.limit = limit


@final
class ResponseValidationError(ConnectorError, ValueError):
    """The API's answer does not match the operation's return annotation.

    Attributes:
        fields: The dotted names of the fields that failed.
    """

    def __init__(
        self, message: str, *, fields: Sequence[str], **call: Unpack[_Call]
    ) -> None:
        super().__init__(message, code=FiscusErrorCode.INTERNAL_ERROR, **call)
        self.fields = tuple(fields)
