"""What a failed task does to a run: on_error="fail" and on_error="continue"."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from fiscus_dsl import RunStatus, TaskStatus, WorkflowFailed, task, workflow

if TYPE_CHECKING:
    from fiscus_dsl import Runner

SUCCEEDED = TaskStatus.SUCCEEDED
FAILED = TaskStatus.FAILED
SKIPPED = TaskStatus.SKIPPED
NOT_RUN = TaskStatus.NOT_RUN


class PaymentDeclinedError(Exception):
    """A task's own error."""


async def test_failed_task_stops_the_run_and_lets_tasks_in_flight_finish(
    runner: Runner,
) -> None:
    in_flight = asyncio.Event()
    failing = asyncio.Event()

    @task
    async def slow() -> int:
        in_flight.set()
        await failing.wait()
        return 1

    @task
    async def charge() -> int:
        await in_flight.wait()
        failing.set()
        raise PaymentDeclinedError("card declined")

    @task
    async def receipt(amount: int) -> str:
        return f"paid {amount}"

    @task
    async def after_slow(x: int) -> int:
        return x + 1

    @workflow
    def checkout() -> list[object]:
        amount = charge()
        value = slow()
        return [receipt(amount), after_slow(value)]

    async with asyncio.timeout(5):
        result = await runner.arun(checkout)

    assert result.status is RunStatus.FAILED
    assert result.statuses() == {
        "charge": FAILED,
        "slow": SUCCEEDED,
        "receipt": SKIPPED,
        "after_slow": NOT_RUN,
    }
    assert result["slow"].value == 1
    assert result["receipt"].reason == "needs the value of 'charge', which failed"
    assert result["after_slow"].reason == "the run stopped before it started"
    assert result.output is None


def test_error_message_names_the_task_the_workflow_and_the_error(
    runner: Runner,
) -> None:
    @task
    def charge() -> int:
        raise PaymentDeclinedError("card declined")

    @workflow
    def checkout() -> int:
        return charge()

    result = runner.run(checkout)

    assert result.error_message == (
        "Task 'charge' in workflow 'checkout' failed: "
        "PaymentDeclinedError: card declined"
    )
    assert isinstance(result.error, PaymentDeclinedError)
    assert result.error is result["charge"].error


def test_failed_task_with_on_error_continue_skips_only_its_dependents(
    runner: Runner,
) -> None:
    @task(on_error="continue")
    def charge() -> int:
        raise PaymentDeclinedError("card declined")

    @task
    def receipt(amount: int) -> str:
        return f"paid {amount}"

    @task
    def audit() -> str:
        return "audited"

    @task
    def notify(what: str) -> str:
        return f"notified {what}"

    @workflow
    def checkout() -> dict[str, str]:
        paid = receipt(charge())
        return {"receipt": paid, "notice": notify(audit())}

    result = runner.run(checkout)

    assert result.status is RunStatus.SUCCEEDED
    assert result.error_message is None
    assert result.error is None
    assert result.statuses() == {
        "charge": FAILED,
        "receipt": SKIPPED,
        "audit": SUCCEEDED,
        "notify": SUCCEEDED,
    }
    assert result.output == {"receipt": None, "notice": "notified audited"}


def test_tasks_needing_a_failed_value_inside_a_list_are_skipped(
    runner: Runner,
) -> None:
    @task(on_error="continue")
    def charge() -> int:
        raise PaymentDeclinedError("card declined")

    @task
    def total(amounts: list[int]) -> int:
        return sum(amounts)

    @workflow
    def checkout() -> int:
        return total([1, charge()])

    result = runner.run(checkout)

    assert result["total"].status is SKIPPED
    assert result["total"].reason == "needs the value of 'charge', which failed"


def test_skips_cascade_through_dependents(runner: Runner) -> None:
    @task(on_error="continue")
    def charge() -> int:
        raise PaymentDeclinedError("card declined")

    @task
    def plus_one(x: int) -> int:
        return x + 1

    @workflow
    def chain() -> int:
        return plus_one(plus_one(charge()))

    result = runner.run(chain)

    assert result.statuses() == {
        "charge": FAILED,
        "plus_one": SKIPPED,
        "plus_one#2": SKIPPED,
    }
    assert result["plus_one#2"].reason == (
        "needs the value of 'plus_one', which was skipped"
    )


def test_calling_a_failing_workflow_raises_workflow_failed(default: Runner) -> None:
    @task
    def charge() -> int:
        raise PaymentDeclinedError("card declined")

    @workflow
    def checkout() -> int:
        return charge()

    with pytest.raises(WorkflowFailed, match="Task 'charge' in workflow 'checkout'"):
        checkout()


def test_workflow_failed_carries_the_result_and_the_workflow(default: Runner) -> None:
    @task
    def charge() -> int:
        raise PaymentDeclinedError("card declined")

    @workflow
    def checkout() -> int:
        return charge()

    with pytest.raises(WorkflowFailed, match="card declined") as excinfo:
        checkout()

    failure = excinfo.value
    assert failure.workflow == "checkout"
    assert failure.result.status is RunStatus.FAILED
    assert failure.result["charge"].status is FAILED
    assert isinstance(failure.__cause__, PaymentDeclinedError)
    assert failure.__cause__ is failure.result["charge"].error


def test_workflow_failed_is_chained_to_the_task_that_failed_the_run(
    default: Runner,
) -> None:
    @task(on_error="continue")
    def optional() -> int:
        raise ValueError("optional part missing")

    @task
    def required() -> int:
        raise PaymentDeclinedError("card declined")

    @workflow
    def checkout() -> list[int]:
        return [optional(), required()]

    with pytest.raises(WorkflowFailed, match="Task 'required'") as excinfo:
        checkout()

    assert isinstance(excinfo.value.__cause__, PaymentDeclinedError)
    assert excinfo.value.result.error is excinfo.value.__cause__


def test_run_of_a_failing_workflow_returns_the_result(default: Runner) -> None:
    @task
    def charge() -> int:
        raise PaymentDeclinedError("card declined")

    @workflow
    def checkout() -> int:
        return charge()

    result = checkout.run()

    assert result.status is RunStatus.FAILED
    assert not result.success
    assert isinstance(result.error, PaymentDeclinedError)


async def test_arun_of_a_failing_workflow_returns_the_result(default: Runner) -> None:
    @task
    def charge() -> int:
        raise PaymentDeclinedError("card declined")

    @workflow
    def checkout() -> int:
        return charge()

    result = await checkout.arun()

    assert result.status is RunStatus.FAILED
    assert isinstance(result.error, PaymentDeclinedError)


def test_skip_reason_names_the_missing_value_among_several(runner: Runner) -> None:
    @task(on_error="continue")
    def charge() -> int:
        raise PaymentDeclinedError("card declined")

    @task
    def base() -> int:
        return 1

    @task
    def total(a: int, b: int) -> int:
        return a + b

    @workflow
    def checkout() -> int:
        return total(base(), charge())

    result = runner.run(checkout)

    assert result["total"].status is SKIPPED
    assert result["total"].reason == "needs the value of 'charge', which failed"
