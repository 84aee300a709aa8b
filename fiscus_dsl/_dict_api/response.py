"""``FiscusResponse``: what ``FiscusClient.execute`` returns, shaped as in Fiscus.

A response says whether the call succeeded, carries the result (one task's
data, or the list of every task's data), one response per task in
``results``, the Fiscus error code and a message naming the failing task,
the shared ``context``, and dict-style access. Messages never hold a
secret: connector errors are scrubbed where they are made.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Final, final

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from fiscus_dsl.errors import FiscusError, FiscusErrorCode

if TYPE_CHECKING:
    from fiscus_dsl._runtime.results import RunResult

_KEYS: Final = ("success", "result", "error_code", "error_message", "operation")


@final
class FiscusResponse:
    """The outcome of a Fiscus dict-API call, or of one task in it.

    Attributes:
        success: Every task that ran succeeded (a task skipped by its
            condition does not count against it).
        result: One task's data, or the list of every task's data.
        results: One ``FiscusResponse`` per task, in order (``None`` for a
            task's own response).
        error_code: The Fiscus number of the first failure, if any.
        error_message: Which task failed and why.
        error: The exception behind the failure, if any.
        context: The values tasks shared (``context[operation]``).
        operation: The operation's name, for a task's own response.
        task_id: The task's id in the run.
        skipped: The task did not run (its condition was false).
        run: The ``RunResult`` of the graph the call ran.

    Examples:
        >>> from fiscus_dsl import FiscusResponse
        >>> data = {"id": "c1", "tags": ["vip"]}
        >>> response = FiscusResponse(success=True, result=data)
        >>> response.get_field("tags", 0)
        'vip'
        >>> response["success"]
        True
    """

    __slots__ = (
        "context",
        "error",
        "error_code",
        "error_message",
        "operation",
        "result",
        "results",
        "run",
        "skipped",
        "success",
        "task_id",
    )

    def __init__(
        self,
        *,
        success: bool,
        result: object = None,
        results: list[FiscusResponse] | None = None,
        error: BaseException | None = None,
        error_message: str | None = None,
        context: Mapping[str, object] | None = None,
        operation: str | None = None,
        task_id: str | None = None,
        skipped: bool = False,
        run: RunResult[object] | None = None,
    ) -> None:
        self.success = success
        self.result = result
        self.results = results
        self.error = error
        self.error_code: FiscusErrorCode | None = None
        if error is not None:
            self.error_code = (
                error.code
                if isinstance(error, FiscusError)
                else FiscusErrorCode.UNKNOWN_ERROR
            )
        self.error_message = error_message
        self.context = dict(context or {})
        self.operation = operation
        self.task_id = task_id
        self.skipped = skipped
        self.run = run

    @property
    def has_error(self) -> bool:
        """Tell whether the response carries an error."""
        return self.error_message is not None

    def get_field(self, *keys: str | int, default: object = None) -> object:
        """Walk into the result by keys and indexes; ``default`` if one is missing.

        Mapping keys, attributes of objects (pydantic models) and list
        indexes all work: ``response.get_field("contact", "id")``.
        """
        value: object = self.result
        for key in keys:
            value = _step(value, key, default)
            if value is default:
                return default
        return value

    def to_dict(self) -> dict[str, object]:
        """Return the response as plain data (results included)."""
        data: dict[str, object] = {
            "success": self.success,
            "result": to_jsonable_python(self.result, fallback=repr),
            "error_code": None if self.error_code is None else int(self.error_code),
            "error_message": self.error_message,
            "operation": self.operation,
            "task_id": self.task_id,
            "skipped": self.skipped,
            "context": to_jsonable_python(self.context, fallback=repr),
        }
        if self.results is not None:
            data["results"] = [result.to_dict() for result in self.results]
        return data

    def to_json(self) -> str:
        """Return the response as JSON."""
        return json.dumps(self.to_dict())

    def __getitem__(self, key: str) -> object:
        if key not in _KEYS:
            msg = f"FiscusResponse has no key {key!r}; its keys are {list(_KEYS)}"
            raise KeyError(msg)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in _KEYS

    def __iter__(self) -> Iterator[str]:
        return iter(_KEYS)

    def __repr__(self) -> str:
        state = "success" if self.success else f"error {self.error_code}"
        where = f" {self.operation!r}" if self.operation else ""
        return f"<FiscusResponse{where} {state}>"


def _step(value: object, key: str | int, default: object) -> object:
    if isinstance(value, Mapping):
        return value.get(key, default)
    if isinstance(key, int):
        if isinstance(value, list | tuple) and -len(value) <= key < len(value):
            return value[key]
        return default
    if isinstance(value, BaseModel) or hasattr(value, "__dict__"):
        return getattr(value, key, default)
    return default
