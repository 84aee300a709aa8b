"""``RunResult`` and ``TaskResult``: fields, lookups, statuses, JSON."""

from __future__ import annotations

import json
import pickle
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

import pytest

from fiscus_dsl import (
    RunResult,
    RunStatus,
    Secret,
    TaskResult,
    TaskStatus,
    WorkflowGraph,
    task,
    workflow,
)

from .conftest import EPOCH

if TYPE_CHECKING:
    from fiscus_dsl import Runner
    from fiscus_dsl.testing import FakeClock


@task
def greet(name: str) -> str:
    return f"Hello, {name}"


@task(on_error="continue")
def broken(name: str) -> str:
    raise ValueError(f"cannot greet {name}")


@workflow
def hello(name: str) -> str:
    return greet(name)


@workflow
def hello_broken(name: str) -> str:
    return greet(broken(name))


def test_run_result_reports_the_run(runner: Runner) -> None:
    result = runner.run(hello, name="Ada")

    assert isinstance(result, RunResult)
    assert len(result.run_id) == 32
    assert result.workflow == "hello"
    assert result.status is RunStatus.SUCCEEDED
    assert result.success
    assert result.output == "Hello, Ada"
    assert result.error_message is None
    assert result.error is None
    assert list(result.tasks) == ["greet"]
    assert isinstance(result.graph, WorkflowGraph)
    assert [node.id for node in result.graph.nodes] == ["greet"]


def test_each_run_gets_a_new_run_id(runner: Runner) -> None:
    assert runner.run(hello, name="a").run_id != runner.run(hello, name="a").run_id


def test_run_times_come_from_the_injected_clock(
    runner: Runner, fake_clock: FakeClock
) -> None:
    result = runner.run(hello, name="Ada")

    assert result.started_at == EPOCH + timedelta(seconds=1)
    assert result.ended_at == fake_clock.now
    started = result["greet"].started_at
    ended = result["greet"].ended_at
    assert started is not None
    assert ended is not None
    assert result.started_at < started < ended < result.ended_at


def test_task_result_reports_the_task(runner: Runner) -> None:
    result = runner.run(hello, name="Ada")["greet"]

    assert isinstance(result, TaskResult)
    assert result.id == "greet"
    assert result.name == "greet"
    assert result.status is TaskStatus.SUCCEEDED
    assert result.success
    assert result.value == "Hello, Ada"
    assert result.error is None
    assert result.attempts == 1
    assert result.reason is None


def test_task_duration_is_the_seconds_between_start_and_end(runner: Runner) -> None:
    assert runner.run(hello, name="Ada")["greet"].duration == 1.0


def test_task_that_never_ran_has_no_duration(runner: Runner) -> None:
    result = runner.run(hello_broken, name="Ada")["greet"]

    assert result.status is TaskStatus.SKIPPED
    assert result.started_at is None
    assert result.duration is None
    assert not result.success


def test_unknown_task_id_raises_key_error_listing_the_known_ids(
    runner: Runner,
) -> None:
    result = runner.run(hello_broken, name="Ada")

    with pytest.raises(KeyError, match="has no task 'nope'") as excinfo:
        result["nope"]

    message = excinfo.value.args[0]
    assert message == (
        "Run of workflow 'hello_broken' has no task 'nope'; "
        "its tasks are 'broken', 'greet'"
    )


def test_unknown_task_id_of_a_run_without_tasks_says_none(runner: Runner) -> None:
    @workflow
    def empty() -> int:
        return 1

    result = runner.run(empty)

    with pytest.raises(KeyError, match="its tasks are none") as excinfo:
        result["greet"]

    assert excinfo.value.args[0].startswith("Run of workflow 'empty'")


def test_statuses_maps_each_task_id_to_its_status(runner: Runner) -> None:
    result = runner.run(hello_broken, name="Ada")

    assert result.statuses() == {
        "broken": TaskStatus.FAILED,
        "greet": TaskStatus.SKIPPED,
    }


def test_model_dump_json_writes_errors_as_type_and_message(runner: Runner) -> None:
    result = runner.run(hello_broken, name="Ada")

    dumped = json.loads(result.model_dump_json())

    assert dumped["status"] == "succeeded"
    assert dumped["tasks"]["broken"]["status"] == "failed"
    assert dumped["tasks"]["broken"]["error"] == {
        "type": "ValueError",
        "message": "cannot greet Ada",
    }
    assert dumped["tasks"]["greet"]["error"] is None
    assert dumped["tasks"]["greet"]["reason"] == (
        "needs the value of 'broken', which failed"
    )
    assert dumped["graph"]["name"] == "hello_broken"


class _Connection:
    """A value pydantic cannot serialise."""

    def __repr__(self) -> str:
        return "_Connection(password='hunter22')"


@task
def leak() -> dict[str, object]:
    return {"token": Secret("sk_results_dump_4242"), "conn": _Connection(), "n": 1}


@workflow
def leaky() -> dict[str, object]:
    return leak()


def test_model_dump_json_masks_secrets_and_names_unserialisable_types(
    runner: Runner,
) -> None:
    result = runner.run(leaky)

    text = result.model_dump_json()

    dumped = json.loads(text)
    expected = {"token": "**********", "conn": "<_Connection>", "n": 1}
    assert dumped["output"] == expected
    assert dumped["tasks"]["leak"]["value"] == expected
    assert "sk_results_dump_4242" not in text
    assert "hunter22" not in text


def test_model_dump_in_python_mode_keeps_the_values(runner: Runner) -> None:
    result = runner.run(leaky)

    dumped = result.model_dump()

    assert isinstance(dumped["output"]["conn"], _Connection)
    assert isinstance(dumped["tasks"]["leak"]["value"]["token"], Secret)


def test_repr_is_one_line_with_workflow_run_id_status_and_counts(
    runner: Runner,
) -> None:
    result = runner.run(hello_broken, name="Ada")

    assert repr(result) == (
        f"RunResult(workflow='hello_broken', run_id={result.run_id!r}, "
        "status='succeeded', tasks={'failed': 1, 'skipped': 1})"
    )
    assert str(result) == (
        f"workflow='hello_broken' run_id={result.run_id!r} status='succeeded' "
        "tasks={'failed': 1, 'skipped': 1}"
    )


def test_repr_does_not_grow_with_the_number_of_tasks(runner: Runner) -> None:
    @workflow
    def many(n: int) -> list[str]:
        return greet.map(name=[str(i) for i in range(n)])

    small, large = runner.run(many, n=2), runner.run(many, n=500)

    assert len(repr(large)) == len(repr(small)) + 2  # only the digits of the count
    assert "Hello" not in repr(large)


def test_counts_tally_tasks_by_status_in_status_order(runner: Runner) -> None:
    result = runner.run(hello_broken, name="Ada")

    assert result.counts() == {"failed": 1, "skipped": 1}
    assert list(runner.run(hello, name="Ada").counts()) == ["succeeded"]


def test_statuses_are_str_enums() -> None:
    assert issubclass(TaskStatus, StrEnum)
    assert issubclass(RunStatus, StrEnum)
    assert [status.value for status in TaskStatus] == [
        "succeeded",
        "failed",
        "skipped",
        "not_run",
    ]
    assert [status.value for status in RunStatus] == ["succeeded", "failed"]
    assert f"{TaskStatus.NOT_RUN}" == "not_run"
    assert str(RunStatus.FAILED) == "failed"


def _loaded_result(tasks: dict[str, TaskResult]) -> RunResult[object]:
    return RunResult[object].model_validate(
        {
            "run_id": "r1",
            "workflow": "loaded",
            "status": "failed",
            "error_message": "it failed",
            "tasks": tasks,
            "graph": WorkflowGraph(name="loaded", nodes=()),
            "started_at": EPOCH,
            "ended_at": EPOCH,
        }
    )


def test_error_of_a_result_built_outside_the_runner_is_its_failed_task() -> None:
    error = ValueError("kaput")
    result = _loaded_result(
        {
            "done": TaskResult(id="done", name="done", status=TaskStatus.SUCCEEDED),
            "bad": TaskResult(id="bad", name="bad", status="failed", error=error),
        }
    )

    assert result.error is error


def test_error_of_a_failed_result_without_a_failed_task_is_none() -> None:
    result = _loaded_result(
        {"gone": TaskResult(id="gone", name="gone", status=TaskStatus.FAILED)}
    )

    assert not result.success
    assert result.error is None


def test_task_results_and_graph_are_built_on_first_read(runner: Runner) -> None:
    result = runner.run(hello_broken, name="Ada")

    assert repr(result).endswith("tasks={'failed': 1, 'skipped': 1})")
    assert "tasks" not in result.__dict__  # repr counted without building them
    assert "graph" not in result.__dict__
    assert result["greet"].status is TaskStatus.SKIPPED
    assert result.graph.name == "hello_broken"
    assert {"tasks", "graph"} <= set(result.__dict__)


def test_a_result_pickles_and_compares_with_what_it_built(runner: Runner) -> None:
    result = runner.run(hello, name="Ada")

    copy = pickle.loads(pickle.dumps(result))

    assert copy == result
    assert copy.tasks["greet"].value == "Hello, Ada"
    assert dict(copy)["graph"] == result.graph
    assert result.model_dump()["tasks"]["greet"]["status"] == "succeeded"
