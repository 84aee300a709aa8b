"""Task stubs: what runs is swapped, the runner still runs it, calls are recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from fiscus_dsl import (
    FiscusClient,
    Hooks,
    OptionTypeError,
    Retry,
    RunStatus,
    SkipTask,
    TaskStatus,
    task,
    workflow,
)
from fiscus_dsl.testing import StubCall, StubExhaustedError, stub_task
from fiscus_dsl.testing.stubs import original_plan

from . import apis
from .apis import JOHN, Contact, onboard

if TYPE_CHECKING:
    from fiscus_dsl import TaskContext
    from fiscus_dsl.testing import ConnectorMock

FLAKY = Retry(attempts=3, backoff=0, jitter=False)


@task(retry=FLAKY)
def fetch(user_id: int, verbose: bool = False) -> str:
    return f"real {user_id}"


@task
async def afetch(user_id: int) -> str:
    return f"real {user_id}"


@workflow
def greet(user_id: int) -> str:
    return fetch(user_id)


def test_returns_replaces_the_value_and_records_each_call(
    fiscus_mock: ConnectorMock,
) -> None:
    stub = fiscus_mock.stub(fetch, returns="stubbed")

    assert greet(user_id=7) == "stubbed"
    assert greet(user_id=8) == "stubbed"

    assert stub.call_count == 2
    assert stub.called
    assert stub.calls == [
        StubCall(args={"user_id": 7, "verbose": False}),
        StubCall(args={"user_id": 8, "verbose": False}),
    ]
    assert repr(stub) == "<TaskStub of 'fetch', 2 call(s)>"


def test_the_stub_is_restored_after_the_mock(fiscus_mock: ConnectorMock) -> None:
    stub = fiscus_mock.stub(fetch, returns="stubbed")
    fiscus_mock.stop()

    assert not stub.is_active
    assert fetch(1) == "real 1"


def test_raises_fails_the_task_and_the_guards_follow(
    fiscus_mock: ConnectorMock,
) -> None:
    fiscus_mock.stub(apis.create_contact, raises=ConnectionError("CRM down"))
    apis.PAGES.clear()

    result = onboard.run(name="John Doe", email="john@example.com")

    assert result.status is RunStatus.SUCCEEDED  # create_contact continues
    assert isinstance(result["create_contact"].error, ConnectionError)
    assert result["create_contact"].attempts == 3  # the connector's retries apply
    assert result["send_email"].status is TaskStatus.SKIPPED
    assert apis.PAGES == ["contact creation failed"]


def test_raises_takes_an_exception_class(fiscus_mock: ConnectorMock) -> None:
    fiscus_mock.stub(afetch, raises=PermissionError)

    with pytest.raises(PermissionError):
        afetch(1)


def test_a_stubbed_operation_sends_nothing(fiscus_mock: ConnectorMock) -> None:
    created = fiscus_mock.stub(apis.create_contact, returns=Contact(**JOHN))
    sent = fiscus_mock.stub(apis.send_email, returns={"id": "m1"})

    result = onboard.run(name="John Doe", email="john@example.com")

    assert result.output == Contact(**JOHN)
    assert created.calls[-1].args == {"name": "John Doe", "email": "john@example.com"}
    assert sent.calls[-1].args == {
        "to": "john@example.com",
        "subject": "Welcome, John Doe!",
        "body": "Glad to have you.",
    }


def test_a_stubbed_hand_written_task_records_its_arguments_without_the_client(
    fiscus_mock: ConnectorMock,
) -> None:
    stub = fiscus_mock.stub(apis.count_contacts, returns=41)

    assert apis.count_contacts() == 41
    assert stub.calls == [StubCall(args={})]


def test_a_sync_side_effect_gets_the_arguments(fiscus_mock: ConnectorMock) -> None:
    fiscus_mock.stub(
        fetch, side_effect=lambda user_id, verbose=False: f"fake {user_id}"
    )

    assert fetch(3) == "fake 3"


def test_an_async_side_effect_works_for_a_sync_task(fiscus_mock: ConnectorMock) -> None:
    async def fake(user_id: int, verbose: bool = False) -> str:
        return f"async fake {user_id}"

    fiscus_mock.stub(fetch, side_effect=fake)

    assert fetch(4) == "async fake 4"


def test_an_async_callable_object_is_awaited(fiscus_mock: ConnectorMock) -> None:
    class Fake:
        async def __call__(self, user_id: int, verbose: bool = False) -> str:
            return "callable"

    fiscus_mock.stub(fetch, side_effect=Fake())

    assert fetch(4) == "callable"


def test_a_sync_side_effect_works_for_an_async_task(fiscus_mock: ConnectorMock) -> None:
    fiscus_mock.stub(afetch, side_effect=lambda user_id: f"sync fake {user_id}")

    assert afetch(5) == "sync fake 5"


def test_a_side_effect_sequence_drives_the_retries(fiscus_mock: ConnectorMock) -> None:
    stub = fiscus_mock.stub(fetch, side_effect=[ConnectionError("reset"), "second"])

    result = greet.run(user_id=1)

    assert result.output == "second"
    assert result["fetch"].attempts == 2
    assert stub.call_count == 2


def test_a_sequence_item_may_be_an_exception_class(fiscus_mock: ConnectorMock) -> None:
    fiscus_mock.stub(afetch, side_effect=[TimeoutError])

    with pytest.raises(TimeoutError):
        afetch(1)


def test_a_sequence_that_runs_out_fails_the_task_without_retries(
    fiscus_mock: ConnectorMock,
) -> None:
    fiscus_mock.stub(fetch, side_effect=[ConnectionError("reset")])

    result = greet.run(user_id=1)

    error = result["fetch"].error
    assert isinstance(error, StubExhaustedError)
    assert (error.task, error.calls) == ("fetch", 2)
    assert str(error) == (
        "The stub of task 'fetch' got call 2 but its side_effect has only 1 item(s); "
        "add items, or expect fewer calls"
    )
    assert result["fetch"].attempts == 2


def test_a_single_exception_as_side_effect_raises_every_time(
    fiscus_mock: ConnectorMock,
) -> None:
    stub = fiscus_mock.stub(fetch, side_effect=ConnectionError("down"))  # type: ignore[arg-type]  # accepted as unittest.mock does

    result = greet.run(user_id=1)

    assert isinstance(result["fetch"].error, ConnectionError)
    assert stub.call_count == 3


def test_hooks_still_wrap_the_stub(fiscus_mock: ConnectorMock) -> None:
    def double(ctx: TaskContext) -> dict[str, object]:
        return {**ctx.args, "user_id": 2 * int(str(ctx.args["user_id"]))}

    def shout(ctx: TaskContext, value: object) -> object:
        return str(value).upper()

    @task(before=double, after=shout)
    def hooked(user_id: int) -> str:
        return "real"

    stub = fiscus_mock.stub(hooked, side_effect=lambda user_id: f"stub {user_id}")

    assert hooked(21) == "STUB 42"
    assert stub.calls[-1].args == {"user_id": 42}


def test_a_before_hook_that_skips_skips_the_stub(fiscus_mock: ConnectorMock) -> None:
    def skip(ctx: TaskContext) -> None:
        raise SkipTask("not today")

    @task
    def maybe() -> str:
        return "real"

    @workflow
    def flow() -> str:
        return maybe()

    stub = fiscus_mock.stub(maybe, returns="stub")

    from fiscus_dsl import Runner

    result = Runner(hooks=Hooks(before_task=skip)).run(flow)

    assert result["maybe"].status is TaskStatus.SKIPPED
    assert not stub.called


def test_the_dict_api_runs_the_stub_of_an_operation(fiscus_mock: ConnectorMock) -> None:
    stub = fiscus_mock.stub(apis.send_email, returns={"id": "m1"})
    client = FiscusClient(connectors=[apis.crm, apis.mail])

    response = client.execute(
        "KitMail", "send_email", {"to": "a@b.c", "subject": "s", "body": "b"}
    )

    assert response.success
    assert response.result == {"id": "m1"}
    assert stub.calls[-1].args == {"to": "a@b.c", "subject": "s", "body": "b"}


def test_stubs_stack_and_restore_in_reverse() -> None:
    plan = fetch.plan
    first = stub_task(fetch, returns="first")
    second = stub_task(fetch, returns="second")

    assert fetch(1) == "second"
    assert original_plan(fetch) is plan
    second.restore()
    assert fetch(1) == "first"
    first.restore()
    assert fetch.plan is plan


def test_stub_task_without_an_outcome_returns_none() -> None:
    stub = stub_task(afetch)
    try:
        assert afetch(1) is None
    finally:
        stub.restore()


def test_stub_refuses_two_outcomes() -> None:
    with pytest.raises(OptionTypeError, match="got returns and raises; give one of"):
        stub_task(fetch, returns="x", raises=ValueError)


def test_stub_refuses_what_is_not_a_task() -> None:
    with pytest.raises(OptionTypeError, match="not Workflow"):
        stub_task(greet, returns="x")  # type: ignore[arg-type]  # the misuse under test


@pytest.mark.parametrize("effect", [42, "text", {"a": 1}])
def test_stub_refuses_a_side_effect_it_cannot_use(effect: object) -> None:
    with pytest.raises(OptionTypeError, match=r"pass a function, a sequence of values"):
        stub_task(fetch, side_effect=effect)  # type: ignore[arg-type]  # the misuse under test
    assert original_plan(fetch) is fetch.plan
