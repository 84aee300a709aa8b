"""``FiscusResponse`` and ``FiscusErrorCode``: the Fiscus shapes of an answer.

A response has ``success``, ``result``, ``results``, the Fiscus error code
and message, ``context``, ``get_field`` that walks into the result,
dict-style access over its main keys, and ``to_json()``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from pydantic import BaseModel

from fiscus_dsl import (
    FiscusErrorCode,
    FiscusResponse,
    HTTPStatusError,
    TaskDefinitionError,
)


class Contact(BaseModel):
    id: str
    tags: list[str]


@dataclass
class Note:
    text: str


DATA = {"contact": {"id": "c1", "emails": ["a@x", "b@x"]}, "count": 2}


def test_error_codes_are_the_fiscus_numbers() -> None:
    assert {code.name: int(code) for code in FiscusErrorCode} == {
        "AUTH_FAILURE": 1001,
        "INVALID_REQUEST": 1002,
        "NOT_FOUND": 1003,
        "INTERNAL_ERROR": 1004,
        "TIMEOUT": 1005,
        "USER_OPERATION_ERROR": 1006,
        "EXECUTION_FAILURE": 1007,
        "EXECUTION_HALTED": 1008,
        "PLANNING_FAILURE": 1009,
        "TESTING_FAILURE": 1010,
        "HALT_REQUESTED": 1011,
        "UNKNOWN_ERROR": 9999,
    }


# ---------------------------------------------------------------- get_field


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ((), DATA),
        (("count",), 2),
        (("contact", "id"), "c1"),
        (("contact", "emails", 1), "b@x"),
        (("contact", "emails", -1), "b@x"),
    ],
)
def test_get_field_walks_keys_and_indexes(
    keys: tuple[str | int, ...], expected: object
) -> None:
    response = FiscusResponse(success=True, result=DATA)

    assert response.get_field(*keys) == expected


@pytest.mark.parametrize(
    "keys",
    [
        ("missing",),
        ("contact", "missing"),
        ("contact", "emails", 2),
        ("contact", "emails", -3),
        ("contact", "emails", "first"),
        ("count", "digits"),
        ("count", 0),
    ],
)
def test_get_field_gives_the_default_for_a_missing_step(
    keys: tuple[str | int, ...],
) -> None:
    response = FiscusResponse(success=True, result=DATA)

    assert response.get_field(*keys) is None
    assert response.get_field(*keys, default="none") == "none"


def test_get_field_reads_attributes_of_models_and_objects() -> None:
    response = FiscusResponse(
        success=True, result=[Contact(id="c1", tags=["vip"]), Note(text="hi")]
    )

    assert response.get_field(0, "tags", 0) == "vip"
    assert response.get_field(1, "text") == "hi"
    assert response.get_field(0, "phone", default="?") == "?"


def test_get_field_on_a_failed_response_gives_the_default() -> None:
    response = FiscusResponse(success=False, error=RuntimeError("boom"))

    assert response.get_field("id", default="none") == "none"


# ---------------------------------------------------------------- errors


def test_a_fiscus_error_gives_its_code() -> None:
    error = TaskDefinitionError("bad", index=0, field="params")

    response = FiscusResponse(success=False, error=error, error_message="Task 0: bad")

    assert response.error is error
    assert response.error_code is FiscusErrorCode.INVALID_REQUEST
    assert response.has_error


def test_an_http_status_error_gives_the_code_of_its_status() -> None:
    error = HTTPStatusError(
        "GET https://x.test/a answered 404",
        connector="X",
        operation="a",
        method="GET",
        url="https://x.test/a",
        status_code=404,
        body="",
        retryable=False,
    )

    assert FiscusResponse(success=False, error=error).error_code is (
        FiscusErrorCode.NOT_FOUND
    )


def test_another_error_is_an_unknown_error() -> None:
    response = FiscusResponse(success=False, error=KeyError("x"))

    assert response.error_code is FiscusErrorCode.UNKNOWN_ERROR


def test_a_success_has_no_error() -> None:
    response = FiscusResponse(success=True, result={})

    assert (response.error, response.error_code, response.error_message) == (
        None,
        None,
        None,
    )
    assert not response.has_error
    assert (response.results, response.context, response.run) == (None, {}, None)
    assert (response.operation, response.task_id, response.skipped) == (
        None,
        None,
        False,
    )


# ---------------------------------------------------------------- dict-style


def test_a_response_reads_like_a_dict() -> None:
    response = FiscusResponse(success=True, result={"id": "c1"}, operation="create")

    assert response["success"] is True
    assert response["result"] == {"id": "c1"}
    assert response["error_code"] is None
    assert response["error_message"] is None
    assert response["operation"] == "create"
    assert "result" in response
    assert "context" not in response
    assert list(response) == [
        "success",
        "message_id",
        "error",
        "result",
        "error_code",
        "error_message",
        "operation",
    ]
    assert dict(zip(response, (response[key] for key in response), strict=True)) == {
        "success": True,
        "message_id": response.message_id,
        "error": None,
        "result": {"id": "c1"},
        "error_code": None,
        "error_message": None,
        "operation": "create",
    }


def test_an_unknown_key_is_a_key_error_naming_the_keys() -> None:
    response = FiscusResponse(success=True)

    with pytest.raises(KeyError, match=r"FiscusResponse has no key 'data'; its keys"):
        response["data"]


# ---------------------------------------------------------------- to_json and repr


def test_to_json_holds_everything_but_the_exception() -> None:
    task = FiscusResponse(
        success=False,
        error=TaskDefinitionError("bad", index=1, field="params"),
        error_message="Task 1: bad",
        operation="send_email",
        task_id="send_email",
    )
    skipped = FiscusResponse(
        success=True, result={}, operation="notify", task_id="notify", skipped=True
    )
    response = FiscusResponse(
        success=False,
        result=[Contact(id="c1", tags=["vip"]), None, {}],
        results=[
            FiscusResponse(success=True, result=Contact(id="c1", tags=["vip"])),
            task,
            skipped,
        ],
        error=task.error,
        error_message=task.error_message,
        context={"create_contact": True, "opaque": object},
    )

    data = json.loads(response.to_json())

    assert data == {
        "success": False,
        "result": [{"id": "c1", "tags": ["vip"]}, None, {}],
        "error_code": 1002,
        "error_message": "Task 1: bad",
        "operation": None,
        "task_id": None,
        "skipped": False,
        "status": "failed",
        "context": {"create_contact": True, "opaque": repr(object)},
        "results": [
            {
                "success": True,
                "result": {"id": "c1", "tags": ["vip"]},
                "error_code": None,
                "error_message": None,
                "operation": None,
                "task_id": None,
                "skipped": False,
                "status": "succeeded",
                "context": {},
            },
            {
                "success": False,
                "result": None,
                "error_code": 1002,
                "error_message": "Task 1: bad",
                "operation": "send_email",
                "task_id": "send_email",
                "skipped": False,
                "status": "failed",
                "context": {},
            },
            {
                "success": True,
                "result": {},
                "error_code": None,
                "error_message": None,
                "operation": "notify",
                "task_id": "notify",
                "skipped": True,
                "status": "skipped",
                "context": {},
            },
        ],
    }
    assert response.to_dict() == data


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (FiscusResponse(success=True), "<FiscusResponse success>"),
        (
            FiscusResponse(success=True, operation="send_email"),
            "<FiscusResponse 'send_email' success>",
        ),
        (
            FiscusResponse(success=False, error=KeyError("x"), operation="get"),
            "<FiscusResponse 'get' error 9999>",
        ),
    ],
)
def test_repr_says_the_operation_and_the_outcome(
    response: FiscusResponse, expected: str
) -> None:
    assert repr(response) == expected
