"""The root of the error tree: ``FiscusError`` and the Fiscus error numbers."""

from __future__ import annotations

from enum import IntEnum
from typing import Final


class FiscusErrorCode(IntEnum):
    """The Fiscus SDK's error numbers, carried by every error as ``code``."""

    AUTH_FAILURE = 1001
    INVALID_REQUEST = 1002
    NOT_FOUND = 1003
    INTERNAL_ERROR = 1004
    TIMEOUT = 1005
    USER_OPERATION_ERROR = 1006
    EXECUTION_FAILURE = 1007
    EXECUTION_HALTED = 1008
    PLANNING_FAILURE = 1009
    TESTING_FAILURE = 1010
    HALT_REQUESTED = 1011
    UNKNOWN_ERROR = 9999


STATUS_CODES: Final = {
    401: FiscusErrorCode.AUTH_FAILURE,
    403: FiscusErrorCode.AUTH_FAILURE,
    404: FiscusErrorCode.NOT_FOUND,
    408: FiscusErrorCode.TIMEOUT,
}


class FiscusError(Exception):
    """Root of every error fiscus_dsl raises.

    Attributes:
        retryable: Whether a task retry policy with the default ``retry_on``
            may try again after this error.
        code: The Fiscus error number that describes it.
    """

    retryable: bool = True
    code: FiscusErrorCode = FiscusErrorCode.EXECUTION_FAILURE

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle with the fields, whatever ``__init__`` takes (plans ship errors)."""
        return (_restore_error, (type(self), self.args, self.__dict__))


def _restore_error(
    cls: type[FiscusError], args: tuple[object, ...], state: dict[str, object]
) -> FiscusError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error
