"""A connector task's operation on the second line of its node's label."""

from __future__ import annotations

from fiscus_dsl._graph.model import (
    InputArg,
    MapNode,
    OperationRef,
    RefArg,
    TaskNode,
    WorkflowGraph,
)
from fiscus_dsl._graph.render import describe_operation, render_dot, render_mermaid

CREATE = OperationRef(
    connector="CRMSystem", method="POST", url="https://crm.example.com/v1/contacts"
)
GET = OperationRef(
    connector="CRMSystem",
    method="GET",
    url="https://crm.example.com/v1/contacts/{contact_id}",
)


def _crm() -> WorkflowGraph:
    """An operation, a map of an operation, a connector task and a plain task."""
    return WorkflowGraph(
        name="crm",
        inputs=("ids",),
        nodes=(
            TaskNode(id="create_contact", task="create_contact", operation=CREATE),
            MapNode(
                id="fetch",
                task="get_contact",
                mapped={"contact_id": InputArg(name="ids")},
                operation=GET,
            ),
            TaskNode(
                id="search",
                task="search",
                operation=OperationRef(connector="CRMSystem"),
            ),
            TaskNode(
                id="audit", task="audit", args={"what": RefArg(node="create_contact")}
            ),
        ),
    )


def test_an_operation_reads_as_its_method_and_url_without_the_scheme() -> None:
    assert describe_operation(GET) == "GET crm.example.com/v1/contacts/{contact_id}"


def test_a_connector_task_reads_as_its_connector() -> None:
    assert describe_operation(OperationRef(connector="CRMSystem")) == "CRMSystem"


def test_a_url_without_a_scheme_is_shown_whole() -> None:
    operation = OperationRef(connector="c", method="GET", url="/v1/contacts")

    assert describe_operation(operation) == "GET /v1/contacts"


def test_mermaid_shows_the_operation_on_a_second_line() -> None:
    assert render_mermaid(_crm()) == (
        "flowchart TD\n"
        '    n0["create_contact<br/>POST crm.example.com/v1/contacts"]\n'
        '    n1[["fetch[*] (get_contact)<br/>GET crm.example.com/v1/contacts/'
        '{contact_id}"]]\n'
        '    n2["search<br/>CRMSystem"]\n'
        '    n3["audit"]\n'
        "    n0 --> n3\n"
    )


def test_dot_shows_the_operation_on_a_second_line() -> None:
    assert render_dot(_crm()).splitlines()[3:8] == [
        '    n0 [label="create_contact\\nPOST crm.example.com/v1/contacts"];',
        '    n1 [label="fetch[*] (get_contact)\\nGET crm.example.com/v1/contacts/'
        '{contact_id}", peripheries=2];',
        '    n2 [label="search\\nCRMSystem"];',
        '    n3 [label="audit"];',
        "    n0 -> n3;",
    ]


def test_the_operation_line_is_escaped_like_the_rest_of_the_label() -> None:
    operation = OperationRef(
        connector="c", method="GET", url='https://x.test/a"b<c>\\d\ne'
    )
    graph = WorkflowGraph(
        name="wf", nodes=(TaskNode(id="a", task="a", operation=operation),)
    )

    assert render_mermaid(graph).splitlines()[1] == (
        '    n0["a<br/>GET x.test/a#quot;b#lt;c#gt;\\d e"]'
    )
    assert render_dot(graph).splitlines()[3] == (
        '    n0 [label="a\\nGET x.test/a\\"b<c>\\\\d e"];'
    )


def test_operations_draw_the_same_after_a_json_round_trip() -> None:
    graph = _crm()
    copy = WorkflowGraph.model_validate_json(graph.model_dump_json())

    assert copy == graph
    assert render_mermaid(copy) == render_mermaid(graph)
    assert render_dot(copy) == render_dot(graph)
