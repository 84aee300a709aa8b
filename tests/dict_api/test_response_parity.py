"""``FiscusResponse`` has every field and helper of the Fiscus SDK's response.

Each test names, in its docstring, the behaviour of Fiscus's
``FiscusResponse`` it checks (docs.fiscusflows.com and the SDK's
``response.py``): ``message_id``, ``data`` with the ``data`` key unwrapped,
the ``nested_*`` fields of a ``{"success", "message", "data"}`` answer,
``get_field``/``get_value``/``get_nested_value``, ``error_code``,
``error_message``, ``error_details``, ``has_error``, dict-style access over
``success``, ``message_id``, ``error`` and ``result``, and ``map_error``.
"""

from __future__ import annotations

import json
import re

import pytest
from pydantic import BaseModel

from fiscus_dsl import (
    FiscusError,
    FiscusErrorCode,
    FiscusResponse,
    HTTPStatusError,
)
from fiscus_dsl.errors import AuthenticationError

NESTED = {"success": True, "message": "Email sent", "data": {"id": "m1", "to": ["a"]}}


class Contact(BaseModel):
    id: str
    name: str


class Page(BaseModel):
    data: list[int]
    next: str | None


def not_found() -> HTTPStatusError:
    return HTTPStatusError(
        "GET https://crm.test/v1/contacts/c9 answered 404",
        connector="CRMSystem",
        operation="get_contact",
        method="GET",
        url="https://crm.test/v1/contacts/c9",
        status_code=404,
        body="",
        retryable=False,
    )


# ---------------------------------------------------------------- message_id


def test_each_response_gets_a_fresh_uuid4_hex_message_id() -> None:
    """Fiscus: every response carries a ``message_id``."""
    first, second = FiscusResponse(success=True), FiscusResponse(success=True)

    assert re.fullmatch(r"[0-9a-f]{32}", first.message_id)
    assert first.message_id != second.message_id
    assert FiscusResponse(success=True, message_id="m-1").message_id == "m-1"


# ---------------------------------------------------------------- data


@pytest.mark.parametrize(
    ("result", "data"),
    [
        ({"data": [1, 2], "next": "p2"}, [1, 2]),
        ({"id": "c1"}, {"id": "c1"}),
        ("Email sent", "Email sent"),
        (Page(data=[3], next=None), [3]),
        ([Contact(id="c1", name="Jo")], [{"id": "c1", "name": "Jo"}]),
        ({"data": (Contact(id="c2", name="Al"),)}, [{"id": "c2", "name": "Al"}]),
        (None, None),
    ],
)
def test_data_unwraps_the_data_key_of_a_result(result: object, data: object) -> None:
    """Fiscus: the result's ``data`` field is unwrapped if present (plain data)."""
    response = FiscusResponse(success=True, result=result)

    assert response.data == data
    assert response.result is result  # the whole answer stays in result


def test_a_failed_response_has_no_data() -> None:
    """Fiscus: ``data`` is ``None`` unless the response succeeded."""
    response = FiscusResponse(success=False, result={"data": 1}, error="boom")

    assert response.data is None


def test_the_data_of_a_task_list_is_each_tasks_data() -> None:
    """Fiscus: a batch answers one entry per task (here, each one's ``data``)."""
    tasks = [
        FiscusResponse(success=True, result={"data": {"id": "c1"}}),
        FiscusResponse(success=True, result={}, skipped=True),
        FiscusResponse(success=True, result=["m1"]),
    ]
    response = FiscusResponse(
        success=True,
        result=[task.result for task in tasks],
        results=tasks,
        batch=True,
    )

    assert response.data == [{"id": "c1"}, {}, ["m1"]]


# ---------------------------------------------------------------- nested answers


def test_a_nested_answer_fills_the_nested_fields() -> None:
    """Fiscus: a result with success, message and data is a nested answer."""
    response = FiscusResponse(success=True, result=NESTED)

    assert response.is_nested
    assert (response.nested_success, response.nested_message) == (True, "Email sent")
    assert response.nested_data == {"id": "m1", "to": ["a"]}


@pytest.mark.parametrize(
    "response",
    [
        FiscusResponse(success=True, result={"success": True, "data": 1}),
        FiscusResponse(success=True, result=[NESTED]),
        FiscusResponse(success=False, result=NESTED, error="boom"),
    ],
    ids=["a key missing", "not a mapping", "failed"],
)
def test_other_results_are_not_nested(response: FiscusResponse) -> None:
    """Fiscus: nested fields are ``None`` unless a successful result has all 3 keys."""
    assert not response.is_nested
    assert (
        response.nested_success,
        response.nested_message,
        response.nested_data,
    ) == (None, None, None)


def test_a_task_lists_nested_fields_come_from_its_tasks() -> None:
    """Fiscus's batch: nested fields defined from the per-task responses."""
    refused = {"success": False, "message": "Quota reached", "data": None}
    tasks = [
        FiscusResponse(success=True, result=NESTED),
        FiscusResponse(success=True, result={"id": "c1"}),
        FiscusResponse(success=True, result=refused),
    ]
    response = FiscusResponse(
        success=True, result=[t.result for t in tasks], results=tasks, batch=True
    )

    assert response.is_nested
    assert response.nested_success is False  # one nested task said no
    assert response.nested_message == "Quota reached"  # the first that said no
    assert response.nested_data == [NESTED["data"], None, None]


def test_a_task_list_whose_nested_tasks_all_succeed() -> None:
    """Fiscus's batch: ``nested_success`` is true when every nested task's is."""
    tasks = [
        FiscusResponse(success=True, result={"id": "c1"}),
        FiscusResponse(success=True, result=NESTED),
    ]
    response = FiscusResponse(
        success=True, result=[t.result for t in tasks], results=tasks, batch=True
    )

    assert (response.nested_success, response.nested_message) == (True, "Email sent")
    plain = FiscusResponse(success=True, result=[{}], results=tasks[:1], batch=True)
    assert not plain.is_nested


# ---------------------------------------------------------------- accessors


def test_get_field_walks_the_nested_data() -> None:
    """Fiscus: ``get_field`` walks ``nested_data`` when the answer is nested."""
    response = FiscusResponse(success=True, result=NESTED)

    assert response.get_field("id") == "m1"
    assert response.get_field("to", 0) == "a"
    assert response.get_field("message", default="-") == "-"


def test_get_value_reads_one_top_level_key() -> None:
    """Fiscus: ``get_value(key, default=None)`` reads a top-level key."""
    response = FiscusResponse(success=True, result={"id": "c1", "tags": []})

    assert response.get_value("id") == "c1"
    assert response.get_value("phone") is None
    assert response.get_value("phone", "n/a") == "n/a"
    assert FiscusResponse(success=True, result=NESTED).get_value("id") == "m1"


def test_get_nested_value_takes_a_list_of_keys() -> None:
    """Fiscus: ``get_nested_value([keys], default=None)`` is ``get_field(*keys)``."""
    response = FiscusResponse(success=True, result={"contact": {"emails": ["a@x"]}})

    assert response.get_nested_value(["contact", "emails", 0]) == "a@x"
    assert response.get_nested_value(["contact", "phone"], "none") == "none"
    assert response.get_nested_value("contact") == {"emails": ["a@x"]}


# ---------------------------------------------------------------- errors


def test_an_error_given_as_text_is_an_unknown_error() -> None:
    """Fiscus: a str error becomes ``FiscusError(UNKNOWN_ERROR, message)``."""
    response = FiscusResponse(success=False, error="Email failed")

    assert response.error_code is FiscusErrorCode.UNKNOWN_ERROR
    assert response.error_message == "Email failed"
    assert isinstance(response.error, FiscusError)
    assert str(response.error) == "Email failed"
    assert response.error.code is FiscusErrorCode.UNKNOWN_ERROR


def test_an_error_given_as_fiscus_dict_keeps_its_code_and_details() -> None:
    """Fiscus: an error dict ``{code, message, details}`` is read into the error."""
    response = FiscusResponse(
        success=False,
        error={
            "code": 1001,
            "message": "Connector not authorized",
            "details": {"authorizationUrl": "https://auth.test/start"},
        },
    )

    assert response.error_code is FiscusErrorCode.AUTH_FAILURE
    assert response.error_message == "Connector not authorized"
    assert response.error_details == {
        "authorizationUrl": "https://auth.test/start",
        "code": FiscusErrorCode.AUTH_FAILURE,
        "message": "Connector not authorized",
        "task": None,
        "operation": None,
    }


def test_an_unknown_code_in_an_error_dict_is_an_unknown_error() -> None:
    """Fiscus: a code that is no ``FiscusErrorCode`` is ``UNKNOWN_ERROR``."""
    response = FiscusResponse(success=False, error={"code": 42})

    assert response.error_code is FiscusErrorCode.UNKNOWN_ERROR
    assert response.error_message == "An error occurred"


def test_an_exception_without_a_message_gives_its_type() -> None:
    """Fiscus: a failed response always has an ``error_message``."""
    response = FiscusResponse(success=False, error=KeyError())

    assert response.error_message == "KeyError"
    assert response.error_code is FiscusErrorCode.UNKNOWN_ERROR


def test_error_details_of_an_http_error_name_the_task_and_the_status() -> None:
    """Fiscus: ``error_details`` (here: code, message, task, operation, status)."""
    error = not_found()
    response = FiscusResponse(
        success=False,
        error=error,
        error_message="Task 0 ('get_contact') failed: HTTPStatusError 404",
        operation="get_contact",
        task_id="get_contact",
    )

    assert response.error is error  # the exception itself stays
    assert response.error_details == {
        "code": FiscusErrorCode.NOT_FOUND,
        "message": "Task 0 ('get_contact') failed: HTTPStatusError 404",
        "task": "get_contact",
        "operation": "get_contact",
        "connector": "CRMSystem",
        "status_code": 404,
    }


def test_error_details_of_a_task_list_name_the_failing_task() -> None:
    """Fiscus: a batch's error says which task failed (its details)."""
    failed = FiscusResponse(
        success=False,
        error=not_found(),
        error_message="Task 1 failed",
        operation="get_contact",
        task_id="lookup",
    )
    ok = FiscusResponse(success=True, result={}, operation="list", task_id="list")
    response = FiscusResponse(
        success=False,
        result=[{}, None],
        results=[ok, failed],
        error=failed.error,
        error_message=failed.error_message,
        batch=True,
    )

    details = response.error_details
    assert details is not None
    assert (details["task"], details["operation"]) == ("lookup", "get_contact")


def test_error_details_carry_the_authorization_url_of_an_auth_error() -> None:
    """Fiscus: an AUTH_FAILURE carries where the user authorizes the connector."""
    error = AuthenticationError(
        "User 'u1' has no credentials for 'Gmail'",
        connector="Gmail",
        user_id="u1",
        authorization_url="https://accounts.test/authorize?state=s1",
    )

    details = FiscusResponse(success=False, error=error).error_details

    assert details is not None
    assert details["code"] is FiscusErrorCode.AUTH_FAILURE
    assert details["authorization_url"] == "https://accounts.test/authorize?state=s1"
    assert (details["connector"], details["user_id"]) == ("Gmail", "u1")


def test_a_success_has_no_error_details() -> None:
    """Fiscus: ``error_details``, ``error_code``, ``error_message`` are ``None``."""
    response = FiscusResponse(success=True, result={})

    assert (response.error_details, response.error_code, response.error_message) == (
        None,
        None,
        None,
    )
    assert not response.has_error


def test_has_error_is_true_for_any_failure() -> None:
    """Fiscus: ``has_error`` is ``not success`` (and a skip whose condition raised)."""
    assert FiscusResponse(success=False).has_error
    skipped = FiscusResponse(
        success=True, result={}, skipped=True, error_message="its condition raised"
    )
    assert skipped.has_error
    details = skipped.error_details
    assert details is not None
    assert (details["code"], details["message"]) == (None, "its condition raised")


# ---------------------------------------------------------------- dict-style


def test_dict_style_access_starts_with_fiscus_keys() -> None:
    """Fiscus: dict-style access over success, message_id, error and result."""
    response = FiscusResponse(success=True, result={"id": "c1"}, message_id="m-7")

    assert list(response)[:4] == ["success", "message_id", "error", "result"]
    assert all(key in response for key in ("success", "message_id", "error"))
    assert response["message_id"] == "m-7"
    assert response["error"] is None
    assert response["result"] == {"id": "c1"}


def test_the_error_key_is_fiscus_error_dict() -> None:
    """Fiscus: ``response["error"]`` is the error's ``{code, message, details}``."""
    response = FiscusResponse(
        success=False, error=not_found(), error_message="not there", task_id="get"
    )

    entry = response["error"]

    assert entry == {
        "code": 1003,
        "message": "not there",
        "details": response.error_details,
    }
    assert json.loads(json.dumps(entry))["details"]["status_code"] == 404


# ---------------------------------------------------------------- map_error


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("Invalid API key", FiscusErrorCode.AUTH_FAILURE),
        ("401 Unauthorized", FiscusErrorCode.AUTH_FAILURE),
        ("Authentication failed for Gmail", FiscusErrorCode.AUTH_FAILURE),
        ("auth required", FiscusErrorCode.AUTH_FAILURE),
        ("API configuration not found", FiscusErrorCode.NOT_FOUND),
        ("Contact does not exist", FiscusErrorCode.NOT_FOUND),
        ("Timeout occurred", FiscusErrorCode.TIMEOUT),
        ("The request timed out", FiscusErrorCode.TIMEOUT),
        ("Invalid parameters", FiscusErrorCode.INVALID_REQUEST),
        ("connector already exists", FiscusErrorCode.INVALID_REQUEST),
        ("User operation error", FiscusErrorCode.USER_OPERATION_ERROR),
        ("Author list is empty", FiscusErrorCode.UNKNOWN_ERROR),
        ("Something broke", FiscusErrorCode.UNKNOWN_ERROR),
    ],
)
def test_map_error_gives_the_code_the_message_describes(
    message: str, code: FiscusErrorCode
) -> None:
    """Fiscus: ``FiscusResponse.map_error(msg)`` maps message text to an error code."""
    response = FiscusResponse.map_error(message)

    assert not response.success
    assert response.error_code is code
    assert response.error_message == message
    assert isinstance(response.error, FiscusError)
    assert response.error.code is code
    details = response.error_details
    assert details is not None
    assert (details["code"], details["message"]) == (code, message)


def test_status_tells_a_skipped_task_from_one_that_ran() -> None:
    """A skipped task keeps success=True, result={}; its status says skipped."""
    skipped = FiscusResponse(success=True, result={}, skipped=True)
    ran = FiscusResponse(success=True, result={"id": 1})
    failed = FiscusResponse(success=False, error_message="boom")

    assert (skipped.success, skipped.result, skipped.status) == (True, {}, "skipped")
    assert (ran.status, failed.status) == ("succeeded", "failed")
    assert skipped.to_dict()["status"] == "skipped"
