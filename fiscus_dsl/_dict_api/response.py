"""``FiscusResponse``: what ``FiscusClient.execute`` returns, shaped as in Fiscus.

A response says whether the call succeeded, carries the result (one task's
data, or the list of every task's data), one response per task in
``results``, the Fiscus error code, a message naming the failing task and
the error's details, the shared ``context``, the Fiscus accessors
(``data``, ``get_field``, ``get_value``, the ``nested_*`` fields of a
``{"success", "message", "data"}`` answer) and dict-style access. Messages
never hold a secret: connector errors are scrubbed where they are made.
What is derived from plain values lives in ``response_fields``.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Final, final

from pydantic_core import to_jsonable_python

from fiscus_dsl._connectors.scrub import scrub_text
from fiscus_dsl._dict_api.response_fields import (
    code_for_message,
    error_facts,
    message_of,
    nested_parts,
    read_error,
    reported_error,
    step,
    unwrap_data,
)
from fiscus_dsl.errors import FiscusError, FiscusErrorCode

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from fiscus_dsl._runtime.results import RunResult

# Fiscus's keys first (those of its to_json), then the ones fiscus_dsl added.
_KEYS: Final = (
    "success",
    "message_id",
    "error",
    "result",
    "error_code",
    "error_message",
    "operation",
)


@final
class FiscusResponse:
    """The outcome of a Fiscus dict-API call, or of one task in it.

    Attributes:
        success: Every task that ran succeeded (a task skipped by its
            condition does not count against it).
        result: One task's data, or the list of every task's data, as the
            operations returned it (their text with ``FiscusResponseType.TEXT``).
        results: One ``FiscusResponse`` per task, in order (``None`` for a
            task's own response).
        message_id: This response's id: a fresh uuid4 hex unless given.
        error_code: The Fiscus number of the first failure, if any.
        error_message: Which task failed and why.
        error: The exception behind the failure, if any. An error given as
            text or as Fiscus's ``{"code", "message", "details"}`` dict
            becomes a ``FiscusError`` whose ``code`` is that code.
        context: The values tasks shared, by task id (else operation).
        operation: The operation's name, for a task's own response and for
            a one-operation call.
        task_id: The task's id in the run.
        skipped: The task did not run (its condition was false).
        is_batch: The response of a task list (``execute(tasks=...)``).
        run: The ``RunResult`` of the graph the call ran.

    Examples:
        >>> from fiscus_dsl import FiscusResponse
        >>> data = {"id": "c1", "tags": ["vip"]}
        >>> response = FiscusResponse(success=True, result=data)
        >>> response.get_field("tags", 0)
        'vip'
        >>> response["success"]
        True
        >>> FiscusResponse.map_error("Invalid API key").error_code.name
        'AUTH_FAILURE'
    """

    __slots__ = (
        "_details",
        "context",
        "error",
        "error_code",
        "error_message",
        "is_batch",
        "message_id",
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
        error: BaseException | str | Mapping[str, object] | None = None,
        error_message: str | None = None,
        context: Mapping[str, object] | None = None,
        operation: str | None = None,
        task_id: str | None = None,
        skipped: bool = False,
        run: RunResult[object] | None = None,
        message_id: str | None = None,
        batch: bool = False,
    ) -> None:
        self.success = success
        self.result = result
        self.results = results
        self.message_id = message_id if message_id is not None else uuid.uuid4().hex
        self._details: dict[str, object] = {}
        self.error: BaseException | None = None
        self.error_code: FiscusErrorCode | None = None
        if error is not None:
            self.error, given, self._details = read_error(error)
            error_message = error_message or given or message_of(self.error)
            self.error_code = (
                self.error.code
                if isinstance(self.error, FiscusError)
                else FiscusErrorCode.UNKNOWN_ERROR
            )
        self.error_message = error_message
        self.context = dict(context or {})
        self.operation = operation
        self.task_id = task_id
        self.skipped = skipped
        self.is_batch = batch
        self.run = run

    @classmethod
    def map_error(cls, message: str) -> FiscusResponse:
        """Return a failed response whose code is the one ``message`` describes.

        The Fiscus SDK's ``map_error`` read its server's error messages the
        same way, returning the error alone: here ``error_code``,
        ``error_message`` and ``error_details`` carry it. The first match
        wins: auth words (auth, authentication, authorization,
        unauthorized, forbidden, invalid API key) ``AUTH_FAILURE``; "not
        found" ``NOT_FOUND``; "timeout" or "timed out" ``TIMEOUT``;
        "invalid", "already exists" or "bad request" ``INVALID_REQUEST``;
        "user operation error" ``USER_OPERATION_ERROR``; else
        ``UNKNOWN_ERROR``. The message is scrubbed of known secrets.

        Examples:
            >>> FiscusResponse.map_error("Request timed out").error_code.name
            'TIMEOUT'
        """
        text = scrub_text(message)
        error = reported_error(code_for_message(text), text)
        return cls(success=False, error=error, error_message=text)

    @property
    def status(self) -> str:
        """Return ``"succeeded"``, ``"failed"`` or ``"skipped"``.

        A skipped task keeps Fiscus's ``success=True, result={}``; its
        status says that it did not run.
        """
        if self.skipped:
            return "skipped"
        return "succeeded" if self.success else "failed"

    # ------------------------------------------------------------ errors

    @property
    def has_error(self) -> bool:
        """Tell whether the response failed or carries an error message.

        A task skipped because its condition raised succeeded
        (``success=True``) and still has an error.
        """
        return not self.success or self.error_message is not None

    @property
    def error_details(self) -> dict[str, object] | None:
        """Return the error as a dict, or ``None`` when there is none.

        Keys: ``code`` (the ``FiscusErrorCode``, or ``None`` for a
        condition that raised), ``message``, ``task`` (the task's id) and
        ``operation`` (of the failing task, for a task list), then what
        the error knows: ``connector``, ``user_id`` (the end user), and
        ``status_code`` for an HTTP status and ``authorization_url`` for an
        end user who must authorize a connector. The ``details`` of a
        Fiscus error dict come first.
        """
        if not self.has_error:
            return None
        source = self._failing_task()
        return {
            **self._details,
            "code": self.error_code,
            "message": self.error_message,
            "task": source.task_id,
            "operation": source.operation,
            **error_facts(self.error),
        }

    def _failing_task(self) -> FiscusResponse:
        """Return the task's response that the error comes from (self if none)."""
        if self.results is None or self.task_id is not None:
            return self
        failed = (r for r in self.results if r.error_message == self.error_message)
        return next(failed, self)

    # ------------------------------------------------------------ data

    @property
    def data(self) -> object:
        """Return the data of a successful response, ``data`` key unwrapped.

        ``None`` when the response failed. For one task: its result's
        ``"data"`` entry (or a model's ``data`` field) when it has one, else
        the result itself (Fiscus's services wrapped their answers in
        ``{"data": ...}``), as plain data: pydantic models, which typed
        operations return, become dicts, so ``response.data["id"]`` works
        as in Fiscus (``result`` keeps the models). For a task list: each
        task's ``data``, in order.
        """
        if not self.success:
            return None
        if self.is_batch and self.results is not None:
            return [task.data for task in self.results]
        return unwrap_data(self.result)

    @property
    def is_nested(self) -> bool:
        """Tell whether the result is a nested ``{success, message, data}`` answer.

        For a task list: whether any task's result is one.
        """
        return self._nested() is not None

    @property
    def nested_success(self) -> object:
        """Return the nested answer's ``success`` (``None`` if not nested).

        For a task list: ``True`` when every nested task's is true.
        """
        nested = self._nested()
        return None if nested is None else nested[0]

    @property
    def nested_message(self) -> object:
        """Return the nested answer's ``message`` (``None`` if not nested).

        For a task list: that of the first nested task whose ``success`` is
        false, else that of the first nested task.
        """
        nested = self._nested()
        return None if nested is None else nested[1]

    @property
    def nested_data(self) -> object:
        """Return the nested answer's ``data`` (``None`` if not nested).

        For a task list: one item per task, ``None`` for a task whose
        result is not nested.
        """
        nested = self._nested()
        return None if nested is None else nested[2]

    def _nested(self) -> tuple[object, object, object] | None:
        if not self.is_batch or self.results is None:
            return nested_parts(self.result) if self.success else None
        tasks = [
            nested_parts(task.result) if task.success else None for task in self.results
        ]
        found = [parts for parts in tasks if parts is not None]
        if not found:
            return None
        failed = next((parts for parts in found if not parts[0]), None)
        message = (failed or found[0])[1]
        return (
            failed is None,
            message,
            [None if parts is None else parts[2] for parts in tasks],
        )

    def _target(self) -> object:
        """Return what ``get_field`` walks: one task's nested data, else the result."""
        if not self.is_batch and self.is_nested:
            return self.nested_data
        return self.result

    def get_field(self, *keys: str | int, default: object = None) -> object:
        """Walk into the result by keys and indexes; ``default`` if one is missing.

        Mapping keys, attributes of objects (pydantic models) and list
        indexes all work: ``response.get_field("contact", "id")``. As in
        Fiscus, a one-task response whose result is a nested answer
        walks its ``data``.
        """
        value: object = self._target()
        for key in keys:
            value = step(value, key, default)
            if value is default:
                return default
        return value

    def get_value(self, key: str | int, default: object = None) -> object:
        """Return one top-level key of the result (as ``get_field(key)``)."""
        return self.get_field(key, default=default)

    def get_nested_value(
        self, keys: Sequence[str | int] | str, default: object = None
    ) -> object:
        """Return the value at a path of keys, ``get_field(*keys)`` (Fiscus's form)."""
        path = [keys] if isinstance(keys, str) else list(keys)
        return self.get_field(*path, default=default)

    # ------------------------------------------------------------ plain data

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
            "status": self.status,
            "context": to_jsonable_python(self.context, fallback=repr),
        }
        if self.results is not None:
            data["results"] = [result.to_dict() for result in self.results]
        return data

    def to_json(self) -> str:
        """Return the response as JSON."""
        return json.dumps(self.to_dict())

    def _error_entry(self) -> dict[str, object] | None:
        """Return Fiscus's ``error`` entry: ``{"code", "message", "details"}``."""
        details = self.error_details
        if details is None:
            return None
        code = self.error_code
        return {
            "code": None if code is None else int(code),
            "message": self.error_message,
            "details": details,
        }

    def __getitem__(self, key: str) -> object:
        """Return ``success``, ``message_id``, ``error``, ``result`` and the others.

        ``response["error"]`` is Fiscus's error dict, ``{"code", "message",
        "details"}`` (``details`` is ``error_details``), or ``None``; the
        other keys give the attribute of that name.
        """
        if key not in _KEYS:
            msg = f"FiscusResponse has no key {key!r}; its keys are {list(_KEYS)}"
            raise KeyError(msg)
        if key == "error":
            return self._error_entry()
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in _KEYS

    def __iter__(self) -> Iterator[str]:
        return iter(_KEYS)

    def __repr__(self) -> str:
        state = "success" if self.success else f"error {self.error_code}"
        where = f" {self.operation!r}" if self.operation else ""
        return f"<FiscusResponse{where} {state}>"
