"""``FiscusClient.execute``: the Fiscus guide's examples and the dict API around them.

The guide ("Task-Based Orchestration") runs two examples: two tasks sent at
once, and a chain where the email is sent only if the contact was created.
They run here as the guide writes them, on the fake CRM and mail API of
``fake_api`` (httpx.MockTransport: nothing leaves the process), and the
rest of the dict API is checked around them: retries with backoff,
the single-operation and async forms, callbacks, data passing, ids and
ordering, definition errors, and secrets kept out of messages.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from fiscus_dsl import (
    ArgumentValidationError,
    ConfigurationError,
    Connector,
    FiscusClient,
    FiscusErrorCode,
    FiscusResponse,
    FiscusWarning,
    HTTPStatusError,
    OptionTypeError,
    Runner,
    TaskDefinitionError,
    TaskStatus,
    TaskTimeoutError,
    set_default_runner,
)

from .fake_api import (
    CRM_TOKEN,
    CRM_URL,
    GMAIL_TOKEN,
    Contact,
    FakeApi,
    Rendezvous,
    connectors,
    task,
)

if TYPE_CHECKING:
    from fiscus_dsl.testing import FakeSleep

CONTACTS = "POST /v1/contacts"
MESSAGES = "POST /v1/messages"


def guide_multiple_tasks() -> list[dict[str, Any]]:
    """Return the guide's first task list, "Sending Multiple Tasks Simultaneously"."""
    return [
        {
            "connector": "CRMSystem",
            "operation": "create_contact",
            "params": {"name": "John Doe", "email": "john@example.com"},
        },
        {
            "connector": "Gmail",
            "operation": "send_email",
            "params": {
                "to": "john@example.com",
                "subject": "Welcome, John!",
                "body": "Glad to have you on board.",
            },
        },
    ]


def guide_chained() -> list[dict[str, Any]]:
    """Return the guide's second task list, "Chaining Tasks with Conditional Logic"."""
    return [
        {
            "connector": "CRMSystem",
            "operation": "create_contact",
            "params": {"name": "John Doe", "email": "john@example.com"},
            "custom_logic": lambda response: (
                response.success
            ),  # Set flag based on success
        },
        {
            "connector": "Gmail",
            "operation": "send_email",
            "params": {
                "to": "john@example.com",
                "subject": "Welcome, John!",
                "body": "Glad to have you on board.",
            },
            "conditions": {
                "if": lambda ctx: ctx.get(
                    "create_contact", False
                )  # Only send email if contact creation was successful
            },
        },
    ]


def email(to: str = "john@example.com", subject: str = "Hi") -> dict[str, object]:
    return {"to": to, "subject": subject, "body": "Glad to have you on board."}


JOHN = {"name": "John Doe", "email": "john@example.com"}


# ---------------------------------------------------------------- the guide


def test_guide_multiple_tasks_example_runs_as_written(
    client: FiscusClient, api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = guide_multiple_tasks()

    response = client.execute(tasks=tasks)

    if response.success:
        print("Tasks executed successfully!")  # noqa: T201  (the guide prints)
    else:
        print(f"Error: {response.error_message}")  # noqa: T201  (the guide prints)
    assert capsys.readouterr().out == "Tasks executed successfully!\n"
    assert sorted(api.paths()) == [CONTACTS, MESSAGES]
    assert api.contacts == {
        "c1": Contact(id="c1", name="John Doe", email="john@example.com")
    }
    assert api.outbox == [
        {
            "id": "m1",
            "to": "john@example.com",
            "subject": "Welcome, John!",
            "body": "Glad to have you on board.",
        }
    ]
    assert response.result == [api.contacts["c1"], api.outbox[0]]
    assert [r.operation for r in response.results or []] == [
        "create_contact",
        "send_email",
    ]


def test_guide_multiple_tasks_are_sent_at_the_same_time(runner: Runner) -> None:
    gate = Rendezvous(2, timeout=5.0)
    api = FakeApi(gate=gate)
    client = FiscusClient(connectors=connectors(api), retries=0, runner=runner)

    response = client.execute(tasks=guide_multiple_tasks())

    # Each request was held until the other arrived: they were in flight together.
    assert response.success, response.error_message
    assert sorted(gate.arrived) == [CONTACTS, MESSAGES]


def test_the_rendezvous_fails_tasks_that_are_sent_one_after_another(
    runner: Runner,
) -> None:
    gate = Rendezvous(2, timeout=0.05)
    api = FakeApi(gate=gate)
    client = FiscusClient(connectors=connectors(api), retries=0, runner=runner)

    response = client.execute(tasks=guide_chained())

    # The chained email waits for the contact, so the gate's proof is sound.
    assert not response.success
    assert gate.arrived == [CONTACTS]
    assert response.error_code is FiscusErrorCode.TIMEOUT


def test_guide_chained_example_sends_the_email_when_the_contact_is_created(
    client: FiscusClient, api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = guide_chained()

    response = client.execute(tasks=tasks)

    if response.success:
        print("Workflow completed successfully!")  # noqa: T201  (the guide prints)
    else:
        print(f"Error: {response.error_message}")  # noqa: T201  (the guide prints)
    assert capsys.readouterr().out == "Workflow completed successfully!\n"
    assert api.paths() == [CONTACTS, MESSAGES]
    assert [m["subject"] for m in api.outbox] == ["Welcome, John!"]
    assert response.context["create_contact"] is True  # what custom_logic returned
    assert [r.skipped for r in response.results or []] == [False, False]


def test_guide_chained_example_skips_the_email_when_the_contact_fails(
    client: FiscusClient, api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.contacts["c1"] = Contact(id="c1", name="John Doe", email="john@example.com")
    tasks = guide_chained()

    response = client.execute(tasks=tasks)

    if response.success:
        print("Workflow completed successfully!")  # noqa: T201  (the guide prints)
    else:
        print(f"Error: {response.error_message}")  # noqa: T201  (the guide prints)
    out = capsys.readouterr().out
    assert out.startswith(
        "Error: Task 0 ('create_contact') failed: HTTPStatusError 409 in "
        "CRMSystem.create_contact: HTTP 409 Conflict from operation 'create_contact'"
    )
    assert "409 Conflict" in out
    assert api.paths() == [CONTACTS]  # a 4xx is not retried; no email
    assert api.outbox == []
    contact, mail = response.results or []
    assert not contact.success
    assert contact.error_code is FiscusErrorCode.INVALID_REQUEST
    assert (mail.success, mail.skipped, mail.result) == (True, True, {})
    assert response.context == {"create_contact": False}
    assert response.result == [None, {}]


def test_the_chained_email_starts_only_after_the_contact_ended(
    client: FiscusClient,
) -> None:
    response = client.execute(tasks=guide_chained())

    assert response.run is not None
    contact, mail = response.run["create_contact"], response.run["send_email"]
    assert contact.ended_at is not None
    assert mail.started_at is not None
    assert contact.ended_at <= mail.started_at


# ---------------------------------------------------------------- retries


def test_a_failing_first_task_is_retried_with_backoff(
    api: FakeApi, runner: Runner, fake_sleep: FakeSleep
) -> None:
    api.failures = 2
    client = FiscusClient(
        connectors=connectors(api), retries=3, backoff_factor=0.5, runner=runner
    )

    response = client.execute(tasks=guide_chained())

    assert response.success, response.error_message
    assert api.paths() == [CONTACTS, CONTACTS, CONTACTS, MESSAGES]
    assert fake_sleep.delays == [0.5, 1.0]
    assert response.run is not None
    assert response.run["create_contact"].attempts == 3


def test_a_first_task_that_keeps_failing_is_tried_retries_plus_one_times(
    api: FakeApi, runner: Runner, fake_sleep: FakeSleep
) -> None:
    api.failures = 100
    client = FiscusClient(
        connectors=connectors(api), retries=2, backoff_factor=0.25, runner=runner
    )

    response = client.execute(tasks=guide_chained())

    assert not response.success
    assert api.count(CONTACTS) == 3
    assert api.count(MESSAGES) == 0  # the condition was false: the email skipped
    assert fake_sleep.delays == [0.25, 0.5]
    assert response.error_code is FiscusErrorCode.INTERNAL_ERROR
    assert isinstance(response.error, HTTPStatusError)
    assert response.error.status_code == 503
    assert response.results is not None
    assert response.results[1].skipped


def test_retries_zero_tries_once(
    api: FakeApi, runner: Runner, fake_sleep: FakeSleep
) -> None:
    api.failures = 1
    client = FiscusClient(connectors=connectors(api), retries=0, runner=runner)

    response = client.execute("CRMSystem", "create_contact", JOHN)

    assert not response.success
    assert api.count(CONTACTS) == 1
    assert fake_sleep.delays == []


def test_the_default_is_three_retries_from_half_a_second(
    api: FakeApi, runner: Runner, fake_sleep: FakeSleep
) -> None:
    api.failures = 100
    client = FiscusClient(connectors=connectors(api), runner=runner)

    client.execute("CRMSystem", "create_contact", JOHN)

    assert api.count(CONTACTS) == 4
    assert fake_sleep.delays == [0.5, 1.0, 2.0]


def test_a_client_error_is_not_retried(
    client: FiscusClient, api: FakeApi, fake_sleep: FakeSleep
) -> None:
    response = client.execute(
        "CRMSystem", "create_contact", {"name": "Jo", "email": "no-at-sign"}
    )

    assert not response.success
    assert api.count(CONTACTS) == 1
    assert fake_sleep.delays == []
    assert response.error_code is FiscusErrorCode.INVALID_REQUEST


@pytest.mark.parametrize(
    ("retries", "backoff_factor"), [(-1, 0.5), (3, -0.1)], ids=["retries", "backoff"]
)
def test_client_refuses_negative_retries_or_backoff(
    retries: int, backoff_factor: float
) -> None:
    with pytest.raises(ConfigurationError, match=r"takes numbers of 0 or more") as info:
        FiscusClient(retries=retries, backoff_factor=backoff_factor)

    assert info.value.option == ("retries" if retries < 0 else "backoff_factor")


@pytest.mark.parametrize(
    ("options", "option", "match"),
    [
        ({"retries": "3"}, "retries", r"got retries='3'; pass an int, e\.g\. "),
        ({"backoff_factor": "1s"}, "backoff_factor", r"got backoff_factor='1s'; "),
    ],
)
def test_client_refuses_options_of_the_wrong_type(
    options: dict[str, Any], option: str, match: str
) -> None:
    with pytest.raises(OptionTypeError, match=r"^FiscusClient " + match) as info:
        FiscusClient(**options)

    assert info.value.option == option


def test_an_operation_keeps_its_own_timeout(runner: Runner) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json={})  # pragma: no cover  (never reached)

    slow_api = Connector(
        "Slow", "https://slow.example.test", transport=httpx.MockTransport(slow)
    )

    @slow_api.operation("GET /report", timeout=0.01)
    def report() -> dict[str, str]:
        """Fetch a report that takes too long."""
        raise NotImplementedError

    client = FiscusClient(connectors=[slow_api], retries=0, runner=runner)

    response = client.execute("Slow", "report")

    assert not response.success
    assert isinstance(response.error, TaskTimeoutError)
    assert response.error.timeout == 0.01


# ---------------------------------------------------------------- the forms


def test_the_single_operation_form_takes_positional_arguments(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute("Gmail", "send_email", email(subject="Hello"))

    assert response.success
    assert response.result == {
        "id": "m1",
        "to": "john@example.com",
        "subject": "Hello",
        "body": "Glad to have you on board.",
    }
    assert response.get_field("subject") == "Hello"
    assert [r.operation for r in response.results or []] == ["send_email"]
    assert response.context == {"send_email": response.result}
    assert api.paths() == [MESSAGES]


def test_the_single_operation_form_reports_a_failure(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(
        connector_name="CRMSystem",
        operation="get_contact",
        params={"contact_id": "c404"},
    )

    assert not response.success
    assert response.result is None
    assert response.error_code is FiscusErrorCode.NOT_FOUND
    assert response.error_message is not None
    assert response.error_message.startswith(
        "Task 0 ('get_contact') failed: HTTPStatusError 404 in "
        "CRMSystem.get_contact: HTTP 404 Not Found from operation 'get_contact'"
    )
    assert "404 Not Found" in response.error_message


def test_the_single_operation_form_defaults_params_to_none(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute("CRMSystem", "list_contacts")

    assert response.success
    assert response.result == []
    assert api.paths() == ["GET /v1/contacts"]


@pytest.mark.parametrize(
    "arguments",
    [{}, {"connector_name": "Gmail"}, {"operation": "send_email"}],
    ids=["nothing", "connector only", "operation only"],
)
def test_execute_needs_tasks_or_a_connector_and_an_operation(
    client: FiscusClient, api: FakeApi, arguments: dict[str, Any]
) -> None:
    with pytest.raises(
        TaskDefinitionError,
        match=r"^Pass tasks=\[\.\.\.\], or both connector_name and operation",
    ):
        client.execute(**arguments)

    assert api.requests == []


async def test_execute_async_runs_the_guide_chained_example(
    client: FiscusClient, api: FakeApi
) -> None:
    response = await client.execute_async(tasks=guide_chained())

    assert response.success
    assert api.paths() == [CONTACTS, MESSAGES]


async def test_execute_async_runs_one_operation(
    client: FiscusClient, api: FakeApi
) -> None:
    response = await client.execute_async("CRMSystem", "create_contact", JOHN)

    assert response.success
    assert response.result == Contact(id="c1", **JOHN)


async def test_execute_async_needs_tasks_or_an_operation(client: FiscusClient) -> None:
    with pytest.raises(TaskDefinitionError, match=r"^Pass tasks=") as info:
        await client.execute_async()

    assert (info.value.index, info.value.field) == (None, "tasks")


async def test_execute_works_inside_a_running_event_loop(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(tasks=guide_multiple_tasks())

    assert response.success
    assert sorted(api.paths()) == [CONTACTS, MESSAGES]


def test_the_client_uses_the_default_runner_unless_given_one(
    api: FakeApi, runner: Runner, fake_sleep: FakeSleep
) -> None:
    api.failures = 1
    client = FiscusClient(connectors=connectors(api), retries=1)
    previous = set_default_runner(runner)
    try:
        response = client.execute("CRMSystem", "create_contact", JOHN)
    finally:
        set_default_runner(previous)

    assert response.success
    assert fake_sleep.delays == [0.5]


def test_an_empty_task_list_succeeds_with_no_results(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(tasks=[])

    assert response.success
    assert (response.result, response.results, response.context) == ([], [], {})
    assert api.requests == []


# ---------------------------------------------------------------- failure and skips


def test_a_failure_does_not_stop_the_tasks_that_do_not_need_it(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(
        tasks=[
            task("create_contact", params={"name": "Jo", "email": "no-at-sign"}),
            task("send_email", params=email()),
        ]
    )

    assert not response.success
    assert [r.success for r in response.results or []] == [False, True]
    assert len(api.outbox) == 1
    assert response.error_message is not None
    assert response.error_message.startswith("Task 0 ('create_contact') failed: ")


def test_a_false_condition_skips_the_task_without_calling_it(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(
        tasks=[task("send_email", params=email(), conditions={"if": lambda ctx: 0})]
    )

    assert response.success  # a skipped task does not count against it
    assert api.requests == []
    (skipped,) = response.results or []
    assert (skipped.success, skipped.skipped, skipped.result) == (True, True, {})
    assert skipped.error_message == (
        "Task 0 ('send_email') was skipped: its guard is false: "
        "conditions_of_send_email()"
    )
    assert response.context == {}


def test_a_condition_that_raises_skips_the_task_and_records_the_error(
    client: FiscusClient, api: FakeApi
) -> None:
    errors: list[dict[str, object]] = []

    response = client.execute(
        tasks=[
            task("create_contact", params=JOHN),
            task(
                "send_email",
                params=email(),
                conditions={"if": lambda ctx: ctx["no_such_task"]},
            ),
        ],
        callbacks={"fiscus_on_error": errors.append},
    )

    assert response.success
    assert api.paths() == [CONTACTS]
    skipped = (response.results or [])[1]
    assert skipped.skipped
    assert skipped.error_message == (
        "Task 1 ('send_email') was skipped: its condition raised KeyError: "
        "'no_such_task'"
    )
    assert [info["message"] for info in errors] == [skipped.error_message]
    assert errors[0]["response"] is skipped


def test_a_condition_sees_failed_tasks_only_through_custom_logic(
    client: FiscusClient, api: FakeApi
) -> None:
    seen: list[dict[str, object]] = []

    def record(ctx: dict[str, object]) -> bool:
        seen.append(dict(ctx))
        return True

    client.execute(
        tasks=[
            task("create_contact", params={"name": "Jo", "email": "bad"}),
            task(
                "create_contact",
                id="flagged",
                params={"name": "Ann", "email": "also-bad"},
                custom_logic=lambda response: response.error_code,
            ),
            task("send_email", params=email(), conditions={"if": record}),
        ]
    )

    # Two tasks run create_contact: only the id names one of them.
    assert seen == [{"flagged": FiscusErrorCode.INVALID_REQUEST}]
    assert len(api.outbox) == 1


def test_custom_logic_gets_the_task_response_and_sets_the_context(
    client: FiscusClient,
) -> None:
    got: list[FiscusResponse] = []

    def logic(response: FiscusResponse) -> object:
        got.append(response)
        return response.get_field("id")

    response = client.execute(
        tasks=[task("create_contact", id="john", params=JOHN, custom_logic=logic)]
    )

    assert response.context == {"create_contact": "c1", "john": "c1"}
    assert [(r.operation, r.task_id, r.success) for r in got] == [
        ("create_contact", "john", True)
    ]


def test_custom_logic_runs_once_per_task(client: FiscusClient) -> None:
    calls: list[str] = []

    def logic(response: FiscusResponse) -> bool:
        calls.append(str(response.task_id))
        return response.success

    client.execute(
        tasks=[
            task("create_contact", params=JOHN, custom_logic=logic),
            task("send_email", params=email(), conditions={"if": bool}),
            task("send_email", params=email(), conditions={"if": bool}),
        ]
    )

    assert calls == ["create_contact"]


# ---------------------------------------------------------------- data passing


def test_params_take_earlier_results_from_templates(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(
        tasks=[
            task("create_contact", params=JOHN),
            task("get_contact", params={"contact_id": "{{create_contact.id}}"}),
            task(
                "send_email",
                params={
                    "to": "{{ get_contact.email }}",
                    "subject": "Welcome, {{create_contact.name}} ({{get_contact.id}})!",
                    "body": "Glad to have you on board.",
                },
            ),
        ]
    )

    assert response.success, response.error_message
    assert api.paths() == [CONTACTS, "GET /v1/contacts/c1", MESSAGES]
    assert api.outbox[0]["to"] == "john@example.com"
    assert api.outbox[0]["subject"] == "Welcome, John Doe (c1)!"


def test_a_template_walks_lists_and_keys(client: FiscusClient, api: FakeApi) -> None:
    response = client.execute(
        tasks=[
            task("create_contact", params=JOHN),
            task("list_contacts", depends_on="create_contact"),
            task(
                "send_email",
                id="welcome",
                params=email(to="{{list_contacts[0].email}}"),
            ),
            task(
                "send_email",
                params=email(to="ops@example.com", subject="sent {{welcome.id}}"),
            ),
        ]
    )

    assert response.success, response.error_message
    assert [m["to"] for m in api.outbox] == ["john@example.com", "ops@example.com"]
    assert api.outbox[1]["subject"] == "sent m1"


def test_templates_inside_nested_params_are_filled() -> None:
    seen: list[dict[str, object]] = []

    async def echo(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"id": "n1", "tags": ["a", "b"]})

    notes = Connector(
        "Notes", "https://notes.example.test", transport=httpx.MockTransport(echo)
    )

    @notes.operation("POST /notes")
    def add_note(
        text: str, meta: dict[str, object], tags: list[str]
    ) -> dict[str, object]:
        """Add a note."""
        raise NotImplementedError

    client = FiscusClient(connectors=[notes], retries=0)

    response = client.execute(
        tasks=[
            {
                "connector": "Notes",
                "operation": "add_note",
                "params": {"text": "first", "meta": {}, "tags": []},
            },
            {
                "connector": "Notes",
                "operation": "add_note",
                "params": {
                    "text": "after {{add_note.id}}",
                    "meta": {"parent": "{{add_note.id}}", "n": [1, "{{add_note.id}}"]},
                    "tags": ("{{add_note.tags[1]}}", "tag {{add_note.tags[0]}}"),
                },
            },
        ]
    )

    assert response.success, response.error_message
    assert seen[1] == {
        "text": "after n1",
        "meta": {"parent": "n1", "n": [1, "n1"]},
        "tags": ["b", "tag a"],
    }


def test_params_may_be_a_function_of_the_context(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(
        tasks=[
            task("create_contact", params=JOHN),
            task(
                "send_email",
                params=lambda ctx: email(
                    to=ctx["create_contact"].email,
                    subject=f"Welcome, {ctx['create_contact'].name}!",
                ),
            ),
        ]
    )

    assert response.success, response.error_message
    assert api.paths() == [CONTACTS, MESSAGES]
    assert api.outbox[0]["subject"] == "Welcome, John Doe!"


def test_a_param_value_may_be_a_function_of_the_context(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(
        tasks=[
            task("create_contact", params=JOHN, custom_logic=lambda r: r.result),
            task(
                "send_email",
                params={
                    "to": lambda ctx: ctx["create_contact"].email,
                    "subject": "Hi",
                    "body": "...",
                },
            ),
        ]
    )

    assert response.success, response.error_message
    assert api.paths() == [CONTACTS, MESSAGES]
    assert api.outbox[0]["to"] == "john@example.com"


def test_params_of_a_function_that_returns_no_dict_fail_the_task(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(tasks=[task("send_email", params=lambda ctx: ["x"])])

    assert not response.success
    assert isinstance(response.error, TaskDefinitionError)
    assert (response.error.index, response.error.field) == (0, "params")
    assert response.error_message is not None
    assert "params(ctx) returned list, not a dict" in response.error_message
    assert api.requests == []


def test_a_template_of_a_failed_task_skips_the_task(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(
        tasks=[
            task("create_contact", params={"name": "Jo", "email": "bad"}),
            task("send_email", params=email(subject="{{create_contact.id}}")),
        ]
    )

    assert not response.success
    assert api.paths() == [CONTACTS]
    mail = (response.results or [])[1]
    assert (mail.success, mail.skipped) == (True, True)
    assert response.run is not None
    assert response.run["send_email"].status is TaskStatus.SKIPPED


def test_a_template_that_finds_nothing_fails_the_task(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(
        tasks=[
            task("create_contact", params=JOHN),
            task("send_email", params=email(subject="{{create_contact.phone}}")),
        ]
    )

    assert not response.success
    assert isinstance(response.error, TaskDefinitionError)
    assert (response.error.index, response.error.field) == (1, "params")
    assert response.error_message is not None
    assert (
        "{{create_contact.phone}} found nothing at 'phone' in the result of "
        "'create_contact'" in response.error_message
    )
    assert api.paths() == [CONTACTS]


@pytest.mark.parametrize(
    "template", ["{{list_contacts.first}}", "{{list_contacts[3]}}"]
)
def test_a_template_that_misses_in_a_list_fails_the_task(
    client: FiscusClient, api: FakeApi, template: str
) -> None:
    response = client.execute(
        tasks=[
            task("list_contacts"),
            task("send_email", params=email(subject=template)),
        ]
    )

    assert isinstance(response.error, TaskDefinitionError)
    assert api.paths() == ["GET /v1/contacts"]


def test_params_that_do_not_fit_the_operation_are_refused_before_sending(
    client: FiscusClient, api: FakeApi
) -> None:
    with pytest.raises(
        TaskDefinitionError,
        match=r"^Task 1 \(Gmail\.send_email\): field 'params' does not fit: unknown ",
    ) as info:
        client.execute(
            tasks=[
                task("create_contact", params=JOHN),
                task("send_email", params={"to": "x@example.com", "cc": "y"}),
            ]
        )

    assert (info.value.index, info.value.field) == (1, "params")
    assert info.value.code is FiscusErrorCode.INVALID_REQUEST
    assert "give exactly the parameters of send_email(" in str(info.value)
    assert api.requests == []  # not even the first, well-formed task
    assert "fit: unknown keyword 'cc'; missing 'subject', 'body';" in str(info.value)


def test_params_made_by_a_function_that_do_not_fit_fail_the_task_unsent(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(
        tasks=[task("send_email", params=lambda context: {"to": "x", "subjct": "y"})]
    )

    assert isinstance(response.error, TaskDefinitionError)
    assert response.error_message is not None
    assert (
        "fit: unknown keyword 'subjct' (did you mean 'subject'?); missing 'subject', "
        "'body';" in response.error_message
    )
    assert api.requests == []


def test_a_param_of_the_wrong_type_is_refused_before_any_task_is_sent(
    client: FiscusClient, api: FakeApi
) -> None:
    with pytest.raises(TaskDefinitionError) as info:
        client.execute(
            tasks=[
                task("create_contact", params=JOHN),
                task("get_contact", params={"contact_id": "c1"}),
                task("create_contact", params={"name": ["sk_secretish"], "email": "e"}),
            ]
        )

    error = info.value
    assert str(error).startswith(
        "Task 2 (CRMSystem.create_contact): field 'params.name' has the wrong type "
        "('name': Input should be a valid string); nothing was sent. Give values of "
        "the types of create_contact("
    )
    assert (error.index, error.field) == (2, "params.name")
    assert error.code is FiscusErrorCode.INVALID_REQUEST
    assert isinstance(error.__cause__, ArgumentValidationError)
    assert "sk_secretish" not in str(error)
    assert api.requests == []  # not even the two well-formed tasks before it


def test_a_param_filled_by_a_template_is_checked_when_filled(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(
        tasks=[
            task("list_contacts"),
            task("create_contact", params={"name": "{{list_contacts}}", "email": "e"}),
        ]
    )

    assert isinstance(response.error, ArgumentValidationError)
    assert response.error_code is FiscusErrorCode.INVALID_REQUEST
    assert api.paths() == ["GET /v1/contacts"]


# ---------------------------------------------------------------- ids and ordering


def test_ids_name_tasks_of_the_same_operation(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(
        tasks=[
            task("create_contact", id="john", params=JOHN),
            task("create_contact", id="jane", params={"name": "Jane", "email": "j@x"}),
            task(
                "send_email", params=email(to="{{jane.email}}", subject="{{john.id}}")
            ),
        ]
    )

    assert response.success, response.error_message
    assert [r.task_id for r in response.results or []] == ["john", "jane", "send_email"]
    assert api.outbox[0]["to"] == "j@x"
    assert api.outbox[0]["subject"] == "c1"
    # Two tasks run create_contact, so that name is no key: their ids are.
    assert set(response.context) == {"john", "jane", "send_email"}


def test_tasks_without_ids_get_numbered_task_ids(client: FiscusClient) -> None:
    response = client.execute(tasks=[task("send_email", params=email())] * 3)

    assert [r.task_id for r in response.results or []] == [
        "send_email",
        "send_email#2",
        "send_email#3",
    ]
    assert response.run is not None
    assert set(response.run.tasks) == {"send_email", "send_email#2", "send_email#3"}


def test_depends_on_orders_tasks_that_share_no_data(runner: Runner) -> None:
    gate = Rendezvous(2, timeout=0.05)
    api = FakeApi(gate=gate)
    client = FiscusClient(connectors=connectors(api), retries=0, runner=runner)

    response = client.execute(
        tasks=[
            task("send_email", id="first", params=email(subject="1")),
            task("send_email", params=email(subject="2"), depends_on=["first"]),
        ]
    )

    # Run one after the other, the first request waited for a second in vain.
    assert gate.arrived == [MESSAGES, MESSAGES]
    assert [r.success for r in response.results or []] == [False, True]


def test_tasks_without_conditions_or_references_run_at_the_same_time(
    runner: Runner,
) -> None:
    gate = Rendezvous(3)
    api = FakeApi(gate=gate)
    client = FiscusClient(connectors=connectors(api), retries=0, runner=runner)

    response = client.execute(
        tasks=[
            task("send_email", params=email(subject="1")),
            task("create_contact", params=JOHN),
            task("send_email", params=email(subject="3")),
        ]
    )

    assert response.success, response.error_message
    assert len(gate.arrived) == 3


# ---------------------------------------------------------------- definition errors


@pytest.mark.parametrize(
    ("tasks", "index", "field", "message"),
    [
        (
            [
                task("send_email", params=email()),
                {"connector": "Slack", "operation": "x"},
            ],
            1,
            "connector",
            r"^Task 1: field 'connector' names 'Slack', which is not among the "
            r"client's connectors \['CRMSystem', 'Gmail'\]$",
        ),
        (
            [{"connector": "Gmail", "operation": "delete_everything"}],
            0,
            "operation",
            r"^Task 0: field 'operation' names 'delete_everything', which connector "
            r"'Gmail' does not have; it has \['send_email'\]$",
        ),
    ],
    ids=["connector", "operation"],
)
def test_an_unknown_connector_or_operation_raises_and_sends_nothing(
    client: FiscusClient,
    api: FakeApi,
    tasks: list[dict[str, object]],
    index: int,
    field: str,
    message: str,
) -> None:
    with pytest.raises(TaskDefinitionError, match=message) as caught:
        client.execute(tasks=tasks)

    assert (caught.value.index, caught.value.field) == (index, field)
    assert caught.value.code is FiscusErrorCode.INVALID_REQUEST
    assert api.requests == []


def test_an_unknown_operation_in_the_single_form_raises(
    client: FiscusClient, api: FakeApi
) -> None:
    with pytest.raises(TaskDefinitionError, match=r"'send_sms'") as caught:
        client.execute("Gmail", "send_sms", {"to": "x"})

    assert (caught.value.index, caught.value.field) == (0, "operation")
    assert api.requests == []


def test_a_malformed_task_raises_before_anything_is_sent(
    client: FiscusClient, api: FakeApi
) -> None:
    with pytest.raises(TaskDefinitionError, match=r"^Task 1: field 'param'") as caught:
        client.execute(
            tasks=[task("create_contact", params=JOHN), task("send_email", param={})]
        )

    assert (caught.value.index, caught.value.field) == (1, "param")
    assert api.requests == []


def test_connector_names_may_repeat_and_the_first_with_the_operation_wins(
    api: FakeApi, runner: Runner
) -> None:
    crm, gmail = connectors(api)
    other = Connector("CRMSystem", "https://other-crm.example.test")

    @other.operation("POST /tickets")
    def open_ticket(title: str) -> dict[str, str]:
        """Open a ticket."""
        raise NotImplementedError

    client = FiscusClient(connectors=[other, crm, gmail], runner=runner)

    response = client.execute("CRMSystem", "create_contact", JOHN)

    assert response.success
    assert api.paths() == [CONTACTS]
    with pytest.raises(TaskDefinitionError, match=r"it has \['create_contact', "):
        client.execute("CRMSystem", "close_ticket")


# ---------------------------------------------------------------- callbacks


class Recorder:
    """A callback that records what it was called with, under a label."""

    def __init__(self, label: str, log: list[tuple[str, dict[str, object]]]) -> None:
        self.label = label
        self.log = log

    def __call__(self, info: dict[str, object]) -> None:
        self.log.append((self.label, info))


def test_client_callbacks_see_each_task_succeed(api: FakeApi, runner: Runner) -> None:
    log: list[tuple[str, dict[str, object]]] = []
    client = FiscusClient(
        connectors=connectors(api),
        runner=runner,
        callbacks={"fiscus_on_success": Recorder("success", log)},
    )

    response = client.execute(tasks=guide_chained())

    assert [label for label, _ in log] == ["success", "success"]
    first, second = (info for _, info in log)
    assert set(first) == {"message", "response", "task"}
    assert first["message"] == "CRMSystem.create_contact succeeded"
    assert second["message"] == "Gmail.send_email succeeded"
    assert first["task"] == guide_chained()[0] | {"custom_logic": ANY_CALLABLE}
    contact = first["response"]
    assert isinstance(contact, FiscusResponse)
    assert (contact.success, contact.operation, contact.task_id) == (
        True,
        "create_contact",
        "create_contact",
    )
    assert contact.result == (response.results or [])[0].result


class _AnyCallable:
    def __eq__(self, other: object) -> bool:
        return callable(other)

    __hash__ = None  # type: ignore[assignment]  # compared, never hashed


ANY_CALLABLE: Any = _AnyCallable()


def test_on_log_is_called_before_and_after_each_task(
    api: FakeApi, runner: Runner
) -> None:
    log: list[tuple[str, dict[str, object]]] = []
    client = FiscusClient(
        connectors=connectors(api),
        runner=runner,
        callbacks={"fiscus_on_log": Recorder("log", log)},
    )

    client.execute("Gmail", "send_email", email())

    assert [info["message"] for _, info in log] == [
        "Executing Gmail.send_email",
        "Gmail.send_email succeeded",
    ]
    assert log[0][1]["response"] is None
    assert isinstance(log[1][1]["response"], FiscusResponse)


def test_on_error_is_called_for_each_failed_task(api: FakeApi, runner: Runner) -> None:
    log: list[tuple[str, dict[str, object]]] = []
    client = FiscusClient(
        connectors=connectors(api),
        runner=runner,
        callbacks={
            "fiscus_on_error": Recorder("error", log),
            "fiscus_on_success": Recorder("success", log),
        },
    )

    response = client.execute(
        tasks=[
            task("create_contact", params={"name": "Jo", "email": "bad"}),
            task("send_email", params=email()),
            task("get_contact", params={"contact_id": "nobody"}),
        ]
    )

    assert [label for label, _ in log] == ["success", "error", "error"]
    errors = [info for label, info in log if label == "error"]
    assert [info["response"] for info in errors] == [
        (response.results or [])[0],
        (response.results or [])[2],
    ]
    assert errors[0]["message"] == response.error_message
    assert errors[1]["task"] == task("get_contact", params={"contact_id": "nobody"})


def test_task_callbacks_override_call_callbacks_override_client_callbacks(
    api: FakeApi, runner: Runner
) -> None:
    log: list[tuple[str, dict[str, object]]] = []
    client = FiscusClient(
        connectors=connectors(api),
        runner=runner,
        callbacks={
            "fiscus_on_success": Recorder("client", log),
            "fiscus_on_error": Recorder("client error", log),
        },
    )
    tasks = [
        task("send_email", id="a", params=email(subject="a")),
        task(
            "send_email",
            id="b",
            params=email(subject="b"),
            callbacks={"fiscus_on_success": Recorder("task", log)},
        ),
    ]

    client.execute(tasks=tasks)
    client.execute(tasks=tasks, callbacks={"fiscus_on_success": Recorder("call", log)})
    client.execute(
        "CRMSystem",
        "create_contact",
        {"name": "Jo", "email": "bad"},
        {"fiscus_on_error": Recorder("call error", log)},
    )

    called = [(label, info["response"].task_id) for label, info in log]  # type: ignore[attr-defined]  # a FiscusResponse
    assert sorted(called[:2]) == [("client", "a"), ("task", "b")]
    assert sorted(called[2:4]) == [("call", "a"), ("task", "b")]
    assert called[4:] == [("call error", "create_contact")]


async def test_async_callbacks_are_awaited(api: FakeApi, runner: Runner) -> None:
    log: list[str] = []

    async def on_log(info: dict[str, object]) -> None:
        await asyncio.sleep(0)
        log.append(f"log: {info['message']}")

    async def on_success(info: dict[str, object]) -> None:
        await asyncio.sleep(0)
        log.append(f"success: {info['message']}")

    async def on_error(info: dict[str, object]) -> None:
        await asyncio.sleep(0)
        log.append("error")

    client = FiscusClient(
        connectors=connectors(api),
        runner=runner,
        callbacks={"fiscus_on_log": on_log, "fiscus_on_error": on_error},
    )

    await client.execute_async(
        tasks=[
            task(
                "send_email",
                params=email(),
                callbacks={"fiscus_on_success": on_success},
            ),
            task("create_contact", params={"name": "Jo", "email": "bad"}),
        ]
    )

    assert sorted(log) == [
        "error",
        "log: Executing CRMSystem.create_contact",
        "log: Executing Gmail.send_email",
        "log: Gmail.send_email succeeded",
        "success: Gmail.send_email succeeded",
    ]
    assert log.index("log: Gmail.send_email succeeded") < log.index(
        "success: Gmail.send_email succeeded"
    )


@pytest.mark.parametrize(
    ("callbacks", "message"),
    [
        ({"fiscus_on_retry": print}, r"has 'fiscus_on_retry'; the callbacks are"),
        ({"fiscus_on_success": "print"}, r"'fiscus_on_success' must be a function"),
        (["fiscus_on_success"], r"must be a dict of \['fiscus_on_success', "),
    ],
    ids=["unknown name", "not callable", "not a dict"],
)
def test_bad_callbacks_are_refused_at_every_level(
    api: FakeApi, callbacks: object, message: str
) -> None:
    with pytest.raises(TaskDefinitionError, match=r"^The call: field 'callbacks' "):
        FiscusClient(connectors=connectors(api), callbacks=callbacks)  # type: ignore[arg-type]  # the point of the test
    client = FiscusClient(connectors=connectors(api))
    with pytest.raises(TaskDefinitionError, match=message):
        client.execute("Gmail", "send_email", email(), callbacks)  # type: ignore[arg-type]  # the point of the test
    with pytest.raises(TaskDefinitionError, match=r"^Task 0: field 'callbacks' "):
        client.execute(tasks=[task("send_email", params=email(), callbacks=callbacks)])
    assert api.requests == []


# ---------------------------------------------------------------- secrets


def test_error_messages_never_hold_a_secret_the_api_echoes(runner: Runner) -> None:
    api = FakeApi(echo_auth=True, failures=100, failure_status=401)
    client = FiscusClient(connectors=connectors(api), retries=0, runner=runner)

    response = client.execute(tasks=guide_multiple_tasks())

    assert not response.success
    assert response.error_code is FiscusErrorCode.AUTH_FAILURE
    sent = {r.headers["Authorization"] for r in api.requests}
    assert sent == {f"Bearer {CRM_TOKEN}", f"Bearer {GMAIL_TOKEN}"}  # they were sent
    assert response.error_message is not None
    assert "Bearer **********" in response.error_message
    shown = [
        response.error_message,
        response.to_json(),
        repr(response),
        *(r.error_message or "" for r in response.results or []),
    ]
    for text in shown:
        assert CRM_TOKEN not in text
        assert GMAIL_TOKEN not in text


def test_a_hand_written_task_error_is_scrubbed_too(runner: Runner) -> None:
    api = FakeApi(echo_auth=True)
    crm, _ = connectors(api)

    @crm.task
    async def whoami(client: httpx.AsyncClient) -> dict[str, object]:
        answer = await client.get("/whoami")
        msg = f"{answer.status_code}: {answer.text}"
        raise RuntimeError(msg)

    client = FiscusClient(connectors=[crm], retries=0, runner=runner)

    response = client.execute("CRMSystem", "whoami")

    assert api.requests[0].headers["Authorization"] == f"Bearer {CRM_TOKEN}"
    assert response.error_message is not None
    assert response.error_message.startswith(
        "Task 0 ('whoami') failed: RuntimeError in CRMSystem.whoami: 404: "
    )
    assert CRM_TOKEN not in response.error_message
    assert CRM_URL in str(api.requests[0].url)


# ---------------------------------------------------------------- user code that raises


def test_a_custom_logic_that_raises_marks_its_task_and_keeps_the_response(
    client: FiscusClient, api: FakeApi
) -> None:
    def broken(response: FiscusResponse) -> object:
        raise KeyError("flag")

    response = client.execute(
        tasks=[
            task("create_contact", params=JOHN, custom_logic=broken),
            task("send_email", params=email()),
        ]
    )

    assert not response.success
    created, sent = response.results or []
    assert created.success is False
    assert isinstance(created.error, KeyError)
    assert created.error_message == (
        "Task 0 ('create_contact'): its custom_logic raised KeyError: 'flag'"
    )
    assert created.result is not None  # the API answered; the data is kept
    assert sent.success
    assert "create_contact" not in response.context
    assert len(api.requests) == 2


def test_a_callback_that_raises_warns_and_changes_nothing(
    client: FiscusClient, api: FakeApi
) -> None:
    def noisy(info: dict[str, object]) -> None:
        raise RuntimeError("log sink down")

    with pytest.warns(FiscusWarning, match=r"Callback .*noisy raised RuntimeError"):
        response = client.execute(
            tasks=[task("create_contact", params=JOHN)],
            callbacks={"fiscus_on_log": noisy, "fiscus_on_success": noisy},
        )

    assert response.success
    assert len(api.requests) == 1
