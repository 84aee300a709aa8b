"""Run ``examples/fanout_api.py`` against the sandbox and check what it did."""

from __future__ import annotations

import pytest

from examples import fanout_api
from fiscus_dsl import RunStatus, TaskStatus


@pytest.fixture(scope="module")
def outcome() -> fanout_api.Outcome:
    return fanout_api.main()


def test_import_maps_create_contact_over_the_zipped_lists(
    outcome: fanout_api.Outcome,
) -> None:
    imported = outcome.imported

    assert imported.status is RunStatus.SUCCEEDED
    contacts = imported.output or []
    # The output keeps the order of the lists; ids follow arrival at the CRM.
    assert [(c.name, c.email) for c in contacts] == [
        (f"Person {n}", f"person{n}@example.com") for n in range(1, 41)
    ]
    assert sorted(c.id for c in contacts) == sorted(f"c{n}" for n in range(1, 41))


def test_welcome_maps_the_sub_workflow_over_every_contact(
    outcome: fanout_api.Outcome,
) -> None:
    welcomed = outcome.welcomed

    assert welcomed.status is RunStatus.SUCCEEDED
    messages = welcomed.output or []
    assert len(messages) == fanout_api.PEOPLE
    assert {(m.to, m.subject) for m in messages} == {
        (f"person{n}@example.com", f"Welcome, Person {n}!") for n in range(1, 41)
    }
    assert {o.status for o in welcomed.tasks.values()} == {TaskStatus.SUCCEEDED}
    assert welcomed["welcome[39]/send_email"].attempts == 1


def test_the_mail_rate_limit_spreads_the_emails_out(
    outcome: fanout_api.Outcome,
) -> None:
    # A burst of RATE, then RATE a second: the other 20 take at least ~1 s.
    least = (fanout_api.PEOPLE - fanout_api.RATE) / fanout_api.RATE

    assert outcome.window >= least * 0.9
