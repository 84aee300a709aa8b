"""Tracing: deterministic ids, map nodes, locations and the trace context."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

from fiscus_dsl import Retry, TracingError, succeeded, task, when, workflow
from fiscus_dsl._dsl.tracing import TraceContext, current_trace, user_location
from fiscus_dsl._graph.model import (
    InputArg,
    MapNode,
    OutcomeCondition,
    Policy,
    RefArg,
    RetrySpec,
    Step,
    TaskNode,
    ValueArg,
)

from .conftest import next_line, node_of


@task
def fetch(url: str) -> dict[str, Any]:
    return {"url": url}


@task
def numbers() -> list[int]:
    return [1, 2, 3]


@task
def add(a: int, b: int) -> int:
    return a + b


@task(retry=Retry(attempts=2, jitter=False), on_error="continue")
def double(x: int) -> int:
    return 2 * x


# ---------------------------------------------------------------- ids


def test_repeated_calls_get_name_then_numbered_ids() -> None:
    @workflow
    def flow() -> None:
        fetch("a")
        fetch("b")
        fetch("c")

    assert [node.id for node in flow.graph().nodes] == ["fetch", "fetch#2", "fetch#3"]


def test_each_task_name_is_counted_separately() -> None:
    @workflow
    def flow() -> None:
        fetch("a")
        add(1, 2)
        fetch("b")
        add(3, 4)

    assert [node.id for node in flow.graph().nodes] == [
        "fetch",
        "add",
        "fetch#2",
        "add#2",
    ]


def test_ids_are_the_same_on_every_trace() -> None:
    @workflow
    def flow() -> None:
        fetch("a")
        double.map(x=[1, 2])
        fetch("b")

    first = [node.id for node in flow.graph().nodes]
    second = [node.id for node in flow.graph().nodes]
    assert first == second == ["fetch", "double", "fetch#2"]


def test_references_use_the_numbered_ids() -> None:
    @workflow
    def flow() -> int:
        first = add(1, 2)
        second = add(first, 3)
        return add(second, first)

    graph = flow.graph()
    node = graph.node("add#3")
    assert isinstance(node, TaskNode)
    assert node.args == {"a": RefArg(node="add#2"), "b": RefArg(node="add")}
    assert graph.output == RefArg(node="add#3")


# ---------------------------------------------------------------- map


def test_map_records_one_map_node_over_a_future_list() -> None:
    @workflow
    def flow() -> list[int]:
        return double.map(x=numbers())

    graph = flow.graph()
    node = node_of(graph, "double", MapNode)

    assert node.task == "double"
    assert node.mapped == {"x": RefArg(node="numbers")}
    assert node.args == {}
    assert node.guard is None
    assert node.policy == Policy(
        retry=RetrySpec(
            attempts=2,
            backoff=0.5,
            max_delay=30.0,
            jitter=False,
            retry_on="retryable errors",
        ),
        on_error="continue",
    )
    assert graph.output == RefArg(node="double")


def test_map_ids_share_the_counter_with_calls() -> None:
    @workflow
    def flow() -> None:
        double(1)
        double.map(x=[1, 2])
        double.map(x=(3,))

    graph = flow.graph()
    assert [node.id for node in graph.nodes] == ["double", "double#2", "double#3"]
    assert node_of(graph, "double#2", MapNode).mapped == {"x": ValueArg(value=[1, 2])}
    assert node_of(graph, "double#3", MapNode).mapped == {"x": ValueArg(value=(3,))}


def test_map_zips_several_lists() -> None:
    @workflow
    def flow(left: list[int]) -> list[int]:
        return add.map(a=left, b=numbers())

    node = node_of(flow.graph(), "add", MapNode)
    assert node.mapped == {"a": InputArg(name="left"), "b": RefArg(node="numbers")}


def test_partial_map_records_the_bound_arguments() -> None:
    @workflow
    def flow() -> list[int]:
        return add.partial(b=10).map(a=numbers())

    node = node_of(flow.graph(), "add", MapNode)
    assert node.args == {"b": ValueArg(value=10)}
    assert node.mapped == {"a": RefArg(node="numbers")}


def test_chained_partials_bind_all_their_arguments() -> None:
    @task
    def scale(x: int, factor: int, offset: int) -> int:
        return x * factor + offset

    @workflow
    def flow() -> list[int]:
        return scale.partial(factor=2).partial(offset=1).map(x=numbers())

    node = node_of(flow.graph(), "scale", MapNode)
    assert node.args == {"factor": ValueArg(value=2), "offset": ValueArg(value=1)}
    assert node.mapped == {"x": RefArg(node="numbers")}


def test_partial_bound_future_is_a_ref() -> None:
    @workflow
    def flow() -> list[int]:
        base = fetch("x")
        return add.partial(b=base["n"]).map(a=[1, 2])

    node = node_of(flow.graph(), "add", MapNode)
    assert node.args == {"b": RefArg(node="fetch", path=(Step(kind="item", key="n"),))}


def test_map_inside_when_is_guarded() -> None:
    @workflow
    def flow() -> None:
        items = numbers()
        with when(succeeded(items)):
            double.map(x=items)

    node = node_of(flow.graph(), "double", MapNode)
    assert node.guard == OutcomeCondition(test="succeeded", node="numbers")


def test_map_without_lists_raises() -> None:
    @workflow
    def flow() -> list[int]:
        return double.map()

    with pytest.raises(
        TracingError,
        match=r"^Task 'double'\.map\(\) got no lists in workflow 'flow' "
        r"\(test_tracing\.py:\d+\); pass at least one: \.map\(item=items\)$",
    ) as info:
        flow.graph()

    assert info.value.workflow == "flow"


def test_map_over_something_that_is_not_a_list_raises() -> None:
    @workflow
    def flow() -> list[int]:
        return double.map(x={"a": 1})

    with pytest.raises(
        TracingError,
        match=r"^Task 'double'\.map\(\) got dict for 'x', not a list in workflow "
        r"'flow' \(test_tracing\.py:\d+\); pass a list or the future of one$",
    ) as info:
        flow.graph()

    assert info.value.workflow == "flow"


def test_map_of_an_argument_both_bound_and_mapped_raises() -> None:
    @workflow
    def flow() -> list[int]:
        return add.partial(a=1, b=2).map(b=[1], a=[2])

    with pytest.raises(
        TracingError,
        match=r"^Task 'add'\.map\(\) got \['a', 'b'\] both bound by partial\(\) and "
        r"mapped in workflow 'flow' \(test_tracing\.py:\d+\); bind each argument "
        r"once$",
    ) as info:
        flow.graph()

    assert info.value.workflow == "flow"


def test_map_of_an_unknown_parameter_raises_with_the_signature() -> None:
    @workflow
    def flow() -> list[int]:
        return double.map(x=[1], y=[2])

    signature = re.escape(f"double{inspect.signature(double)}")
    with pytest.raises(
        TracingError,
        match=rf"^Task 'double' was called with arguments that do not bind to "
        rf"{signature} \(unknown keyword 'y'\) in workflow "
        r"'flow' \(test_tracing\.py:\d+\); pass each required parameter once, by its "
        r"name, and no unknown ones$",
    ) as info:
        flow.graph()

    assert info.value.workflow == "flow"
    assert info.value.problems == ("unknown keyword 'y'",)


def test_map_leaving_a_parameter_unbound_raises() -> None:
    @workflow
    def flow() -> list[int]:
        return add.map(a=[1])

    with pytest.raises(
        TracingError, match=r"^Task 'add' was called with arguments .*'b'"
    ) as info:
        flow.graph()

    assert info.value.workflow == "flow"


# ---------------------------------------------------------------- locations


def test_each_node_records_the_line_of_its_call() -> None:
    lines: list[int] = []

    @workflow
    def flow() -> None:
        lines.append(next_line())
        fetch("a")
        lines.append(next_line())
        double.map(x=[1])

    graph = flow.graph()
    assert [node.location for node in graph.nodes] == [
        f"test_tracing.py:{line}" for line in lines
    ]


def test_user_location_names_the_callers_file_and_line() -> None:
    line = next_line()
    assert user_location() == f"test_tracing.py:{line}"


def test_user_location_starts_from_a_given_frame() -> None:
    frame = inspect.currentframe()
    assert frame is not None
    assert user_location(frame) == f"test_tracing.py:{frame.f_lineno}"


# ---------------------------------------------------------------- trace context


def test_current_trace_is_set_only_while_tracing() -> None:
    seen: list[TraceContext | None] = []

    @workflow
    def flow() -> None:
        seen.append(current_trace())

    assert current_trace() is None
    flow.graph()
    assert current_trace() is None
    (trace,) = seen
    assert isinstance(trace, TraceContext)
    assert trace.workflow == "flow"


def test_current_trace_is_reset_after_a_failed_trace() -> None:
    @workflow
    def flow() -> None:
        raise LookupError("body failed")

    with pytest.raises(LookupError, match="body failed"):
        flow.graph()
    assert current_trace() is None


def test_sub_workflow_traces_in_its_own_context() -> None:
    seen: list[str] = []

    @workflow
    def child() -> None:
        trace = current_trace()
        assert trace is not None
        seen.append(trace.workflow)

    @workflow
    def parent() -> None:
        child()
        trace = current_trace()
        assert trace is not None
        seen.append(trace.workflow)

    parent.graph()
    assert seen == ["child", "parent"]


def test_trace_context_counts_ids_per_name() -> None:
    trace = TraceContext(workflow="flow")

    assert [trace.next_id("a"), trace.next_id("a"), trace.next_id("b")] == [
        "a",
        "a#2",
        "b",
    ]
    assert trace.predicate_key("check") == "when:check"
    assert trace.predicate_key("check") == "when:check#2"


def test_trace_context_error_names_the_workflow_and_location() -> None:
    trace = TraceContext(workflow="flow")

    error = trace.error("Something is off", fix="do it right", location="x.py:1")

    assert isinstance(error, TracingError)
    assert str(error) == "Something is off in workflow 'flow' (x.py:1); do it right"
    assert error.workflow == "flow"
    assert error.location == "x.py:1"
