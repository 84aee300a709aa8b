"""The pytest plugin as users get it: their test files, run with pytester.

Each test writes a user's project (an API module and a test file) and runs
pytest on it in-process; the plugin is loaded through its ``pytest11``
entry point, as it is for anyone who installs fiscus_dsl.
"""

from __future__ import annotations

import importlib.metadata
import textwrap

import pytest

API = """
    from pydantic import BaseModel

    from fiscus_dsl import (
        BearerAuth, Connector, Secret, otherwise, succeeded, task, when, workflow,
    )

    crm = Connector("PtCRM", "https://crm.pt.test/v1", auth=BearerAuth(Secret("t")))
    mail = Connector("PtMail", "https://mail.pt.test")
    JOHN = {"id": "c1", "name": "John", "email": "john@example.com"}


    class Contact(BaseModel):
        id: str
        name: str
        email: str


    @crm.operation("POST /contacts", on_error="continue")
    def create_contact(name: str, email: str) -> Contact:
        '''Create a contact.'''


    @mail.operation("POST /messages")
    def send_email(to: str, subject: str) -> dict[str, str]:
        '''Send an email.'''


    @task
    def page_ops(reason: str) -> str:
        return "paged"


    @workflow
    def onboard(name: str, email: str) -> Contact:
        contact = create_contact(name=name, email=email)
        with when(succeeded(contact)):
            send_email(to=contact.email, subject=f"Welcome!")
        with otherwise():
            page_ops(reason="no contact")
        return contact
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A user's project: strict pytest settings and the API module."""
    pytester.makeini(
        """
        [pytest]
        filterwarnings = error
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        """
    )
    pytester.makepyfile(api=textwrap.dedent(API))
    pytester.syspathinsert()
    return pytester


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    (entry,) = [
        entry
        for entry in importlib.metadata.entry_points(group="pytest11")
        if entry.name == "fiscus_dsl"
    ]

    assert entry.value == "fiscus_dsl.testing.plugin"


def test_a_test_of_the_onboarding_workflow_passes(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_onboarding="""
        from api import JOHN, Contact, create_contact, onboard, send_email
        from fiscus_dsl.testing import assert_ran, assert_skipped


        def test_onboard_welcomes_a_new_contact(fiscus_mock):
            created = fiscus_mock.operation(create_contact).respond(201, json=JOHN)
            fiscus_mock.operation("PtMail", "send_email").respond(202, json={})

            result = onboard.run(name="John", email="john@example.com")

            assert_ran(result, "send_email")
            assert_skipped(result, "page_ops")
            assert created.calls.last.request.headers["Authorization"] == "Bearer t"
            assert fiscus_mock.calls(send_email)[-1].json == {
                "to": "john@example.com", "subject": "Welcome!",
            }


        async def test_async_tests_work_too(fiscus_mock):
            fiscus_mock.operation(create_contact).respond(201, json=JOHN)

            contact = await create_contact.arun(name="John", email="john@example.com")

            assert contact == Contact(id="c1", name="John", email="john@example.com")
        """
    )

    result = project.runpytest()

    result.assert_outcomes(passed=2)


def test_an_unmocked_request_fails_the_test_and_names_it(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_unmocked="""
        from api import JOHN, create_contact, onboard


        def test_forgot_the_email(fiscus_mock):
            fiscus_mock.operation(create_contact).respond(201, json=JOHN)

            onboard(name="John", email="john@example.com")
        """
    )

    result = project.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*WorkflowFailed: Task 'send_email' in workflow 'onboard' failed: "
            "UnmockedRequestError: Unmocked request: POST "
            "https://mail.pt.test/messages (operation 'send_email' of connector "
            "'PtMail') matched no mock, so nothing was sent. The mocks: POST "
            "https://crm.pt.test/v1/contacts (PtCRM.create_contact). Mock it: "
            "fiscus_mock.operation('PtMail', 'send_email').respond(...)",
        ]
    )


def test_an_unmocked_request_the_run_swallowed_still_fails_the_test(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_swallowed="""
        from api import onboard


        def test_looks_fine(fiscus_mock):
            result = onboard.run(name="John", email="john@example.com")

            assert result["page_ops"].status == "succeeded"
        """
    )

    result = project.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_looks_fine*",
            "fiscus_mock: 1 request(s) matched no mock:",
            "  - Unmocked request: POST https://crm.pt.test/v1/contacts (operation "
            "'create_contact' of connector 'PtCRM') matched no mock, so nothing was "
            "sent. The mocks: none. Mock it: fiscus_mock.operation('PtCRM', "
            "'create_contact').respond(...)",
            "FAILED test_swallowed.py::test_looks_fine - Failed: fiscus_mock: 1 *",
        ]
    )


def test_a_failing_assertion_shows_the_unmocked_request_as_a_note(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_note="""
        from api import onboard


        def test_expects_a_welcome(fiscus_mock):
            result = onboard.run(name="John", email="john@example.com")

            assert result["send_email"].status == "succeeded"
        """
    )

    result = project.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E   *AssertionError: assert <TaskStatus.S*ED: 'skipped'> == 'succeeded'",
            "E   *fiscus_mock: Unmocked request: POST https://crm.pt.test/v1/contacts*",
        ]
    )


def test_a_mock_never_called_fails_the_test_unless_optional(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_uncalled="""
        from api import create_contact, send_email


        def test_strict(fiscus_mock):
            fiscus_mock.operation(create_contact).respond(201)


        def test_optional(fiscus_mock):
            fiscus_mock.operation(send_email, optional=True).respond(202)
        """
    )

    result = project.runpytest("-rA")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "fiscus_mock: 1 mock(s) were never called; call them, remove them, or "
            "make them optional: fiscus_mock.operation(..., optional=True):",
            "  - POST https://crm.pt.test/v1/contacts (PtCRM.create_contact)",
            "PASSED test_uncalled.py::test_optional",
        ]
    )


def test_stubs_replace_tasks_for_one_test_only(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_stubs="""
        from api import create_contact, onboard, page_ops
        from fiscus_dsl.testing import assert_failed, assert_succeeded


        def test_the_crm_is_down(fiscus_mock):
            fiscus_mock.stub(create_contact, raises=ConnectionError("down"))
            paged = fiscus_mock.stub(page_ops, returns="stubbed")

            result = onboard.run(name="John", email="john@example.com")

            assert_failed(result, "create_contact", error=ConnectionError)
            assert paged.calls[-1].args == {"reason": "no contact"}


        def test_the_real_task_is_back():
            assert page_ops(reason="x") == "paged"
        """
    )

    result = project.runpytest()

    result.assert_outcomes(passed=2)


def test_spans_are_captured_for_the_test(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_spans="""
        from api import JOHN, create_contact, onboard, send_email


        def test_span_tree(fiscus_mock, fiscus_spans):
            fiscus_mock.operation(create_contact).respond(201, json=JOHN)
            fiscus_mock.stub(send_email, returns={})

            onboard.run(name="John", email="john@example.com")

            assert fiscus_spans.tree() == (
                ("workflow onboard", (
                    ("task create_contact", (("POST /v1/contacts", ()),)),
                    ("task page_ops", ()),
                    ("task send_email", ()),
                )),
            )
            assert fiscus_spans.attributes("task send_email")["fiscus.task.status"] == (
                "succeeded"
            )


        def test_one_shows_the_spans(fiscus_spans):
            fiscus_spans.one("task nothing")
        """
    )

    result = project.runpytest()

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E   *AssertionError: Expected exactly one span named 'task nothing', "
            "found 0; the spans are:",
            "E   *  (none)",
        ]
    )


def test_the_plugin_can_be_blocked(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_blocked="""
        def test_uses_it(fiscus_mock):
            pass
        """
    )

    result = project.runpytest("-p", "no:fiscus_dsl")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'fiscus_mock' not found*"])
