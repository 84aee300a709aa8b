"""Dry-run plans for an end user: what their policies refuse shows, nothing audited.

``wf.plan(..., user=user)`` and ``client.plan(..., user=user)`` plan as the
run would go for that user: a call outside their policies is a ``refused``
step (no request listed), the steps that need its value are skipped, and
the audit log records nothing, as nothing was attempted.
"""

from __future__ import annotations

from fiscus_dsl import (
    Connector,
    FiscusClient,
    FiscusUser,
    LoggingAuditLog,
    UserAuth,
    Workflow,
    workflow,
)

CRM = "https://crm.example.com/v1"


def _crm() -> tuple[Connector, Workflow[[str], object]]:
    crm = Connector("CRM", CRM, auth=UserAuth(header="X-API-Key", prefix=None))

    @crm.operation("GET /contacts/{contact_id}")
    def get_contact(contact_id: str) -> dict[str, str]:
        raise NotImplementedError  # an operation's body never runs

    @crm.operation("POST /refunds")
    def refund(contact_id: str, amount: int) -> dict[str, object]:
        raise NotImplementedError  # an operation's body never runs

    @workflow
    def refund_contact(contact_id: str) -> object:
        contact = get_contact(contact_id)
        return refund(contact["id"], 5)

    return crm, refund_contact


def _support_user() -> FiscusUser:
    user = FiscusUser("sue", audit=LoggingAuditLog())
    user.assign_role("support")
    user.add_policy(
        {"roles": ["support"], "connectors": ["CRM"], "operations": ["get_contact"]}
    )
    return user


def test_a_plan_for_a_user_shows_what_their_policies_refuse() -> None:
    _, refund_contact = _crm()
    user = _support_user()

    plan = refund_contact.plan("c1", user=user, responses={"get_contact": {"id": "c1"}})

    steps = {step.task_id: step for step in plan.steps}
    assert steps["get_contact"].status == "planned"
    assert steps["refund"].status == "refused"
    assert steps["refund"].request is None  # nothing would be sent
    assert "may not call CRM.refund" in (steps["refund"].reason or "")
    assert [step.task_id for step in plan.requests] == ["get_contact"]
    assert "x refund" in plan.to_text()
    assert "class n1 refused" in plan.to_mermaid()
    assert [e.action.value for e in user.audit_log.events(user_id="sue")] == [
        "role_assigned",
        "policy_added",
    ]  # a plan attempts nothing: no refusal is audited


def test_the_same_plan_for_no_user_or_a_granted_one_sends_both() -> None:
    _, refund_contact = _crm()
    admin = FiscusUser("ada")  # no policy: every connector

    for plan in (refund_contact.plan("c1"), refund_contact.plan("c1", user=admin)):
        assert [step.status for step in plan.steps] == ["planned", "planned"]
        assert len(plan.requests) == 2


def test_client_plan_for_a_user_refuses_as_execute_would() -> None:
    crm, _ = _crm()
    client = FiscusClient(connectors=[crm])
    user = _support_user()
    tasks = [
        {
            "connector": "CRM",
            "operation": "get_contact",
            "params": {"contact_id": "c1"},
        },
        {
            "connector": "CRM",
            "operation": "refund",
            "params": {"contact_id": "c1", "amount": 5},
        },
    ]

    plan = client.plan(tasks=tasks, user=user)

    assert [step.status for step in plan.steps] == ["planned", "refused"]
    assert len(plan.requests) == 1
