"""Dry-run plans: the requests a run would send, laid out exactly, none sent.

``wf.plan(**inputs, responses=..., run_id=...)`` runs the scheduler with an
executor that records each operation's request (URL quoted as a run
quotes it, query, headers with credentials masked, JSON body, the
``Idempotency-Key`` of the run id) and returns the sample response, or a
``<task.field>`` symbol. Guards decide on samples; a guard that needs a
symbol leaves its step conditional. A plan runs no task body and sends
nothing; what a run would fail on is a problem of the plan.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import pytest
import respx
from pydantic import BaseModel

from fiscus_dsl import (
    ApiKeyAuth,
    BearerAuth,
    ConfigurationError,
    Connector,
    Plan,
    RunStatus,
    Secret,
    otherwise,
    succeeded,
    task,
    when,
    workflow,
)
from fiscus_dsl._connectors.connector import IDEMPOTENCY_NAMESPACE

from .conftest import BASE

if TYPE_CHECKING:
    import httpx

    from fiscus_dsl import Runner

TOKEN = "tok-plan-never-shown"
crm = Connector("CRM", BASE, auth=BearerAuth(Secret(TOKEN)))
search_api = Connector(
    "Search", f"{BASE}/search", auth=ApiKeyAuth(Secret("key-plan-hidden"), query="k")
)
RAN: list[str] = []


class Contact(BaseModel):
    id: str
    email: str
    status: str = "active"


@crm.operation("POST /contacts")
def create_contact(name: str, email: str) -> Contact:
    """Create a contact."""
    raise NotImplementedError  # an operation's body never runs


@crm.operation("GET /contacts/{contact_id}/notes")
def list_notes(contact_id: str, limit: int = 10) -> list[str]:
    """List a contact's notes."""
    raise NotImplementedError  # an operation's body never runs


@crm.operation("POST /messages")
def send_email(to: str, subject: str) -> dict[str, str]:
    """Queue an email."""
    raise NotImplementedError  # an operation's body never runs


@search_api.operation("GET /")
def search(q: str) -> list[str]:
    """Search."""
    raise NotImplementedError  # an operation's body never runs


@task
def welcome_subject(name: str) -> str:
    RAN.append(name)  # a plan never runs a body
    return f"Welcome, {name}!"


@workflow
def onboard(name: str, email: str) -> dict[str, str]:
    contact = create_contact(name, email)
    list_notes(contact.id)
    with when(contact.status == "active"):
        sent = send_email(to=contact.email, subject=welcome_subject(name))
    return sent  # noqa: RET504  (the guarded step's future)


@workflow
def notes_of(ids: list[str]) -> list[list[str]]:
    return list_notes.map(contact_id=ids)


@workflow
def notes_of_found(q: str) -> list[list[str]]:
    return list_notes.map(contact_id=search(q))


def key(run_id: str, task_id: str) -> str:
    return f'"{uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{run_id}/{task_id}")}"'


SAMPLE = {"id": "c 1/x", "email": "ada@example.com", "status": "active"}


def test_a_plan_lays_out_each_request_and_sends_nothing() -> None:
    RAN.clear()
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        anything = router.route().respond(500)
        plan = onboard.plan(name="Ada", email="ada@example.com", run_id="r1")

    assert not anything.called
    assert RAN == []
    assert isinstance(plan, Plan)
    assert [step.task_id for step in plan.steps] == [
        "create_contact",
        "list_notes",
        "welcome_subject",
        "send_email",
    ]
    create = plan.step("create_contact")
    assert create.status == "planned"
    assert create.request is not None
    assert create.request.method == "POST"
    assert create.request.url == f"{BASE}/contacts"
    assert create.request.body == {"name": "Ada", "email": "ada@example.com"}
    assert create.request.headers["Authorization"] == "Bearer **********"
    assert create.idempotency_key == key("r1", "create_contact")
    assert create.request.headers["Idempotency-Key"] == create.idempotency_key
    notes = plan.step("list_notes").request
    assert notes is not None
    assert notes.url == f"{BASE}/contacts/<create_contact.id>/notes?limit=10"
    assert notes.query == [("limit", "10")]
    assert plan.step("list_notes").idempotency_key is None  # a GET has none
    assert TOKEN not in plan.model_dump_json()


def test_a_guard_that_needs_an_unknown_value_leaves_its_steps_conditional() -> None:
    plan = onboard.plan(name="Ada", email="ada@example.com", run_id="r1")

    for task_id in ("welcome_subject", "send_email"):
        step = plan.step(task_id)
        assert step.status == "conditional"
        assert step.guard == "create_contact.status == 'active'"
    send = plan.step("send_email").request
    assert send is not None
    assert send.body == {"to": "<create_contact.email>", "subject": "<welcome_subject>"}
    assert plan.step("welcome_subject").inputs == {"name": "Ada"}
    assert "only if: create_contact.status == 'active'" in plan.to_text()


@pytest.mark.parametrize(("status", "sent"), [("active", True), ("gone", False)])
def test_guards_decide_on_sample_responses(*, status: str, sent: bool) -> None:
    sample = {**SAMPLE, "status": status}

    plan = onboard.plan(
        name="Ada",
        email="ada@example.com",
        run_id="r1",
        responses={"create_contact": sample, "welcome_subject": "Hi"},
    )

    notes = plan.step("list_notes").request
    assert notes is not None
    assert notes.url == f"{BASE}/contacts/c%201%2Fx/notes?limit=10"  # quoted as sent
    send = plan.step("send_email")
    assert send.status == ("planned" if sent else "skipped")
    assert send.guard == "create_contact.status == 'active'"
    if sent:
        assert send.request is not None
        assert send.request.body == {"to": "ada@example.com", "subject": "Hi"}
    else:
        assert send.reason is not None
        assert "skipped" in send.reason or "guard is false" in send.reason


def test_a_plan_sends_what_a_run_sends(api: respx.MockRouter, runner: Runner) -> None:
    create = api.post("/contacts").respond(json=SAMPLE)
    notes = api.get("/contacts/c%201%2Fx/notes").respond(json=["n1"])
    send = api.post("/messages").respond(json={"id": "m1"})

    result = runner.run(onboard, name="Ada", email="ada@example.com")
    plan = onboard.plan(
        name="Ada",
        email="ada@example.com",
        run_id=result.run_id,
        responses={"create_contact": SAMPLE, "welcome_subject": "Welcome, Ada!"},
    )

    assert result.status is RunStatus.SUCCEEDED
    assert [step.task_id for step in plan.requests] == [
        "create_contact",
        "list_notes",
        "send_email",
    ]
    for route, step in zip((create, notes, send), plan.requests, strict=True):
        sent: httpx.Request = route.calls.last.request
        planned = step.request
        assert planned is not None
        assert (sent.method, str(sent.url)) == (planned.method, planned.url)
        for name, value in planned.headers.items():
            shown = sent.headers[name]
            assert value == ("Bearer **********" if name == "Authorization" else shown)
        if planned.body is not None:
            assert json.loads(sent.content) == planned.body


def test_a_map_over_a_known_list_plans_each_item_and_an_unknown_one_once() -> None:
    known = notes_of.plan(ids=["a", "b/c"])
    found = notes_of_found.plan(q="ada")

    assert [step.request.url for step in known.requests if step.request] == [
        f"{BASE}/contacts/a/notes?limit=10",
        f"{BASE}/contacts/b%2Fc/notes?limit=10",
    ]
    (templated,) = [step for step in found.steps if step.task == "list_notes"]
    assert templated.templated
    assert templated.request is not None
    assert templated.request.url == f"{BASE}/contacts/<search[*]>/notes?limit=10"
    searched = found.step("search").request
    assert searched is not None
    assert searched.url == f"{BASE}/search/?q=ada&k=**********"  # the API key, masked
    assert "key-plan-hidden" not in found.model_dump_json()


def test_every_problem_a_run_would_hit_is_listed() -> None:
    @crm.operation("GET /contacts/{contact_id}")
    def get_contact(contact_id: int) -> Contact:
        """Fetch a contact."""
        raise NotImplementedError  # an operation's body never runs

    @workflow
    def broken(contact_id: str) -> list[object]:
        fetched = get_contact(contact_id)  # type: ignore[arg-type]  # the point
        return [fetched, create_contact("Ada", "ada@example.com")]

    plan = broken.plan(
        contact_id="not-a-number", responses={"create_contact": {"id": 1}}
    )

    invalid = plan.step("get_contact")
    assert invalid.status == "invalid"
    assert invalid.reason is not None
    assert "contact_id" in invalid.reason
    assert plan.step("create_contact").status == "planned"  # the plan went on
    assert len(plan.problems) == 2
    assert any("get_contact" in problem for problem in plan.problems)
    assert any(
        "sample response for 'create_contact' does not match" in problem
        for problem in plan.problems
    )


def test_responses_must_be_a_dict() -> None:
    with pytest.raises(ConfigurationError, match="takes a dict of sample responses"):
        onboard.plan(name="Ada", email="a@example.com", responses=[SAMPLE])  # type: ignore[arg-type]  # the point


@task(on_error="continue")
def reserve(name: str) -> str:
    RAN.append(name)
    return name


@task
def greet(who: str) -> str:
    return who


@task
def escalate(reason: str) -> str:
    return reason


@workflow
def branching(name: str) -> None:
    made = reserve(name)
    with when(succeeded(made)):
        greet(made)
    with otherwise():
        escalate("no reservation")


def test_an_outcome_guard_on_a_step_without_a_sample_is_conditional() -> None:
    plan = branching.plan(name="x")

    assert plan.step("greet").status == "conditional"
    assert plan.step("escalate").status == "conditional"
    assert plan.step("escalate").guard == "not succeeded(reserve)"


def test_an_exception_as_a_sample_fails_the_step_as_planned() -> None:
    failed = branching.plan(name="x", responses={"reserve": RuntimeError("taken")})
    made = branching.plan(name="x", responses={"reserve": "r1"})

    step = failed.step("reserve")
    assert step.status == "planned"
    assert step.reason == "fails, as its sample says: RuntimeError: taken"
    assert failed.problems == []  # a failure the sample asks for is no problem
    assert failed.step("greet").status == "skipped"
    assert failed.step("escalate").status == "planned"
    assert made.step("greet").status == "planned"
    assert made.step("greet").inputs == {"who": "r1"}
    assert made.step("escalate").status == "skipped"


def test_a_missing_deferred_secret_is_a_problem_named_not_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PLAN_TEST_TOKEN", raising=False)
    vault = Connector(
        "Vault", BASE, auth=BearerAuth(Secret.from_env("PLAN_TEST_TOKEN", defer=True))
    )

    @vault.operation("GET /items")
    def items() -> list[str]:
        """List the items."""
        raise NotImplementedError  # an operation's body never runs

    @workflow
    def listing() -> list[str]:
        return items()

    missing = listing.plan()
    monkeypatch.setenv("PLAN_TEST_TOKEN", "tok-deferred-secret")
    present = listing.plan()

    assert missing.step("items").status == "invalid"
    (problem,) = missing.problems
    assert "MissingSecretError" in problem
    assert "'PLAN_TEST_TOKEN' is not set" in problem
    assert present.problems == []
    assert present.step("items").status == "planned"
    assert "tok-deferred-secret" not in present.model_dump_json()


def test_a_url_that_would_leave_the_connector_is_a_problem() -> None:
    @crm.operation("GET /files/{name}")
    def read_file(name: str) -> str:
        """Read a file."""
        raise NotImplementedError  # an operation's body never runs

    @workflow
    def reading(name: str) -> str:
        return read_file(name)

    plan = reading.plan(name="")

    assert plan.step("read_file").status == "invalid"
    assert any("UnsafeURLError" in problem for problem in plan.problems)
