"""The kit changes nothing global: mocks, stubs and span captures are context-scoped.

Two asyncio tasks, or two threads, each with a mock (or a stub, or a
capture) of their own, running at the same time, each see only their own;
and a block or a test that ends, by an exception too, leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import textwrap
import threading

import httpx
import pytest

from fiscus_dsl import default_runner, task, workflow
from fiscus_dsl._connectors.http import _TRANSPORT_OVERRIDE
from fiscus_dsl._runtime.overrides import SLEEP_OVERRIDE
from fiscus_dsl.testing import capture_spans, mock_connectors

from .apis import JOHN, get_contact, welcome_subject

TIMEOUT = 10.0


def _contact(label: str) -> dict[str, str]:
    return {**JOHN, "id": label}


# ---------------------------------------------------------------- mocks


async def test_concurrent_tasks_each_see_their_own_mock() -> None:
    rendezvous = asyncio.Barrier(2)  # both requests are in flight at once
    entered = asyncio.Barrier(2)  # both blocks are entered before either runs

    async def fetch_with(label: str) -> tuple[str, int]:
        async def answer(request: httpx.Request, contact_id: str) -> httpx.Response:
            await rendezvous.wait()
            return httpx.Response(200, json=_contact(label))

        async with mock_connectors() as mock:
            route = mock.operation(get_contact).mock(side_effect=answer)
            await entered.wait()
            contact = await get_contact.arun(contact_id="c1")
        return contact.id, route.call_count

    outcomes = await asyncio.gather(fetch_with("first"), fetch_with("second"))

    assert list(outcomes) == [("first", 1), ("second", 1)]


def test_threads_each_see_their_own_mock() -> None:
    rendezvous = threading.Barrier(2, timeout=TIMEOUT)
    seen: dict[str, str] = {}

    def fetch_with(label: str) -> None:
        with mock_connectors() as mock:
            mock.operation(get_contact).respond(json=_contact(label))
            rendezvous.wait()  # both threads have their mock started now
            seen[label] = get_contact(contact_id="c1").id

    threads = [threading.Thread(target=fetch_with, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert seen == {"a": "a", "b": "b"}


# ---------------------------------------------------------------- stubs


async def test_concurrent_tasks_each_see_their_own_stub() -> None:
    rendezvous = asyncio.Barrier(2)  # both stubbed calls are running at once
    entered = asyncio.Barrier(2)  # both blocks are entered before either runs

    async def subject_with(greeting: str) -> tuple[str, int]:
        async def answer(name: str) -> str:
            await rendezvous.wait()
            return f"{greeting}, {name}"

        async with mock_connectors() as mock:
            stub = mock.stub(welcome_subject, side_effect=answer)
            await entered.wait()
            subject = await welcome_subject.arun("Ada")
        return subject, stub.call_count

    outcomes = await asyncio.gather(subject_with("Hi"), subject_with("Hello"))

    assert list(outcomes) == [("Hi, Ada", 1), ("Hello, Ada", 1)]
    assert welcome_subject("Ada") == "Welcome, Ada!"


def test_a_stub_made_in_one_thread_is_not_seen_by_another() -> None:
    stubbed, checked = threading.Event(), threading.Event()
    seen: dict[str, str] = {}

    def stubbing() -> None:
        with mock_connectors() as mock:
            mock.stub(welcome_subject, returns="stubbed")
            stubbed.set()
            seen["stubbing"] = welcome_subject("Ada")
            checked.wait(TIMEOUT)

    def plain() -> None:
        stubbed.wait(TIMEOUT)
        seen["plain"] = welcome_subject("Ada")
        checked.set()

    threads = [threading.Thread(target=stubbing), threading.Thread(target=plain)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert seen == {"stubbing": "stubbed", "plain": "Welcome, Ada!"}


# ---------------------------------------------------------------- spans


async def test_concurrent_captures_each_keep_only_the_spans_of_their_runs() -> None:
    rendezvous = asyncio.Barrier(2)
    entered = asyncio.Barrier(2)  # both blocks are entered before either runs

    @task
    async def meet() -> None:
        await rendezvous.wait()

    @workflow
    def gathering() -> None:
        meet()

    async def captured() -> tuple[str, object, object]:
        with capture_spans() as spans:
            await entered.wait()
            result = await gathering.arun()
        run_id = spans.attributes("workflow gathering")["fiscus.run.id"]
        return result.run_id, run_id, spans.tree()

    outcomes = await asyncio.gather(captured(), captured())

    tree = (("workflow gathering", (("task meet", ()),)),)
    for run_id, captured_run_id, captured_tree in outcomes:
        assert (captured_run_id, captured_tree) == (run_id, tree)


# ---------------------------------------------------------------- leftovers


def test_a_block_that_raises_leaves_no_override_behind() -> None:
    runner = default_runner()

    def block() -> None:
        with capture_spans(), mock_connectors() as mock:
            mock.stub(welcome_subject, returns="stubbed")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match=r"^boom$"):
        block()

    assert default_runner() is runner
    assert (SLEEP_OVERRIDE.get(), _TRANSPORT_OVERRIDE.get()) == (None, None)
    assert welcome_subject("Ada") == "Welcome, Ada!"


LEFTOVERS = """
    import pytest

    from fiscus_dsl import Connector, default_runner, task
    from fiscus_dsl._connectors.http import _TRANSPORT_OVERRIDE
    from fiscus_dsl._runtime.overrides import CLOCK_OVERRIDE, SLEEP_OVERRIDE
    from fiscus_dsl.testing import FakeClock, FakeSleep

    api = Connector("LeftoverAPI", "https://leftover.test")
    RUNNER = default_runner()


    @api.operation("GET /ping")
    def ping() -> dict[str, str]:
        '''Ping.'''


    @task
    def greet() -> str:
        return "real"


    def test_overrides_everything_then_fails(fiscus_mock, fiscus_spans):
        fiscus_mock.operation(ping).respond(json={"ok": "yes"})
        fiscus_mock.stub(greet, returns="stubbed")
        with FakeSleep(), FakeClock():
            assert (ping(), greet()) == ({"ok": "yes"}, "stubbed")
            raise RuntimeError("the test failed")


    async def test_overrides_everything_in_async_code_then_fails(
        fiscus_mock, fiscus_spans
    ):
        fiscus_mock.operation(ping).respond(json={"ok": "yes"})
        fiscus_mock.stub(greet, returns="stubbed")
        assert (await ping.arun(), await greet.arun()) == ({"ok": "yes"}, "stubbed")
        raise RuntimeError("the test failed")


    @pytest.mark.parametrize("attempt", [1, 2])
    def test_finds_nothing_left_behind(attempt):
        assert default_runner() is RUNNER
        assert SLEEP_OVERRIDE.get() is None
        assert CLOCK_OVERRIDE.get() is None
        assert _TRANSPORT_OVERRIDE.get() is None
        assert greet() == "real"
"""


def test_a_test_leaves_no_override_behind(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        filterwarnings = error
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        """
    )
    pytester.makepyfile(test_leftovers=textwrap.dedent(LEFTOVERS))

    result = pytester.runpytest()

    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*RuntimeError: the test failed*"])
