"""Templates reach data only: keys, indexes and model fields, never attributes.

An operation may return the raw ``httpx.Response``; a template that walks
its attributes could reach the request and its ``Authorization`` header
and send it to another connector. Each case here must fail the reading
task with a ``TaskDefinitionError`` naming the task and ``params``, and
send nothing for it.
"""

from __future__ import annotations

import json
from typing import Final

import httpx
import pytest
from pydantic import BaseModel, ConfigDict

from fiscus_dsl import (
    BearerAuth,
    Connector,
    FiscusClient,
    Runner,
    Secret,
    TaskDefinitionError,
)
from fiscus_dsl._dict_api.spec import child, not_data

TOKEN: Final = "sk_live_template_CANARY_7c1d"


class Holder(BaseModel):
    """A model that holds an arbitrary object, as arbitrary_types_allowed permits."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    raw: httpx.Response


def _connectors(seen: list[httpx.Request]) -> list[Connector]:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "u1", "tags": ["a"], "name": "Ann"})

    transport = httpx.MockTransport(answer)
    source = Connector(
        "Source",
        "https://source.example.test",
        auth=BearerAuth(Secret(TOKEN)),
        transport=transport,
    )
    sink = Connector("Sink", "https://sink.example.test", transport=transport)

    @source.operation("GET /me")
    def whoami() -> httpx.Response:
        """Return the raw response."""
        raise NotImplementedError

    @source.operation("GET /me")
    def profile() -> dict[str, object]:
        """Return the profile as data."""
        raise NotImplementedError

    @source.task
    async def holder(client: httpx.AsyncClient) -> Holder:
        response = await client.get("/me")
        return Holder(name="Ann", raw=response)

    @sink.operation("POST /notes")
    def note(text: object) -> dict[str, object]:
        """Store a note."""
        raise NotImplementedError

    return [source, sink]


@pytest.mark.parametrize(
    ("first", "template", "problem"),
    [
        ("whoami", "{{whoami.request.headers.authorization}}", "found nothing at"),
        ("whoami", "{{whoami.headers}}", "found nothing at"),
        ("whoami", "{{whoami}}", "reads a httpx.Response"),
        ("whoami", "note {{whoami}}", "reads a httpx.Response"),
        ("profile", "{{profile.name.upper}}", "found nothing at 'upper'"),
        ("holder", "{{holder.raw.request}}", "found nothing at 'request'"),
        ("holder", "{{holder}}", "reads a httpx.Response"),
    ],
)
def test_a_template_never_reaches_past_data(
    first: str, template: str, problem: str
) -> None:
    seen: list[httpx.Request] = []
    client = FiscusClient(connectors=_connectors(seen), runner=Runner(), retries=0)

    response = client.execute(
        tasks=[
            {"connector": "Source", "operation": first},
            {"connector": "Sink", "operation": "note", "params": {"text": template}},
        ]
    )

    assert not response.success
    error = response.error
    assert isinstance(error, TaskDefinitionError)
    assert (error.index, error.field) == (1, "params")
    assert str(error).startswith("Task 1: field 'params': ")
    assert problem in str(error)
    assert [request.url.host for request in seen] == ["source.example.test"]
    assert TOKEN not in (response.error_message or "")


def test_a_template_reads_keys_indexes_and_model_fields() -> None:
    seen: list[httpx.Request] = []
    client = FiscusClient(connectors=_connectors(seen), runner=Runner(), retries=0)

    response = client.execute(
        tasks=[
            {"connector": "Source", "operation": "profile"},
            {"connector": "Source", "operation": "holder"},
            {
                "connector": "Sink",
                "operation": "note",
                "params": {"text": "{{profile.tags[0]}} {{holder.name}}"},
            },
            {
                "connector": "Sink",
                "operation": "note",
                "id": "whole",
                "params": {"text": "{{profile}}"},
            },
        ]
    )

    assert response.success, response.error_message
    bodies = [json.loads(r.content) for r in seen if r.url.host == "sink.example.test"]
    assert sorted(bodies, key=json.dumps) == [
        {"text": "a Ann"},
        {"text": {"id": "u1", "tags": ["a"], "name": "Ann"}},
    ]


def test_child_reads_only_keys_indexes_and_declared_fields() -> None:
    model = Holder(name="Ann", raw=httpx.Response(200))

    assert child({"a": 1}, "a") == (True, 1)
    assert child((1, 2), 1) == (True, 2)
    assert child([1, 2], -1) == (False, None)
    assert child([1, 2], "a") == (False, None)
    assert child(model, "name") == (True, "Ann")
    assert child(model, "model_dump") == (False, None)
    assert child(httpx.Response(200), "request") == (False, None)


def test_not_data_walks_containers_and_models_once() -> None:
    shared = [1, 2]
    looped: list[object] = [shared, shared]
    looped.append(looped)

    assert not_data(looped) is None
    assert not_data({"k": (b"x", None, True)}) is None
    assert not_data({1: Holder(name="a", raw=httpx.Response(200))}) == (
        "a httpx.Response"
    )
    assert not_data([object()]) == "an object"
