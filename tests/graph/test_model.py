from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from fiscus_dsl._graph.model import (
    AndCondition,
    CoalesceArg,
    CompareCondition,
    ConstCondition,
    DictArg,
    InputArg,
    ListArg,
    MapNode,
    NotCondition,
    OperationRef,
    OrCondition,
    OutcomeCondition,
    Policy,
    PredicateCondition,
    RefArg,
    RetrySpec,
    Step,
    TaskNode,
    ValueArg,
    WorkflowGraph,
    WorkflowNode,
    arg_refs,
    condition_refs,
    format_path,
    node_args,
    node_dependencies,
    value_refs,
)


def _task(node_id: str, **fields: object) -> TaskNode:
    return TaskNode.model_validate({"id": node_id, "task": node_id, **fields})


def _child_graph() -> WorkflowGraph:
    return WorkflowGraph(
        name="child",
        inputs=("contact",),
        nodes=(
            _task("lookup", args={"who": InputArg(name="contact")}),
            _task("tag", args={"found": RefArg(node="lookup")}),
        ),
        output=RefArg(node="tag"),
    )


def _full_graph() -> WorkflowGraph:
    """A graph with every kind of node, argument and condition."""
    contact = RefArg(node="create_contact")
    status = RefArg(node="create_contact", path=(Step(kind="item", key="status"),))
    guard = AndCondition(
        operands=(
            OrCondition(
                operands=(
                    CompareCondition(op="in", left=status, right=ValueArg(value=["a"])),
                    PredicateCondition(name="is_vip", key="k1", args=(contact,)),
                )
            ),
            NotCondition(
                operand=OutcomeCondition(test="failed", node="create_contact")
            ),
            ConstCondition(value=True),
        )
    )
    return WorkflowGraph(
        name="onboard",
        inputs=("name", "email"),
        nodes=(
            _task(
                "create_contact",
                args={"name": InputArg(name="name"), "tags": ValueArg(value={"x": 1})},
                policy=Policy(
                    retry=RetrySpec(
                        attempts=3,
                        backoff=0.5,
                        max_delay=30,
                        jitter=True,
                        retry_on="5xx",
                    ),
                    timeout=2.5,
                    on_error="continue",
                ),
                location="onboard.py:14",
                operation=OperationRef(
                    connector="CRMSystem",
                    method="POST",
                    url="https://crm.example.com/v1/contacts",
                ),
            ),
            MapNode(
                id="send_email",
                task="send_email",
                mapped={
                    "to": RefArg(
                        node="create_contact", path=(Step(kind="attr", key="emails"),)
                    )
                },
                args={"subject": ValueArg(value="Hi")},
                guard=guard,
                operation=OperationRef(connector="Gmail"),
            ),
            WorkflowNode(
                id="child",
                workflow="child",
                graph=_child_graph(),
                args={
                    "contact": CoalesceArg(options=(RefArg(node="send_email"), contact))
                },
                mapped={"x": ListArg(items=(contact,), is_tuple=True)},
            ),
        ),
        output=DictArg(
            keys=("contact", "child"), values=(contact, RefArg(node="child"))
        ),
    )


def test_duplicate_node_ids_are_rejected() -> None:
    with pytest.raises(
        ValidationError, match="Graph of workflow 'wf' has two nodes with id 'a'"
    ):
        WorkflowGraph(name="wf", nodes=(_task("a"), _task("a")))


def test_argument_referring_to_unknown_node_is_rejected() -> None:
    with pytest.raises(
        ValidationError,
        match=(
            "Node 'b' of workflow 'wf' refers to 'ghost', which is not an earlier node"
        ),
    ):
        WorkflowGraph(name="wf", nodes=(_task("b", args={"x": RefArg(node="ghost")}),))


def test_reference_to_later_node_is_rejected() -> None:
    with pytest.raises(
        ValidationError, match="Node 'a' of workflow 'wf' refers to 'b'"
    ):
        WorkflowGraph(
            name="wf", nodes=(_task("a", args={"x": RefArg(node="b")}), _task("b"))
        )


def test_guard_referring_to_unknown_node_is_rejected() -> None:
    guard = OutcomeCondition(test="succeeded", node="ghost")
    with pytest.raises(
        ValidationError, match="Node 'a' of workflow 'wf' refers to 'ghost'"
    ):
        WorkflowGraph(name="wf", nodes=(_task("a", guard=guard),))


def test_output_referring_to_unknown_nodes_is_rejected() -> None:
    output = ListArg(items=(RefArg(node="z"), RefArg(node="a"), RefArg(node="y")))
    with pytest.raises(
        ValidationError,
        match=r"Output of workflow 'wf' refers to unknown nodes \['y', 'z'\]",
    ):
        WorkflowGraph(name="wf", nodes=(_task("a"),), output=output)


def test_output_referring_to_known_nodes_is_accepted() -> None:
    graph = WorkflowGraph(name="wf", nodes=(_task("a"),), output=RefArg(node="a"))

    assert graph.output == RefArg(node="a")


def test_graph_round_trips_through_json() -> None:
    graph = _full_graph()

    assert WorkflowGraph.model_validate_json(graph.model_dump_json()) == graph


def test_graph_json_carries_each_nodes_operation() -> None:
    nodes = json.loads(_full_graph().model_dump_json())["nodes"]

    assert [node.get("operation", "absent") for node in nodes] == [
        {
            "connector": "CRMSystem",
            "method": "POST",
            "url": "https://crm.example.com/v1/contacts",
        },
        {"connector": "Gmail", "method": None, "url": None},
        "absent",  # a sub-workflow's node: its own nodes carry theirs
    ]


def test_task_and_map_nodes_carry_no_operation_by_default() -> None:
    node = MapNode(id="m", task="m", mapped={"x": InputArg(name="xs")})

    assert (_task("a").operation, node.operation) == (None, None)
    assert json.loads(_task("a").model_dump_json())["operation"] is None


@pytest.mark.parametrize(
    "fields", [{"method": "GET"}, {"url": "https://crm.example.com/v1/contacts"}]
)
def test_operation_with_a_method_or_url_alone_is_rejected(
    fields: dict[str, str],
) -> None:
    with pytest.raises(ValidationError, match=r"give both \(an operation\) or neither"):
        OperationRef.model_validate({"connector": "CRMSystem", **fields})


def test_every_condition_kind_round_trips_through_json() -> None:
    conditions = (
        ConstCondition(value=False),
        CompareCondition(op="le", left=RefArg(node="a"), right=ValueArg(value=3)),
        OutcomeCondition(test="skipped", node="a"),
        NotCondition(operand=ConstCondition(value=True)),
        AndCondition(operands=()),
        OrCondition(operands=(OutcomeCondition(test="succeeded", node="a"),)),
        PredicateCondition(name="ok", key="k", args=(InputArg(name="i"),)),
    )
    graph = WorkflowGraph(
        name="wf",
        inputs=("i",),
        nodes=(
            _task("a"),
            *(_task(f"b{n}", guard=c) for n, c in enumerate(conditions)),
        ),
    )

    assert WorkflowGraph.model_validate_json(graph.model_dump_json()) == graph


def test_value_that_json_cannot_hold_is_dumped_as_its_type_name() -> None:
    arg = ValueArg(value={1, 2})

    assert arg.model_dump_json() == '{"kind":"value","value":[1,2]}'
    assert ValueArg(value=object).model_dump()["value"] == "<type>"
    assert (
        ValueArg(value=object()).model_dump_json()
        == '{"kind":"value","value":"<object>"}'
    )


def test_dict_keys_that_json_cannot_hold_are_dumped_as_their_type_name() -> None:
    arg = DictArg(keys=(object,), values=(ValueArg(value=1),))

    assert arg.model_dump()["keys"] == ["<type>"]


def test_node_returns_the_node_with_that_id() -> None:
    graph = _full_graph()

    assert graph.node("send_email").id == "send_email"


def test_node_raises_key_error_for_unknown_id() -> None:
    with pytest.raises(KeyError, match="ghost"):
        _full_graph().node("ghost")


def test_models_are_frozen() -> None:
    graph = _full_graph()

    with pytest.raises(ValidationError, match="Instance is frozen"):
        graph.name = "other"


def test_models_reject_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        TaskNode.model_validate({"id": "a", "task": "a", "colour": "red"})


def test_step_and_path_read_as_python() -> None:
    path = (
        Step(kind="attr", key="contact"),
        Step(kind="item", key="id"),
        Step(kind="item", key=0),
    )

    assert format_path(path) == ".contact['id'][0]"


def test_arg_refs_walks_every_container_and_coalesce_option() -> None:
    arg = DictArg(
        keys=("a", "b", "c"),
        values=(
            ListArg(items=(RefArg(node="x"), ValueArg(value=1), InputArg(name="i"))),
            CoalesceArg(options=(RefArg(node="y"), RefArg(node="z"))),
            RefArg(node="x"),
        ),
    )

    assert list(arg_refs(arg)) == ["x", "y", "z", "x"]


def test_value_refs_skips_coalesce_options() -> None:
    arg = DictArg(
        keys=("a", "b"),
        values=(
            ListArg(items=(RefArg(node="x"), ValueArg(value=1))),
            CoalesceArg(options=(RefArg(node="y"),)),
        ),
    )

    assert list(value_refs(arg)) == ["x"]


def test_condition_refs_visits_every_operand() -> None:
    cond = AndCondition(
        operands=(
            OutcomeCondition(test="succeeded", node="a"),
            NotCondition(
                operand=CompareCondition(
                    op="eq", left=RefArg(node="b"), right=RefArg(node="c")
                )
            ),
            OrCondition(
                operands=(
                    ConstCondition(value=True),
                    PredicateCondition(name="p", key="k", args=(RefArg(node="d"),)),
                )
            ),
        )
    )

    assert list(condition_refs(cond)) == ["a", "b", "c", "d"]


def test_node_args_include_mapped_arguments() -> None:
    node = _full_graph().node("send_email")

    assert list(node_args(node)) == [
        ValueArg(value="Hi"),
        RefArg(node="create_contact", path=(Step(kind="attr", key="emails"),)),
    ]


def test_node_args_of_unmapped_workflow_node_are_its_args() -> None:
    node = WorkflowNode(
        id="child",
        workflow="child",
        graph=_child_graph(),
        args={"contact": InputArg(name="c")},
    )

    assert list(node_args(node)) == [InputArg(name="c")]


def test_node_dependencies_keep_first_seen_order_without_repeats() -> None:
    node = _task(
        "n",
        args={
            "x": RefArg(node="b"),
            "y": ListArg(items=(RefArg(node="a"), RefArg(node="b"))),
        },
        guard=OutcomeCondition(test="succeeded", node="c"),
    )

    assert list(node_dependencies(node)) == ["b", "a", "c"]


def test_node_dependencies_of_workflow_node_include_mapped_arguments() -> None:
    node = _full_graph().node("child")

    assert list(node_dependencies(node)) == ["send_email", "create_contact"]


def test_task_node_defaults_to_the_default_policy() -> None:
    assert _task("a").policy == Policy(retry=None, timeout=None, on_error="fail")


def test_to_mermaid_and_to_dot_draw_the_graph() -> None:
    graph = WorkflowGraph(name="wf", nodes=(_task("a"),))

    assert graph.to_mermaid() == 'flowchart TD\n    n0["a"]\n'
    assert graph.to_dot().startswith('digraph "wf" {\n')
