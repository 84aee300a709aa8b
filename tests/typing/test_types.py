"""What users see in their type checker: mypy checks every ``assert_type`` here.

pytest runs the same functions, so each pinned expression also works at run
time. Statically a task call is its return value (``Contact``), although
inside a workflow it is a ``TaskFuture`` while tracing; docs/concepts/typing.md
explains why.

mypy's ``assert_type`` compares ParamSpecs with their parameter names, so
the exact ``Task[[int], Contact]`` is pinned on positional-only functions,
and functions with named parameters are pinned by assignment plus a call
that must not type-check (its ``type: ignore`` would be reported unused if
the signature were lost, since ``warn_unused_ignores`` is on).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, assert_type

from pydantic import BaseModel

from fiscus_dsl import (
    Condition,
    Partial,
    Retry,
    Runner,
    RunResult,
    Task,
    Workflow,
    WorkflowGraph,
    coalesce,
    failed,
    skipped,
    succeeded,
    task,
    when,
    workflow,
)


class Contact(BaseModel):
    id: str
    email: str


@task
def make_contact(user_id: int, /) -> Contact:
    return Contact(id=str(user_id), email=f"user{user_id}@example.com")


@task
def create_contact(name: str, email: str) -> Contact:
    return Contact(id=name, email=email)


@task
async def fetch_contact(user_id: int, /) -> Contact:
    return Contact(id=str(user_id), email="async@example.com")


@task(retry=Retry(attempts=2, backoff=0), timeout=5, on_error="continue")
def retried_contact(user_id: int, /) -> Contact:
    return Contact(id=str(user_id), email="retried@example.com")


@task(retry=Retry(attempts=2, backoff=0), timeout=5)
async def fetch_retried(user_id: int, /) -> Contact:
    return Contact(id=str(user_id), email="async-retried@example.com")


@task(name="renamed")
def double(x: int) -> int:
    return 2 * x


@workflow
def onboard(user_id: int, /) -> Contact:
    contact = make_contact(user_id)
    assert_type(contact, Contact)
    assert_type(succeeded(contact), Condition)
    assert_type(failed(contact) | skipped(contact), Condition)
    assert_type(contact.email == "x", bool)
    with when(succeeded(contact)):
        backup = retried_contact(user_id)
    assert_type(coalesce(backup, contact), Contact)
    assert_type(coalesce(backup, None), Contact | None)
    return contact


@workflow(name="doubled")
def doubled(items: list[int]) -> list[int]:
    return double.map(x=items)


# ---------------------------------------------------------------- tasks


def test_task_on_a_function_keeps_its_parameters_and_return_type() -> None:
    assert_type(make_contact, Task[[int], Contact])
    named: Task[[str, str], Contact] = create_contact
    assert named is create_contact
    if TYPE_CHECKING:
        create_contact(name=1, email="x")  # type: ignore[arg-type]
        create_contact("a")  # type: ignore[call-arg]


def test_calling_a_task_gives_its_return_type() -> None:
    contact = assert_type(make_contact(7), Contact)
    assert contact.id == "7"
    assert assert_type(create_contact("ada", "a@example.com"), Contact).id == "ada"


def test_an_async_task_gives_the_awaited_type() -> None:
    assert_type(fetch_contact, Task[[int], Contact])
    assert assert_type(fetch_contact(3), Contact).id == "3"


async def test_arun_awaits_to_the_return_type() -> None:
    contact = assert_type(await fetch_contact.arun(4), Contact)
    assert contact.id == "4"
    assert assert_type(await make_contact.arun(5), Contact).id == "5"


def test_async_task_with_options_gives_the_awaited_type() -> None:
    assert_type(fetch_retried, Task[[int], Contact])
    assert assert_type(fetch_retried(2), Contact).id == "2"


def test_task_with_options_keeps_the_signature() -> None:
    assert_type(retried_contact, Task[[int], Contact])
    assert assert_type(retried_contact(1), Contact).id == "1"
    renamed: Task[[int], int] = double
    assert renamed.name == "renamed"


def test_map_gives_a_list_of_the_return_type() -> None:
    assert assert_type(double.map(x=[1, 2]), list[int]) == [2, 4]
    bound = assert_type(create_contact.partial(name="ada"), Partial[Contact])
    contacts = assert_type(bound.map(email=["a@x.io"]), list[Contact])
    assert contacts == [Contact(id="ada", email="a@x.io")]


# ---------------------------------------------------------------- workflows


def test_workflow_gives_a_workflow_of_its_signature() -> None:
    assert_type(onboard, Workflow[[int], Contact])
    typed: Workflow[[list[int]], list[int]] = doubled
    assert typed is doubled
    if TYPE_CHECKING:
        doubled(items="x")  # type: ignore[arg-type]


def test_calling_a_workflow_gives_its_output_type() -> None:
    assert assert_type(onboard(1), Contact).id == "1"


def test_run_gives_a_run_result_of_the_output_type() -> None:
    result = assert_type(onboard.run(2), RunResult[Contact])
    assert result.success
    assert assert_type(result.output, Contact | None) == make_contact(2)
    assert assert_type(Runner().run(doubled, [1]), RunResult[list[int]]).output == [2]


async def test_arun_gives_a_run_result_of_the_output_type() -> None:
    result = assert_type(await doubled.arun([3]), RunResult[list[int]])
    assert result.output == [6]


def test_graph_gives_a_workflow_graph() -> None:
    graph = assert_type(onboard.graph(), WorkflowGraph)
    assert graph.inputs == ("user_id",)
