"""Fan-out with ``task.map``, sub-workflows, and tasks called outside a workflow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from fiscus_dsl import (
    ArgumentValidationError,
    Hooks,
    ProjectionError,
    RunStatus,
    TaskStatus,
    task,
    when,
    workflow,
)

if TYPE_CHECKING:
    from fiscus_dsl import Runner
    from fiscus_dsl.testing import FakeClock, FakeSleep

SUCCEEDED = TaskStatus.SUCCEEDED
FAILED = TaskStatus.FAILED
SKIPPED = TaskStatus.SKIPPED
NOT_RUN = TaskStatus.NOT_RUN


class DeclinedError(Exception):
    """A task's own error."""


@task
def ids(count: int) -> list[int]:
    return list(range(1, count + 1))


@task
def scale(x: int, factor: int = 1) -> int:
    return x * factor


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def not_a_list() -> Any:
    return 5


@task(on_error="continue")
def picky(x: int) -> int:
    if x == 2:
        raise DeclinedError(f"declined {x}")
    return x


@task
def strict(x: int) -> int:
    if x == 2:
        raise DeclinedError(f"declined {x}")
    return x


# ---------------------------------------------------------------- task.map


def test_map_runs_one_instance_per_item_in_order(runner: Runner) -> None:
    @workflow
    def flow() -> list[int]:
        return scale.map(x=ids(3))

    result = runner.run(flow)

    assert result.output == [1, 2, 3]
    assert list(result.tasks) == ["ids", "scale", "scale[0]", "scale[1]", "scale[2]"]
    assert [result[f"scale[{i}]"].value for i in range(3)] == [1, 2, 3]
    assert result["scale[1]"].name == "scale"
    assert result["scale"].value == [1, 2, 3]


def test_map_with_partial_binds_the_other_arguments(runner: Runner) -> None:
    @workflow
    def flow(factor: int) -> list[int]:
        return scale.partial(factor=factor).map(x=ids(3))

    assert runner.run(flow, factor=10).output == [10, 20, 30]


def test_map_zips_several_lists(runner: Runner) -> None:
    @workflow
    def flow() -> list[int]:
        return add.map(a=ids(3), b=[10, 20, 30])

    assert runner.run(flow).output == [11, 22, 33]


def test_map_over_an_empty_list_is_an_empty_list(runner: Runner) -> None:
    @workflow
    def flow() -> list[int]:
        return scale.map(x=ids(0))

    result = runner.run(flow)

    assert result.output == []
    assert result["scale"].status is SUCCEEDED
    assert list(result.tasks) == ["ids", "scale"]


def test_map_over_lists_of_different_lengths_fails_the_map(runner: Runner) -> None:
    @workflow
    def flow() -> list[int]:
        return add.map(a=ids(3), b=[10, 20])

    result = runner.run(flow)

    error = result["add"].error
    assert result.status is RunStatus.FAILED
    assert isinstance(error, ArgumentValidationError)
    with pytest.raises(
        ArgumentValidationError, match=r"lists to map differ in length \(a=3, b=2\)"
    ):
        raise error
    assert error.task_id == "add"
    assert error.fields == ("a", "b")


def test_map_over_a_value_that_is_not_a_list_fails_the_map(runner: Runner) -> None:
    @workflow
    def flow() -> list[int]:
        return scale.map(x=not_a_list())

    error = runner.run(flow)["scale"].error

    assert isinstance(error, ArgumentValidationError)
    with pytest.raises(
        ArgumentValidationError, match="expected a list to map over, got int"
    ):
        raise error
    assert error.fields == ("x",)
    assert error.workflow == "flow"


def test_map_over_a_projection_that_finds_nothing_fails_the_map(
    runner: Runner,
) -> None:
    @task
    def page() -> Any:
        return {"items": [1, 2]}

    @workflow
    def flow() -> list[int]:
        return scale.map(x=page()["rows"])

    error = runner.run(flow)["scale"].error

    assert isinstance(error, ProjectionError)
    assert error.task_id == "scale"
    assert error.path == "['rows']"


def test_map_over_a_skipped_list_is_skipped(runner: Runner) -> None:
    @workflow
    def flow() -> list[int]:
        with when(False):
            items = ids(3)
        return scale.map(x=items)

    result = runner.run(flow)

    assert result["scale"].status is SKIPPED
    assert result["scale"].reason == "needs the value of 'ids', which was skipped"


def test_map_instance_failure_with_continue_fails_only_the_map(
    runner: Runner,
) -> None:
    @workflow
    def flow() -> dict[str, object]:
        values = picky.map(x=ids(3))
        return {"values": values, "other": scale(5), "total": add(1, values[0])}

    result = runner.run(flow)

    assert result.status is RunStatus.SUCCEEDED
    assert result.statuses() == {
        "ids": SUCCEEDED,
        "picky": FAILED,
        "scale": SUCCEEDED,
        "add": SKIPPED,
        "picky[0]": SUCCEEDED,
        "picky[1]": FAILED,
        "picky[2]": SUCCEEDED,
    }
    assert result["picky"].reason == "instance 'picky[1]' failed"
    assert isinstance(result["picky"].error, DeclinedError)
    assert result["picky"].error is result["picky[1]"].error
    assert result.output == {"values": None, "other": 5, "total": None}


def test_map_instance_failure_fails_the_run(runner: Runner) -> None:
    @workflow
    def flow() -> list[int]:
        return strict.map(x=ids(3))

    result = runner.run(flow)

    assert result.status is RunStatus.FAILED
    assert result["strict"].status is FAILED
    assert result.error_message == (
        "Task 'strict[1]' in workflow 'flow' failed: DeclinedError: declined 2"
    )


def test_queued_map_instances_do_not_start_after_an_instance_failed(
    fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    from fiscus_dsl import Runner

    runner = Runner(max_concurrency=1, sleep=fake_sleep, clock=fake_clock)

    @workflow
    def flow() -> list[int]:
        return strict.map(x=[2, 3, 4])

    result = runner.run(flow)

    assert result.statuses() == {
        "strict": FAILED,
        "strict[0]": FAILED,
        "strict[1]": NOT_RUN,
        "strict[2]": NOT_RUN,
    }
    assert result["strict"].reason == "'strict[0]' failed inside it"
    assert isinstance(result["strict"].error, DeclinedError)


@pytest.mark.parametrize("items", [[1, 2], []], ids=["items", "empty"])
def test_bad_bound_literal_fails_the_map(runner: Runner, items: list[int]) -> None:
    calls: list[int] = []

    @task
    def scaled(x: int, factor: int) -> int:
        calls.append(x)
        return x * factor

    @workflow
    def flow() -> list[int]:
        return scaled.partial(factor="ten").map(x=items)

    result = runner.run(flow)

    error = result["scaled"].error
    assert result.status is RunStatus.FAILED
    assert result.statuses() == {"scaled": FAILED}
    assert isinstance(error, ArgumentValidationError)
    with pytest.raises(ArgumentValidationError, match="Task 'scaled' in workflow"):
        raise error
    assert error.fields == ("factor",)
    assert calls == []


# ---------------------------------------------------------------- sub-workflows


@workflow
def enrich(x: int) -> dict[str, int]:
    doubled = scale(x, factor=2)
    return {"doubled": doubled, "sum": add(doubled, 1)}


def test_sub_workflow_results_nest_under_its_id(runner: Runner) -> None:
    @workflow
    def parent() -> dict[str, int]:
        return enrich(ids(1)[0])

    result = runner.run(parent)

    assert result.output == {"doubled": 2, "sum": 3}
    assert list(result.tasks) == ["ids", "enrich", "enrich/scale", "enrich/add"]
    assert result["enrich"].status is SUCCEEDED
    assert result["enrich"].name == "enrich"
    assert result["enrich"].value == {"doubled": 2, "sum": 3}
    assert result["enrich/add"].value == 3


def test_sub_workflow_output_feeds_later_tasks(runner: Runner) -> None:
    @workflow
    def parent() -> int:
        return add(enrich(5)["sum"], 100)

    assert runner.run(parent).output == 111


def test_mapped_sub_workflow_nests_each_instance(runner: Runner) -> None:
    @workflow
    def parent() -> list[dict[str, int]]:
        return enrich.map(x=ids(2))

    result = runner.run(parent)

    assert result.output == [{"doubled": 2, "sum": 3}, {"doubled": 4, "sum": 5}]
    assert list(result.tasks) == [
        "ids",
        "enrich",
        "enrich[0]/scale",
        "enrich[0]/add",
        "enrich[1]/scale",
        "enrich[1]/add",
    ]


def test_mapped_sub_workflow_with_partial_binds_inputs(runner: Runner) -> None:
    @workflow
    def combine(a: int, b: int) -> int:
        return add(a, b)

    @workflow
    def parent() -> list[int]:
        return combine.partial(b=ids(1)[0]).map(a=[10, 20])

    assert runner.run(parent).output == [11, 21]


def test_mapped_sub_workflow_over_an_empty_list_is_an_empty_list(
    runner: Runner,
) -> None:
    @workflow
    def parent() -> list[dict[str, int]]:
        return enrich.map(x=ids(0))

    result = runner.run(parent)

    assert result.output == []
    assert result["enrich"].status is SUCCEEDED


def test_mapped_sub_workflow_over_a_non_list_fails(runner: Runner) -> None:
    @workflow
    def parent() -> list[dict[str, int]]:
        return enrich.map(x=not_a_list())

    result = runner.run(parent)

    error = result["enrich"].error
    assert result.status is RunStatus.FAILED
    assert isinstance(error, ArgumentValidationError)
    assert error.task_id == "enrich"
    assert result.error_message is not None
    assert result.error_message.startswith(
        "Sub-workflow 'enrich' in workflow 'parent' failed: ArgumentValidationError"
    )


def test_failing_task_inside_a_sub_workflow_fails_the_run(runner: Runner) -> None:
    @workflow
    def checkout(x: int) -> int:
        return strict(x)

    @workflow
    def parent() -> int:
        return add(checkout(2), 1)

    result = runner.run(parent)

    assert result.status is RunStatus.FAILED
    assert result.statuses() == {
        "checkout": FAILED,
        "add": SKIPPED,
        "checkout/strict": FAILED,
    }
    assert result["checkout"].reason == "'checkout/strict' failed inside it"
    assert result["checkout"].error is result["checkout/strict"].error
    assert result.error_message == (
        "Task 'checkout/strict' in workflow 'checkout' failed: "
        "DeclinedError: declined 2"
    )
    assert isinstance(result.error, DeclinedError)


def test_failure_deep_inside_nested_sub_workflows_fails_every_ancestor(
    runner: Runner,
) -> None:
    @workflow
    def inner(x: int) -> int:
        return strict(x)

    @workflow
    def middle(x: int) -> int:
        return inner(x)

    @workflow
    def outer() -> int:
        return middle(2)

    result = runner.run(outer)

    assert result.statuses() == {
        "middle": FAILED,
        "middle/inner": FAILED,
        "middle/inner/strict": FAILED,
    }
    assert result["middle"].reason == "'middle/inner/strict' failed inside it"


def test_failing_instance_of_a_mapped_sub_workflow_fails_the_run(
    runner: Runner,
) -> None:
    @workflow
    def checkout(x: int) -> int:
        return strict(x)

    @workflow
    def parent() -> list[int]:
        return checkout.map(x=[1, 2])

    result = runner.run(parent)

    assert result.status is RunStatus.FAILED
    assert result["checkout"].status is FAILED
    assert result["checkout[1]/strict"].status is FAILED
    assert result["checkout[0]/strict"].status is SUCCEEDED


def test_sub_workflow_given_a_projection_that_finds_nothing_fails(
    runner: Runner,
) -> None:
    @task
    def record() -> Any:
        return {"id": 1}

    @workflow
    def parent() -> dict[str, int]:
        return enrich(record()["missing"])

    result = runner.run(parent)

    error = result["enrich"].error
    assert result.status is RunStatus.FAILED
    assert isinstance(error, ProjectionError)
    assert error.task_id == "enrich"
    assert error.source == "record"


def test_sub_workflow_given_a_bad_literal_fails(runner: Runner) -> None:
    @workflow
    def parent() -> dict[str, int]:
        return enrich("not a number")  # type: ignore[arg-type]  # the bad literal under test

    result = runner.run(parent)

    error = result["enrich"].error
    assert isinstance(error, ArgumentValidationError)
    assert error.task_id == "enrich"
    assert error.fields == ("x",)
    assert "enrich/scale" not in result.tasks


def test_projection_error_in_a_sub_workflow_output_fails_the_run(
    runner: Runner,
) -> None:
    @task
    def record() -> Any:
        return {"id": 1}

    @workflow
    def shaped() -> object:
        return record()["missing"]

    @workflow
    def parent() -> object:
        return shaped()

    result = runner.run(parent)

    error = result["shaped"].error
    assert result.status is RunStatus.FAILED
    assert result["shaped/record"].status is SUCCEEDED
    assert isinstance(error, ProjectionError)
    assert error.task_id is None
    assert error.source == "shaped/record"
    assert result.error_message is not None
    assert result.error_message.startswith(
        "Sub-workflow 'shaped' in workflow 'parent' failed: ProjectionError"
    )


def test_projection_error_in_a_mapped_sub_workflow_output_fails_the_run(
    runner: Runner,
) -> None:
    @task
    def record(x: int) -> Any:
        return {"id": x}

    @workflow
    def shaped(x: int) -> object:
        return record(x)["missing"]

    @workflow
    def parent() -> list[object]:
        return shaped.map(x=[1, 2, 3])

    result = runner.run(parent)

    assert result.status is RunStatus.FAILED
    assert result["shaped"].status is FAILED
    assert isinstance(result["shaped"].error, ProjectionError)


def test_sub_workflow_reads_projections_of_its_inputs(runner: Runner) -> None:
    @task
    def record() -> Any:
        return {"id": 7, "tags": ["a"]}

    @workflow
    def tagged(rec: Any) -> list[object]:
        return [scale(rec["id"]), rec.tags]

    @workflow
    def parent() -> list[object]:
        return tagged(record())

    assert runner.run(parent).output == [7, ["a"]]


def test_sub_workflow_input_projection_that_finds_nothing_fails(
    runner: Runner,
) -> None:
    @task
    def record() -> Any:
        return {"id": 7}

    @workflow
    def tagged(rec: Any) -> int:
        return scale(rec["missing"])

    @workflow
    def parent() -> int:
        return tagged(record())

    error = runner.run(parent)["tagged/scale"].error

    assert isinstance(error, ProjectionError)
    assert error.source == "rec"
    assert error.task_id == "tagged/scale"


def test_sub_workflow_without_tasks_returns_its_output(runner: Runner) -> None:
    @workflow
    def identity(x: int) -> int:
        return x

    @workflow
    def parent() -> int:
        return add(identity(ids(1)[0]), 1)

    result = runner.run(parent)

    assert result.output == 2
    assert result["identity"].value == 1


def test_sub_workflow_returning_nothing_has_none_value(runner: Runner) -> None:
    @workflow
    def effect(x: int) -> None:
        scale(x)

    @workflow
    def parent() -> None:
        effect(3)

    result = runner.run(parent)

    assert result["effect"].status is SUCCEEDED
    assert result["effect"].value is None
    assert result["effect/scale"].value == 3


def test_skipped_sub_workflow_runs_none_of_its_tasks(runner: Runner) -> None:
    @workflow
    def parent() -> None:
        with when(False):
            enrich(1)

    result = runner.run(parent)

    assert result.statuses() == {"enrich": SKIPPED}
    assert result["enrich"].reason == "its guard is false: False"


def test_sub_workflow_task_hooks_see_the_sub_workflow_name(
    runner: Runner,
) -> None:
    seen: list[str] = []

    @workflow(hooks=Hooks(before_task=lambda ctx: seen.append(ctx.workflow)))
    def parent() -> dict[str, int]:
        return enrich(1)

    runner.run(parent)

    assert seen == ["enrich", "enrich"]


# ---------------------------------------------------------------- outside a workflow


def test_sync_task_called_outside_a_workflow_returns_its_value(
    default: Runner,
) -> None:
    assert scale(3, factor=4) == 12


def test_async_task_called_outside_a_workflow_returns_its_value(
    default: Runner,
) -> None:
    @task
    async def fetch(x: int) -> int:
        return x + 1

    assert fetch(1) == 2


def test_task_called_outside_a_workflow_raises_its_own_error(
    default: Runner,
) -> None:
    with pytest.raises(DeclinedError, match="declined 2"):
        strict(2)


async def test_task_arun_returns_its_value(default: Runner) -> None:
    @task
    async def fetch(x: int) -> int:
        return x + 1

    assert await fetch.arun(41) == 42
    assert await scale.arun(2, factor=3) == 6


async def test_task_arun_raises_its_own_error(default: Runner) -> None:
    with pytest.raises(DeclinedError, match="declined 2"):
        await strict.arun(2)


def test_task_called_outside_a_workflow_validates_its_arguments(
    default: Runner,
) -> None:
    with pytest.raises(ArgumentValidationError, match="Task 'scale'") as excinfo:
        scale("many")  # type: ignore[arg-type]  # the bad literal under test

    assert excinfo.value.task_id == "scale"
    assert excinfo.value.fields == ("x",)


def test_task_called_outside_a_workflow_is_retried(
    default: Runner, fake_sleep: FakeSleep
) -> None:
    from fiscus_dsl import Retry

    calls = 0

    @task(retry=Retry(attempts=2, backoff=1, jitter=False))
    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("reset")
        return "ok"

    assert flaky() == "ok"
    assert fake_sleep.delays == [1.0]


def test_map_outside_a_workflow_returns_the_list(default: Runner) -> None:
    assert scale.map(x=[1, 2, 3]) == [1, 2, 3]
    assert scale.partial(factor=2).map(x=[1, 2]) == [2, 4]
    assert scale.map(x=[]) == []


def test_map_outside_a_workflow_raises_an_instance_error(default: Runner) -> None:
    with pytest.raises(DeclinedError, match="declined 2"):
        strict.map(x=[1, 2, 3])


def test_sub_workflow_stopped_before_its_last_task_is_failed_too(
    runner: Runner,
) -> None:
    @workflow
    def checkout(x: int) -> int:
        return add(strict(x), 1)

    @workflow
    def parent() -> int:
        return checkout(2)

    result = runner.run(parent)

    assert result.statuses() == {
        "checkout": FAILED,
        "checkout/strict": FAILED,
        "checkout/add": SKIPPED,
    }
    assert result["checkout"].reason == "'checkout/strict' failed inside it"
    assert result["checkout/add"].reason == (
        "needs the value of 'checkout/strict', which failed"
    )
