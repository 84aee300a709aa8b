"""Projections of futures at run time: ``.attr``, ``["key"]``, ``[0]``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from pydantic import BaseModel

from fiscus_dsl import (
    ProjectionError,
    RunStatus,
    TaskStatus,
    WorkflowFailed,
    task,
    workflow,
)

if TYPE_CHECKING:
    from fiscus_dsl import Runner


class Contact(BaseModel):
    id: str
    email: str


@task
def contact_record() -> Any:
    return {"id": "c1", "email": "ada@example.com", "tags": ["vip", "beta"]}


@task
def contact_model() -> Contact:
    return Contact(id="c2", email="bob@example.com")


@task
def count() -> Any:
    return 7


@task
def echo(value: object) -> object:
    return value


def test_attribute_of_a_mapping_reads_its_key(runner: Runner) -> None:
    @workflow
    def flow() -> object:
        return echo(contact_record().email)

    assert runner.run(flow).output == "ada@example.com"


def test_attribute_of_an_object_reads_the_attribute(runner: Runner) -> None:
    @workflow
    def flow() -> object:
        return echo(contact_model().email)

    assert runner.run(flow).output == "bob@example.com"


def test_item_and_index_projections_chain(runner: Runner) -> None:
    @workflow
    def flow() -> object:
        record = contact_record()
        return echo([record["id"], record["tags"][0], record.tags[1]])

    assert runner.run(flow).output == ["c1", "vip", "beta"]


def test_projection_in_the_output_is_resolved(runner: Runner) -> None:
    @workflow
    def flow() -> str:
        return contact_model().id

    assert runner.run(flow).output == "c2"


def test_missing_key_fails_the_consuming_task_with_projection_error(
    runner: Runner,
) -> None:
    @workflow
    def flow() -> object:
        return echo(contact_record()["phone"])

    result = runner.run(flow)

    error = result["echo"].error
    assert result.status is RunStatus.FAILED
    assert result.statuses() == {
        "contact_record": TaskStatus.SUCCEEDED,
        "echo": TaskStatus.FAILED,
    }
    assert isinstance(error, ProjectionError)
    with pytest.raises(ProjectionError, match=r"needs contact_record\['phone'\]"):
        raise error
    assert error.workflow == "flow"
    assert error.task_id == "echo"
    assert error.source == "contact_record"
    assert error.path == "['phone']"
    assert "the dict value has no ['phone']" in str(error)
    assert isinstance(error.__cause__, KeyError)


def test_missing_attribute_of_an_object_fails_with_projection_error(
    runner: Runner,
) -> None:
    @workflow
    def flow() -> object:
        return echo(contact_model().phone)  # type: ignore[attr-defined]  # the missing attribute under test

    error = runner.run(flow)["echo"].error

    assert isinstance(error, ProjectionError)
    assert error.source == "contact_model"
    assert error.path == ".phone"
    assert "the Contact value has no .phone" in str(error)
    assert isinstance(error.__cause__, AttributeError)


def test_projection_error_names_where_a_nested_path_broke(runner: Runner) -> None:
    @workflow
    def flow() -> object:
        return echo(contact_record().tags[5])

    error = runner.run(flow)["echo"].error

    assert isinstance(error, ProjectionError)
    assert error.path == ".tags[5]"
    assert "the list value at contact_record.tags has no [5]" in str(error)
    assert isinstance(error.__cause__, IndexError)


def test_indexing_a_value_that_cannot_be_indexed_fails_with_projection_error(
    runner: Runner,
) -> None:
    @workflow
    def flow() -> object:
        return echo(count()[0])

    error = runner.run(flow)["echo"].error

    assert isinstance(error, ProjectionError)
    assert error.path == "[0]"
    assert isinstance(error.__cause__, TypeError)


def test_projection_error_in_the_workflow_output_fails_the_run(
    runner: Runner,
) -> None:
    @workflow
    def flow() -> object:
        return {"phone": contact_record()["phone"]}

    result = runner.run(flow)

    assert result.status is RunStatus.FAILED
    assert result["contact_record"].status is TaskStatus.SUCCEEDED
    assert result.error_message == (
        "The output of workflow 'flow' needs contact_record['phone'], but the "
        "dict value has no ['phone']; check the shape 'contact_record' returns"
    )
    assert isinstance(result.error, ProjectionError)
    assert result.error.path == "['phone']"
    assert result.output is None


def test_projection_error_in_the_output_chains_workflow_failed(
    runner: Runner,
) -> None:
    @workflow
    def flow() -> object:
        return contact_record()["phone"]

    with pytest.raises(WorkflowFailed, match="needs contact_record") as excinfo:
        runner.call(flow)

    assert excinfo.value.workflow == "flow"
    assert isinstance(excinfo.value.__cause__, ProjectionError)
