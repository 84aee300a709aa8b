"""The onboarding workflow of ``fiscus demo``: the tutorial's onboarding on the sandbox.

``build_onboarding(base_url)`` declares the sandbox connectors and returns
the ``onboard`` workflow: create the contact in the CRM (``on_error=
"continue"``) while the flaky endpoint checks the mailbox (503 twice, then
200: the connector retries it) and the subject is written; then, if the
contact was created and the mailbox is fine, send the welcome email, and
otherwise page ops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fiscus_dsl._dsl.conditions import otherwise, succeeded, when
from fiscus_dsl._dsl.task import task
from fiscus_dsl._dsl.workflow import workflow
from fiscus_dsl._sandbox.connectors import Contact, FlakyAnswer, sandbox_connectors

if TYPE_CHECKING:
    from fiscus_dsl._dsl.workflow import Workflow

WELCOME_BODY = "Glad to have you on board."


def build_onboarding(base_url: str) -> Workflow[..., Contact]:
    """Return the ``onboard(name, email)`` workflow against the sandbox at ``base_url``.

    Examples:
        >>> onboard = build_onboarding("http://127.0.0.1:8000")
        >>> [node.id for node in onboard.graph().nodes]
        ['create_contact', 'verify_mailbox', 'welcome_subject',
         'send_email', 'page_ops']
    """
    api = sandbox_connectors(base_url)
    create_contact, send_email = api.create_contact, api.send_email

    @api.flaky.operation("GET /{address}")
    def verify_mailbox(address: str) -> FlakyAnswer:
        """Check that the mailbox takes mail (the sandbox's flaky endpoint)."""

    @task
    def welcome_subject(name: str) -> str:
        """Write the welcome email's subject line."""
        return f"Welcome, {name}!"

    @task
    async def page_ops(reason: str) -> str:
        """Tell the people on call that something needs a human."""
        return f"paged ops: {reason}"

    @workflow
    def onboard(name: str, email: str) -> Contact:
        """Create the contact; welcome them, or page ops if that failed."""
        contact = create_contact(name=name, email=email)  # a future: nothing ran
        mailbox = verify_mailbox(address=email)  # retried: 503, 503, 200
        subject = welcome_subject(name)
        with when(succeeded(contact) & (mailbox.status == "ok")):
            send_email(to=contact.email, subject=subject, body=WELCOME_BODY)
        with otherwise():
            page_ops(reason="could not welcome the new contact")
        return contact

    return onboard
