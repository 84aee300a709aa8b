"""The sandbox API over real HTTP on loopback: CRM, mail, the flaky endpoint, auth."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import httpx
import pytest
import uvicorn

from fiscus_dsl._sandbox import (
    CRM_TOKEN,
    FLAKY_TOKEN,
    MAIL_TOKEN,
    SandboxState,
    create_app,
    sandbox,
)
from fiscus_dsl._sandbox.server import _url_host, _wait_until_listening

if TYPE_CHECKING:
    from collections.abc import Iterator


def client(base_url: str, token: str | None) -> httpx.Client:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.Client(base_url=base_url, headers=headers)


@pytest.fixture
def crm(sandbox_url: str) -> Iterator[httpx.Client]:
    with client(f"{sandbox_url}/crm/v1", CRM_TOKEN) as http:
        yield http


@pytest.fixture
def mail(sandbox_url: str) -> Iterator[httpx.Client]:
    with client(f"{sandbox_url}/mail/v1", MAIL_TOKEN) as http:
        yield http


@pytest.fixture
def flaky(sandbox_url: str) -> Iterator[httpx.Client]:
    with client(f"{sandbox_url}/flaky/v1", FLAKY_TOKEN) as http:
        yield http


def unique_email() -> str:
    return f"{uuid.uuid4().hex[:8]}@example.com"


# ---------------------------------------------------------------- CRM


def test_creating_a_contact_returns_201_with_a_new_id(crm: httpx.Client) -> None:
    email = unique_email()

    answer = crm.post("/contacts", json={"name": "Ann", "email": email})

    assert answer.status_code == 201
    contact = answer.json()
    assert contact == {"id": contact["id"], "name": "Ann", "email": email}
    assert contact["id"].startswith("c")
    assert answer.headers["Location"] == f"/crm/v1/contacts/{contact['id']}"


def test_a_contact_can_be_read_back_and_listed(crm: httpx.Client) -> None:
    contact = crm.post("/contacts", json={"name": "Bo", "email": unique_email()})
    contact_id = contact.json()["id"]

    assert crm.get(f"/contacts/{contact_id}").json() == contact.json()
    assert contact.json() in crm.get("/contacts").json()


def test_a_duplicate_email_is_409_naming_the_existing_contact(
    crm: httpx.Client,
) -> None:
    email = unique_email()
    first = crm.post("/contacts", json={"name": "Cy", "email": email}).json()

    again = crm.post("/contacts", json={"name": "Cy", "email": email.upper()})

    assert again.status_code == 409
    assert again.json() == {
        "error": f"a contact with email {email.upper()} already exists",
        "id": first["id"],
    }


def test_an_unknown_contact_is_404(crm: httpx.Client) -> None:
    answer = crm.get("/contacts/c999999")

    assert answer.status_code == 404
    assert answer.json() == {"error": "no contact with id c999999"}


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"name": "Di"}, 422, "'email' must be a non-empty string"),
        ({"name": "Di", "email": "di-at-example"}, 422, "'email' must be an email"),
        ({"name": " ", "email": "di@example.com"}, 422, "'name' must be a non-empty"),
        ([1, 2], 400, "the body must be a JSON object"),
        (b"{not json", 400, "the body is not JSON"),
    ],
)
def test_a_bad_contact_is_refused(
    crm: httpx.Client, body: object, status: int, error: str
) -> None:
    if isinstance(body, bytes):
        answer = crm.post("/contacts", content=body)
    else:
        answer = crm.post("/contacts", json=body)

    assert answer.status_code == status
    assert answer.json()["error"].startswith(error)


# ---------------------------------------------------------------- auth


@pytest.mark.parametrize("token", [None, "wrong", MAIL_TOKEN])
def test_the_crm_refuses_a_missing_or_wrong_token(
    sandbox_url: str, token: str | None
) -> None:
    with client(f"{sandbox_url}/crm/v1", token) as http:
        answer = http.get("/contacts")

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="crm"'


def test_a_token_never_appears_in_an_answer(sandbox_url: str) -> None:
    with client(f"{sandbox_url}/crm/v1", "wrong") as http:
        answer = http.get("/contacts")

    assert CRM_TOKEN not in answer.text
    assert answer.json() == {
        "error": "missing or wrong bearer token for the sandbox crm service"
    }


def test_the_health_check_needs_no_token(sandbox_url: str) -> None:
    answer = httpx.get(f"{sandbox_url}/health")

    assert answer.json() == {"status": "ok", "services": ["crm", "flaky", "mail"]}


# ---------------------------------------------------------------- mail


def test_a_message_is_accepted_with_202_and_lands_in_the_outbox(
    mail: httpx.Client,
) -> None:
    to = unique_email()

    answer = mail.post("/messages", json={"to": to, "subject": "Hi", "body": "Yo"})

    assert answer.status_code == 202
    message = answer.json()
    assert message == {
        "id": message["id"],
        "to": to,
        "subject": "Hi",
        "body": "Yo",
        "status": "queued",
    }
    assert message in mail.get("/messages").json()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"to": "nobody", "subject": "Hi"}, "'to' must be an email address"),
        ({"to": "a@example.com"}, "'subject' must be a non-empty string"),
        ({"to": "a@example.com", "subject": "Hi", "body": 3}, "'body' must be a"),
    ],
)
def test_a_bad_message_is_422(mail: httpx.Client, body: object, error: str) -> None:
    answer = mail.post("/messages", json=body)

    assert answer.status_code == 422
    assert answer.json()["error"].startswith(error)


def test_a_message_body_defaults_to_empty(mail: httpx.Client) -> None:
    answer = mail.post("/messages", json={"to": "a@example.com", "subject": "Hi"})

    assert answer.json()["body"] == ""


# ---------------------------------------------------------------- flaky


def test_the_flaky_endpoint_answers_503_twice_then_200(flaky: httpx.Client) -> None:
    key = uuid.uuid4().hex

    answers = [flaky.get(f"/{key}") for _ in range(3)]

    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].headers["Retry-After"] == "0"
    assert answers[1].json() == {
        "error": "temporarily unavailable",
        "key": key,
        "call": 2,
    }
    assert answers[2].json() == {"key": key, "calls": 3, "status": "ok"}


def test_the_flaky_endpoint_counts_each_key_apart(flaky: httpx.Client) -> None:
    one, two = uuid.uuid4().hex, uuid.uuid4().hex

    flaky.get(f"/{one}")

    assert flaky.get(f"/{two}").status_code == 503
    assert flaky.get(f"/{one}").json()["call"] == 2


def test_failures_and_retry_after_come_from_the_query(flaky: httpx.Client) -> None:
    key = uuid.uuid4().hex

    first = flaky.get(f"/{key}", params={"failures": 1, "retry_after": 7})
    second = flaky.get(f"/{key}", params={"failures": 1})

    assert (first.status_code, first.headers["Retry-After"]) == (503, "7")
    assert second.status_code == 200
    assert flaky.get(f"/{uuid.uuid4().hex}?failures=0").status_code == 200


@pytest.mark.parametrize("query", ["failures=-1", "failures=x", "retry_after=99999"])
def test_a_bad_query_is_400(flaky: httpx.Client, query: str) -> None:
    answer = flaky.get(f"/{uuid.uuid4().hex}?{query}")

    assert answer.status_code == 400
    assert "must be a whole number from 0 to" in answer.json()["error"]


def test_delete_resets_a_key(flaky: httpx.Client) -> None:
    key = uuid.uuid4().hex
    for _ in range(3):
        flaky.get(f"/{key}")

    assert flaky.delete(f"/{key}").status_code == 204
    assert flaky.get(f"/{key}").status_code == 503


# ---------------------------------------------------------------- the whole app


def test_reset_empties_contacts_outbox_and_counts() -> None:
    state = SandboxState()
    with sandbox(create_app(state)) as base_url:
        with client(f"{base_url}/crm/v1", CRM_TOKEN) as crm:
            crm.post("/contacts", json={"name": "Ed", "email": "ed@example.com"})
        with client(f"{base_url}/flaky/v1", FLAKY_TOKEN) as flaky:
            flaky.get("/k")
        with client(f"{base_url}/mail/v1", MAIL_TOKEN) as mail:
            mail.post("/messages", json={"to": "ed@example.com", "subject": "Hi"})
        full = (len(state.contacts), len(state.outbox), dict(state.flaky_calls))

        reset = httpx.post(f"{base_url}/reset")

    assert full == (1, 1, {"k": 1})
    assert reset.status_code == 204
    assert (state.contacts, state.outbox, state.flaky_calls) == ({}, [], {})


def test_an_unknown_route_is_404_and_a_wrong_method_405(sandbox_url: str) -> None:
    assert httpx.get(f"{sandbox_url}/nowhere").status_code == 404
    assert httpx.put(f"{sandbox_url}/crm/v1/contacts").status_code == 405


def test_the_sandbox_stops_listening_when_the_block_ends() -> None:
    with sandbox() as base_url:
        assert httpx.get(f"{base_url}/health").status_code == 200

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/health")


def test_the_sandbox_refuses_an_address_it_cannot_listen_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        pytest.raises(RuntimeError, match=r"start on 192\.0\.2\.1 \(it exited;"),
        sandbox(host="192.0.2.1"),  # TEST-NET-1: no machine has it
    ):
        pass

    assert "error while attempting to bind" in caplog.text


def test_waiting_for_a_server_that_never_listens_gives_up() -> None:
    idle = uvicorn.Server(uvicorn.Config(create_app()))  # never run: never started

    with pytest.raises(RuntimeError, match=r"\(it took over 0\.01 s;"):
        _wait_until_listening(idle, [], "127.0.0.1", 0.01)


def test_an_ipv6_host_is_bracketed_in_the_url() -> None:
    assert _url_host("::1") == "[::1]"
    assert _url_host("127.0.0.1") == "127.0.0.1"
