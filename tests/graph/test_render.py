from __future__ import annotations

import pytest

from fiscus_dsl._graph.model import (
    AndCondition,
    CoalesceArg,
    CompareCondition,
    CompareOp,
    Condition,
    ConstCondition,
    DictArg,
    InputArg,
    ListArg,
    MapNode,
    NotCondition,
    OrCondition,
    OutcomeCondition,
    PredicateCondition,
    RefArg,
    Step,
    TaskNode,
    ValueArg,
    WorkflowGraph,
    WorkflowNode,
)
from fiscus_dsl._graph.render import (
    LITERAL_LIMIT,
    describe_arg,
    describe_condition,
    render_dot,
    render_mermaid,
)

SUCCEEDED = OutcomeCondition(test="succeeded", node="create_contact")
EMAIL = RefArg(node="create_contact", path=(Step(kind="attr", key="email"),))


def _onboard() -> WorkflowGraph:
    """The graph of the tutorial's ``onboard`` workflow."""
    return WorkflowGraph(
        name="onboard",
        inputs=("name", "email"),
        nodes=(
            TaskNode(
                id="create_contact",
                task="create_contact",
                args={"name": InputArg(name="name"), "email": InputArg(name="email")},
            ),
            TaskNode(
                id="welcome_subject",
                task="welcome_subject",
                args={"name": InputArg(name="name")},
                guard=SUCCEEDED,
            ),
            TaskNode(
                id="send_email",
                task="send_email",
                args={
                    "to": EMAIL,
                    "subject": RefArg(node="welcome_subject"),
                    "body": ValueArg(value="Glad to have you on board."),
                },
                guard=SUCCEEDED,
            ),
            TaskNode(
                id="page_ops",
                task="page_ops",
                args={"reason": ValueArg(value="contact creation failed")},
                guard=NotCondition(operand=SUCCEEDED),
            ),
        ),
        output=RefArg(node="create_contact"),
    )


def _nested() -> WorkflowGraph:
    """A parent calling a sub-workflow whose one task is guarded on an input."""
    child = WorkflowGraph(
        name="notify",
        inputs=("kind",),
        nodes=(
            TaskNode(
                id="send_email",
                task="send_email",
                guard=CompareCondition(
                    op="eq", left=InputArg(name="kind"), right=ValueArg(value="vip")
                ),
            ),
        ),
    )
    return WorkflowGraph(
        name="parent",
        nodes=(
            TaskNode(id="create_contact", task="create_contact"),
            WorkflowNode(
                id="notify",
                workflow="notify",
                graph=child,
                args={"kind": RefArg(node="create_contact")},
            ),
            TaskNode(id="audit", task="audit", args={"what": RefArg(node="notify")}),
        ),
    )


def _single(node: TaskNode | MapNode | WorkflowNode) -> WorkflowGraph:
    return WorkflowGraph(name="wf", inputs=("i",), nodes=(node,))


# ---------------------------------------------------------------- guard text


def test_outcome_condition_reads_as_a_call() -> None:
    assert describe_condition(SUCCEEDED) == "succeeded(create_contact)"


@pytest.mark.parametrize(
    ("op", "symbol"),
    [("eq", "=="), ("ne", "!="), ("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">=")],
)
def test_comparison_uses_the_python_operator(op: CompareOp, symbol: str) -> None:
    cond = CompareCondition(op=op, left=EMAIL, right=ValueArg(value="a@b.c"))

    assert describe_condition(cond) == f"create_contact.email {symbol} 'a@b.c'"


def test_membership_reads_as_python_in() -> None:
    status = RefArg(node="c", path=(Step(kind="item", key="status"),))
    cond = CompareCondition(op="in", left=status, right=ValueArg(value=["a", "b"]))

    assert describe_condition(cond) == "c['status'] in ['a', 'b']"


def test_negated_call_is_not_parenthesized() -> None:
    assert describe_condition(NotCondition(operand=SUCCEEDED)) == (
        "not succeeded(create_contact)"
    )


def test_negated_comparison_is_parenthesized() -> None:
    cond = NotCondition(
        operand=CompareCondition(
            op="gt", left=RefArg(node="a"), right=ValueArg(value=3)
        )
    )

    assert describe_condition(cond) == "not (a > 3)"


def test_nested_and_or_groups_are_parenthesized() -> None:
    inner = OrCondition(operands=(SUCCEEDED, ConstCondition(value=False)))
    cond = AndCondition(operands=(inner, NotCondition(operand=inner)))

    assert describe_condition(cond) == (
        "(succeeded(create_contact) or False) and "
        "not (succeeded(create_contact) or False)"
    )


def test_empty_and_is_true_and_empty_or_is_false() -> None:
    assert describe_condition(AndCondition(operands=())) == "True"
    assert describe_condition(OrCondition(operands=())) == "False"


def test_predicate_reads_as_a_call_of_its_name() -> None:
    cond = PredicateCondition(
        name="is_vip",
        key="mod:is_vip",
        args=(RefArg(node="create_contact"), InputArg(name="tier")),
    )

    assert describe_condition(cond) == "is_vip(create_contact, tier)"


def test_constant_reads_as_python_bool() -> None:
    assert describe_condition(ConstCondition(value=True)) == "True"


def test_input_argument_reads_as_its_name_and_path() -> None:
    arg = InputArg(
        name="user", path=(Step(kind="attr", key="id"), Step(kind="item", key=0))
    )

    assert describe_arg(arg) == "user.id[0]"


def test_literal_is_cut_to_the_limit() -> None:
    text = describe_arg(ValueArg(value="x" * 100))

    assert len(text) == LITERAL_LIMIT
    assert text == "'" + "x" * (LITERAL_LIMIT - 4) + "..."


def test_literal_at_the_limit_is_kept_whole() -> None:
    value = "x" * (LITERAL_LIMIT - 2)

    assert describe_arg(ValueArg(value=value)) == repr(value)


@pytest.mark.parametrize(
    ("arg", "text"),
    [
        (ListArg(items=(RefArg(node="a"), ValueArg(value=1))), "[a, 1]"),
        (ListArg(items=(RefArg(node="a"),), is_tuple=True), "(a,)"),
        (ListArg(items=(RefArg(node="a"), RefArg(node="b")), is_tuple=True), "(a, b)"),
        (ListArg(items=(), is_tuple=True), "()"),
        (
            DictArg(keys=("k", 2), values=(RefArg(node="a"), InputArg(name="i"))),
            "{'k': a, 2: i}",
        ),
        (CoalesceArg(options=(RefArg(node="a"), RefArg(node="b"))), "coalesce(a, b)"),
    ],
)
def test_containers_read_as_python(
    arg: ListArg | DictArg | CoalesceArg, text: str
) -> None:
    assert describe_arg(arg) == text


# ---------------------------------------------------------------- Mermaid


def test_mermaid_draws_a_guarded_graph() -> None:
    assert render_mermaid(_onboard()) == (
        "flowchart TD\n"
        '    n0["create_contact"]\n'
        '    n1["welcome_subject"]\n'
        '    n2["send_email"]\n'
        '    n3["page_ops"]\n'
        '    n0 -->|"succeeded(create_contact)"| n1\n'
        '    n0 -->|"succeeded(create_contact)"| n2\n'
        "    n1 --> n2\n"
        '    n0 -->|"not succeeded(create_contact)"| n3\n'
    )


def test_mermaid_nests_a_sub_workflow_in_a_subgraph() -> None:
    assert render_mermaid(_nested()) == (
        "flowchart TD\n"
        '    n0["create_contact"]\n'
        '    subgraph n1["notify"]\n'
        '        n1_inputs(["inputs"])\n'
        '        n2["send_email"]\n'
        "        n1_inputs -->|\"kind == 'vip'\"| n2\n"
        "    end\n"
        '    n3["audit"]\n'
        "    n0 --> n1\n"
        "    n1 --> n3\n"
    )


def test_mermaid_draws_a_mapped_task_as_a_subroutine() -> None:
    node = MapNode(
        id="send_email", task="send_email", mapped={"to": InputArg(name="i")}
    )

    assert render_mermaid(_single(node)) == 'flowchart TD\n    n0[["send_email[*]"]]\n'


def test_mermaid_labels_a_mapped_sub_workflow_with_a_star() -> None:
    node = WorkflowNode(
        id="notify#2",
        workflow="notify",
        graph=WorkflowGraph(name="notify"),
        mapped={"kind": InputArg(name="i")},
    )

    assert render_mermaid(_single(node)) == (
        'flowchart TD\n    subgraph n0["notify#35;2[*] (notify)"]\n    end\n'
    )


def test_mermaid_escapes_quotes_and_markup_in_labels() -> None:
    node = TaskNode(id='say "hi" <b>&`|#x;', task="t\nu")

    assert render_mermaid(_single(node)) == (
        "flowchart TD\n"
        '    n0["say #quot;hi#quot; #lt;b#gt;#amp;#96;#124;#35;x; (t u)"]\n'
    )


def test_mermaid_escapes_literals_in_guard_labels() -> None:
    guard = CompareCondition(
        op="eq", left=InputArg(name="i"), right=ValueArg(value='a"b')
    )
    node = TaskNode(id="a", task="a", guard=guard)

    assert render_mermaid(_single(node)).splitlines()[-1] == (
        "    inputs -->|\"i == 'a#quot;b'\"| n0"
    )


def test_mermaid_draws_a_guard_on_no_node_from_the_inputs_node() -> None:
    node = TaskNode(id="a", task="a", guard=ConstCondition(value=True))

    assert render_mermaid(_single(node)) == (
        'flowchart TD\n    inputs(["inputs"])\n    n0["a"]\n    inputs -->|"True"| n0\n'
    )


def test_mermaid_labels_only_edges_from_nodes_the_guard_looks_at() -> None:
    graph = WorkflowGraph(
        name="wf",
        nodes=(
            TaskNode(id="a", task="a"),
            TaskNode(id="b", task="b"),
            TaskNode(
                id="c",
                task="c",
                args={"x": RefArg(node="a")},
                guard=OutcomeCondition(test="failed", node="b"),
            ),
        ),
    )

    assert render_mermaid(graph).splitlines()[-2:] == [
        "    n0 --> n2",
        '    n1 -->|"failed(b)"| n2',
    ]


def test_mermaid_never_shows_argument_values_of_nodes() -> None:
    assert "Glad" not in render_mermaid(_onboard())


def test_mermaid_of_an_empty_graph_is_the_header() -> None:
    assert render_mermaid(WorkflowGraph(name="wf")) == "flowchart TD\n"


def test_mermaid_is_deterministic_across_a_json_round_trip() -> None:
    graph = _nested()
    copy = WorkflowGraph.model_validate_json(graph.model_dump_json())

    assert render_mermaid(copy) == render_mermaid(graph)


# ---------------------------------------------------------------- DOT


def test_dot_draws_a_guarded_graph() -> None:
    assert render_dot(_onboard()) == (
        'digraph "onboard" {\n'
        "    compound=true;\n"
        "    node [shape=box];\n"
        '    n0 [label="create_contact"];\n'
        '    n1 [label="welcome_subject"];\n'
        '    n2 [label="send_email"];\n'
        '    n3 [label="page_ops"];\n'
        '    n0 -> n1 [label="succeeded(create_contact)"];\n'
        '    n0 -> n2 [label="succeeded(create_contact)"];\n'
        "    n1 -> n2;\n"
        '    n0 -> n3 [label="not succeeded(create_contact)"];\n'
        "}\n"
    )


def test_dot_nests_a_sub_workflow_in_a_cluster() -> None:
    assert render_dot(_nested()) == (
        'digraph "parent" {\n'
        "    compound=true;\n"
        "    node [shape=box];\n"
        '    n0 [label="create_contact"];\n'
        "    subgraph cluster_n1 {\n"
        '        label="notify";\n'
        "        n1 [shape=point, style=invis];\n"
        '        n1_inputs [label="inputs", shape=ellipse];\n'
        '        n2 [label="send_email"];\n'
        "        n1_inputs -> n2 [label=\"kind == 'vip'\"];\n"
        "    }\n"
        '    n3 [label="audit"];\n'
        "    n0 -> n1 [lhead=cluster_n1];\n"
        "    n1 -> n3 [ltail=cluster_n1];\n"
        "}\n"
    )


def test_dot_clips_an_edge_between_two_sub_workflows_at_both_clusters() -> None:
    graph = WorkflowGraph(
        name="wf",
        nodes=(
            WorkflowNode(id="a", workflow="a", graph=WorkflowGraph(name="a")),
            WorkflowNode(
                id="b",
                workflow="b",
                graph=WorkflowGraph(name="b"),
                guard=OutcomeCondition(test="skipped", node="a"),
            ),
        ),
    )

    assert render_dot(graph).splitlines()[-2] == (
        '    n0 -> n1 [label="skipped(a)", ltail=cluster_n0, lhead=cluster_n1];'
    )


def test_dot_draws_a_mapped_task_with_a_double_border() -> None:
    node = MapNode(id="m", task="send_email", mapped={"to": InputArg(name="i")})

    assert '    n0 [label="m[*] (send_email)", peripheries=2];' in render_dot(
        _single(node)
    )


def test_dot_escapes_quotes_backslashes_and_line_breaks() -> None:
    graph = WorkflowGraph(name='a "b"', nodes=(TaskNode(id='x\\"y', task="t\r\nu"),))

    assert render_dot(graph).splitlines()[0] == 'digraph "a \\"b\\"" {'
    assert '    n0 [label="x\\\\\\"y (t  u)"];' in render_dot(graph)


def test_dot_draws_a_guard_on_no_node_from_the_inputs_node() -> None:
    guard = CompareCondition(op="ne", left=InputArg(name="i"), right=ValueArg(value=0))
    dot = render_dot(_single(TaskNode(id="a", task="a", guard=guard)))

    assert dot.splitlines()[3:6] == [
        '    inputs [label="inputs", shape=ellipse];',
        '    n0 [label="a"];',
        '    inputs -> n0 [label="i != 0"];',
    ]


def test_dot_never_shows_argument_values_of_nodes() -> None:
    assert "Glad" not in render_dot(_onboard())


def test_dot_is_deterministic_across_a_json_round_trip() -> None:
    graph = _nested()
    copy = WorkflowGraph.model_validate_json(graph.model_dump_json())

    assert render_dot(copy) == render_dot(graph)


def test_guard_of_every_kind_renders_in_both_formats() -> None:
    guard: Condition = AndCondition(
        operands=(SUCCEEDED, PredicateCondition(name="ok", key="k", args=()))
    )
    graph = WorkflowGraph(
        name="wf",
        nodes=(
            TaskNode(id="create_contact", task="create_contact"),
            TaskNode(id="b", task="b", guard=guard),
        ),
    )

    assert '-->|"succeeded(create_contact) and ok()"| n1' in render_mermaid(graph)
    assert '[label="succeeded(create_contact) and ok()"]' in render_dot(graph)


def test_a_guard_on_a_workflow_input_reads_and_draws_from_the_inputs() -> None:
    flag = CompareCondition(
        op="eq", left=InputArg(name="flag"), right=ValueArg(value=True)
    )
    graph = _single(TaskNode(id="notify", task="notify", guard=flag))

    assert describe_condition(flag) == "flag == True"
    assert describe_condition(NotCondition(operand=flag)) == "not (flag == True)"
    assert '    inputs -->|"flag == True"| n0' in render_mermaid(graph).splitlines()
    assert 'inputs -> n0 [label="flag == True"]' in render_dot(graph)
