"""Argument validation at run time: pydantic, coercion, values never echoed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from pydantic import BaseModel

from fiscus_dsl import (
    ArgumentValidationError,
    RunStatus,
    TaskStatus,
    WorkflowInputError,
    task,
    workflow,
)

if TYPE_CHECKING:
    from fiscus_dsl import Runner

SECRET = "sk_live_51HSECRETTOKENVALUE"


class Address(BaseModel):
    city: str
    zip_code: int


@task
def leaked_token() -> Any:
    return SECRET


@task
def independent() -> str:
    return "fine"


def test_bad_value_from_a_future_fails_only_that_task(runner: Runner) -> None:
    calls: list[int] = []

    @task(on_error="continue")
    def charge(amount: int) -> int:
        calls.append(amount)
        return amount

    @workflow
    def flow() -> list[object]:
        return [charge(leaked_token()), independent()]

    result = runner.run(flow)

    assert result.status is RunStatus.SUCCEEDED
    assert result.statuses() == {
        "leaked_token": TaskStatus.SUCCEEDED,
        "charge": TaskStatus.FAILED,
        "independent": TaskStatus.SUCCEEDED,
    }
    assert calls == []
    assert result.output == [None, "fine"]


def test_validation_error_names_the_task_and_field_but_not_the_value(
    runner: Runner,
) -> None:
    @task
    def charge(amount: int) -> int:
        return amount

    @workflow
    def flow() -> int:
        return charge(leaked_token())

    result = runner.run(flow)

    error = result["charge"].error
    assert isinstance(error, ArgumentValidationError)
    with pytest.raises(
        ArgumentValidationError,
        match=r"Task 'charge' in workflow 'flow' got an invalid argument \('amount'",
    ):
        raise error
    assert error.workflow == "flow"
    assert error.task_id == "charge"
    assert error.fields == ("amount",)
    assert error.errors[0][0] == "amount"
    assert result["charge"].attempts == 0
    assert SECRET not in str(error)
    assert result.error_message is not None
    assert SECRET not in result.error_message
    assert SECRET not in result.model_dump_json(exclude={"tasks"})


def test_bad_literal_fails_only_that_task(runner: Runner) -> None:
    calls: list[int] = []

    @task(on_error="continue")
    def charge(amount: int) -> int:
        calls.append(amount)
        return amount

    @workflow
    def flow() -> list[object]:
        return [charge(SECRET), independent()]  # type: ignore[arg-type]  # the bad literal under test

    result = runner.run(flow)

    error = result["charge"].error
    assert result.status is RunStatus.SUCCEEDED
    assert result["charge"].status is TaskStatus.FAILED
    assert result["independent"].status is TaskStatus.SUCCEEDED
    assert isinstance(error, ArgumentValidationError)
    with pytest.raises(ArgumentValidationError, match="'amount'"):
        raise error
    assert error.task_id == "charge"
    assert error.fields == ("amount",)
    assert SECRET not in str(error)
    assert calls == []


def test_bad_literal_is_not_retried(runner: Runner) -> None:
    from fiscus_dsl import Retry

    @task(retry=Retry(attempts=3), on_error="continue")
    def charge(amount: int) -> int:
        return amount

    @workflow
    def flow() -> int:
        return charge("not a number")  # type: ignore[arg-type]  # the bad literal under test

    result = runner.run(flow)

    assert isinstance(result["charge"].error, ArgumentValidationError)
    assert result["charge"].attempts == 0


def test_values_are_coerced_to_the_annotation(runner: Runner) -> None:
    seen: list[object] = []

    @task
    def number() -> Any:
        return "5"

    @task
    def double(x: int) -> int:
        seen.append(x)
        return 2 * x

    @workflow
    def flow() -> int:
        return double(number())

    assert runner.run(flow).output == 10
    assert seen == [5]


def test_pydantic_model_parameters_accept_dicts(runner: Runner) -> None:
    @task
    def address() -> Any:
        return {"city": "Paris", "zip_code": "75001"}

    @task
    def label(to: Address) -> str:
        assert isinstance(to, Address)
        return f"{to.city} {to.zip_code + 1}"

    @workflow
    def flow() -> str:
        return label(address())

    assert runner.run(flow).output == "Paris 75002"


def test_nested_model_errors_name_the_dotted_field(runner: Runner) -> None:
    @task
    def address() -> Any:
        return {"city": "Paris", "zip_code": SECRET}

    @task
    def label(to: Address) -> str:
        return to.city

    @workflow
    def flow() -> str:
        return label(address())

    error = runner.run(flow)["label"].error

    assert isinstance(error, ArgumentValidationError)
    assert error.fields == ("to.zip_code",)
    assert SECRET not in str(error)


def test_unannotated_parameters_are_not_validated(runner: Runner) -> None:
    @task
    def passthrough(value, other: Any) -> object:  # type: ignore[no-untyped-def]  # unannotated on purpose
        return (value, other)

    @workflow
    def flow() -> object:
        return passthrough(leaked_token(), 3)

    assert runner.run(flow).output == (SECRET, 3)


def test_bad_workflow_input_raises_from_run(runner: Runner) -> None:
    @workflow
    def flow(amount: int) -> int:
        return amount

    with pytest.raises(
        ArgumentValidationError, match="Workflow 'flow' got an invalid input"
    ) as excinfo:
        runner.run(flow, amount=SECRET)

    assert excinfo.value.task_id is None
    assert excinfo.value.fields == ("amount",)
    assert SECRET not in str(excinfo.value)


def test_missing_workflow_input_raises_from_run(runner: Runner) -> None:
    @workflow
    def flow(amount: int) -> int:
        return amount

    with pytest.raises(
        WorkflowInputError, match="was started with inputs that do not bind"
    ) as excinfo:
        runner.run(flow)

    assert excinfo.value.workflow == "flow"
