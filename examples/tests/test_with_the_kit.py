"""The examples' workflows tested with fiscus_dsl.testing only: no fake API of our own.

The Fiscus guide's examples run the guide's code on the sandbox's
connectors (``CRMSystem`` and ``Gmail``); here no sandbox is served:
``fiscus_mock`` answers their requests, whatever transport the connectors
were given, and fails the test on any request it has no mock for, so "the
email was not sent" needs no assertion of its own. The onboarding example's
tasks are plain functions, so they are stubbed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from examples import fiscus_guide_chained as chained
from examples import fiscus_guide_multiple_tasks as multiple
from examples import onboarding
from fiscus_dsl import FiscusClient, HTTPStatusError
from fiscus_dsl._sandbox import CRM_TOKEN
from fiscus_dsl._sandbox.connectors import Contact, Message, sandbox_connectors
from fiscus_dsl.testing import (
    assert_failed,
    assert_ran,
    assert_skipped,
    assert_succeeded,
)

if TYPE_CHECKING:
    import pytest

    from fiscus_dsl.testing import ConnectorMock, SpanCapture

BASE_URL = "http://127.0.0.1:8000"
"""Where the sandbox's connectors send; fiscus_mock answers, so none gets there."""
API = sandbox_connectors(BASE_URL)
CLIENT = FiscusClient(connectors=[API.crm, API.gmail])
"""The client the guide's code runs on, as the examples make it."""

JOHN = {"id": "c1", "name": "John Doe", "email": "john@example.com"}
QUEUED = {
    "id": "m1",
    "to": "john@example.com",
    "subject": "Welcome, John!",
    "body": "Glad to have you on board.",
    "status": "queued",
}
WELCOME = {
    "to": "john@example.com",
    "subject": "Welcome, John!",
    "body": "Glad to have you on board.",
}


# ---------------------------------------------------------------- the chained guide


def test_chained_sends_the_welcome_email_after_the_contact(
    fiscus_mock: ConnectorMock, capsys: pytest.CaptureFixture[str]
) -> None:
    contact = fiscus_mock.operation(API.create_contact).respond(201, json=JOHN)
    email = fiscus_mock.operation(API.send_email).respond(202, json=QUEUED)

    response = chained.guide(CLIENT)

    assert response.success
    assert capsys.readouterr().out == "Workflow completed successfully!\n"
    assert contact.calls.last.request.headers["Authorization"] == (
        f"Bearer {CRM_TOKEN}"
    )
    assert fiscus_mock.calls(API.create_contact)[-1].json == {
        "name": "John Doe",
        "email": "john@example.com",
    }
    assert fiscus_mock.calls(API.send_email)[-1].json == WELCOME
    assert email.calls.last.request.url == f"{BASE_URL}/mail/v1/messages"


def test_chained_skips_the_email_when_the_crm_refuses(
    fiscus_mock: ConnectorMock, capsys: pytest.CaptureFixture[str]
) -> None:
    fiscus_mock.operation(API.create_contact).respond(
        409, json={"error": "a contact with email john@example.com already exists"}
    )
    # No mock for send_email: if the guide sent it, the test would fail.

    response = chained.guide(CLIENT)

    assert not response.success
    assert response.context == {"create_contact": False}
    assert response.run is not None
    assert_failed(response.run, "create_contact", error=HTTPStatusError, match="409")
    assert_skipped(response.run, "send_email", match="condition")
    assert "Error: Task 0 ('create_contact') failed: HTTPStatusError 409 in " in (
        capsys.readouterr().out
    )


def test_chained_retries_a_503_with_the_same_idempotency_key(
    fiscus_mock: ConnectorMock,
) -> None:
    contact = fiscus_mock.operation(API.create_contact).mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "0"}),
            httpx.Response(201, json=JOHN),
        ]
    )
    fiscus_mock.operation(API.send_email).respond(202, json=QUEUED)

    response = chained.guide(CLIENT)

    assert response.success
    first, second = (call.request for call in contact.calls)
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert len(fiscus_mock.waits) == 1  # one retry, and no time spent waiting


def test_chained_spans_show_both_requests(
    fiscus_mock: ConnectorMock, fiscus_spans: SpanCapture
) -> None:
    fiscus_mock.operation(API.create_contact).respond(201, json=JOHN)
    fiscus_mock.operation(API.send_email).respond(202, json=QUEUED)

    chained.guide(CLIENT)

    assert fiscus_spans.tree() == (
        (
            "workflow fiscus_tasks",
            (
                ("task create_contact", (("POST /crm/v1/contacts", ()),)),
                ("task send_email", (("POST /mail/v1/messages", ()),)),
            ),
        ),
    )
    assert fiscus_spans.attributes("POST /crm/v1/contacts")[
        "http.response.status_code"
    ] == (201)


# ---------------------------------------------------------------- multiple tasks


def test_multiple_tasks_both_run(fiscus_mock: ConnectorMock) -> None:
    fiscus_mock.operation(API.create_contact).respond(201, json=JOHN)
    fiscus_mock.operation(API.send_email).respond(202, json=QUEUED)

    response = multiple.guide(CLIENT)

    assert response.success
    assert response.result == [Contact(**JOHN), Message(**QUEUED)]


def test_multiple_tasks_send_the_email_even_when_the_contact_fails(
    fiscus_mock: ConnectorMock,
) -> None:
    fiscus_mock.operation(API.create_contact).respond(409, json={"error": "dup"})
    email = fiscus_mock.operation(API.send_email).respond(202, json=QUEUED)

    response = multiple.guide(CLIENT)

    assert not response.success
    assert isinstance(response.error, HTTPStatusError)
    assert email.called


# ---------------------------------------------------------------- onboarding


def test_onboarding_welcomes_a_good_signup(fiscus_mock: ConnectorMock) -> None:
    contact = onboarding.Contact(**JOHN)
    fiscus_mock.stub(onboarding.create_contact, returns=contact)
    sent = fiscus_mock.stub(onboarding.send_email, returns={"id": "m1"})
    paged = fiscus_mock.stub(onboarding.page_ops)

    result = onboarding.onboard.run(name="John Doe", email="john@example.com")

    assert_succeeded(result)
    assert_ran(result, "create_contact", "welcome_subject", "send_email")
    assert_skipped(result, "page_ops")
    assert result.output == contact
    assert sent.calls[-1].args == {
        "to": "john@example.com",
        "subject": "Welcome, John Doe!",
        "body": "Glad to have you on board.",
    }
    assert not paged.called


def test_onboarding_pages_ops_when_the_crm_rejects(fiscus_mock: ConnectorMock) -> None:
    fiscus_mock.stub(
        onboarding.create_contact,
        raises=onboarding.CrmRejectedError("not an email address"),
    )
    sent = fiscus_mock.stub(onboarding.send_email)
    paged = fiscus_mock.stub(onboarding.page_ops)

    result = onboarding.onboard.run(name="Jane Roe", email="jane-at-example.com")

    assert_succeeded(result)  # create_contact has on_error="continue"
    assert_failed(result, "create_contact", error=onboarding.CrmRejectedError)
    assert_skipped(result, "send_email")
    assert paged.calls[-1].args == {"reason": "contact creation failed"}
    assert not sent.called


def test_onboarding_spans(
    fiscus_mock: ConnectorMock, fiscus_spans: SpanCapture
) -> None:
    fiscus_mock.stub(onboarding.create_contact, returns=onboarding.Contact(**JOHN))
    fiscus_mock.stub(onboarding.send_email, returns={"id": "m1"})
    fiscus_mock.stub(onboarding.welcome_subject, returns="Hi!")

    onboarding.onboard.run(name="John Doe", email="john@example.com")

    assert [name for name, _ in fiscus_spans.tree()[0][1]] == [
        "task create_contact",
        "task page_ops",
        "task send_email",
        "task welcome_subject",
    ]
    assert fiscus_spans.attributes("task page_ops")["fiscus.task.status"] == "skipped"
