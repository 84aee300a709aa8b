"""A connector's tasks in a workflow's graph: connector, method, URL template.

An operation's node names its connector, HTTP method and URL template (the
base URL without userinfo, then the route, placeholders kept); a
hand-written ``@connector.task`` names its connector only; a plain task
names none. The graph is traced only: nothing is sent.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final

import pytest

from fiscus_dsl import Connector, WorkflowGraph, task, workflow

from .conftest import BASE

if TYPE_CHECKING:
    import httpx

crm = Connector("GraphCRM", BASE)


@crm.operation("POST /contacts")
def create_contact(name: str) -> dict[str, str]:
    """Create a contact."""
    raise NotImplementedError


@crm.operation("GET /contacts/{contact_id}")
def get_contact(contact_id: str) -> dict[str, str]:
    """Fetch one contact."""
    raise NotImplementedError


@crm.task
async def search(client: httpx.AsyncClient, q: str) -> list[str]:
    response = await client.get("/search", params={"q": q})
    return list(response.json())


@task
def audit(what: object) -> None:
    return None


@workflow
def onboard(name: str, ids: list[str]) -> None:
    contact = create_contact(name)
    get_contact.map(contact_id=ids)
    search(name)
    audit(contact)


CREATE: Final = {
    "connector": "GraphCRM",
    "method": "POST",
    "url": f"{BASE}/contacts",
}
GET: Final = {
    "connector": "GraphCRM",
    "method": "GET",
    "url": f"{BASE}/contacts/{{contact_id}}",
}


def _operations() -> dict[str, object]:
    data = json.loads(onboard.graph().model_dump_json())
    return {node["id"]: node["operation"] for node in data["nodes"]}


def test_an_operations_node_carries_its_connector_method_and_url() -> None:
    assert _operations()["create_contact"] == CREATE


def test_a_map_of_an_operation_carries_the_operation() -> None:
    graph = onboard.graph()

    assert graph.node("get_contact").kind == "map"
    assert _operations()["get_contact"] == GET


def test_a_connector_task_carries_its_connector_only() -> None:
    assert _operations()["search"] == {
        "connector": "GraphCRM",
        "method": None,
        "url": None,
    }


def test_a_plain_task_carries_no_operation() -> None:
    assert _operations()["audit"] is None


def test_the_operation_is_made_once_when_the_operation_is_declared() -> None:
    node = onboard.graph().node("create_contact")

    assert node.kind == "task"
    assert node.operation is create_contact.options.operation


def test_a_graph_with_operations_round_trips_through_json() -> None:
    graph = onboard.graph()

    assert WorkflowGraph.model_validate_json(graph.model_dump_json()) == graph


def test_mermaid_and_dot_show_the_method_and_url() -> None:
    graph = onboard.graph()
    url = "api.example.test/v1/contacts"

    assert f'    n0["create_contact<br/>POST {url}"]' in graph.to_mermaid()
    assert f'    n0 [label="create_contact\\nPOST {url}"];' in graph.to_dot()
    assert f'n1[["get_contact[*]<br/>GET {url}/{{contact_id}}"]]' in graph.to_mermaid()
    assert '    n2["search<br/>GraphCRM"]' in graph.to_mermaid()


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("https://api.example.test", "https://api.example.test/contacts"),
        ("https://api.example.test/v1/", "https://api.example.test/v1/contacts"),
        ("http://127.0.0.1:8080/api", "http://127.0.0.1:8080/api/contacts"),
    ],
)
def test_the_url_template_joins_the_base_url_and_the_route(
    base_url: str, url: str
) -> None:
    api = Connector("GraphJoin", base_url)

    @api.operation("POST /contacts")
    def create(name: str) -> None:
        """Create a contact."""

    assert create.options.operation is not None
    assert create.options.operation.url == url


def test_userinfo_of_the_base_url_never_reaches_the_graph() -> None:
    user, password = "ada-user-CANARY", "pw-CANARY-9f8e7d"
    api = Connector("GraphUserinfo", f"https://{user}:{password}@api.example.test/v1")

    @api.operation("GET /contacts/{contact_id}")
    def fetch(contact_id: str) -> None:
        """Fetch one contact."""

    @api.task
    async def ping(client: httpx.AsyncClient) -> None:
        await client.get("/ping")

    @workflow
    def flow(contact_id: str) -> None:
        fetch(contact_id)
        fetch.map(contact_id=[contact_id])
        ping()

    graph = flow.graph()
    node = graph.node("fetch")
    assert node.kind == "task"
    assert node.operation is not None
    assert node.operation.url == "https://api.example.test/v1/contacts/{contact_id}"
    texts = [
        repr(graph),
        str(graph),
        graph.model_dump_json(),
        graph.to_mermaid(),
        graph.to_dot(),
    ]
    for text in texts:
        assert password not in text
        assert user not in text
