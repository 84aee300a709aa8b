"""The compiled plan: slotted steps, a graph drawn on request, shipping by pickle."""

from __future__ import annotations

import multiprocessing
import pickle

import pytest

from fiscus_dsl import PlanShippingError, task, when, workflow
from fiscus_dsl._dsl.plan import Plan, PlanNode
from fiscus_dsl._dsl.task import Task, TaskOptions
from fiscus_dsl._graph.specs import ListArg, OperationRef, RefArg, ValueArg

from . import shipped_flows
from .shipped_flows import broken, double, fan


def test_plan_steps_own_task_args_deps_guard_policy_and_error() -> None:
    plan = fan.compile((), {"n": 3})

    assert [(node.id, node.kind) for node in plan.nodes] == [
        ("double", "map"),
        ("double#2", "task"),
        ("double#3", "task"),
        ("summed", "workflow"),
        ("total", "task"),
    ]
    guarded = plan.node("double#3")
    assert guarded.task is double
    assert guarded.deps == ("double#2",)
    assert guarded.value_deps == ("double#2",)
    assert guarded.guard is not None
    assert guarded.policy.on_error == "fail"
    assert plan.node("total").deps == ("double",)
    child = plan.node("summed").child
    assert isinstance(child, Plan)
    assert [node.id for node in child.nodes] == ["double"]
    assert guarded.predicates == {"when:is_big": shipped_flows.is_big}
    assert plan.node("total").predicates == {}
    assert plan.predicates == {"when:is_big": shipped_flows.is_big}
    assert all(not hasattr(node, "__dict__") for node in plan.nodes)  # slotted


def test_validation_error_found_while_tracing_is_the_steps_own() -> None:
    plan = broken.compile((), {})

    error = plan.node("double").invalid
    assert error is not None
    assert error.fields == ("n",)


def test_graph_is_drawn_from_the_plan_once_on_request() -> None:
    plan = fan.compile((), {"n": 2})

    graph = plan.graph()

    assert graph is plan.graph()
    assert [node.id for node in graph.nodes] == [node.id for node in plan.nodes]
    assert graph == fan.graph(n=2)
    assert repr(plan.node("total")) == "<PlanNode task 'total'>"
    assert repr(plan) == "<Plan 'fan': 5 steps>"


def test_plan_pickles_with_tasks_by_import_path() -> None:
    plan = fan.compile((), {"n": 2})

    copy = pickle.loads(pickle.dumps(plan))

    assert copy.node("double#2").task is double  # the same module-level task
    assert copy.graph() == plan.graph()
    assert copy.hooks == plan.hooks


def test_plan_runs_in_a_spawned_process() -> None:
    context = multiprocessing.get_context("spawn")
    blobs = [
        pickle.dumps(fan.compile((), {"n": 4})),
        pickle.dumps(broken.compile((), {})),
    ]
    with context.Pool(1) as pool:
        (graph, ours, status, output, error), broken_run = pool.map(
            shipped_flows.receive, blobs
        )

    assert graph == fan.graph(n=4).model_dump_json()
    assert ours
    assert (status, output, error) == ("succeeded", 12, None)
    assert broken_run[2:] == ("failed", None, "ArgumentValidationError")


def test_plan_with_a_closure_task_says_so_when_shipped_not_when_traced() -> None:
    @task
    def local(n: int) -> int:
        return n

    @workflow
    def flow() -> int:
        return local(1)

    plan = flow.compile((), {})  # tracing is fine

    with pytest.raises(
        PlanShippingError, match=r"task 'local' is defined inside a function"
    ) as caught:
        pickle.dumps(plan)
    assert caught.value.workflow == "flow"
    assert "define it at module level" in str(caught.value)


def test_plan_with_a_lambda_guard_says_so_when_shipped() -> None:
    @workflow
    def flow() -> None:
        with when(lambda n: n > 1, double(1)):
            double(2)

    with pytest.raises(
        PlanShippingError, match=r"guard predicate 'when:<lambda>' is a lambda"
    ):
        flow.compile((), {}).check_shippable()


def test_plan_of_a_sub_workflow_with_a_closure_is_refused_by_the_outer_plan() -> None:
    @task
    def inner_task() -> int:
        return 1

    @workflow
    def inner() -> int:
        return inner_task()

    @workflow
    def outer() -> int:
        return inner()

    with pytest.raises(PlanShippingError, match=r"workflow 'inner'.*task 'inner_task'"):
        pickle.dumps(outer.compile((), {}))


def test_plan_node_of_a_sub_workflow_draws_its_graph() -> None:
    node = fan.compile((), {"n": 1}).node("summed")

    drawn = node.to_node()

    assert isinstance(node, PlanNode)
    assert drawn.kind == "workflow"
    assert [n.id for n in drawn.graph.nodes] == ["double"]


def test_the_operation_in_a_tasks_options_reaches_its_task_and_map_nodes() -> None:
    operation = OperationRef(
        connector="Crm", method="GET", url="https://crm.example.test/v1/items/{n}"
    )

    def fetch(n: int) -> int:
        return n

    fetched = Task(fetch, TaskOptions(name="fetch", operation=operation))

    @workflow
    def flow(n: int) -> int:
        fetched.map(n=[n])
        return double(fetched(n))

    mapped, called, doubled = flow.graph().nodes

    assert mapped.kind == "map"
    assert called.kind == "task"
    assert doubled.kind == "task"
    assert (mapped.id, called.id, doubled.id) == ("fetch", "fetch#2", "double")
    assert mapped.operation is operation  # the task's own, not a copy
    assert called.operation is operation
    assert doubled.operation is None


def test_a_call_of_literals_and_whole_values_is_recorded_in_its_fast_form() -> None:
    plan = fan.compile((), {"n": 2})

    guarded = plan.node("double#3")  # double(first): a whole value
    assert guarded.fast == (("n", "double#2", None),)
    first = plan.node("double#2")  # double(n): a literal
    assert first.fast == (("n", None, 2),)
    assert first.args == {"n": ValueArg(value=2)}
    assert guarded.args == {"n": RefArg(node="double#2")}
    gathered = plan.node("total")  # total(doubled): the map's whole list
    assert gathered.fast == (("values", "double", None),)


def test_a_list_of_whole_futures_is_gathered_in_the_fast_form() -> None:
    @task
    def count(values: list[int]) -> int:
        return len(values)

    @workflow
    def flow() -> int:
        return count([double(1), double(2)])

    plan = flow.compile((), {})

    node = plan.node("count")
    assert node.fast == (("values", ("double", "double#2"), None),)
    assert node.deps == ("double", "double#2")
    assert node.args == {
        "values": ListArg(items=(RefArg(node="double"), RefArg(node="double#2")))
    }
    assert flow.run().output == 2


def test_a_list_mixing_futures_and_literals_takes_the_general_form() -> None:
    @task
    def count(values: list[int]) -> int:
        return len(values)

    @workflow
    def flow() -> int:
        return count([double(1), 5])

    node = flow.compile((), {}).node("count")

    assert node.fast is None
    assert node.args["values"] == ListArg(
        items=(RefArg(node="double"), ValueArg(value=5))
    )
    assert flow.run().output == 2
