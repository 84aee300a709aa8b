"""``@workflow`` and ``Workflow``: options, graphs, runs and sub-workflows."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from fiscus_dsl import (
    Hooks,
    TaskFuture,
    TracingError,
    Workflow,
    succeeded,
    task,
    when,
    workflow,
)
from fiscus_dsl._dsl.plan import Plan
from fiscus_dsl._graph.model import (
    InputArg,
    ListArg,
    OutcomeCondition,
    RefArg,
    TaskNode,
    ValueArg,
    WorkflowNode,
)

from .conftest import node_of


@task
def make_contact(name: str) -> dict[str, Any]:
    return {"name": name, "email": f"{name.lower()}@example.com"}


@task
def greet(contact: object, greeting: str) -> str:
    return f"{greeting}, {contact}"


@task
def numbers(count: int) -> list[int]:
    return list(range(count))


@workflow
def welcome(contact: object, greeting: str = "Hello") -> str:
    """Greet a contact."""
    return greet(contact, greeting)


def _before_workflow(run: object) -> None:
    return None


# ---------------------------------------------------------------- declaring


def test_bare_workflow_is_named_after_its_function() -> None:
    assert isinstance(welcome, Workflow)
    assert welcome.name == "welcome"
    assert welcome.hooks == ()
    assert repr(welcome) == "<Workflow 'welcome'>"


def test_workflow_name_option_names_its_graph() -> None:
    @workflow(name="onboarding")
    def onboard(name: str) -> dict[str, Any]:
        return make_contact(name)

    assert onboard.name == "onboarding"
    assert onboard.graph().name == "onboarding"


def test_workflow_hooks_option_registers_them() -> None:
    hooks = Hooks(before_workflow=_before_workflow)

    @workflow(hooks=hooks)
    def onboard(name: str) -> dict[str, Any]:
        return make_contact(name)

    assert onboard.hooks == (hooks,)
    assert onboard.compile((), {"name": "Ada"}).hooks == (hooks,)


def test_workflow_hooks_option_takes_a_sequence_and_drops_empty_hooks() -> None:
    hooks = Hooks(before_workflow=_before_workflow)

    @workflow(hooks=[Hooks(), hooks])
    def onboard(name: str) -> dict[str, Any]:
        return make_contact(name)

    assert onboard.hooks == (hooks,)


def test_workflow_keeps_name_docstring_and_signature() -> None:
    assert welcome.__name__ == "welcome"
    assert welcome.__doc__ == "Greet a contact."
    assert list(inspect.signature(welcome).parameters) == ["contact", "greeting"]


# ---------------------------------------------------------------- graphs


def test_graph_without_inputs_uses_placeholders_and_defaults() -> None:
    graph = welcome.graph()

    assert graph.name == "welcome"
    assert graph.inputs == ("contact",)
    assert node_of(graph, "greet", TaskNode).args == {
        "contact": InputArg(name="contact"),
        "greeting": ValueArg(value="Hello"),
    }
    assert graph.output == RefArg(node="greet")


def test_graph_with_inputs_bakes_them_in_as_literals() -> None:
    graph = welcome.graph("Ada", greeting="Hi")

    assert graph.inputs == ()
    assert node_of(graph, "greet", TaskNode).args == {
        "contact": ValueArg(value="Ada"),
        "greeting": ValueArg(value="Hi"),
    }


def test_graph_with_some_inputs_keeps_placeholders_for_the_rest() -> None:
    graph = welcome.graph(greeting="Hi")

    assert graph.inputs == ("contact",)
    assert node_of(graph, "greet", TaskNode).args["greeting"] == ValueArg(value="Hi")


def test_graph_of_a_workflow_returning_nothing_has_no_output() -> None:
    @workflow
    def fire_and_forget(name: str) -> None:
        make_contact(name)

    assert fire_and_forget.graph().output is None


def test_graph_of_a_workflow_returning_a_literal_outputs_it() -> None:
    @workflow
    def constant() -> int:
        return 42

    graph = constant.graph()
    assert graph.nodes == ()
    assert graph.output == ValueArg(value=42)


def test_graph_output_may_hold_futures_in_a_list() -> None:
    @workflow
    def both(name: str) -> list[object]:
        return [make_contact(name), 1]

    assert both.graph().output == ListArg(
        items=(RefArg(node="make_contact"), ValueArg(value=1))
    )


def test_graph_of_variadic_workflow_passes_every_argument() -> None:
    seen: list[tuple[object, ...]] = []

    @workflow
    def spread(first: int, /, *rest: int, **extra: int) -> None:
        seen.append((first, rest, extra))

    graph = spread.graph(1, 2, 3, k=4)

    assert graph.inputs == ()
    assert seen == [(1, (2, 3), {"k": 4})]


def test_graph_of_variadic_workflow_keeps_only_plain_placeholders() -> None:
    seen: list[tuple[object, ...]] = []

    @workflow
    def spread(first: int, /, *rest: int, **extra: int) -> None:
        seen.append((first, rest, extra))

    graph = spread.graph()

    assert graph.inputs == ("first",)
    ((first, rest, extra),) = seen
    assert isinstance(first, TaskFuture)
    assert (rest, extra) == ((), {})


def test_each_trace_runs_the_body_anew_with_its_inputs() -> None:
    calls: list[str] = []

    @workflow
    def onboard(name: str) -> dict[str, Any]:
        calls.append(name)
        return make_contact(name)

    first = onboard.compile((), {"name": "Ada"})
    second = onboard.compile((), {"name": "Grace"})

    assert calls == ["Ada", "Grace"]
    assert isinstance(first, Plan)
    assert node_of(first.graph(), "make_contact", TaskNode).args == {
        "name": ValueArg(value="Ada")
    }
    assert node_of(second.graph(), "make_contact", TaskNode).args == {
        "name": ValueArg(value="Grace")
    }


def test_each_run_traces_anew() -> None:
    calls: list[str] = []

    @workflow
    def onboard(name: str) -> dict[str, Any]:
        calls.append(name)
        return make_contact(name)

    assert onboard.run(name="Ada").output == {"name": "Ada", "email": "ada@example.com"}
    assert onboard(name="Bob") == {"name": "Bob", "email": "bob@example.com"}
    assert calls == ["Ada", "Bob"]


async def test_workflow_arun_returns_the_run_result() -> None:
    result = await welcome.arun("Ada", greeting="Hi")

    assert result.success
    assert result.output == "Hi, Ada"


def test_plan_keeps_the_task_behind_each_step() -> None:
    plan = welcome.compile(("Ada",), {})

    assert plan.name == "welcome"
    assert [(node.id, node.kind, node.task) for node in plan.nodes] == [
        ("greet", "task", greet)
    ]
    assert plan.node("greet").child is None
    assert plan.node("greet").invalid is None
    assert plan.predicates == {}
    assert not plan.standalone


def test_workflow_method_binds_its_instance() -> None:
    class Service:
        greeting = "Howdy"

        @workflow
        def flow(self, name: str) -> str:
            return greet(name, self.greeting)

    assert Service().flow("Ada") == "Howdy, Ada"


# ---------------------------------------------------------------- async bodies


def test_async_workflow_may_await_task_futures() -> None:
    @workflow
    async def onboard(name: str) -> str:
        contact = await _awaitable(make_contact(name))
        return greet(contact, "Hi")

    graph = onboard.graph()
    assert [node.id for node in graph.nodes] == ["make_contact", "greet"]
    assert node_of(graph, "greet", TaskNode).args["contact"] == RefArg(
        node="make_contact"
    )
    assert graph.output == RefArg(node="greet")


def test_async_workflow_without_awaits_traces() -> None:
    @workflow
    async def onboard(name: str) -> dict[str, Any]:
        return make_contact(name)

    assert onboard.graph().output == RefArg(node="make_contact")


def test_async_workflow_awaiting_anything_else_raises() -> None:
    class Pending:
        def __await__(self) -> Any:
            yield None

    @workflow
    async def onboard(name: str) -> None:
        await Pending()

    with pytest.raises(
        TracingError,
        match=r"^The workflow body awaited something that is not a task call in "
        r"workflow 'onboard' \(test_workflow\.py:\d+\); workflow bodies only build "
        r"the graph",
    ) as info:
        onboard.graph()

    assert info.value.workflow == "onboard"
    assert info.value.location is not None
    assert info.value.location.startswith("test_workflow.py:")


def test_async_workflow_awaiting_task_arun_raises_tracing_error() -> None:
    @workflow
    async def onboard(name: str) -> dict[str, Any]:
        return await make_contact.arun("Ada")

    with pytest.raises(TracingError, match=r"in workflow 'onboard'") as info:
        onboard.graph()

    assert info.value.workflow == "onboard"


def _awaitable(value: object) -> TaskFuture[object]:
    assert isinstance(value, TaskFuture)
    return value


# ---------------------------------------------------------------- sub-workflows


def test_sub_workflow_becomes_a_workflow_node_with_its_graph() -> None:
    @workflow
    def onboard(name: str) -> str:
        contact = make_contact(name)
        return welcome(contact, greeting="Hi")

    traced = onboard.compile((), {"name": "Ada"})
    node = node_of(traced.graph(), "welcome", WorkflowNode)

    assert node.workflow == "welcome"
    assert node.args == {"contact": RefArg(node="make_contact")}
    assert node.mapped is None
    assert node.guard is None
    assert node.graph.name == "welcome"
    assert node.graph.inputs == ("contact",)
    assert node_of(node.graph, "greet", TaskNode).args == {
        "contact": InputArg(name="contact"),
        "greeting": ValueArg(value="Hi"),
    }
    child = traced.node("welcome").child
    assert child is not None
    assert child.graph() == node.graph
    assert traced.graph().output == RefArg(node="welcome")


def test_sub_workflow_with_only_literals_has_them_baked_into_its_graph() -> None:
    @workflow
    def parent() -> str:
        return welcome("Ada")

    node = node_of(parent.graph(), "welcome", WorkflowNode)

    assert node.args == {}
    assert node.graph.inputs == ()
    assert node_of(node.graph, "greet", TaskNode).args == {
        "contact": ValueArg(value="Ada"),
        "greeting": ValueArg(value="Hello"),
    }


def test_sub_workflow_argument_holding_a_future_is_a_placeholder() -> None:
    @workflow
    def parent(name: str) -> str:
        return welcome([make_contact(name), "cc"])

    node = node_of(parent.graph(), "welcome", WorkflowNode)

    assert node.args == {
        "contact": ListArg(items=(RefArg(node="make_contact"), ValueArg(value="cc")))
    }
    assert node.graph.inputs == ("contact",)


def test_sub_workflow_calls_get_deterministic_ids() -> None:
    @workflow
    def parent() -> None:
        welcome("Ada")
        welcome("Bob")

    assert [node.id for node in parent.graph().nodes] == ["welcome", "welcome#2"]


def test_sub_workflow_inside_when_is_guarded() -> None:
    @workflow
    def parent(name: str) -> None:
        contact = make_contact(name)
        with when(succeeded(contact)):
            welcome(contact)

    node = node_of(parent.graph(), "welcome", WorkflowNode)
    assert node.guard == OutcomeCondition(test="succeeded", node="make_contact")


def test_sub_workflow_map_sets_mapped() -> None:
    @workflow
    def parent(count: int) -> list[str]:
        return welcome.map(contact=numbers(count))

    node = node_of(parent.graph(), "welcome", WorkflowNode)

    assert node.mapped == {"contact": RefArg(node="numbers")}
    assert node.args == {}
    assert node.graph.inputs == ("contact",)
    assert node_of(node.graph, "greet", TaskNode).args == {
        "contact": InputArg(name="contact"),
        "greeting": ValueArg(value="Hello"),
    }


def test_sub_workflow_partial_map_binds_futures_and_bakes_literals() -> None:
    @task
    def tag(contact: object, label: str, owner: object) -> str:
        return label

    @workflow
    def labelled(contact: object, label: str, owner: object) -> str:
        return tag(contact, label, owner)

    @workflow
    def parent(name: str) -> list[str]:
        owner = make_contact(name)
        return labelled.partial(label="vip", owner=owner).map(contact=["a", "b"])

    node = node_of(parent.graph(), "labelled", WorkflowNode)

    assert node.args == {"owner": RefArg(node="make_contact")}
    assert node.mapped == {"contact": ValueArg(value=["a", "b"])}
    assert node.graph.inputs == ("owner", "contact")
    assert node_of(node.graph, "tag", TaskNode).args == {
        "contact": InputArg(name="contact"),
        "label": ValueArg(value="vip"),
        "owner": InputArg(name="owner"),
    }


def test_sub_workflow_with_arguments_that_do_not_bind_raises() -> None:
    @workflow
    def parent() -> str:
        return welcome(nobody="x")  # type: ignore[call-arg]  # deliberately unknown

    with pytest.raises(
        TracingError,
        match=r"^Sub-workflow 'welcome' was called with arguments that do not bind to "
        r"welcome\(contact: 'object', greeting: 'str' = 'Hello'\) -> 'str' "
        r"\(.*\) in workflow 'parent' \(test_workflow\.py:\d+\); pass each "
        r"required parameter once",
    ) as info:
        parent.graph()

    assert info.value.workflow == "parent"


def test_workflow_map_outside_a_workflow_raises() -> None:
    with pytest.raises(
        TracingError,
        match=r"^Workflow 'welcome'\.map\(\) can only be used inside a @workflow "
        r"function \(test_workflow\.py:\d+\); call the workflow once per item",
    ) as info:
        welcome.map(contact=["a"])

    assert info.value.workflow is None
    assert info.value.location is not None
    assert info.value.location.startswith("test_workflow.py:")


def test_workflow_partial_map_outside_a_workflow_raises() -> None:
    with pytest.raises(
        TracingError, match=r"^Workflow 'welcome'\.map\(\) can only be used inside"
    ) as info:
        welcome.partial(greeting="Hi").map(contact=["a"])

    assert info.value.workflow is None


def test_future_closed_over_from_another_workflow_raises() -> None:
    @workflow
    def parent(name: str) -> str:
        contact = make_contact(name)

        @workflow
        def child() -> str:
            return greet(contact, "Hi")

        return child()

    with pytest.raises(
        TracingError,
        match=r"^The future 'make_contact' belongs to workflow 'parent', not to this "
        r"one, in workflow 'child' \(test_workflow\.py:\d+\); pass it to the "
        r"sub-workflow as an argument instead of closing over it$",
    ) as info:
        parent.graph()

    assert info.value.workflow == "child"


def test_future_closed_over_into_a_comparison_raises() -> None:
    @workflow
    def parent(name: str) -> None:
        contact = make_contact(name)

        @workflow
        def child() -> None:
            with when(contact["name"] == "Ada"):
                greet("x", "Hi")

        child()

    with pytest.raises(
        TracingError,
        match=r"^The future \"make_contact\['name'\]\" belongs to workflow 'parent', "
        r"not to this one, in workflow 'child'",
    ) as info:
        parent.graph()

    assert info.value.workflow == "child"


def test_condition_closed_over_from_another_workflow_raises() -> None:
    @workflow
    def parent(name: str) -> None:
        is_ada = make_contact(name)["name"] == "Ada"

        @workflow
        def child() -> None:
            with when(is_ada):
                greet("x", "Hi")

        child()

    with pytest.raises(TracingError, match=r"in workflow 'child'") as info:
        parent.graph()

    assert info.value.workflow == "child"
