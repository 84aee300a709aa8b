"""Chains of dict tasks: a skip is never mistaken for a success downstream.

The chain: create a contact, then (when created) tag it, then (when
tagged) notify the team. Each step's ``custom_logic`` is Fiscus's
``lambda response: response.success``, and a skipped task's response is
Fiscus's ``success=True, result={}``: before the fix, the tag's skip set
``context["tag_contact"] = True`` and the notice went out. Now a skipped
task holds nothing in the context, and a task whose condition (or context
function) reads a skipped task is skipped too, naming it, unless it sets
``on_skip: "run"``; ``ctx.skipped(name)`` asks without reading. Requests
are counted on an in-process CRM (``httpx.MockTransport``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from fiscus_dsl import (
    Connector,
    FiscusClient,
    FiscusResponse,
    Runner,
    load_tasks_text,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from fiscus_dsl.testing import FakeSleep

CONTACTS = "POST /contacts"
TAGS = "POST /contacts/c1/tags"
NOTICES = "POST /notices"


class Crm:
    """A CRM that creates contacts, tags them and sends notices; it counts requests."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.refuse_contacts = False

    def count(self, route: str) -> int:
        return self.requests.count(route)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        route = f"{request.method} {request.url.path}"
        self.requests.append(route)
        body = json.loads(request.content)
        if route == CONTACTS:
            if self.refuse_contacts:
                return httpx.Response(409, json={"error": "exists"})
            return httpx.Response(201, json={"id": "c1", **body})
        if route.endswith("/tags"):
            return httpx.Response(200, json={"tags": [body["tag"]]})
        return httpx.Response(202, json={"id": "n1", **body})


@pytest.fixture
def crm() -> Crm:
    return Crm()


@pytest.fixture
def client(crm: Crm, fake_sleep: FakeSleep) -> FiscusClient:
    connector = Connector(
        "CRM", "https://crm.example.test", transport=httpx.MockTransport(crm)
    )

    @connector.operation("POST /contacts")
    def create_contact(name: str, plan: str) -> dict[str, str]:
        """Create a contact."""
        raise NotImplementedError

    @connector.operation("POST /contacts/{contact_id}/tags")
    def tag_contact(contact_id: str, tag: str) -> dict[str, list[str]]:
        """Tag a contact."""
        raise NotImplementedError

    @connector.operation("POST /notices")
    def notify(text: str) -> dict[str, str]:
        """Tell the team."""
        raise NotImplementedError

    return FiscusClient(
        connectors=[connector], retries=0, runner=Runner(sleep=fake_sleep)
    )


def step(operation: str, params: object, **fields: object) -> dict[str, object]:
    return {"connector": "CRM", "operation": operation, "params": params, **fields}


def chain(
    plan: str,
    notify_if: Callable[[Any], object],
    **notify_fields: object,
) -> list[dict[str, object]]:
    """Create (plan given) → when a VIP was created, tag → when tagged, notify."""
    succeeded = lambda response: response.success  # noqa: E731  (Fiscus's idiom)
    return [
        step("create_contact", {"name": "Ann", "plan": plan}, custom_logic=succeeded),
        step(
            "tag_contact",
            {"contact_id": "c1", "tag": "vip"},
            conditions={
                "if": lambda ctx: ctx.get("create_contact", False) and plan == "vip"
            },
            custom_logic=succeeded,
        ),
        step(
            "notify",
            {"text": "Ann is a tagged VIP"},
            conditions={"if": notify_if},
            **notify_fields,
        ),
    ]


def when_tagged(ctx: Mapping[str, Any]) -> object:
    return ctx.get("tag_contact", False)


# ---------------------------------------------------------------- the chain


def test_the_whole_chain_runs_when_every_condition_holds(
    client: FiscusClient, crm: Crm
) -> None:
    response = client.execute(tasks=chain("vip", when_tagged))

    assert response.success, response.error_message
    assert crm.requests == [CONTACTS, TAGS, NOTICES]
    assert response.context == {
        "create_contact": True,
        "tag_contact": True,
        "notify": {"id": "n1", "text": "Ann is a tagged VIP"},
    }


def test_a_skipped_middle_step_does_not_send_the_last(
    client: FiscusClient, crm: Crm
) -> None:
    logic: list[FiscusResponse] = []

    def flag(response: FiscusResponse) -> bool:
        logic.append(response)
        return response.success

    tasks = chain("basic", when_tagged)
    tasks[1]["custom_logic"] = flag

    response = client.execute(tasks=tasks)

    assert (crm.count(CONTACTS), crm.count(TAGS), crm.count(NOTICES)) == (1, 0, 0)
    assert response.success  # skips do not count against the call
    created, tag, notice = response.results or []
    # Fiscus's answer for a skip stays: success=True, result={} (and skipped=True).
    assert (tag.success, tag.skipped, tag.result) == (True, True, {})
    assert [r.status for r in (created, tag, notice)] == [
        "succeeded",
        "skipped",
        "skipped",
    ]
    assert tag.error_message == (
        "Task 1 ('tag_contact') was skipped: its guard is false: "
        "conditions_of_tag_contact(outcome(create_contact))"
    )
    assert (notice.success, notice.skipped) == (True, True)
    assert notice.error_message == (
        "Task 2 ('notify') was skipped: its condition read 'tag_contact', and "
        "task 1 ('tag_contact') was skipped; set 'on_skip': 'run' on the task to "
        "decide anyway"
    )
    # custom_logic still runs for the skip, as in Fiscus; what it returns for a
    # skipped task stays out of the context.
    assert [(r.skipped, r.success) for r in logic] == [(True, True)]
    assert response.context == {"create_contact": True}


def test_a_condition_that_reads_a_skipped_task_is_skipped_whatever_it_returns(
    client: FiscusClient, crm: Crm
) -> None:
    # "Notify unless tagged" reads the tag: the skip decides, not the condition.
    response = client.execute(
        tasks=chain("basic", lambda ctx: not ctx.get("tag_contact"))
    )

    assert crm.count(NOTICES) == 0
    notice = (response.results or [])[2]
    assert notice.skipped
    assert "its condition read 'tag_contact'" in str(notice.error_message)


def test_on_skip_run_lets_the_condition_decide(client: FiscusClient, crm: Crm) -> None:
    response = client.execute(
        tasks=chain("basic", lambda ctx: not ctx.get("tag_contact"), on_skip="run")
    )

    assert (crm.count(TAGS), crm.count(NOTICES)) == (0, 1)
    notice = (response.results or [])[2]
    assert (notice.success, notice.skipped) == (True, False)


def test_on_skip_run_still_skips_when_the_condition_is_false(
    client: FiscusClient, crm: Crm
) -> None:
    response = client.execute(tasks=chain("basic", when_tagged, on_skip="run"))

    assert crm.count(NOTICES) == 0
    notice = (response.results or [])[2]
    assert notice.error_message == (
        "Task 2 ('notify') was skipped: its guard is false: "
        "conditions_of_notify(outcome(create_contact), outcome(tag_contact))"
    )


def test_asking_whether_a_task_was_skipped_is_not_reading_it(
    client: FiscusClient, crm: Crm
) -> None:
    response = client.execute(
        tasks=chain("basic", lambda ctx: ctx.skipped("tag_contact"))
    )

    assert crm.count(NOTICES) == 1
    assert not (response.results or [])[2].skipped


def test_a_condition_indexing_a_skipped_task_is_skipped_not_failed(
    client: FiscusClient, crm: Crm
) -> None:
    heard: list[object] = []

    response = client.execute(
        tasks=chain("basic", lambda ctx: ctx["tag_contact"]),
        callbacks={"fiscus_on_error": heard.append},
    )

    notice = (response.results or [])[2]
    assert notice.skipped
    assert "its condition read 'tag_contact'" in str(notice.error_message)
    assert heard == []  # a skip that follows a skip is no error
    assert crm.count(NOTICES) == 0


def test_the_condition_sees_each_earlier_outcome(
    client: FiscusClient, crm: Crm
) -> None:
    crm.refuse_contacts = True
    seen: dict[str, str] = {}

    def record(ctx: Any) -> bool:
        seen.update(
            {name: ctx.status(name) for name in ("create_contact", "tag_contact")}
        )
        return False

    client.execute(tasks=chain("vip", record))

    assert seen == {"create_contact": "failed", "tag_contact": "skipped"}


# ---------------------------------------------------------------- params


def test_params_computed_from_a_skipped_task_skip_the_task(
    client: FiscusClient, crm: Crm
) -> None:
    tasks = chain("basic", when_tagged)
    tasks[2] = step(
        "notify", lambda ctx: {"text": f"tags: {ctx.get('tag_contact', 'none')}"}
    )

    response = client.execute(tasks=tasks)

    assert crm.count(NOTICES) == 0
    assert (response.results or [])[2].error_message == (
        "Task 2 ('notify') was skipped: its params read 'tag_contact', and task 1 "
        "('tag_contact') was skipped; set 'on_skip': 'run' on the task to decide "
        "anyway"
    )


def test_a_param_function_that_indexes_a_skipped_task_is_skipped_too(
    client: FiscusClient, crm: Crm
) -> None:
    tasks = chain("basic", when_tagged)
    tasks[2] = step("notify", {"text": lambda ctx: str(ctx["tag_contact"])})

    response = client.execute(tasks=tasks)

    notice = (response.results or [])[2]
    assert notice.skipped
    assert "its params read 'tag_contact'" in str(notice.error_message)
    assert crm.count(NOTICES) == 0


def test_on_skip_run_lets_params_read_past_a_skip(
    client: FiscusClient, crm: Crm
) -> None:
    tasks = chain("basic", when_tagged)
    tasks[2] = step(
        "notify",
        lambda ctx: {"text": f"tags: {ctx.get('tag_contact', 'none')}"},
        on_skip="run",
    )

    client.execute(tasks=tasks)

    assert crm.requests == [CONTACTS, NOTICES]


def test_a_template_of_a_skipped_task_skips_even_with_on_skip_run(
    client: FiscusClient, crm: Crm
) -> None:
    tasks = chain("basic", when_tagged)
    tasks[2] = step("notify", {"text": "{{tag_contact.tags[0]}}"}, on_skip="run")

    response = client.execute(tasks=tasks)

    assert crm.count(NOTICES) == 0  # no value to fill in: on_skip cannot help
    assert (response.results or [])[2].error_message == (
        "Task 2 ('notify') was skipped: its params need {{tag_contact.tags[0]}}, "
        "and task 'tag_contact' skipped"
    )


def test_depends_on_a_skipped_task_still_runs(client: FiscusClient, crm: Crm) -> None:
    tasks = chain("basic", when_tagged)
    tasks[2] = step("notify", {"text": "after the tag"}, depends_on="tag_contact")

    client.execute(tasks=tasks)

    assert crm.requests == [CONTACTS, NOTICES]  # depends_on orders; it reads nothing


# ---------------------------------------------------------------- task files


CHAIN_YAML = """\
- connector: CRM
  operation: create_contact
  params: {name: Ann, plan: basic}
- connector: CRM
  operation: tag_contact
  params: {contact_id: c1, tag: vip}
  conditions: {if: {eq: ["{{create_contact.plan}}", vip]}}
  custom_logic: succeeded
- connector: CRM
  operation: notify
  params: {text: Ann is a tagged VIP}
  conditions: {if: {eq: ["{{tag_contact}}", true]}}
"""


def test_a_task_file_chain_does_not_send_the_last_step(
    client: FiscusClient, crm: Crm
) -> None:
    def succeeded(response: FiscusResponse) -> bool:
        return response.success

    tasks = load_tasks_text(
        CHAIN_YAML, format="yaml", registry={"succeeded": succeeded}
    )

    response = client.execute(tasks=tasks)

    assert crm.requests == [CONTACTS]
    notice = (response.results or [])[2]
    assert notice.skipped
    assert "needs task 'tag_contact', which did not succeed" in str(
        notice.error_message
    )
