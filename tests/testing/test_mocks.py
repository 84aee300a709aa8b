"""ConnectorMock: operations on a respx router, strictness, and mock_connectors()."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest

from fiscus_dsl import (
    ConfigurationError,
    Connector,
    ConnectorError,
    FiscusErrorCode,
    HTTPStatusError,
    OptionTypeError,
    RunStatus,
    TaskStatus,
    default_runner,
    workflow,
)
from fiscus_dsl._connectors.http import _TRANSPORT_OVERRIDE
from fiscus_dsl._runtime.overrides import SLEEP_OVERRIDE
from fiscus_dsl.testing import (
    ConnectorMock,
    MockExpectationError,
    OperationCall,
    RequestBodyError,
    UnmockedRequestError,
    mock_connectors,
)

from . import apis
from .apis import (
    JOHN,
    Contact,
    count_contacts,
    create_contact,
    find_contacts,
    get_contact,
    get_me,
    link_contacts,
    onboard,
    send_email,
)

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def mock() -> Iterator[ConnectorMock]:
    """A started mock whose expectations the test checks itself."""
    made = ConnectorMock()
    made.start()
    yield made
    made.stop()


# ---------------------------------------------------------------- operations


def test_an_operation_route_answers_the_workflow_as_respx_does(
    fiscus_mock: ConnectorMock,
) -> None:
    created = fiscus_mock.operation(create_contact).respond(201, json=JOHN)
    sent = fiscus_mock.operation(send_email).respond(202, json={"id": "m1"})

    result = onboard.run(name="John Doe", email="john@example.com")

    assert result.status is RunStatus.SUCCEEDED
    assert result.output == Contact(**JOHN)
    assert created.called
    assert created.call_count == 1
    assert sent.calls.last.request.url == "https://mail.kit.test/messages"
    assert created.calls.last.request.headers["Authorization"] == "Bearer crm-token"
    assert "Idempotency-Key" in created.calls.last.request.headers


def test_calls_read_the_json_body_back(fiscus_mock: ConnectorMock) -> None:
    fiscus_mock.operation(create_contact).respond(201, json=JOHN)
    fiscus_mock.operation(send_email).respond(202, json={"id": "m1"})

    onboard.run(name="John Doe", email="john@example.com")

    (call,) = fiscus_mock.calls(send_email)
    assert call.json == {
        "to": "john@example.com",
        "subject": "Welcome, John Doe!",
        "body": "Glad to have you.",
    }
    assert call.query == {}
    assert call.path_params == {}
    assert call.response is not None
    assert call.response.status_code == 202
    assert call.headers["Content-Type"] == "application/json"


def test_path_parameters_match_any_value_and_read_back_unquoted(
    mock: ConnectorMock,
) -> None:
    route = mock.operation(get_contact).respond(json=JOHN)

    get_contact(contact_id="c1")
    get_contact(contact_id="a/b ..")

    assert route.call_count == 2
    assert [call.path_params for call in mock.calls(get_contact)] == [
        {"contact_id": "c1"},
        {"contact_id": "a/b .."},
    ]
    assert mock.calls(get_contact)[1].json is None  # a GET has no body


def test_a_callable_side_effect_gets_the_path_parameters(mock: ConnectorMock) -> None:
    def answer(
        request: httpx.Request, contact_id: str, other_id: str
    ) -> httpx.Response:
        return httpx.Response(204, headers={"X-Link": f"{contact_id}-{other_id}"})

    route = mock.operation(link_contacts).mock(side_effect=answer)

    link_contacts(contact_id="c1", other_id="c2")

    assert route.calls.last.response.headers["X-Link"] == "c1-c2"


def test_query_parameters_read_back_with_repeated_ones_as_lists(
    mock: ConnectorMock,
) -> None:
    mock.operation(find_contacts).respond(json=[JOHN])

    assert find_contacts(q="john", tag=["vip", "new"]) == [Contact(**JOHN)]

    assert mock.calls(find_contacts)[-1].query == {"q": "john", "tag": ["vip", "new"]}


def test_the_more_specific_route_wins_whatever_the_order(mock: ConnectorMock) -> None:
    by_id = mock.operation(get_contact).respond(json=JOHN)
    me = mock.operation(get_me).respond(json={**JOHN, "id": "me"})

    assert get_me().id == "me"
    assert get_contact(contact_id="c1").id == "c1"

    assert (me.call_count, by_id.call_count) == (1, 1)


def test_a_route_added_to_the_router_by_hand_comes_first(mock: ConnectorMock) -> None:
    by_id = mock.operation(get_contact).respond(json=JOHN)
    special = mock.router.get("https://crm.kit.test/v1/contacts/special").respond(
        json={**JOHN, "id": "special"}
    )

    assert get_contact(contact_id="special").id == "special"

    assert (special.call_count, by_id.call_count) == (1, 0)


def test_the_task_and_the_names_give_the_same_route(mock: ConnectorMock) -> None:
    route = mock.operation(get_contact)

    assert mock.operation("KitCRM", "get_contact") is route
    assert mock.operation(get_contact, optional=True) is route
    assert mock.calls("KitCRM", "get_contact") == []


def test_a_stubbed_operation_still_has_its_route(mock: ConnectorMock) -> None:
    mock.stub(get_contact, returns=Contact(**JOHN))

    route = mock.operation(get_contact, optional=True)

    assert get_contact(contact_id="c1") == Contact(**JOHN)
    assert not route.called


def test_any_transport_is_replaced_so_nothing_reaches_the_network() -> None:
    reached: list[httpx.Request] = []

    def network(request: httpx.Request) -> httpx.Response:
        reached.append(request)
        return httpx.Response(500)

    for option in (httpx.MockTransport(network), "aiohttp"):
        api = Connector("KitTransports", apis.CRM_URL, transport=option)
        ping = api.operation("GET /ping", retry=None)(_ping)

        with mock_connectors() as mock:
            mock.operation(ping).respond(json="pong")
            assert ping() == "pong"

    assert reached == []


def _ping() -> str:
    """Ping."""
    raise NotImplementedError


# ---------------------------------------------------------------- hand-written tasks


def test_route_mocks_the_requests_of_a_hand_written_task(mock: ConnectorMock) -> None:
    route = mock.route(apis.crm, "get /contacts/count").respond(json={"count": 3})

    assert count_contacts() == 3

    assert route.calls.last.request.url.path == "/v1/contacts/count"


def test_route_refuses_what_is_not_a_route(mock: ConnectorMock) -> None:
    with pytest.raises(ConfigurationError, match=r"'METHOD /path/\{param\}'"):
        mock.route(apis.crm, "FETCH /contacts")
    with pytest.raises(ConfigurationError, match="no query"):
        mock.route(apis.crm, "GET /contacts?q=1")


# ---------------------------------------------------------------- retries and failures


def test_a_side_effect_sequence_drives_retries_without_waiting(
    mock: ConnectorMock,
) -> None:
    route = mock.operation(send_email).mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(503),
            httpx.Response(202, json={"id": "m1"}),
        ]
    )

    assert send_email(to="a@b.c", subject="s", body="b") == {"id": "m1"}

    assert route.call_count == 3
    assert mock.waits == [0.5, 1.0]  # the connector's backoff, not waited


def test_an_error_status_fails_the_task_as_the_api_would(mock: ConnectorMock) -> None:
    mock.operation(create_contact).respond(409, json={"error": "exists"})
    mock.operation(send_email, optional=True)

    result = onboard.run(name="John Doe", email="john@example.com")

    assert result.status is RunStatus.SUCCEEDED  # on_error="continue"
    error = result["create_contact"].error
    assert isinstance(error, HTTPStatusError)
    assert error.status_code == 409
    assert result["send_email"].status is TaskStatus.SKIPPED
    assert result["page_ops"].status is TaskStatus.SUCCEEDED


def test_running_out_of_side_effects_fails_the_task_and_says_so(
    mock: ConnectorMock,
) -> None:
    route = mock.operation(get_contact).mock(side_effect=[httpx.Response(503)])

    with pytest.raises(UnmockedRequestError) as caught:
        get_contact(contact_id="c1")

    assert route.call_count == 1  # the attempt that found nothing is not a call
    assert str(caught.value) == (
        "The mock GET https://crm.kit.test/v1/contacts/{contact_id} "
        "(KitCRM.get_contact) ran out of side effects: it answered 1 call(s), "
        "and GET https://crm.kit.test/v1/contacts/c1 (operation 'get_contact' of "
        "connector 'KitCRM') found none left, so nothing was sent; add items to its "
        "side_effect, or expect fewer attempts"
    )
    assert "ran out of side effects" in (mock.problems() or "")


def test_an_error_raised_by_a_side_effect_reaches_the_task(mock: ConnectorMock) -> None:
    def broken(request: httpx.Request, contact_id: str) -> httpx.Response:
        raise RuntimeError("the side effect broke")

    mock.operation(get_contact).mock(side_effect=broken)

    with pytest.raises(RuntimeError, match="the side effect broke"):
        get_contact(contact_id="c1")


# ---------------------------------------------------------------- unmocked requests


def test_an_unmocked_request_fails_its_task_at_once_and_names_it(
    mock: ConnectorMock,
) -> None:
    mock.operation(send_email, optional=True)

    with pytest.raises(UnmockedRequestError) as caught:
        get_contact(contact_id="c1")

    error = caught.value
    assert str(error) == (
        "Unmocked request: GET https://crm.kit.test/v1/contacts/c1 (operation "
        "'get_contact' of connector 'KitCRM') matched no mock, so nothing was sent. "
        "The mocks: POST https://mail.kit.test/messages (KitMail.send_email). "
        "Mock it: fiscus_mock.operation('KitCRM', 'get_contact').respond(...)"
    )
    assert (error.method, error.url) == ("GET", "https://crm.kit.test/v1/contacts/c1")
    assert (error.connector, error.operation) == ("KitCRM", "get_contact")
    assert error.code is FiscusErrorCode.TESTING_FAILURE
    assert isinstance(error, AssertionError)


def test_an_unmocked_request_is_not_retried(mock: ConnectorMock) -> None:
    @workflow
    def fetch() -> Contact:
        return get_contact(contact_id="c1")

    result = fetch.run()

    assert result["get_contact"].attempts == 1
    assert isinstance(result.error, UnmockedRequestError)
    assert mock.waits == []


def test_an_unmocked_request_fails_verify_even_when_the_run_swallowed_it(
    mock: ConnectorMock,
) -> None:
    result = onboard.run(name="John Doe", email="john@example.com")  # continue

    assert result.status is RunStatus.SUCCEEDED
    with pytest.raises(MockExpectationError) as caught:
        mock.verify()
    assert caught.value.uncalled == []
    (unmocked,) = caught.value.unmocked
    assert unmocked.startswith("Unmocked request: POST https://crm.kit.test/v1/")
    assert "The mocks: none." in unmocked
    assert str(caught.value).startswith("1 request(s) matched no mock:\n  - Unmocked")


def test_a_hand_written_task_request_suggests_a_route(mock: ConnectorMock) -> None:
    with pytest.raises(UnmockedRequestError) as caught:
        count_contacts()

    assert caught.value.operation == "count_contacts"
    assert str(caught.value).endswith(
        "(task 'count_contacts' of connector 'KitCRM') matched no mock, so nothing "
        "was sent. The mocks: none. Mock it: fiscus_mock.route(connector, "
        "'GET /contacts/count').respond(...)"
    )


async def test_a_request_outside_any_task_names_what_it_can(
    mock: ConnectorMock,
) -> None:
    client = apis.mail.client()

    with pytest.raises(UnmockedRequestError) as inside:
        await client.get("/outbox")
    with pytest.raises(UnmockedRequestError) as outside:
        await client.get("https://elsewhere.test/x?token=a-value-of-elsewhere")
    with pytest.raises(UnmockedRequestError) as like_an_operation:
        await apis.crm.client().get("/contacts/me")
    with pytest.raises(UnmockedRequestError) as like_none:
        await apis.crm.client().get("/contacts/c1/notes")
    await apis.mail.aclose()
    await apis.crm.aclose()

    assert "/outbox (a request of connector 'KitMail') matched" in str(inside.value)
    assert like_an_operation.value.operation == "get_me"
    assert like_none.value.operation is None
    assert str(outside.value) == (
        "Unmocked request: GET https://elsewhere.test/x?token=REDACTED matched no "
        "mock, so nothing was sent. The mocks: none. No connector has this base "
        "URL; mock it with fiscus_mock.router, as with respx"
    )
    assert outside.value.connector is None


def test_a_request_to_a_foreign_url_from_a_task_names_the_task(
    mock: ConnectorMock,
) -> None:
    @apis.mail.task
    async def fetch_elsewhere(client: httpx.AsyncClient) -> int:
        return (await client.get("https://elsewhere.test/x")).status_code

    with pytest.raises(UnmockedRequestError) as caught:
        fetch_elsewhere()

    assert "https://elsewhere.test/x (task 'fetch_elsewhere') matched" in str(
        caught.value
    )


# ---------------------------------------------------------------- strictness


def test_a_mock_never_called_fails_verify(mock: ConnectorMock) -> None:
    mock.operation(create_contact)
    mock.router.get("https://crm.kit.test/v1/ping")

    with pytest.raises(MockExpectationError) as caught:
        mock.verify()

    assert caught.value.unmocked == []
    ours, by_hand = caught.value.uncalled
    assert ours == "POST https://crm.kit.test/v1/contacts (KitCRM.create_contact)"
    assert by_hand.startswith("<Route ")
    assert str(caught.value).startswith("2 mock(s) were never called; ")


def test_an_optional_mock_may_go_uncalled(mock: ConnectorMock) -> None:
    mock.operation(create_contact, optional=True)

    assert mock.problems() is None
    mock.verify()


# ---------------------------------------------------------------- misuse


def test_operation_refuses_a_plain_task(mock: ConnectorMock) -> None:
    with pytest.raises(OptionTypeError, match=r"stub it instead: fiscus_mock\.stub\("):
        mock.operation(apis.welcome_subject)


def test_operation_refuses_a_hand_written_task(mock: ConnectorMock) -> None:
    with pytest.raises(OptionTypeError, match="is hand-written, so it has no route"):
        mock.operation(count_contacts)


def test_operation_refuses_what_is_not_a_task(mock: ConnectorMock) -> None:
    with pytest.raises(OptionTypeError, match="not function"):
        mock.operation(_ping)  # type: ignore[call-overload]  # the misuse under test
    with pytest.raises(OptionTypeError, match="not Workflow"):
        mock.operation(onboard)  # type: ignore[call-overload]  # as above


def test_operation_by_name_needs_both_names(mock: ConnectorMock) -> None:
    with pytest.raises(
        OptionTypeError, match=r"Give the operation's name after the conn"
    ):
        mock.operation("KitCRM")  # type: ignore[call-overload]  # the misuse under test
    with pytest.raises(
        OptionTypeError, match=r"Give the operation's name after the conn"
    ):
        mock.calls("KitCRM")


def test_operation_by_name_says_what_exists(mock: ConnectorMock) -> None:
    with pytest.raises(LookupError, match="No connector is named 'KitCMR'; the con"):
        mock.operation("KitCRM".replace("CRM", "CMR"), "get_contact")
    with pytest.raises(
        LookupError,
        match=re.escape(
            "Connector 'KitCRM' has no operation 'get_contacts'; its operations are "
            "['create_contact', 'find_contacts', 'get_contact', 'get_me', "
            "'link_contacts']"
        ),
    ):
        mock.operation("KitCRM", "get_contacts")


def test_operation_by_name_refuses_an_ambiguous_name(mock: ConnectorMock) -> None:
    twins = [
        Connector("KitTwin", f"https://twin{n}.kit.test", retry=None) for n in (1, 2)
    ]
    for twin in twins:
        twin.operation("GET /ping")(_ping)

    with pytest.raises(LookupError, match="2 connectors named 'KitTwin' have"):
        mock.operation("KitTwin", "_ping")


def test_twin_connectors_at_the_same_url_share_one_route(mock: ConnectorMock) -> None:
    twins = [Connector("KitSame", "https://same.kit.test", retry=None) for _ in "ab"]
    pings = [twin.operation("GET /ping")(_ping) for twin in twins]

    route = mock.operation("KitSame", "_ping").respond(json="pong")

    assert [ping() for ping in pings] == ["pong", "pong"]
    assert route.call_count == 2


def test_calls_of_an_operation_without_a_mock_is_an_error(mock: ConnectorMock) -> None:
    with pytest.raises(LookupError, match=r"KitCRM\.get_contact has no mock"):
        mock.calls(get_contact)


def test_a_non_json_body_reads_back_with_a_clear_error(mock: ConnectorMock) -> None:
    @apis.crm.task
    async def upload(client: httpx.AsyncClient) -> int:
        return (await client.post("/files", content=b"\x00raw")).status_code

    mock.route(apis.crm, "POST /files").respond(201)
    upload()

    (call,) = mock.router.calls
    read = OperationCall(request=call.request, response=None, path_params={})
    with pytest.raises(
        RequestBodyError, match=r"^The body of POST .*/v1/files is not JSON"
    ) as info:
        _ = read.json
    assert isinstance(info.value, ValueError)


# ---------------------------------------------------------------- lifecycle


def test_start_and_stop_are_idempotent_and_undo_everything() -> None:
    mock = ConnectorMock()

    mock.start()
    mock.start()
    started = (
        mock.is_started,
        SLEEP_OVERRIDE.get() is not None,
        _TRANSPORT_OVERRIDE.get() is not None,
        repr(mock),
    )
    stub = mock.stub(apis.welcome_subject, returns="hi")
    mock.stop()
    mock.stop()

    assert started == (True, True, True, "<ConnectorMock started, 0 route(s)>")
    assert not mock.is_started
    assert (SLEEP_OVERRIDE.get(), _TRANSPORT_OVERRIDE.get()) == (None, None)
    assert not stub.is_active
    assert repr(mock) == "<ConnectorMock stopped, 0 route(s)>"


def test_a_mock_changes_no_runner() -> None:
    runner = default_runner()
    own = (runner.sleep, runner.clock)

    with mock_connectors():
        during = (runner.sleep, runner.clock)

    assert during == own
    assert default_runner() is runner


def test_mock_connectors_checks_its_mocks_when_the_block_ends() -> None:
    def block() -> None:
        with mock_connectors() as mock:
            mock.operation(get_contact)

    with pytest.raises(MockExpectationError, match="were never called"):
        block()


def test_mock_connectors_adds_unmocked_requests_to_an_error_of_the_block() -> None:
    def block() -> None:
        with mock_connectors() as mock:
            mock.operation(get_contact)  # never called: not reported now
            onboard.run(name="John Doe", email="john@example.com")  # continues
            _ = 1 / 0

    with pytest.raises(ZeroDivisionError) as caught:
        block()

    (note,) = caught.value.__notes__
    assert note.startswith("fiscus_mock: Unmocked request: POST https://crm.kit.test")


def test_an_error_that_says_it_gets_no_note() -> None:
    with pytest.raises(UnmockedRequestError) as caught, mock_connectors():
        get_contact(contact_id="c1")

    assert not hasattr(caught.value, "__notes__")


def test_mock_connectors_decorates_a_function_with_a_fresh_mock() -> None:
    seen: list[ConnectorMock] = []

    @mock_connectors()
    def check(fiscus_mock: ConnectorMock | None = None) -> str:
        assert fiscus_mock is not None
        seen.append(fiscus_mock)
        fiscus_mock.operation(get_contact).respond(json=JOHN)
        return get_contact(contact_id="c1").name

    @mock_connectors()
    def check_alone() -> str:
        return "ok"

    assert [check(), check()] == ["John Doe", "John Doe"]
    assert check_alone() == "ok"
    assert seen[0] is not seen[1]
    assert not seen[0].is_started


async def test_mock_connectors_decorates_an_async_function() -> None:
    @mock_connectors()
    async def check(fiscus_mock: ConnectorMock | None = None) -> str:
        assert fiscus_mock is not None
        fiscus_mock.operation(get_contact).respond(json=JOHN)
        return (await get_contact.arun(contact_id="c1")).name

    assert await check() == "John Doe"


async def test_mock_connectors_works_with_async_with() -> None:
    async with mock_connectors() as mock:
        mock.operation(get_contact).respond(json=JOHN)
        contact = await get_contact.arun(contact_id="c1")

    assert contact == Contact(**JOHN)
    assert not mock.is_started


def test_the_fixture_checks_after_the_test(fiscus_mock: ConnectorMock) -> None:
    fiscus_mock.operation(get_contact).respond(json=JOHN)

    get_contact(contact_id="c1")

    assert fiscus_mock.is_started


def test_a_connector_error_keeps_its_own_type_through_the_mock(
    mock: ConnectorMock,
) -> None:
    route = mock.operation(get_contact).mock(side_effect=httpx.ConnectError("down"))

    with pytest.raises(ConnectorError, match=r"^ConnectError \(down\) in "):
        get_contact(contact_id="c1")
    assert route.call_count == 3  # retried: the connection was refused
