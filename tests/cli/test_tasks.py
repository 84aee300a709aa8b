"""``fiscus tasks run``: a Fiscus task file through the dict API, and its connectors."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from .conftest import one_error_line, row

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .conftest import Cli

GUIDE = """
    # The Fiscus guide's chained example, as a task file
    - connector: CRMSystem
      operation: create_contact
      params: {name: John Doe, email: john@example.com}
    - connector: Gmail
      operation: send_email
      params:
        to: "{{create_contact.email}}"
        subject: "Welcome, {{create_contact.name}}!"
        body: Glad to have you on board.
      conditions: {if: {succeeded: create_contact}}
    """

TWICE = """
    tasks:
      - id: first
        connector: CRMSystem
        operation: create_contact
        params: {name: Ann, email: ann@example.com}
      - id: again
        connector: CRMSystem
        operation: create_contact
        params: {name: Ann, email: ann@example.com}
        depends_on: first
      - connector: Gmail
        operation: send_email
        params: {to: ann@example.com, subject: Hi, body: ""}
        conditions: {if: {succeeded: again}}
    """

CONNECTORS = """
    from fiscus_dsl import BearerAuth, Connector, Secret

    contacts = Connector(
        "Contacts", "{url}/crm/v1", auth=BearerAuth(Secret("demo-crm-token"))
    )
    same = contacts  # listed once


    @contacts.operation("GET /contacts")
    def list_contacts() -> list[dict[str, str]]:
        raise NotImplementedError


    def count(response: object) -> int:
        return len(response.result)


    REGISTRY = {{"count": count}}
    """


def test_tasks_run_with_the_sandbox_runs_the_guide_example(
    cli: Cli, write: Callable[[str, str], Path]
) -> None:
    path = write("guide.yaml", GUIDE)

    result = cli("tasks", "run", str(path), "--sandbox")

    assert result.exit_code == 0, result.output
    assert row(result.stdout, "0")[1:3] == ["create_contact", "succeeded"]
    assert row(result.stdout, "1")[1:3] == ["send_email", "succeeded"]
    assert '"subject": "Welcome, John Doe!"' in result.stdout
    assert result.stdout.splitlines()[-1] == "The tasks succeeded"


def test_tasks_run_json_prints_only_the_response(
    cli: Cli, write: Callable[[str, str], Path]
) -> None:
    path = write("guide.yaml", GUIDE)

    result = cli("tasks", "run", str(path), "--sandbox", "--json")

    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["success"] is True
    assert [each["operation"] for each in data["results"]] == [
        "create_contact",
        "send_email",
    ]


def test_a_failed_task_exits_1_and_skips_what_it_guards(
    cli: Cli, write: Callable[[str, str], Path]
) -> None:
    path = write("twice.yaml", TWICE)

    result = cli("tasks", "run", str(path), "--sandbox", "--retries", "0")

    assert result.exit_code == 1
    assert row(result.stdout, "0")[1:3] == ["first", "succeeded"]
    assert row(result.stdout, "1")[1:3] == ["again", "failed"]
    assert "409 Conflict" in result.stdout
    assert row(result.stdout, "2")[1:3] == ["send_email", "skipped"]
    assert result.stdout.splitlines()[-1].startswith(
        "The tasks failed (INVALID_REQUEST 1002): Task 1 ('again'"
    )


def test_connectors_and_registry_come_from_a_module(
    cli: Cli, write: Callable[[str, str], Path], sandbox_url: str
) -> None:
    module = write("api.py", CONNECTORS.format(url=sandbox_url))
    path = write(
        "list.json",
        """
        [{"connector": "Contacts", "operation": "list_contacts",
          "custom_logic": "count"},
         {"connector": "Gmail", "operation": "list_messages"}]
        """,
    )

    result = cli(
        "tasks", "run", str(path), "--connectors", str(module), "--sandbox", "--json"
    )

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["context"] == {"list_contacts": 0, "list_messages": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/guide.yaml"], "Say where the task file's connectors come from"),
        (["{tmp}/missing.yaml", "--sandbox"], "Cannot read {tmp}/missing.yaml"),
        (["{tmp}/bad.yaml", "--sandbox"], "is not valid YAML"),
        (["{tmp}/unknown.yaml", "--sandbox"], "'Nowhere'"),
        (["{tmp}/guide.yaml", "-c", "{tmp}/plain.py"], "declares no Connector"),
        (["{tmp}/guide.yaml", "-c", "{tmp}/nope.py"], "No such file"),
    ],
)
def test_bad_task_runs_exit_2_with_one_error_line(
    cli: Cli, write: Callable[[str, str], Path], args: list[str], message: str
) -> None:
    tmp = str(write("guide.yaml", GUIDE).parent)
    write("bad.yaml", "- connector: [unclosed\n")
    write("unknown.yaml", "- {connector: Nowhere, operation: x}\n")
    write("plain.py", "VALUE = 1\n")

    result = cli("tasks", "run", *[arg.format(tmp=tmp) for arg in args])

    assert result.exit_code == 2, result.output
    assert message.format(tmp=tmp) in one_error_line(result)


def test_connectors_from_a_module_alone_are_enough(
    cli: Cli, write: Callable[[str, str], Path], sandbox_url: str
) -> None:
    module = write("api.py", CONNECTORS.format(url=sandbox_url))
    path = write("list.yaml", "- {connector: Contacts, operation: list_contacts}\n")

    result = cli("tasks", "run", str(path), "-c", str(module))

    assert result.exit_code == 0, result.output
    assert row(result.stdout, "0")[1:3] == ["list_contacts", "succeeded"]


def test_a_failed_task_detail_keeps_the_status_first_and_shows_whole_with_full(
    cli: Cli, write: Callable[[str, str], Path]
) -> None:
    path = write("twice.yaml", TWICE)

    cut = cli("tasks", "run", str(path), "--sandbox", "--retries", "0")
    full = cli("tasks", "run", str(path), "--sandbox", "--retries", "0", "--full")

    for result in (cut, full):
        table = " ".join(result.stdout.split("Result:")[0].split())
        assert "failed Task 1 ('again') failed: HTTPStatusError 409 in " in table
        assert "HTTP 409 Conflict from operation" in table
    full_table = " ".join(full.stdout.split("Result:")[0].split())
    assert "fix the request; a 4xx is never retried" in full_table
