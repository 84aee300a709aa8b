"""Resuming after the workflow changed: what is served, what runs again, and why.

A recorded task is served only while its id, its inputs (a digest of the
arguments it was called with) and its code (a digest of its function) are
the same; a task that changed runs again, and so do the tasks that used its
new value. Each workflow here is written twice under one name, as the code
a user edits between the failed run and the resume.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from fiscus_dsl import (
    Lease,
    Runner,
    RunRecord,
    SQLiteRunStore,
    TaskRecord,
    TaskStatus,
    task,
    workflow,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

RESUMED = "resumed from the run store"

called: list[str] = []
broken: list[bool] = []


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    called.clear()
    broken[:] = [True]
    yield
    called.clear()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteRunStore]:
    with SQLiteRunStore(tmp_path / "runs.db") as opened:
        yield opened


# ---------------------------------------------------------------- version 1


@task(name="price")
def price_v1(item: str) -> int:
    called.append("price")
    return 10


@task(name="tax")
def tax_v1(amount: int) -> int:
    called.append("tax")
    return amount // 10


@task(name="label")
def label_v1(item: str) -> str:
    called.append("label")
    return item.upper()


@task(name="bill")
def bill_v1(amount: int, tax: int, label: str) -> str:
    called.append("bill")
    if broken[0]:
        raise ConnectionError("billing API unreachable")
    return f"{label}: {amount + tax}"


@workflow(name="checkout")
def checkout_v1(item: str) -> str:
    amount = price_v1(item)
    return bill_v1(amount, tax_v1(amount), label_v1(item))


# ---------------------------------------------------------------- version 2


@task(name="price")
def price_v2(item: str) -> int:
    called.append("price")
    return 20  # the edit: a new price


@workflow(name="checkout")
def checkout_v2(item: str) -> str:
    amount = price_v2(item)
    return bill_v1(amount, tax_v1(amount), label_v1(item))


def _failed_run(store: SQLiteRunStore) -> str:
    first = Runner(store=store).run(checkout_v1, item="lamp")
    assert not first.success
    assert sorted(called) == ["bill", "label", "price", "tax"]
    called.clear()
    broken[0] = False
    return first.run_id


def test_unchanged_tasks_are_served_and_only_the_failed_one_runs(
    store: SQLiteRunStore,
) -> None:
    run_id = _failed_run(store)

    resumed = Runner(store=store).resume(checkout_v1, run_id)

    assert resumed.output == "LAMP: 11"
    assert called == ["bill"]
    assert [resumed[key].reason for key in ("price", "tax", "label")] == [RESUMED] * 3


def test_a_task_whose_code_changed_runs_again_with_the_tasks_using_its_value(
    store: SQLiteRunStore, caplog: pytest.LogCaptureFixture
) -> None:
    run_id = _failed_run(store)

    with caplog.at_level(logging.INFO, logger="fiscus_dsl.task"):
        resumed = Runner(store=store).resume(checkout_v2, run_id)

    assert resumed.output == "LAMP: 22"
    # price's code changed; tax's input (price's value) changed with it;
    # label is untouched and served.
    assert sorted(called) == ["bill", "price", "tax"]
    assert resumed["label"].reason == RESUMED
    assert resumed["price"].reason is None
    messages = [record.getMessage() for record in caplog.records]
    assert (
        f"Task 'price' of workflow 'checkout' runs again on resuming run {run_id}: "
        "its code changed since it was recorded"
    ) in messages
    assert (
        f"Task 'tax' of workflow 'checkout' runs again on resuming run {run_id}: "
        "its inputs changed since it was recorded"
    ) in messages


# ---------------------------------------------------------------- a literal changed

GREETING = ["Hello"]


@task
def compose(greeting: str, name: str) -> str:
    called.append("compose")
    return f"{greeting}, {name}"


@task
def deliver(text: str) -> int:
    called.append("deliver")
    if broken[0]:
        raise ConnectionError("mail server unreachable")
    return len(text)


@workflow
def greet(name: str) -> int:
    return deliver(compose(GREETING[0], name))


def test_a_task_called_with_another_literal_runs_again(store: SQLiteRunStore) -> None:
    first = Runner(store=store).run(greet, name="Ada")
    assert not first.success
    called.clear()
    broken[0] = False
    GREETING[0] = "Bonjour"  # the edit: the workflow passes another literal
    try:
        resumed = Runner(store=store).resume(greet, first.run_id)
    finally:
        GREETING[0] = "Hello"

    assert called == ["compose", "deliver"]
    assert resumed.output == len("Bonjour, Ada")


def test_the_same_literal_is_served(store: SQLiteRunStore) -> None:
    first = Runner(store=store).run(greet, name="Ada")
    called.clear()
    broken[0] = False

    resumed = Runner(store=store).resume(greet, first.run_id)

    assert called == ["deliver"]
    assert resumed.output == len("Hello, Ada")


# ---------------------------------------------------------------- older records


def _failed_greet_run(
    store: SQLiteRunStore, run_id: str, *, code_version: str | None
) -> None:
    """Record a failed run of ``greet`` whose ``compose`` succeeded, via the API."""
    lease = Lease(run_id, "elsewhere:1:beef")
    store.start_run(
        RunRecord(
            run_id=run_id,
            workflow="greet",
            status="running",
            inputs_json='{"name": "Ada"}',
            started_at=_past(),
        ),
        lease,
    )
    store.finish_run(
        lease,
        status="failed",
        ended_at=_past(),
        error_message="mail server unreachable",
        tasks=[
            TaskRecord(
                task_id="compose",
                name="compose",
                status=TaskStatus.SUCCEEDED,
                value_json='"Hi, Ada"',
                attempts=1,
                code_version=code_version,
            )
        ],
    )


def test_a_record_without_versions_is_served_on_its_id(
    store: SQLiteRunStore,
) -> None:
    """Records of schema version 1 carry no digests: their id decides, as before."""
    _failed_greet_run(store, "old-run", code_version=None)
    broken[0] = False

    resumed = Runner(store=store).resume(greet, "old-run")

    assert called == ["deliver"]
    assert resumed.output == len("Hi, Ada")


def test_a_record_whose_inputs_could_not_be_digested_runs_again(
    store: SQLiteRunStore,
) -> None:
    _failed_greet_run(store, "odd-run", code_version="0" * 24)
    broken[0] = False

    resumed = Runner(store=store).resume(greet, "odd-run")

    assert called == ["compose", "deliver"]  # a code version that differs
    assert resumed.output == len("Hello, Ada")


def _past() -> datetime:
    return datetime(2025, 1, 1, tzinfo=UTC)
