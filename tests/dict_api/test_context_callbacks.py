"""The context tasks share, and the callbacks around each task.

The context is keyed by task: by ``id``, and by operation while exactly one
task in it has that operation; reading an operation two tasks share raises
``AmbiguousNameError`` (a ``KeyError``) naming them. Callbacks get copies,
never the caller's dicts. ``fiscus_pre`` runs once before a task, may
return new params or skip the task with a message that reaches the
response. ``fiscus_on_auth`` hears of a task that failed for want of an end
user's authorization, with the URL to send the user to.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest

from fiscus_dsl import (
    FiscusClient,
    FiscusErrorCode,
    FiscusResponse,
    Runner,
    SkipTask,
    TaskDefinitionError,
)
from fiscus_dsl._dict_api.context import Entry, FiscusContext
from fiscus_dsl.errors import AmbiguousNameError, AuthenticationError

from .fake_api import FakeApi, connectors, task

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx

    from fiscus_dsl.testing import FakeSleep

CONTACTS = "POST /v1/contacts"
MESSAGES = "POST /v1/messages"
JOHN = {"name": "John Doe", "email": "john@example.com"}
MAIL = {"to": "ops@example.com", "subject": "Hi", "body": "Hello"}


# ---------------------------------------------------------------- context keys


def test_a_task_is_in_the_context_under_its_id_and_its_operation(
    client: FiscusClient,
) -> None:
    seen: list[dict[str, object]] = []

    def record(ctx: Mapping[str, object]) -> bool:
        seen.append(dict(ctx))
        return True

    response = client.execute(
        tasks=[
            task("create_contact", id="john", params=JOHN),
            task("send_email", params=MAIL, conditions={"if": record}),
        ]
    )

    contact = (response.results or [])[0].result
    assert seen == [{"john": contact, "create_contact": contact}]


def test_reading_an_operation_two_tasks_share_raises_naming_them(
    client: FiscusClient, api: FakeApi
) -> None:
    errors: list[BaseException] = []

    def condition(ctx: Mapping[str, object]) -> object:
        try:
            return ctx["send_email"]
        except KeyError as exc:
            errors.append(exc)
            raise

    response = client.execute(
        tasks=[
            task("send_email", params=MAIL),
            task("send_email", id="second", params=MAIL),
            task("create_contact", params=JOHN, conditions={"if": condition}),
        ]
    )

    (error,) = errors
    assert isinstance(error, AmbiguousNameError)
    assert error.task_ids == ("send_email", "second")
    message = (
        "Context key 'send_email' is ambiguous: it names task 0 ('send_email'), "
        "task 1 ('second'); give each of them an 'id' in its task dict and read "
        "ctx['<id>'] instead"
    )
    assert str(error) == message
    contact = (response.results or [])[2]
    assert contact.skipped
    assert contact.error_message == (
        f"Task 2 ('create_contact') was skipped: its condition raised "
        f"AmbiguousNameError: {message}"
    )
    assert api.count(CONTACTS) == 0


@pytest.mark.parametrize(
    "read",
    [
        lambda ctx: ctx.get("send_email", False),
        lambda ctx: "send_email" in ctx,
        lambda ctx: ctx.status("send_email"),
    ],
    ids=["get", "in", "status"],
)
def test_every_way_of_reading_an_ambiguous_key_raises(
    read: Any,
) -> None:
    ctx = FiscusContext(
        [
            Entry(
                index=0, task_id="a", id="a", operation="send_email", status="failed"
            ),
            Entry(
                index=1,
                task_id="b",
                id="b",
                operation="send_email",
                status="succeeded",
                value={"id": "m1"},
            ),
        ]
    )

    with pytest.raises(AmbiguousNameError, match=r"^Context key 'send_email' is"):
        read(ctx)

    assert list(ctx) == ["b"]
    assert ctx["b"] == {"id": "m1"}


def test_an_operation_name_reads_the_one_earlier_task_that_has_it(
    client: FiscusClient, api: FakeApi
) -> None:
    seen: list[object] = []

    def record(ctx: Mapping[str, object]) -> bool:
        seen.append(ctx["send_email"])
        return True

    response = client.execute(
        tasks=[
            task("send_email", params=MAIL),
            task("create_contact", params=JOHN, conditions={"if": record}),
            task("send_email", id="later", params=MAIL),
        ]
    )

    assert seen == [(response.results or [])[0].result]  # only task 0 was before
    # After the call two tasks have run send_email: their ids name them.
    assert "send_email" not in response.context
    with pytest.raises(KeyError):
        response.context["send_email"]
    assert set(response.context) == {"create_contact", "later"}


def test_a_template_naming_an_operation_two_earlier_tasks_share_is_refused(
    client: FiscusClient, api: FakeApi
) -> None:
    with pytest.raises(
        TaskDefinitionError,
        match=r"^Task 2: field 'params' refers to 'send_email', the operation of "
        r"tasks 0 \('send_email'\), 1 \('ops'\); give each an 'id' and refer to that$",
    ) as caught:
        client.execute(
            tasks=[
                task("send_email", params=MAIL),
                task("send_email", id="ops", params=MAIL),
                task("get_contact", params={"contact_id": "{{send_email.id}}"}),
            ]
        )

    assert (caught.value.index, caught.value.field) == (2, "params")
    assert api.requests == []


def test_the_context_is_read_only_and_says_how_tasks_ended() -> None:
    ctx = FiscusContext(
        [
            Entry(index=0, task_id="a", id=None, operation="a", status="succeeded"),
            Entry(index=1, task_id="b", id=None, operation="b", status="failed"),
            Entry(index=2, task_id="c", id=None, operation="c", status="skipped"),
        ]
    )

    assert [ctx.succeeded("a"), ctx.failed("b"), ctx.skipped("c")] == [True] * 3
    assert len(ctx) == 0  # none of them shared a value
    number: object = 3  # not a name: no task goes by it
    assert number not in ctx
    assert "value=<nothing>" in repr(
        Entry(index=0, task_id="a", id=None, operation="a", status="skipped")
    )
    assert repr(ctx) == "<FiscusContext a: succeeded, b: failed, c: skipped>"
    with pytest.raises(KeyError):
        ctx.status("d")
    with pytest.raises(TypeError):
        ctx["a"] = 1  # type: ignore[index]  # the point: read-only
    assert ctx.skipped_reads() == []  # asking about outcomes reads nothing


def test_the_loaded_context_shows_under_names_no_task_has() -> None:
    entry = Entry(
        index=0,
        task_id="tier",
        id="tier",
        operation="get_tier",
        status="skipped",
    )

    ctx = FiscusContext([entry], initial={"tier": "gold", "plan": "pro"})

    assert dict(ctx) == {"plan": "pro"}  # the skipped task hides the loaded 'tier'
    assert ctx.get("tier") is None


# ---------------------------------------------------------------- copies


def test_callbacks_get_copies_and_never_change_the_callers_dicts(
    client: FiscusClient, api: FakeApi
) -> None:
    def pre(info: dict[str, Any]) -> None:
        info["params"]["subject"] = "changed by pre"
        info["task"]["params"]["to"] = "changed@example.com"
        info["task"]["id"] = "changed"

    def on_success(info: dict[str, Any]) -> None:
        info["task"]["params"]["body"] = "changed by on_success"

    tasks = [
        task(
            "send_email",
            params=dict(MAIL),
            callbacks={"fiscus_pre": pre, "fiscus_on_success": on_success},
        )
    ]
    before = copy.deepcopy(tasks)

    response = client.execute(tasks=tasks)

    assert response.success, response.error_message
    assert tasks == before
    assert api.outbox[0]["subject"] == "Hi"  # pre returned None: params unchanged


def test_a_pre_callback_may_return_new_params(
    client: FiscusClient, api: FakeApi
) -> None:
    given: list[dict[str, Any]] = []

    def pre(info: dict[str, Any]) -> dict[str, object]:
        given.append(info)
        return {**info["params"], "subject": f"[{info['task']['id']}] Hi"}

    params = dict(MAIL)
    client.execute(
        tasks=[
            task("create_contact", params=JOHN),
            task(
                "send_email",
                id="welcome",
                params={**params, "to": "{{create_contact.email}}"},
                callbacks={"fiscus_pre": pre},
            ),
        ]
    )

    assert api.outbox[0]["subject"] == "[welcome] Hi"
    assert api.outbox[0]["to"] == "john@example.com"  # templates filled before pre
    (info,) = given
    assert set(info) == {"task", "params", "context"}
    assert info["context"].succeeded("create_contact")
    assert params == MAIL


def test_a_pre_callback_can_skip_its_task_with_a_message(
    client: FiscusClient, api: FakeApi
) -> None:
    errors: list[object] = []

    def pre(info: dict[str, Any]) -> None:
        who = info["params"].get("to") or info["params"].get("email")
        msg = f"{who} has not consented"
        raise SkipTask(msg)

    response = client.execute(
        tasks=[task("send_email", params=MAIL), task("create_contact", params=JOHN)],
        callbacks={"fiscus_pre": pre, "fiscus_on_error": errors.append},
    )

    mail, contact = response.results or []
    assert (mail.success, mail.skipped, mail.result) == (True, True, {})
    assert mail.error_message == (
        "Task 0 ('send_email') was skipped: its fiscus_pre callback raised SkipTask: "
        "ops@example.com has not consented"
    )
    assert api.outbox == []
    assert contact.skipped  # the call's pre applies to every task
    assert api.requests == []
    assert errors == []  # a deliberate skip is no error
    assert response.success


def test_a_pre_callback_runs_once_whatever_the_retries(
    api: FakeApi, runner: Runner, fake_sleep: FakeSleep
) -> None:
    api.failures = 2
    calls: list[int] = []
    client = FiscusClient(connectors=connectors(api), retries=3, runner=runner)

    response = client.execute(
        tasks=[
            task(
                "create_contact",
                params=JOHN,
                callbacks={"fiscus_pre": lambda info: calls.append(1)},
            )
        ]
    )

    assert response.success, response.error_message
    assert (api.count(CONTACTS), len(calls)) == (3, 1)


def test_a_pre_callback_that_raises_fails_its_task_unretried(
    api: FakeApi, client: FiscusClient
) -> None:
    calls: list[int] = []

    def pre(info: dict[str, Any]) -> None:
        calls.append(1)
        msg = "consent service down"
        raise ConnectionError(msg)

    response = client.execute(
        tasks=[task("create_contact", params=JOHN, callbacks={"fiscus_pre": pre})]
    )

    assert isinstance(response.error, ConnectionError)
    assert response.error_message is not None
    assert "consent service down" in response.error_message
    assert (calls, api.requests) == ([1], [])


def test_a_pre_callback_returning_no_dict_fails_its_task(
    api: FakeApi, client: FiscusClient
) -> None:
    response = client.execute(
        tasks=[
            task(
                "create_contact",
                params=JOHN,
                callbacks={"fiscus_pre": lambda info: ["name"]},
            )
        ]
    )

    assert isinstance(response.error, TaskDefinitionError)
    assert (response.error.index, response.error.field) == (0, "callbacks")
    assert "fiscus_pre returned list; return a dict of the operation's params" in str(
        response.error
    )
    assert api.requests == []


async def test_an_async_pre_callback_is_awaited(
    client: FiscusClient, api: FakeApi
) -> None:
    async def pre(info: dict[str, Any]) -> dict[str, object]:
        return {**info["params"], "body": "from async pre"}

    await client.execute_async(
        tasks=[task("send_email", params=MAIL, callbacks={"fiscus_pre": pre})]
    )

    assert api.outbox[0]["body"] == "from async pre"


def test_the_task_pre_callback_wins_over_the_calls_and_the_clients(
    api: FakeApi, runner: Runner
) -> None:
    def subject(text: str) -> Any:
        return lambda info: {**info["params"], "subject": text}

    client = FiscusClient(
        connectors=connectors(api),
        runner=runner,
        callbacks={"fiscus_pre": subject("client")},
    )
    tasks = [
        task("send_email", id="a", params=MAIL),
        task(
            "send_email",
            id="b",
            params=MAIL,
            callbacks={"fiscus_pre": subject("task")},
        ),
    ]

    client.execute(tasks=tasks)
    client.execute(tasks=tasks, callbacks={"fiscus_pre": subject("call")})

    assert sorted(m["subject"] for m in api.outbox) == [
        "call",
        "client",
        "task",
        "task",
    ]


def test_a_plan_runs_no_pre_callback(client: FiscusClient) -> None:
    calls: list[int] = []

    plan = client.plan(
        tasks=[
            task(
                "send_email",
                params=MAIL,
                callbacks={"fiscus_pre": lambda info: calls.append(1)},
            )
        ]
    )

    assert calls == []
    request = plan.step("send_email").request
    assert request is not None
    assert request.body == MAIL


# ---------------------------------------------------------------- auth and stream


def needs_authorization(
    api: FakeApi, *, url: str | None, wrapped: bool = False
) -> FiscusClient:
    """Return a client whose one hand-made operation has no user credentials."""
    crm, _ = connectors(api)

    @crm.task
    async def whoami(client: httpx.AsyncClient) -> dict[str, object]:
        msg = "User 'u1' has not authorized connector 'CRMSystem'"
        error = AuthenticationError(
            msg, connector="CRMSystem", user_id="u1", authorization_url=url
        )
        if not wrapped:
            raise error
        try:
            raise error
        except AuthenticationError as exc:
            problem = "whoami needs the user's CRM account"
            raise RuntimeError(problem) from exc

    return FiscusClient(connectors=[crm], retries=0)


def test_on_auth_hears_of_an_authorization_the_user_must_give(api: FakeApi) -> None:
    url = "https://auth.example.test/authorize?client_id=crm&state=s1"
    client = needs_authorization(api, url=url)
    heard: list[tuple[str, dict[str, Any]]] = []

    response = client.execute(
        "CRMSystem",
        "whoami",
        callbacks={
            "fiscus_on_auth": lambda info: heard.append(("auth", info)),
            "fiscus_on_error": lambda info: heard.append(("error", info)),
        },
    )

    assert response.error_code is FiscusErrorCode.AUTH_FAILURE
    assert [label for label, _ in heard] == ["auth", "error"]
    info = heard[0][1]
    assert set(info) == {
        "authorization_url",
        "connector",
        "message",
        "response",
        "task",
    }
    assert (info["authorization_url"], info["connector"]) == (url, "CRMSystem")
    assert info["message"] == response.error_message
    assert isinstance(info["response"], FiscusResponse)
    assert info["response"] is (response.results or [])[0]
    assert api.requests == []


def test_on_auth_is_not_called_without_an_authorization_url(api: FakeApi) -> None:
    client = needs_authorization(api, url=None)
    heard: list[object] = []

    response = client.execute(
        "CRMSystem", "whoami", callbacks={"fiscus_on_auth": heard.append}
    )

    assert response.error_code is FiscusErrorCode.AUTH_FAILURE
    assert heard == []


def test_on_stream_is_taken_and_never_called(
    client: FiscusClient, api: FakeApi
) -> None:
    heard: list[object] = []

    response = client.execute(
        "Gmail", "send_email", MAIL, callbacks={"fiscus_on_stream": heard.append}
    )

    assert response.success
    assert heard == []  # responses arrive whole: there is nothing to stream


def test_on_auth_finds_the_authentication_error_behind_another(api: FakeApi) -> None:
    url = "https://auth.example.test/authorize"
    client = needs_authorization(api, url=url, wrapped=True)
    heard: list[dict[str, Any]] = []

    response = client.execute(
        "CRMSystem", "whoami", callbacks={"fiscus_on_auth": heard.append}
    )

    assert isinstance(response.error, RuntimeError)
    assert [info["authorization_url"] for info in heard] == [url]
