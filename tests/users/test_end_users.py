"""End users: each run sends its user's own API key, within the user's policies.

A real API on 127.0.0.1 records the key of every request it gets; a
connector declared with ``UserAuth`` sends the key of the user the run
acts for, refuses to run for no user, and a call outside the user's
policies fails before anything is sent, with an audit record.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import httpx  # noqa: TC002  (a task's annotation, resolved at run time)
import pytest
from loopback import serving
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from fiscus_dsl import Connector, Hooks, TaskStatus, Workflow, task, workflow
from fiscus_dsl._runtime.end_user import acting_for
from fiscus_dsl._users.audit import AuditAction, LoggingAuditLog
from fiscus_dsl._users.user import FiscusUser, current_user
from fiscus_dsl._users.user_auth import UserAuth
from fiscus_dsl.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    TaskDefinitionError,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from starlette.requests import Request


class Api:
    """What the API saw: the key of each request, by path."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    def app(self) -> Starlette:
        async def contacts(request: Request) -> JSONResponse:
            key = request.headers.get("x-api-key")
            self.seen.append((request.url.path, key))
            if key is None:
                return JSONResponse({"error": "no key"}, status_code=401)
            return JSONResponse({"owner": key, "id": request.path_params["id"]})

        async def refund(request: Request) -> JSONResponse:
            self.seen.append((request.url.path, request.headers.get("x-api-key")))
            return JSONResponse({"refunded": True})

        return Starlette(
            routes=[
                Route("/contacts/{id}", contacts),
                Route("/refunds", refund, methods=["POST"]),
            ]
        )


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[Api, str]]:
    recorded = Api()
    with serving(recorded.app(), name="end-user-api") as port:
        yield recorded, f"http://127.0.0.1:{port}"


@pytest.fixture
def crm(api: tuple[Api, str]) -> Connector:
    recorded, url = api
    recorded.seen.clear()
    return Connector("CRM", url, auth=UserAuth(header="X-API-Key", prefix=None))


def _workflows(
    crm: Connector,
) -> tuple[Workflow[[str], object], Workflow[[str], object]]:
    @crm.operation("GET /contacts/{contact_id}")
    def get_contact(contact_id: str) -> dict[str, object]:
        raise NotImplementedError  # an operation's body never runs

    @crm.operation("POST /refunds")
    def refund(amount: int) -> dict[str, object]:
        raise NotImplementedError  # an operation's body never runs

    @workflow
    def lookup(contact_id: str) -> object:
        return get_contact(contact_id)

    @workflow
    def lookup_and_refund(contact_id: str) -> object:
        get_contact(contact_id)
        return refund(5)

    return lookup, lookup_and_refund


def test_each_run_sends_its_own_users_key(api: tuple[Api, str], crm: Connector) -> None:
    recorded, _ = api
    lookup, _ = _workflows(crm)
    alice, bob = FiscusUser("alice"), FiscusUser("bob")
    alice.authenticate_connector("CRM", {"api_key": "alice-key-1"})
    bob.authenticate_connector("CRM", {"api_key": "bob-key-2"})

    first = lookup.run("c1", user=alice)  # type: ignore[call-arg]  # user= is taken at run time
    second = lookup.run("c2", user=bob)  # type: ignore[call-arg]  # user= is taken at run time

    assert first.output == {"owner": "alice-key-1", "id": "c1"}
    assert second.output == {"owner": "bob-key-2", "id": "c2"}
    assert recorded.seen == [
        ("/contacts/c1", "alice-key-1"),
        ("/contacts/c2", "bob-key-2"),
    ]
    assert alice.connectors["CRM"].authenticated
    assert "CRM" not in FiscusUser("carol").connectors


def test_a_run_for_no_user_sends_nothing(api: tuple[Api, str], crm: Connector) -> None:
    recorded, _ = api
    lookup, _ = _workflows(crm)

    result = lookup.run("c1")

    error = result.tasks["get_contact"].error
    assert isinstance(error, AuthenticationError)
    assert "acts for no user" in str(error)
    assert error.connector == "CRM"
    assert recorded.seen == []


def test_a_user_without_credentials_gets_an_auth_error(
    api: tuple[Api, str], crm: Connector
) -> None:
    recorded, _ = api
    lookup, _ = _workflows(crm)

    result = lookup.run("c1", user=FiscusUser("dave"))  # type: ignore[call-arg]  # user= is taken at run time

    error = result.tasks["get_contact"].error
    assert isinstance(error, AuthenticationError)
    assert error.user_id == "dave"
    assert "authenticate_connector('CRM'" in str(error)
    assert error.authorization_url is None  # an API key: nowhere to authorize
    assert recorded.seen == []


def test_the_auth_callback_supplies_credentials_once(
    api: tuple[Api, str], crm: Connector
) -> None:
    lookup, _ = _workflows(crm)
    asked: list[str] = []
    user = FiscusUser("erin")

    def supply(connector: str) -> dict[str, str]:
        asked.append(connector)
        return {"api_key": "erin-key"}

    user.set_auth_callback(supply)
    first = lookup.run("c1", user=user)  # type: ignore[call-arg]  # user= is taken at run time
    second = lookup.run("c2", user=user)  # type: ignore[call-arg]  # user= is taken at run time

    assert first.output == {"owner": "erin-key", "id": "c1"}
    assert second.status is first.status
    assert asked == ["CRM"]  # stored after the first time
    assert user.stored_credential("CRM") is not None


def test_a_call_outside_the_users_policies_is_refused_and_audited(
    api: tuple[Api, str], crm: Connector, caplog: pytest.LogCaptureFixture
) -> None:
    recorded, _ = api
    _, lookup_and_refund = _workflows(crm)
    audit = LoggingAuditLog()
    user = FiscusUser("frank", audit=audit)
    user.authenticate_connector("CRM", {"api_key": "frank-key"})
    user.assign_role("support")
    user.add_policy(
        {"roles": ["support"], "connectors": ["CRM"], "operations": ["get_contact"]}
    )

    with caplog.at_level(logging.WARNING, logger="fiscus_dsl.audit"):
        result = lookup_and_refund.run("c9", user=user)  # type: ignore[call-arg]  # user= is taken at run time

    assert result.tasks["get_contact"].status is TaskStatus.SUCCEEDED
    error = result.tasks["refund"].error
    assert isinstance(error, AuthorizationError)
    assert (error.user_id, error.connector, error.operation) == (
        "frank",
        "CRM",
        "refund",
    )
    assert "may not call CRM.refund" in str(error)
    assert [path for path, _ in recorded.seen] == ["/contacts/c9"]  # no POST sent
    denied = [e for e in audit.events() if e.action is AuditAction.CALL_DENIED]
    assert [(e.user_id, e.connector, e.operation) for e in denied] == [
        ("frank", "CRM", "refund")
    ]
    assert any("CRM.refund" in record.getMessage() for record in caplog.records)
    assert "frank-key" not in caplog.text


def test_a_policy_for_another_role_grants_nothing(crm: Connector) -> None:
    user = FiscusUser("gina")
    user.add_policy({"roles": ["admin"], "connectors": ["*"]})
    assert not user.may_call("CRM", "get_contact")
    user.assign_role("admin")
    assert user.may_call("CRM", "get_contact")
    assert user.may_call("Billing")


def test_policies_with_operations_and_conditions() -> None:
    user = FiscusUser("hana")
    user.add_policy({"connectors": ["CRM"], "operations": ["CRM.get_contact"]})
    user.add_policy(
        {
            "connectors": ["Billing"],
            "condition": lambda facts: facts["operation"] != "refund",
        }
    )
    assert user.may_call("CRM", "get_contact")
    assert not user.may_call("CRM", "delete_contact")
    assert not user.may_call("CRM")  # named operations do not cover the raw client
    assert user.may_call("Billing", "invoice")
    assert not user.may_call("Billing", "refund")


@pytest.mark.parametrize(
    "policy",
    [{"role": ["x"]}, {"connectors": 3}, "admin", {"condition": "yes"}],
)
def test_a_malformed_policy_is_refused(policy: object) -> None:
    with pytest.raises(ConfigurationError, match="polic"):
        FiscusUser("ivan").add_policy(policy)  # type: ignore[arg-type]


def test_tasks_and_hooks_read_the_user(api: tuple[Api, str], crm: Connector) -> None:
    seen: list[object] = []

    @task
    def who() -> str:
        user = current_user()
        assert user is not None
        return user.user_id

    def before(ctx: object) -> None:
        seen.append(getattr(ctx, "user", None))

    @workflow(hooks=Hooks(before_task=before))
    def flow() -> str:
        return who()

    user = FiscusUser("jack")
    assert flow.run(user=user).output == "jack"  # type: ignore[call-arg]  # user= is taken at run time
    assert seen == [user]
    assert flow.run().tasks["who"].status is TaskStatus.FAILED  # no user: None
    assert current_user() is None


def test_a_workflow_input_named_user_stays_an_input() -> None:
    @task
    def greet(user: str) -> str:
        return f"hi {user}"

    @workflow
    def hello(user: str) -> str:
        return greet(user)

    assert hello.run(user="kim").output == "hi kim"


def test_user_must_be_an_end_user() -> None:
    @task
    def noop() -> None:
        raise NotImplementedError  # an operation's body never runs

    @workflow
    def flow() -> None:
        noop()

    with pytest.raises(ConfigurationError, match="pass a FiscusUser"):
        flow.run(user="not-a-user")  # type: ignore[call-arg]  # user= is taken at run time


def test_acting_for_covers_async_runs(api: tuple[Api, str], crm: Connector) -> None:
    import asyncio

    lookup, _ = _workflows(crm)
    user = FiscusUser("lena")
    user.authenticate_connector("CRM", {"api_key": "lena-key"})

    async def main() -> object:
        with acting_for(user):
            return (await lookup.arun("c5")).output

    assert asyncio.run(main()) == {"owner": "lena-key", "id": "c5"}


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"token": "x"}, "needs 'api_key'"),
        ({"api_key": ""}, "non-empty"),
        ({"code": "abc", "state": "nope"}, "UserAuth|OAuth2|verifier"),
    ],
)
def test_bad_auth_params_are_refused(
    crm: Connector, params: dict[str, object], match: str
) -> None:
    user = FiscusUser("mia", connectors=[crm])
    with pytest.raises((ConfigurationError, TaskDefinitionError), match=match):
        user.authenticate_connector("CRM", params)
    assert user.stored_credential("CRM") is None


def test_a_hand_written_task_is_held_to_the_connector_policies(
    api: tuple[Api, str], crm: Connector
) -> None:
    recorded, _ = api

    @crm.task
    async def raw_lookup(client: httpx.AsyncClient, contact_id: str) -> object:
        response = await client.get(f"/contacts/{contact_id}")
        return response.json()

    @workflow
    def flow(contact_id: str) -> object:
        return raw_lookup(contact_id)

    allowed_user = FiscusUser("nora")
    allowed_user.authenticate_connector("CRM", {"api_key": "nora-key"})
    allowed_user.add_policy({"connectors": ["CRM"]})
    denied_user = FiscusUser("otto")
    denied_user.authenticate_connector("CRM", {"api_key": "otto-key"})
    denied_user.add_policy({"connectors": ["Billing"]})

    assert flow.run("c1", user=allowed_user).output == {"owner": "nora-key", "id": "c1"}  # type: ignore[call-arg]  # user= is taken at run time
    error = flow.run("c2", user=denied_user).tasks["raw_lookup"].error  # type: ignore[call-arg]  # user= is taken at run time

    assert isinstance(error, AuthorizationError)
    assert "may not call connector 'CRM'" in str(error)
    assert recorded.seen == [("/contacts/c1", "nora-key")]
