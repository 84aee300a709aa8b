"""``fiscus plan``: what a run would send as a table, JSON or Mermaid, sending none.

Exit codes: 0 when the plan lists no problems, 1 when it lists some, 2 for
bad usage (a ``--responses`` file that cannot be read or holds no JSON
object, an unknown ``--format``).
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import respx

from fiscus_dsl._connectors.connector import IDEMPOTENCY_NAMESPACE

from .conftest import one_error_line, row

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .conftest import Cli

BASE = "https://crm.example.test/v1"
TOKEN = "tok-cli-plan-never-shown"
CRM_FLOWS = f"""
    from pydantic import BaseModel

    from fiscus_dsl import BearerAuth, Connector, Secret, task, when, workflow

    crm = Connector("CRM", "{BASE}", auth=BearerAuth(Secret("{TOKEN}")))


    class Contact(BaseModel):
        id: str
        email: str
        status: str = "active"


    @crm.operation("POST /contacts")
    def create_contact(name: str, email: str) -> Contact:
        raise NotImplementedError


    @crm.operation("POST /messages")
    def send_email(to: str, subject: str) -> dict[str, str]:
        raise NotImplementedError


    @crm.operation("GET /contacts/{{contact_id}}")
    def get_contact(contact_id: int) -> Contact:
        raise NotImplementedError


    @crm.operation("GET /search")
    def search(q: str) -> list[str]:
        raise NotImplementedError


    @crm.operation("GET /contacts/{{contact_id}}/notes")
    def list_notes(contact_id: str) -> list[str]:
        raise NotImplementedError


    @task
    def count(notes: list[list[str]], unit: str) -> str:
        return f"{{len(notes)}} {{unit}}"


    @workflow
    def onboard(name: str, email: str) -> dict[str, str]:
        contact = create_contact(name, email)
        with when(contact.status == "active"):
            sent = send_email(to=contact.email, subject="Welcome")
        return sent


    @workflow
    def lookup(contact_id: str) -> Contact:
        return get_contact(contact_id)


    @workflow
    def found_notes(q: str) -> str:
        return count(list_notes.map(contact_id=search(q)), "lists")


    @workflow
    def tagged(run_id: str) -> Contact:
        return create_contact(run_id, "tag@example.com")
    """
ONBOARD = ("-i", "name=Ada", "-i", "email=ada@example.com", "--run-id", "r1")


@pytest.fixture
def crm(write: Callable[[str, str], Path]) -> Path:
    return write("crm.py", CRM_FLOWS)


def key(run_id: str, task_id: str) -> str:
    return f'"{uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{run_id}/{task_id}")}"'


def plan_json(cli: Cli, *args: str) -> dict[str, Any]:
    result = cli("plan", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_plan_prints_a_table_of_the_requests_and_sends_nothing(
    cli: Cli, crm: Path
) -> None:
    with respx.mock(assert_all_called=False) as router:
        anything = router.route().respond(500)
        result = cli("plan", f"{crm}:onboard", *ONBOARD)

    assert result.exit_code == 0, result.output
    assert not anything.called
    assert result.stdout.startswith(
        "Plan of workflow 'onboard' (run id r1); nothing sent\n"
    )
    assert row(result.stdout, "create_contact")[:4] == [
        "create_contact",
        "planned",
        "POST",
        f"{BASE}/contacts",
    ]
    assert row(result.stdout, "send_email")[:2] == ["send_email", "conditional"]
    assert "only if: create_contact.status == 'active'" in result.stdout
    assert "Authorization: Bearer **********" in result.stdout
    assert "Idempotency-Key:" in result.stdout
    assert key("r1", "create_contact") in result.stdout
    assert TOKEN not in result.stdout
    assert result.stdout.endswith("2 requests to send; 1 planned, 1 conditional\n")
    assert result.stderr == ""


def test_a_map_over_a_list_the_plan_does_not_know_is_one_templated_request(
    cli: Cli, crm: Path
) -> None:
    result = cli("plan", f"{crm}:found_notes", "-i", "q=ada", "--run-id", "r1")

    assert result.exit_code == 0, result.output
    assert row(result.stdout, "search")[2:4] == ["GET", f"{BASE}/search?q=ada"]
    assert row(result.stdout, "list_notes[0]")[:3] == [
        "list_notes[0]",
        "planned",
        "GET",
    ]
    assert f"{BASE}/contacts/<search[*" in result.stdout  # the URL wraps at 120
    assert "one request per item of a list the plan does not" in result.stdout
    assert row(result.stdout, "count")[:3] == [
        "count",
        "planned",
        'count(notes=["<list_notes[0]>"],',  # a plain task's inputs
    ]


def test_plan_json_is_the_plan_model(cli: Cli, crm: Path) -> None:
    data = plan_json(cli, f"{crm}:onboard", *ONBOARD)

    assert (data["workflow"], data["run_id"]) == ("onboard", "r1")
    assert data["inputs"] == {"name": "Ada", "email": "ada@example.com"}
    assert data["problems"] == []
    create, send = data["steps"]
    assert (create["task_id"], create["status"], create["depends_on"]) == (
        "create_contact",
        "planned",
        [],
    )
    assert create["request"]["method"] == "POST"
    assert create["request"]["url"] == f"{BASE}/contacts"
    assert create["request"]["body"] == {"name": "Ada", "email": "ada@example.com"}
    assert create["idempotency_key"] == key("r1", "create_contact")
    assert (send["task_id"], send["status"], send["depends_on"]) == (
        "send_email",
        "conditional",
        ["create_contact"],
    )
    assert send["guard"] == "create_contact.status == 'active'"
    assert send["request"]["body"] == {
        "to": "<create_contact.email>",
        "subject": "Welcome",
    }


def test_plan_mermaid_draws_the_steps_and_their_edges(cli: Cli, crm: Path) -> None:
    result = cli("plan", f"{crm}:onboard", *ONBOARD, "-f", "Mermaid")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "flowchart TD",
        "    %% Plan of workflow 'onboard' (run id r1)",
        f'    n0["create_contact<br/>POST {BASE}/contacts"]',
        f'    n1["send_email<br/>POST {BASE}/messages'
        "<br/>only if: create_contact.status == 'active'\"]",
    ]
    assert "    n0 -.-> n1" in lines
    assert "    class n0 planned" in lines
    assert "    class n1 conditional" in lines


@pytest.mark.parametrize(("status", "sent"), [("active", True), ("gone", False)])
def test_responses_decide_a_guard(
    cli: Cli,
    crm: Path,
    write: Callable[[str, str], Path],
    *,
    status: str,
    sent: bool,
) -> None:
    sample = {"id": "c1", "email": "ada@example.com", "status": status}
    samples = write("samples.json", json.dumps({"create_contact": sample}))

    data = plan_json(cli, f"{crm}:onboard", *ONBOARD, "--responses", str(samples))

    send = data["steps"][1]
    assert send["status"] == ("planned" if sent else "skipped")
    if sent:
        assert send["request"]["body"] == {
            "to": "ada@example.com",
            "subject": "Welcome",
        }
    else:
        assert "guard is false" in send["reason"]


def test_a_plan_with_problems_lists_them_and_exits_1(cli: Cli, crm: Path) -> None:
    result = cli("plan", f"{crm}:lookup", "-i", "contact_id=abc")

    assert result.exit_code == 1
    assert row(result.stdout, "get_contact")[:2] == ["get_contact", "invalid"]
    problems = result.stdout.split("Problems a run would hit:\n", 1)[1]
    assert problems.startswith("  - get_contact: ArgumentValidationError: ")
    assert "The plan lists 1 problem a run would hit" in one_error_line(result)


def test_a_plan_with_problems_exits_1_in_json_too(cli: Cli, crm: Path) -> None:
    result = cli("plan", f"{crm}:lookup", "-i", "contact_id=abc", "--format", "json")

    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["steps"][0]["status"] == "invalid"
    assert len(data["problems"]) == 1
    assert result.stderr == ""  # the JSON carries them


def test_a_plan_with_problems_names_them_under_mermaid(cli: Cli, crm: Path) -> None:
    result = cli("plan", f"{crm}:lookup", "-i", "contact_id=abc", "-f", "mermaid")

    assert result.exit_code == 1
    assert result.stdout.startswith("flowchart TD\n")
    assert "1 problem a run would hit: get_contact: " in one_error_line(result)


def test_an_input_named_run_id_is_an_input(cli: Cli, crm: Path) -> None:
    data = plan_json(cli, f"{crm}:tagged", "-i", "run_id=abc", "--run-id", "r9")

    assert data["run_id"] == "r9"
    assert data["inputs"] == {"run_id": "abc"}
    assert data["steps"][0]["idempotency_key"] == key("r9", "create_contact")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--responses", "{tmp}/none.json"], "Cannot read --responses {tmp}/none"),
        (["--responses", "{tmp}/broken.json"], "--responses {tmp}/broken.json is"),
        (["--responses", "{tmp}/list.json"], "must hold a JSON object of sample"),
        (["--format", "dot"], "Unknown --format 'dot'; use one of text, json, mermaid"),
        (["-i", "size=2"], "unknown keyword 'size'"),
    ],
)
def test_bad_usage_exits_2_with_one_error_line(
    cli: Cli,
    crm: Path,
    write: Callable[[str, str], Path],
    args: list[str],
    message: str,
) -> None:
    write("broken.json", '{"create_contact": ')
    write("list.json", "[1, 2]")
    tmp = str(crm.parent)

    result = cli(
        "plan", f"{crm}:onboard", *ONBOARD, *[arg.format(tmp=tmp) for arg in args]
    )

    assert result.exit_code == 2, result.output
    assert message.format(tmp=tmp) in one_error_line(result)
    assert result.stdout == ""
