"""Idempotency keys: every POST and PATCH carries one, stable across retries.

The key is ``uuid5`` of the run id and the task id, sent as a structured
field string (quoted); it is the same on every retry of a task, and
differs between runs and between tasks. ``idempotency_key=False`` sends
none (and then an ambiguous failure is not retried); a function of the
arguments gives a key of one's own.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

import httpx
import pytest

from fiscus_dsl import Connector, ConnectorError, Header, RunStatus, workflow
from fiscus_dsl._connectors.connector import IDEMPOTENCY_NAMESPACE

from .conftest import BASE

if TYPE_CHECKING:
    from collections.abc import Mapping

    import respx

    from fiscus_dsl import Runner

crm = Connector("CRM", BASE)


@crm.operation("POST /contacts")
def create_contact(name: str, source: str = "api") -> None:
    """Create a contact."""


@crm.operation("PATCH /contacts/{contact_id}")
def rename_contact(contact_id: int, name: str) -> None:
    """Rename a contact."""


@crm.operation("POST /contacts/import", idempotency_key=False)
def import_contacts(url: str) -> None:
    """Import contacts, without a key."""


seen_arguments: list[Mapping[str, object]] = []


def natural_key(arguments: Mapping[str, object]) -> str:
    seen_arguments.append(dict(arguments))
    return f"contact-{arguments['name']}-{arguments['source']}"


@crm.operation("POST /contacts/natural", idempotency_key=natural_key)
def create_natural(name: str, source: str = "api") -> None:
    """Create a contact under a key of its own."""


@crm.operation("POST /contacts/explicit")
def create_explicit(
    name: str, key: Annotated[str, Header(alias="Idempotency-Key")]
) -> None:
    """Create a contact with the caller's key."""


@crm.operation("POST /contacts/lower", idempotency_key=False)
def create_lower(
    name: str, key: Annotated[str, Header(alias="idempotency-key")]
) -> None:
    """Create a contact with the caller's key, its header in lower case."""


@workflow
def onboard(name: str) -> None:
    create_contact(name=name)


@workflow
def onboard_twice(first: str, second: str) -> None:
    create_contact(name=first)
    create_contact(name=second)


def expected_key(run_id: str, task_id: str) -> str:
    return f'"{uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{run_id}/{task_id}")}"'


def keys(route: respx.Route) -> list[str | None]:
    return [call.request.headers.get("Idempotency-Key") for call in route.calls]


# ---------------------------------------------------------------- derived keys


def test_a_post_carries_a_key_of_run_and_task(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.post("/contacts").respond(201)

    result = runner.run(onboard, name="Ada")

    assert result.status is RunStatus.SUCCEEDED
    assert keys(route) == [expected_key(result.run_id, "create_contact")]


def test_a_patch_carries_a_key_too(runner: Runner, api: respx.MockRouter) -> None:
    route = api.patch("/contacts/7").respond(200)

    @workflow
    def rename() -> None:
        rename_contact(contact_id=7, name="Bo")

    result = runner.run(rename)

    assert keys(route) == [expected_key(result.run_id, "rename_contact")]


@pytest.mark.usefixtures("runner")
@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"])
def test_other_methods_carry_no_key(api: respx.MockRouter, method: str) -> None:
    shop = Connector("Shop", BASE)

    def things() -> None:
        """A signature to declare with different methods."""

    operation = shop.operation(f"{method} /things")(things)
    route = api.route(method=method, path="/things").respond(204)

    operation()

    assert keys(route) == [None]


def test_the_key_is_the_same_on_every_retry(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.post("/contacts").mock(
        side_effect=[
            httpx.Response(503),
            httpx.ReadTimeout("slow"),
            httpx.Response(201),
        ]
    )

    result = runner.run(onboard, name="Ada")

    assert result.tasks["create_contact"].attempts == 3
    assert keys(route) == [expected_key(result.run_id, "create_contact")] * 3


def test_the_key_differs_between_runs(runner: Runner, api: respx.MockRouter) -> None:
    route = api.post("/contacts").respond(201)

    first = runner.run(onboard, name="Ada")
    second = runner.run(onboard, name="Ada")

    assert first.run_id != second.run_id
    assert keys(route) == [
        expected_key(first.run_id, "create_contact"),
        expected_key(second.run_id, "create_contact"),
    ]


def test_the_key_differs_between_tasks_of_one_run(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.post("/contacts").respond(201)

    result = runner.run(onboard_twice, first="Ada", second="Bo")

    by_name = {
        call.request.content: call.request.headers["Idempotency-Key"]
        for call in route.calls
    }
    assert by_name == {
        b'{"name":"Ada","source":"api"}': expected_key(result.run_id, "create_contact"),
        b'{"name":"Bo","source":"api"}': expected_key(
            result.run_id, "create_contact#2"
        ),
    }


def test_mapped_instances_get_keys_of_their_own(
    runner: Runner, api: respx.MockRouter
) -> None:
    route = api.post("/contacts").respond(201)

    @workflow
    def onboard_all(names: list[str]) -> None:
        create_contact.map(name=names)

    result = runner.run(onboard_all, names=["Ada", "Bo"])

    assert sorted(keys(route)) == sorted(  # type: ignore[type-var]  # all are str here
        expected_key(result.run_id, f"create_contact[{index}]") for index in (0, 1)
    )


async def test_a_body_called_outside_a_run_still_sends_a_fresh_key(
    api: respx.MockRouter,
) -> None:
    route = api.post("/contacts").respond(201)
    send = create_contact.plan.function

    await send(name="Ada")  # type: ignore[misc]  # the sender is async
    await send(name="Ada")  # type: ignore[misc]  # the sender is async
    await crm.aclose()

    first, second = keys(route)
    assert first is not None
    assert second is not None
    assert first != second
    assert str(uuid.UUID(first.strip('"'))) == first.strip('"')


# ---------------------------------------------------------------- no key


@pytest.mark.usefixtures("runner")
@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("closed"),
        httpx.Response(503),
    ],
    ids=["ReadTimeout", "RemoteProtocolError", "503"],
)
def test_without_a_key_an_ambiguous_failure_is_not_retried(
    api: respx.MockRouter, failure: httpx.Response | Exception
) -> None:
    route = api.post("/contacts/import").mock(
        side_effect=[failure, httpx.Response(204)]
    )

    with pytest.raises(ConnectorError, match=r"may have had an effect") as caught:
        import_contacts(url="https://files.example.test/contacts.csv")

    assert caught.value.retryable is False
    assert route.call_count == 1
    assert keys(route) == [None]


@pytest.mark.usefixtures("runner")
@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.Response(429, headers={"Retry-After": "0"})],
    ids=["ConnectError", "429"],
)
def test_without_a_key_a_request_that_was_not_processed_is_retried(
    api: respx.MockRouter, failure: httpx.Response | Exception
) -> None:
    route = api.post("/contacts/import").mock(
        side_effect=[failure, httpx.Response(204)]
    )

    import_contacts(url="https://files.example.test/contacts.csv")

    assert route.call_count == 2
    assert keys(route) == [None, None]


# ---------------------------------------------------------------- own keys


@pytest.mark.usefixtures("runner")
def test_a_key_function_gets_the_arguments_and_its_key_is_sent(
    api: respx.MockRouter,
) -> None:
    seen_arguments.clear()
    route = api.post("/contacts/natural").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(201)]
    )

    create_natural(name="Ada")

    assert keys(route) == ["contact-Ada-api", "contact-Ada-api"]
    assert seen_arguments == [{"name": "Ada", "source": "api"}] * 2


@pytest.mark.usefixtures("runner")
def test_a_key_given_as_a_header_argument_wins(api: respx.MockRouter) -> None:
    route = api.post("/contacts/explicit").respond(201)

    create_explicit(name="Ada", key="order-1234")

    assert keys(route) == ["order-1234"]


@pytest.mark.usefixtures("runner")
def test_a_key_argument_in_lower_case_is_sent_once_and_makes_it_retryable(
    api: respx.MockRouter,
) -> None:
    route = api.post("/contacts/lower").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(201)]
    )

    create_lower(name="Ada", key="order-5678")

    assert [
        call.request.headers.get_list("Idempotency-Key") for call in route.calls
    ] == [
        ["order-5678"],
        ["order-5678"],
    ]
