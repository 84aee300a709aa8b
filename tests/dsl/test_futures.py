"""``TaskFuture``: projections, containers, identity, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from fiscus_dsl import TaskFuture, TracingError, coalesce, task, workflow
from fiscus_dsl._dsl.futures import future_label
from fiscus_dsl._graph.model import (
    DictArg,
    InputArg,
    ListArg,
    RefArg,
    Step,
    TaskNode,
    ValueArg,
    WorkflowGraph,
)

from .conftest import as_future, node_of


class Contact(BaseModel):
    id: str
    email: str


@task
def create_contact(name: str) -> Contact:
    return Contact(id="c1", email=f"{name}@example.com")


@task
def rows() -> list[dict[str, Any]]:
    return [{"id": 1}]


@task
def lookup() -> dict[str, Any]:
    return {"status": "ok"}


@task
def use(value: object) -> object:
    return value


def _arg_of_use(graph: WorkflowGraph) -> object:
    return node_of(graph, "use", TaskNode).args["value"]


def _traced_arg(make: Any) -> object:
    """Trace a workflow passing ``make()`` to ``use`` and return that argument."""

    @workflow
    def flow() -> object:
        return use(make())

    return _arg_of_use(flow.graph())


# ---------------------------------------------------------------- projections


def test_attribute_projection_is_a_ref_with_an_attr_step() -> None:
    arg = _traced_arg(lambda: create_contact("ada").email)

    assert arg == RefArg(node="create_contact", path=(Step(kind="attr", key="email"),))


def test_str_key_projection_is_a_ref_with_an_item_step() -> None:
    arg = _traced_arg(lambda: lookup()["status"])

    assert arg == RefArg(node="lookup", path=(Step(kind="item", key="status"),))


def test_index_projections_chain_into_one_path() -> None:
    arg = _traced_arg(lambda: rows()[0]["id"])

    assert arg == RefArg(
        node="rows",
        path=(Step(kind="item", key=0), Step(kind="item", key="id")),
    )


def test_projection_of_a_workflow_input_keeps_the_placeholder() -> None:
    @workflow
    def flow(contact: Contact) -> object:
        return use(contact.email)

    assert _arg_of_use(flow.graph()) == InputArg(
        name="contact", path=(Step(kind="attr", key="email"),)
    )


def test_projection_returns_a_new_future_and_leaves_the_source_alone() -> None:
    seen: list[TaskFuture[object]] = []

    @workflow
    def flow() -> object:
        contact = as_future(create_contact("ada"))
        seen.extend([contact, contact.email])
        return contact

    assert flow.graph().output == RefArg(node="create_contact")
    contact, email = seen
    assert email is not contact
    assert future_label(contact) == "create_contact"
    assert future_label(email) == "create_contact.email"


# ---------------------------------------------------------------- containers


def test_futures_in_a_list_become_a_list_arg() -> None:
    arg = _traced_arg(lambda: [lookup(), 1])

    assert arg == ListArg(items=(RefArg(node="lookup"), ValueArg(value=1)))


def test_futures_in_a_tuple_become_a_tuple_list_arg() -> None:
    arg = _traced_arg(lambda: (lookup(), "x"))

    assert arg == ListArg(
        items=(RefArg(node="lookup"), ValueArg(value="x")), is_tuple=True
    )


def test_futures_in_a_dict_become_a_dict_arg() -> None:
    arg = _traced_arg(lambda: {"a": lookup()["status"], "b": 2})

    assert arg == DictArg(
        keys=("a", "b"),
        values=(
            RefArg(node="lookup", path=(Step(kind="item", key="status"),)),
            ValueArg(value=2),
        ),
    )


def test_futures_nested_in_containers_are_found() -> None:
    arg = _traced_arg(lambda: {"rows": [lookup()], "n": (1, 2)})

    assert arg == DictArg(
        keys=("rows", "n"),
        values=(
            ListArg(items=(RefArg(node="lookup"),)),
            ValueArg(value=(1, 2)),
        ),
    )


def test_containers_without_futures_stay_literal_values() -> None:
    arg = _traced_arg(lambda: {"a": [1, 2], "b": (3,)})

    assert arg == ValueArg(value={"a": [1, 2], "b": (3,)})


# ---------------------------------------------------------------- identity


def test_futures_hash_by_identity() -> None:
    seen: list[TaskFuture[object]] = []

    @workflow
    def flow() -> None:
        seen.extend([as_future(lookup()), as_future(lookup())])

    flow.graph()
    first, second = seen

    assert hash(first) == object.__hash__(first)
    assert {first: "a", second: "b"}[first] == "a"
    assert first in {first}
    assert second not in {first}
    assert len({first, second, first}) == 2


def test_future_repr_shows_what_it_stands_for() -> None:
    reprs: list[str] = []

    @workflow
    def flow(user: Contact) -> None:
        contact = as_future(create_contact("ada"))
        listing = as_future(rows())
        reprs.extend(
            [
                repr(contact),
                repr(contact.email),
                repr(listing[0]["id"]),
                repr(as_future(user).email),
                repr(as_future(coalesce(contact, listing))),
            ]
        )

    flow.graph()

    assert reprs == [
        "<TaskFuture create_contact>",
        "<TaskFuture create_contact.email>",
        "<TaskFuture rows[0]['id']>",
        "<TaskFuture user.email>",
        "<TaskFuture coalesce(...)>",
    ]


# ---------------------------------------------------------------- refusals


def test_setting_an_attribute_on_a_future_raises() -> None:
    @workflow
    def flow() -> None:
        contact = create_contact("ada")
        contact.email = "other@example.com"

    with pytest.raises(
        TracingError,
        match=r"^Cannot set attribute 'email' on the future 'create_contact' in "
        r"workflow 'flow' \(test_futures\.py:\d+\); futures are read-only; compute "
        r"the new value in a task$",
    ) as info:
        flow.graph()

    assert info.value.workflow == "flow"


def test_private_attributes_of_a_future_raise_attribute_error() -> None:
    errors: list[AttributeError] = []

    @workflow
    def flow() -> None:
        contact = as_future(create_contact("ada"))
        with pytest.raises(AttributeError, match=r"^_secret$") as info:
            getattr(contact, "_secret")  # noqa: B009  (the name is the point)
        errors.append(info.value)
        assert not hasattr(contact, "_other")

    flow.graph()

    assert len(errors) == 1
    assert not isinstance(errors[0], TracingError)


def test_await_of_a_future_returns_the_future_itself() -> None:
    awaited: list[tuple[object, object]] = []

    @workflow
    async def flow() -> object:
        contact = as_future(create_contact("ada"))
        awaited.append((contact, await contact))
        return contact

    assert flow.graph().output == RefArg(node="create_contact")
    ((contact, result),) = awaited
    assert result is contact
