"""``FiscusClient.plan``: what ``execute`` would send for a task list, none sent.

The task list is checked and compiled as ``execute`` compiles it; each
step's own code (params, templates, ``custom_logic``, conditions) runs on
sample responses, and the operation it calls is laid out and recorded. A
plan with the run's id and its answers as samples lists the requests the
run sent, field by field.
"""

from __future__ import annotations

import json

import pytest

from fiscus_dsl import FiscusClient, TaskDefinitionError

from .fake_api import CRM_TOKEN, GMAIL_TOKEN, FakeApi
from .test_client import guide_chained, guide_multiple_tasks


def test_a_plan_of_the_guides_chain_sends_nothing(
    client: FiscusClient, api: FakeApi
) -> None:
    plan = client.plan(tasks=guide_chained(), run_id="r1")

    assert api.requests == []
    assert [step.task_id for step in plan.requests] == ["create_contact", "send_email"]
    create = plan.step("create_contact").request
    assert create is not None
    assert create.method == "POST"
    assert create.body == {"name": "John Doe", "email": "john@example.com"}
    dumped = plan.model_dump_json()
    assert CRM_TOKEN not in dumped
    assert GMAIL_TOKEN not in dumped


def test_a_plan_lists_what_execute_sends(client: FiscusClient, api: FakeApi) -> None:
    response = client.execute(tasks=guide_multiple_tasks())
    run = response.run
    assert run is not None
    answers = {task_id: result.value for task_id, result in run.tasks.items()}

    plan = client.plan(
        tasks=guide_multiple_tasks(), run_id=run.run_id, responses=answers
    )

    assert len(plan.requests) == len(api.requests) == 2
    for sent, step in zip(api.requests, plan.requests, strict=True):
        planned = step.request
        assert planned is not None
        assert (sent.method, str(sent.url)) == (planned.method, planned.url)
        assert json.loads(sent.content) == planned.body
        assert sent.headers["idempotency-key"] == planned.headers["Idempotency-Key"]


def test_a_template_on_an_unknown_response_shows_its_reference(
    client: FiscusClient,
) -> None:
    tasks = [
        {
            "connector": "CRMSystem",
            "operation": "create_contact",
            "params": {"name": "Ada", "email": "ada@example.com"},
        },
        {
            "connector": "CRMSystem",
            "operation": "get_contact",
            "params": {"contact_id": "{{create_contact.id}}"},
        },
    ]

    plan = client.plan(tasks=tasks)

    fetched = plan.step("get_contact").request
    assert fetched is not None
    assert fetched.url.endswith("/contacts/<create_contact.id>")


def test_a_malformed_task_list_is_refused_as_execute_refuses_it(
    client: FiscusClient,
) -> None:
    with pytest.raises(TaskDefinitionError):
        client.plan(tasks=[{"connector": "CRMSystem"}])


def test_a_template_that_finds_nothing_in_a_sample_is_a_problem(
    client: FiscusClient,
) -> None:
    tasks = [
        {
            "connector": "CRMSystem",
            "operation": "create_contact",
            "params": {"name": "Ada", "email": "ada@example.com"},
        },
        {
            "connector": "CRMSystem",
            "operation": "get_contact",
            "params": {"contact_id": "{{create_contact.identifier}}"},
        },
    ]
    sample = {"id": "c1", "name": "Ada", "email": "ada@example.com"}

    plan = client.plan(tasks=tasks, responses={"create_contact": sample})

    assert plan.step("get_contact").status == "invalid"
    (problem,) = plan.problems
    assert "{{create_contact.identifier}} found nothing at 'identifier'" in problem


def test_a_template_naming_an_unknown_task_is_refused_before_planning(
    client: FiscusClient,
) -> None:
    tasks = [
        {
            "connector": "CRMSystem",
            "operation": "get_contact",
            "params": {"contact_id": "{{create_contact.id}}"},
        },
    ]

    with pytest.raises(TaskDefinitionError, match="create_contact") as refused:
        client.plan(tasks=tasks)
    assert refused.value.index == 0
