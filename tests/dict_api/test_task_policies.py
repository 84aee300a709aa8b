"""Per-task policies of a dict task: retries, timeout, on_error, and who wins.

A task's own setting wins, then the operation's declared one, then the
client's; the client's ``retries`` never override an operation's declared
``Retry``. ``on_error`` is ``"continue"`` (report, run the rest),
``"fail"`` (the failure stops the call) or ``"skip"`` (the failure is
reported as a skip). Bad values are refused before anything is sent.
Requests are counted on the fake CRM and mail API of ``fake_api``.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from fiscus_dsl import (
    Connector,
    FiscusClient,
    FiscusErrorCode,
    HTTPStatusError,
    Retry,
    Runner,
    TaskDefinitionError,
    TaskStatus,
    TaskTimeoutError,
    load_tasks_text,
)
from fiscus_dsl._dict_api.compile import Execution, resolve_operations
from fiscus_dsl._dict_api.spec import read_tasks
from fiscus_dsl._graph.model import TaskNode

from .fake_api import CRM_URL, Contact, FakeApi, connectors, task

if TYPE_CHECKING:
    from fiscus_dsl.testing import FakeSleep

CONTACTS = "POST /v1/contacts"
MESSAGES = "POST /v1/messages"
JOHN = {"name": "John Doe", "email": "john@example.com"}
BAD_EMAIL = {"name": "Jo", "email": "no-at-sign"}  # the fake CRM answers 422
MAIL = {"to": "ops@example.com", "subject": "Hi", "body": "Hello"}


def careful_crm(api: FakeApi, *, retry: Retry | None) -> Connector:
    """Return a CRM whose create_contact declares its own retry policy."""
    crm = Connector("CRMSystem", CRM_URL, transport=httpx.MockTransport(api))

    @crm.operation("POST /contacts", retry=retry)
    def create_contact(name: str, email: str) -> Contact:
        """Create a contact; the operation says how often it may be sent."""
        raise NotImplementedError

    return crm


# ---------------------------------------------------------------- retries


@pytest.mark.parametrize(
    "client_options",
    [{}, {"retries": 5}, {"retries": 0}],
    ids=["client default", "client retries=5", "client retries=0"],
)
def test_a_post_the_operation_allows_twice_is_sent_twice(
    runner: Runner, fake_sleep: FakeSleep, client_options: dict[str, Any]
) -> None:
    api = FakeApi(failures=100)  # 503 every time: retried while allowed
    allowed = Retry(attempts=2, backoff=0.25, jitter=False)
    client = FiscusClient(
        connectors=[careful_crm(api, retry=allowed)], runner=runner, **client_options
    )

    response = client.execute("CRMSystem", "create_contact", JOHN)

    assert not response.success
    assert api.count(CONTACTS) == 2
    assert fake_sleep.delays == [0.25]  # the operation's backoff, not the client's
    assert response.run is not None
    assert response.run["create_contact"].attempts == 2


def test_an_operation_declaring_no_retry_is_sent_once(
    runner: Runner, fake_sleep: FakeSleep
) -> None:
    api = FakeApi(failures=100)
    client = FiscusClient(connectors=[careful_crm(api, retry=None)], runner=runner)

    client.execute("CRMSystem", "create_contact", JOHN)

    assert api.count(CONTACTS) == 1
    assert fake_sleep.delays == []


def test_a_connector_retry_counts_as_the_operations_own(
    runner: Runner, fake_sleep: FakeSleep
) -> None:
    api = FakeApi(failures=100)
    crm = Connector(
        "CRMSystem",
        CRM_URL,
        transport=httpx.MockTransport(api),
        retry=Retry(attempts=2, backoff=0.1, jitter=False),
    )

    @crm.operation("POST /contacts")
    def create_contact(name: str, email: str) -> Contact:
        """Create a contact; the connector says how often."""
        raise NotImplementedError

    client = FiscusClient(connectors=[crm], retries=6, runner=runner)

    client.execute("CRMSystem", "create_contact", JOHN)

    assert api.count(CONTACTS) == 2
    assert fake_sleep.delays == [0.1]


def test_the_client_retries_apply_to_operations_that_declare_none(
    runner: Runner, fake_sleep: FakeSleep
) -> None:
    api = FakeApi(failures=100)
    client = FiscusClient(
        connectors=connectors(api), retries=1, backoff_factor=0.3, runner=runner
    )

    client.execute("CRMSystem", "create_contact", JOHN)

    assert api.count(CONTACTS) == 2
    assert fake_sleep.delays == [0.3]


def test_a_task_retries_win_over_the_operation_and_the_client(
    runner: Runner, fake_sleep: FakeSleep
) -> None:
    api = FakeApi(failures=100)
    allowed = Retry(attempts=2, backoff=0.25, jitter=False)
    client = FiscusClient(
        connectors=[careful_crm(api, retry=allowed)], retries=5, runner=runner
    )

    client.execute(tasks=[task("create_contact", params=JOHN, retries=3)])

    assert api.count(CONTACTS) == 4
    assert fake_sleep.delays == [0.25, 0.5, 1.0]  # the operation's backoff kept


def test_a_task_retries_zero_sends_once(
    api: FakeApi, client: FiscusClient, fake_sleep: FakeSleep
) -> None:
    api.failures = 100

    response = client.execute(tasks=[task("create_contact", params=JOHN, retries=0)])

    assert api.count(CONTACTS) == 1
    assert fake_sleep.delays == []
    assert response.error_code is FiscusErrorCode.INTERNAL_ERROR


def test_a_task_retries_on_an_operation_without_retry_use_the_client_backoff(
    runner: Runner, fake_sleep: FakeSleep
) -> None:
    api = FakeApi(failures=2)
    client = FiscusClient(
        connectors=[careful_crm(api, retry=None)], backoff_factor=0.2, runner=runner
    )

    response = client.execute(tasks=[task("create_contact", params=JOHN, retries=2)])

    assert response.success, response.error_message
    assert api.count(CONTACTS) == 3
    assert fake_sleep.delays == [0.2, 0.4]


# ---------------------------------------------------------------- timeout


def slow_connector() -> Connector:
    """Return a connector whose one operation answers after 5 s, too late."""

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json={})  # pragma: no cover  (never reached)

    reports = Connector(
        "Reports", "https://reports.example.test", transport=httpx.MockTransport(slow)
    )

    @reports.operation("GET /report", timeout=30, retry=None)
    def report() -> dict[str, str]:
        """Fetch a report; the operation allows 30 s."""
        raise NotImplementedError

    return reports


def test_a_task_timeout_wins_over_the_operations(runner: Runner) -> None:
    client = FiscusClient(connectors=[slow_connector()], runner=runner)

    response = client.execute(
        tasks=[{"connector": "Reports", "operation": "report", "timeout": 0.01}]
    )

    assert isinstance(response.error, TaskTimeoutError)
    assert response.error.timeout == 0.01
    assert response.error_code is FiscusErrorCode.TIMEOUT


def test_without_a_task_timeout_the_operation_keeps_its_own() -> None:
    (spec,) = read_tasks([{"connector": "Reports", "operation": "report"}])
    reports = slow_connector()

    graph = Execution(
        [spec], resolve_operations([spec], [reports]), retry=None, callbacks={}
    ).compile()

    (node,) = graph.graph().nodes
    assert isinstance(node, TaskNode)
    assert node.policy.timeout == 30


# ---------------------------------------------------------------- bad values


BAD_POLICIES: list[Any] = [
    ("retries", -1, r"must be a whole number of 0 or more, got -1 \(int\)"),
    ("retries", "3", r"must be a whole number of 0 or more, got '3' \(str\)"),
    ("retries", True, r"got True \(bool\)"),
    ("retries", 1.5, r"got 1\.5 \(float\)"),
    ("timeout", 0, r"must be seconds, a number above 0, got 0 \(int\)"),
    ("timeout", -2.5, r"got -2\.5 \(float\)"),
    ("timeout", "5s", r"got '5s' \(str\); e\.g\. 'timeout': 10"),
    ("timeout", math.inf, r"got inf \(float\)"),
    ("timeout", math.nan, r"got nan \(float\)"),
    ("timeout", False, r"got False \(bool\)"),
    ("timeout", 10**400, r"got 1000"),
    pytest.param(
        "timeout", 10**5000, r"got <too long to show> \(int\)", id="huge timeout"
    ),
    ("on_error", "stop", r"must be one of \['continue', 'fail', 'skip'\], got 'stop'"),
    ("on_error", None, r"must be one of \['continue', 'fail', 'skip'\], got None"),
    ("on_skip", "always", r"must be one of \['skip', 'run'\], got 'always'"),
]


@pytest.mark.parametrize(("field", "value", "problem"), BAD_POLICIES)
def test_a_bad_policy_names_the_task_and_field_and_sends_nothing(
    client: FiscusClient, api: FakeApi, field: str, value: object, problem: str
) -> None:
    tasks = [
        task("create_contact", params=JOHN),
        task("send_email", params=MAIL, **{field: value}),
    ]

    with pytest.raises(
        TaskDefinitionError, match=rf"^Task 1: field '{field}' .*{problem}"
    ) as caught:
        client.execute(tasks=tasks)

    assert (caught.value.index, caught.value.field) == (1, field)
    assert api.requests == []


def test_a_policy_left_out_or_none_is_the_default(client: FiscusClient) -> None:
    specs = read_tasks(
        [
            task("send_email", params=MAIL),
            task("send_email", params=MAIL, retries=None, timeout=None, on_skip="run"),
        ]
    )

    first, second = (spec.policies for spec in specs)
    assert (first.retries, first.timeout, first.on_error, first.on_skip) == (
        None,
        None,
        "continue",
        "skip",
    )
    assert (second.retries, second.timeout, second.on_skip) == (None, None, "run")


# ---------------------------------------------------------------- on_error


def stop_or_go(on_error: str) -> list[dict[str, object]]:
    """A failing contact, an email ordered after it, then one guarded on it."""
    return [
        task("create_contact", params=BAD_EMAIL, on_error=on_error),
        task("send_email", params=MAIL, depends_on="create_contact"),
        task(
            "send_email",
            id="report",
            params=MAIL,
            conditions={"if": lambda ctx: True},
        ),
    ]


def test_on_error_continue_reports_the_failure_and_runs_the_rest(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(tasks=stop_or_go("continue"))

    assert not response.success
    assert api.paths() == [CONTACTS, MESSAGES, MESSAGES]
    assert [r.success for r in response.results or []] == [False, True, True]


def test_on_error_fail_stops_the_tasks_not_started(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(tasks=stop_or_go("fail"))

    assert not response.success
    assert api.paths() == [CONTACTS]
    assert response.error_code is FiscusErrorCode.INVALID_REQUEST
    assert response.error_message is not None
    assert response.error_message.startswith("Task 0 ('create_contact') failed: ")
    contact, mail, report = response.results or []
    assert [r.status for r in (contact, mail, report)] == ["failed"] + ["skipped"] * 2
    for index, stopped in ((1, mail), (2, report)):
        assert (stopped.success, stopped.skipped, stopped.result) == (True, True, {})
        assert stopped.error_message == (
            f"Task {index} ({stopped.task_id!r}) did not run: task 0 "
            "('create_contact') failed, and its on_error is 'fail'"
        )
    assert response.run is not None
    assert response.run["report"].status is TaskStatus.NOT_RUN


def test_on_error_fail_lets_a_task_that_needs_nothing_run_when_it_started(
    runner: Runner,
) -> None:
    # The two tasks start together: a failure stops what has not started yet.
    api = FakeApi()
    client = FiscusClient(connectors=connectors(api), runner=runner)

    response = client.execute(
        tasks=[
            task("create_contact", params=BAD_EMAIL, on_error="fail"),
            task("send_email", params=MAIL),
        ]
    )

    assert sorted(api.paths()) == [CONTACTS, MESSAGES]
    assert [r.success for r in response.results or []] == [False, True]


def test_on_error_skip_reports_the_failure_as_a_skip(
    client: FiscusClient, api: FakeApi
) -> None:
    heard: list[dict[str, object]] = []

    response = client.execute(
        tasks=[
            task("create_contact", params=BAD_EMAIL, on_error="skip"),
            task("send_email", params={**MAIL, "subject": "{{create_contact.id}}"}),
            task("send_email", id="report", params=MAIL),
        ],
        callbacks={"fiscus_on_error": heard.append},
    )

    assert response.success  # a skip does not count against the call
    assert (response.error_code, response.error_message) == (None, None)
    contact, welcome, report = response.results or []
    assert (contact.success, contact.skipped, contact.result) == (True, True, {})
    assert contact.status == "skipped"
    assert contact.error_message is not None
    assert contact.error_message.startswith(
        "Task 0 ('create_contact') was skipped (its on_error is 'skip'): "
        "HTTPStatusError 422 in CRMSystem.create_contact: "
    )
    assert isinstance(contact.error, HTTPStatusError)  # kept, for whoever asks
    assert contact.error_code is FiscusErrorCode.INVALID_REQUEST
    assert (welcome.skipped, welcome.error_message) == (
        True,
        "Task 1 ('send_email') was skipped: its params need "
        "{{create_contact.id}}, and task 'create_contact' skipped",
    )
    assert report.success
    assert not report.skipped
    assert api.paths() == [CONTACTS, MESSAGES]
    assert [info["response"] for info in heard] == [contact]  # on_error heard of it
    assert "create_contact" not in response.context


def test_on_error_skip_goes_on_as_after_a_skip(
    client: FiscusClient, api: FakeApi
) -> None:
    response = client.execute(
        tasks=[
            task(
                "create_contact",
                params=BAD_EMAIL,
                on_error="skip",
                custom_logic=lambda r: r.success,  # True for a skip, as in Fiscus
            ),
            task(
                "send_email",
                params=MAIL,
                conditions={"if": lambda ctx: ctx.get("create_contact", True)},
            ),
        ]
    )

    mail = (response.results or [])[1]
    assert mail.skipped
    assert mail.error_message == (
        "Task 1 ('send_email') was skipped: its condition read 'create_contact', "
        "and task 0 ('create_contact') was skipped; set 'on_skip': 'run' on the "
        "task to decide anyway"
    )
    assert api.paths() == [CONTACTS]


# ---------------------------------------------------------------- graph, plan, files


def test_the_policies_reach_the_graph(api: FakeApi) -> None:
    crm, gmail = connectors(api)
    specs = read_tasks(
        [
            task("send_email", params=MAIL, retries=1, timeout=2, on_error="fail"),
            task("send_email", params=MAIL, on_error="skip"),
        ]
    )
    client_retry = Retry(attempts=4, backoff=0.5, jitter=False)
    execution = Execution(
        specs, resolve_operations(specs, [crm, gmail]), retry=client_retry, callbacks={}
    )

    first, second = execution.compile().graph().nodes
    assert isinstance(first, TaskNode)
    assert isinstance(second, TaskNode)

    assert first.policy.retry is not None
    assert (first.policy.retry.attempts, first.policy.timeout) == (2, 2.0)
    assert first.policy.on_error == "fail"
    assert second.policy.retry is not None
    assert second.policy.retry.attempts == 4  # the client's: none declared
    assert second.policy.on_error == "continue"  # a skip is read back after the run


def test_a_plan_takes_the_policy_keys(client: FiscusClient, api: FakeApi) -> None:
    plan = client.plan(
        tasks=[
            task("create_contact", params=JOHN, retries=1, timeout=5, on_error="fail"),
            task(
                "send_email",
                params={**MAIL, "to": "{{create_contact.email}}"},
                on_error="skip",
                on_skip="run",
            ),
        ]
    )

    assert api.requests == []
    assert [step.task_id for step in plan.requests] == ["create_contact", "send_email"]


def test_a_task_file_sets_the_policies(client: FiscusClient, api: FakeApi) -> None:
    api.failures = 1
    tasks = load_tasks_text(
        """
- connector: CRMSystem
  operation: create_contact
  params: {name: John Doe, email: john@example.com}
  retries: 0
  timeout: 2.5
  on_error: skip
- connector: Gmail
  operation: send_email
  params: {to: ops@example.com, subject: Hi, body: Hello}
  on_error: fail
  on_skip: skip
  conditions: {if: {skipped: create_contact}}
""",
        format="yaml",
    )

    assert {key: tasks[0][key] for key in ("retries", "timeout", "on_error")} == {
        "retries": 0,
        "timeout": 2.5,
        "on_error": "skip",
    }
    assert (tasks[1]["on_error"], tasks[1]["on_skip"]) == ("fail", "skip")
    response = client.execute(tasks=tasks)

    assert api.count(CONTACTS) == 1  # retries: 0
    contact, mail = response.results or []
    assert contact.skipped
    # on_skip: skip, set in the file; but {skipped: create_contact} asks how
    # the task ended, it does not read its value: the condition decides
    assert not mail.skipped
    assert api.count(MESSAGES) == 1


def test_a_task_file_condition_decides_on_skips_by_default(
    client: FiscusClient, api: FakeApi
) -> None:
    api.failures = 1
    tasks = load_tasks_text(
        """
- connector: CRMSystem
  operation: create_contact
  params: {name: John Doe, email: john@example.com}
  retries: 0
  on_error: skip
- connector: Gmail
  operation: send_email
  params: {to: ops@example.com, subject: no contact, body: Hello}
  conditions: {if: {not: {succeeded: create_contact}}}
""",
        format="yaml",
    )

    assert tasks[1]["on_skip"] == "run"
    assert "on_skip" not in tasks[0]  # no condition: nothing to decide
    response = client.execute(tasks=tasks)

    assert [r.skipped for r in response.results or []] == [True, False]
    assert api.count(MESSAGES) == 1


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("retries: -1", "retries"),
        ("retries: '2'", "retries"),
        ("retries: true", "retries"),
        ("timeout: 0", "timeout"),
        ("timeout: .inf", "timeout"),
        ("timeout: 5s", "timeout"),
        ("on_error: stop", "on_error"),
        ("on_skip: never", "on_skip"),
    ],
)
def test_a_task_file_refuses_a_bad_policy(line: str, field: str) -> None:
    text = f"- {{connector: Gmail, operation: send_email, {line}}}"

    with pytest.raises(
        TaskDefinitionError, match=rf"^Task 0 in the given YAML text: field '{field}' "
    ) as caught:
        load_tasks_text(text, format="yaml")

    assert (caught.value.index, caught.value.field) == (0, field)
