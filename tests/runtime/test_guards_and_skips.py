"""Guards at run time: when/otherwise, conditions, predicates, skips, coalesce."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from fiscus_dsl import (
    GuardError,
    ProjectionError,
    RunStatus,
    TaskStatus,
    coalesce,
    failed,
    otherwise,
    skipped,
    succeeded,
    task,
    when,
    workflow,
)

if TYPE_CHECKING:
    from collections.abc import Generator

    from fiscus_dsl import Runner

SUCCEEDED = TaskStatus.SUCCEEDED
FAILED = TaskStatus.FAILED
SKIPPED = TaskStatus.SKIPPED


@task
def welcome(name: str) -> str:
    return f"welcome {name}"


@task
def page_ops(reason: str) -> str:
    return f"paged: {reason}"


@task
def account(status: str, plan: str = "free", seats: int = 1) -> Any:
    return {"status": status, "plan": plan, "seats": seats}


@task(on_error="continue")
def lost_account() -> Any:
    raise ConnectionError("crm unreachable")


def _create(*, fail: bool) -> str:
    if fail:
        raise ConnectionError("crm unreachable")
    return "contact-1"


@task(on_error="continue")
def create_contact(fail: bool) -> str:
    return _create(fail=fail)


@workflow
def onboard(fail: bool) -> list[str]:
    contact = create_contact(fail)
    with when(succeeded(contact)):
        sent = welcome(contact)
    with otherwise():
        paged = page_ops("contact creation failed")
    return [sent, paged]


def test_when_succeeded_runs_the_when_branch(runner: Runner) -> None:
    result = runner.run(onboard, fail=False)

    assert result.statuses() == {
        "create_contact": SUCCEEDED,
        "welcome": SUCCEEDED,
        "page_ops": SKIPPED,
    }
    assert result["page_ops"].reason == (
        "its guard is false: not succeeded(create_contact)"
    )
    assert result.output == ["welcome contact-1", None]


def test_otherwise_runs_when_the_guarded_task_failed(runner: Runner) -> None:
    result = runner.run(onboard, fail=True)

    assert result.status is RunStatus.SUCCEEDED
    assert result.statuses() == {
        "create_contact": FAILED,
        "welcome": SKIPPED,
        "page_ops": SUCCEEDED,
    }
    assert result.output == [None, "paged: contact creation failed"]


@pytest.mark.parametrize(
    ("fail", "expected"),
    [(True, "paged: maybe ran"), (False, "paged: maybe skipped")],
)
def test_outcome_tests_failed_and_skipped_decide_at_run_time(
    runner: Runner, fail: bool, expected: str
) -> None:
    @workflow
    def flow(fail: bool) -> str:
        contact = create_contact(fail)
        with when(failed(contact)):
            maybe = welcome("never")
        with when(skipped(maybe)):
            first = page_ops("maybe skipped")
        with otherwise():
            second = page_ops("maybe ran")
        return coalesce(first, second)

    assert runner.run(flow, fail=fail).output == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [("active", ["welcome a", None]), ("closed", [None, "paged: p"])],
)
def test_comparison_on_a_value_picks_the_branch(
    runner: Runner, status: str, expected: list[str | None]
) -> None:
    @workflow
    def flow(status: str) -> list[str]:
        acct = account(status)
        with when(acct.status == "active"):
            hello = welcome("a")
        with otherwise():
            paged = page_ops("p")
        return [hello, paged]

    assert runner.run(flow, status=status).output == expected


@pytest.mark.parametrize(
    ("plan", "ran"), [("pro", True), ("team", True), ("free", False)]
)
def test_is_in_compares_membership(runner: Runner, plan: str, ran: bool) -> None:
    @workflow
    def flow(plan: str) -> None:
        acct = account("active", plan)
        with when(acct.plan.is_in(["pro", "team"])):
            welcome("paying")

    result = runner.run(flow, plan=plan)

    assert result["welcome"].status is (SUCCEEDED if ran else SKIPPED)


@pytest.mark.parametrize(("seats", "ran"), [(5, True), (3, False), (1, False)])
def test_greater_than_compares_values(runner: Runner, seats: int, ran: bool) -> None:
    @workflow
    def flow(seats: int) -> None:
        acct = account("active", seats=seats)
        with when(acct.seats > 3):
            welcome("big")

    result = runner.run(flow, seats=seats)

    assert result["welcome"].status is (SUCCEEDED if ran else SKIPPED)


def test_comparison_of_two_futures_uses_both_values(runner: Runner) -> None:
    @workflow
    def flow() -> list[str]:
        left = account("active", seats=2)
        right = account("active", seats=2)
        with when(left.seats == right.seats):
            same = welcome("same")
        with when(left.seats != right.seats):
            differ = welcome("differ")
        with when(left.seats <= right.seats):
            at_most = welcome("at most")
        with when(left.seats < right.seats):
            below = welcome("below")
        with when(left.seats >= right.seats):
            at_least = welcome("at least")
        return [same, differ, at_most, below, at_least]

    assert runner.run(flow).output == [
        "welcome same",
        None,
        "welcome at most",
        None,
        "welcome at least",
    ]


@pytest.mark.parametrize(
    ("status", "seats", "expected"),
    [
        ("active", 5, [True, True, False]),
        ("active", 1, [False, True, True]),
        ("closed", 5, [False, True, True]),
        ("closed", 1, [False, False, True]),
    ],
)
def test_conditions_combine_with_not_and_or(
    runner: Runner, status: str, seats: int, expected: list[bool]
) -> None:
    @workflow
    def flow(status: str, seats: int) -> list[str]:
        acct = account(status, seats=seats)
        active = acct.status == "active"
        big = acct.seats > 3
        with when(active & big):
            both = welcome("both")
        with when(active | big):
            either = welcome("either")
        with when(~active | ~big):
            not_both = welcome("not both")
        return [both, either, not_both]

    output = runner.run(flow, status=status, seats=seats).output
    assert output is not None
    assert [value is not None for value in output] == expected


@pytest.mark.parametrize(("flag", "ran"), [(True, True), (False, False)])
def test_plain_bool_guard_is_a_constant(runner: Runner, flag: bool, ran: bool) -> None:
    @workflow
    def flow() -> None:
        with when(flag):
            welcome("const")

    result = runner.run(flow)

    assert result["welcome"].status is (SUCCEEDED if ran else SKIPPED)


def test_nested_when_blocks_combine_with_and(runner: Runner) -> None:
    @workflow
    def flow() -> list[str]:
        acct = account("active", seats=1)
        with when(acct.status == "active"):
            outer = welcome("outer")
            with when(acct.seats > 3):
                inner = welcome("inner")
        return [outer, inner]

    result = runner.run(flow)

    assert result.output == ["welcome outer", None]
    assert result["welcome#2"].reason is not None
    assert result["welcome#2"].reason.startswith("its guard is false")


def test_undecidable_guard_skips_both_branches(runner: Runner) -> None:
    @workflow
    def flow() -> list[str]:
        acct = lost_account()
        with when(acct.status == "active"):
            hello = welcome("a")
        with otherwise():
            paged = page_ops("p")
        return [hello, paged]

    result = runner.run(flow)

    assert result.status is RunStatus.SUCCEEDED
    assert result.statuses() == {
        "lost_account": FAILED,
        "welcome": SKIPPED,
        "page_ops": SKIPPED,
    }
    reason = (
        "its guard cannot be decided: it needs the value of a task "
        "that failed or was skipped"
    )
    assert result["welcome"].reason == reason
    assert result["page_ops"].reason == reason


@pytest.mark.parametrize(
    ("combine", "ran"),
    [("false_and", False), ("true_or", True), ("true_and", None), ("false_or", None)],
)
def test_three_valued_logic_decides_what_it_can(
    runner: Runner, combine: str, ran: bool | None
) -> None:
    @workflow
    def flow() -> None:
        lost = lost_account()
        acct = account("active")
        unknown = lost.status == "active"
        yes = acct.status == "active"
        no = acct.status == "closed"
        guard = {
            "false_and": no & unknown,
            "true_or": yes | unknown,
            "true_and": yes & unknown,
            "false_or": no | unknown,
        }[combine]
        with when(guard):
            welcome("x")

    result = runner.run(flow)["welcome"]

    assert result.status is (SUCCEEDED if ran else SKIPPED)
    if ran is None:
        assert result.reason is not None
        assert result.reason.startswith("its guard cannot be decided")
    elif not ran:
        assert result.reason is not None
        assert result.reason.startswith("its guard is false")


def test_not_of_an_undecidable_guard_stays_undecidable(runner: Runner) -> None:
    @workflow
    def flow() -> None:
        lost = lost_account()
        with when(~(lost.status == "active")):
            welcome("x")

    result = runner.run(flow)["welcome"]

    assert result.status is SKIPPED
    assert result.reason is not None
    assert result.reason.startswith("its guard cannot be decided")


def test_predicate_guard_gets_the_resolved_values(runner: Runner) -> None:
    seen: list[tuple[object, ...]] = []

    def is_big(acct: dict[str, object], minimum: int) -> bool:
        seen.append((acct, minimum))
        return acct["seats"] == 5

    @workflow
    def flow() -> None:
        acct = account("active", seats=5)
        with when(is_big, acct, 3):
            welcome("big")

    result = runner.run(flow)

    assert result["welcome"].value == "welcome big"
    assert seen == [({"status": "active", "plan": "free", "seats": 5}, 3)]


def test_predicate_guard_on_a_missing_value_is_undecidable(runner: Runner) -> None:
    calls: list[object] = []

    def anything(value: object) -> bool:
        calls.append(value)
        return True

    @workflow
    def flow() -> None:
        with when(anything, lost_account()):
            welcome("x")

    result = runner.run(flow)

    assert result["welcome"].status is SKIPPED
    assert calls == []


def test_raising_predicate_fails_the_guarded_task_with_guard_error(
    runner: Runner,
) -> None:
    def picky(acct: dict[str, object]) -> bool:
        raise RuntimeError("predicate broke")

    @workflow
    def flow() -> None:
        acct = account("active")
        with when(picky, acct):
            welcome("x")

    result = runner.run(flow)

    error = result["welcome"].error
    assert result.status is RunStatus.FAILED
    assert result["welcome"].status is FAILED
    assert isinstance(error, GuardError)
    with pytest.raises(GuardError, match="Guard predicate 'picky' of task 'welcome'"):
        raise error
    assert error.workflow == "flow"
    assert error.task_id == "welcome"
    assert error.predicate == "picky"
    assert isinstance(error.__cause__, RuntimeError)
    assert str(error.__cause__) == "predicate broke"
    assert result.error_message is not None
    assert result.error_message.startswith("Task 'welcome' in workflow 'flow' failed")


def test_async_predicate_fails_the_guarded_task_with_guard_error(
    runner: Runner,
) -> None:
    async def slow_check(acct: object) -> bool:
        return True

    @workflow
    def flow() -> None:
        with when(slow_check, account("active")):  # type: ignore[arg-type]  # the misuse under test
            welcome("x")

    result = runner.run(flow)

    error = result["welcome"].error
    assert isinstance(error, GuardError)
    assert error.predicate == "slow_check"
    assert isinstance(error.__cause__, TypeError)
    assert "returned an awaitable" in str(error.__cause__)


class _Pending:
    """An awaitable that is not a coroutine."""

    def __await__(self) -> Generator[None, None, bool]:
        yield None
        return True


def test_predicate_returning_an_awaitable_fails_with_guard_error(
    runner: Runner,
) -> None:
    def deferred(acct: object) -> _Pending:
        return _Pending()

    @workflow
    def flow() -> None:
        with when(deferred, account("active")):  # type: ignore[arg-type]  # the misuse under test
            welcome("x")

    error = runner.run(flow)["welcome"].error

    assert isinstance(error, GuardError)
    assert error.predicate == "deferred"
    assert isinstance(error.__cause__, TypeError)


def test_comparison_that_raises_type_error_fails_with_guard_error(
    runner: Runner,
) -> None:
    @workflow
    def flow() -> None:
        acct = account("active")
        with when(acct.status > 3):
            welcome("x")

    result = runner.run(flow)

    error = result["welcome"].error
    assert isinstance(error, GuardError)
    with pytest.raises(GuardError, match=r"Guard predicate '<gt comparison>'"):
        raise error
    assert error.task_id == "welcome"
    assert error.workflow == "flow"
    assert isinstance(error.__cause__, TypeError)


def test_guard_whose_projection_finds_nothing_fails_the_guarded_task(
    runner: Runner,
) -> None:
    @workflow
    def flow() -> None:
        acct = account("active")
        with when(acct.owner == "ada"):
            welcome("x")

    result = runner.run(flow)

    error = result["welcome"].error
    assert result["welcome"].status is FAILED
    assert isinstance(error, ProjectionError)
    assert error.task_id == "welcome"
    assert error.source == "account"
    assert error.path == ".owner"


def test_guarded_failure_with_on_error_continue_keeps_the_run(runner: Runner) -> None:
    @task(on_error="continue")
    def tolerant(name: str) -> str:
        return name

    def picky(acct: object) -> bool:
        raise RuntimeError("predicate broke")

    @workflow
    def flow() -> None:
        with when(picky, account("active")):
            tolerant("x")

    result = runner.run(flow)

    assert result.status is RunStatus.SUCCEEDED
    assert result["tolerant"].status is FAILED
    assert isinstance(result["tolerant"].error, GuardError)


def test_guarded_future_used_after_its_block_counts_as_skipped(
    runner: Runner,
) -> None:
    @workflow
    def flow() -> str:
        acct = account("closed")
        with when(acct.status == "active"):
            sent = welcome("x")
        return page_ops(sent)

    result = runner.run(flow)

    assert result.statuses() == {
        "account": SUCCEEDED,
        "welcome": SKIPPED,
        "page_ops": SKIPPED,
    }
    assert (
        result["page_ops"].reason == "needs the value of 'welcome', which was skipped"
    )
    assert result.output is None


def test_skipped_outputs_are_none_inside_dicts_and_lists(runner: Runner) -> None:
    @workflow
    def flow() -> dict[str, object]:
        acct = account("closed")
        with when(acct.status == "active"):
            sent = welcome("x")
        return {"sent": sent, "all": [acct.status, sent], "pair": (sent, 1)}

    assert runner.run(flow).output == {
        "sent": None,
        "all": ["closed", None],
        "pair": (None, 1),
    }


@pytest.mark.parametrize(
    ("status", "expected"), [("active", "welcome a"), ("closed", "paged: p")]
)
def test_coalesce_is_the_first_succeeded_option(
    runner: Runner, status: str, expected: str
) -> None:
    @workflow
    def flow(status: str) -> str:
        acct = account(status)
        with when(acct.status == "active"):
            hello = welcome("a")
        with otherwise():
            paged = page_ops("p")
        return coalesce(hello, paged)

    assert runner.run(flow, status=status).output == expected


def test_coalesce_counts_a_none_value_as_succeeded(runner: Runner) -> None:
    @task
    def nothing() -> str | None:
        return None

    @workflow
    def flow() -> str | None:
        return coalesce(nothing(), welcome("fallback"))

    assert runner.run(flow).output is None


def test_coalesce_falls_back_to_a_plain_value(runner: Runner) -> None:
    @workflow
    def flow() -> object:
        return coalesce(lost_account(), "default")

    assert runner.run(flow).output == "default"


def test_task_given_a_coalesce_with_no_succeeded_option_is_skipped(
    runner: Runner,
) -> None:
    @workflow
    def flow() -> str:
        acct = account("closed")
        with when(acct.status == "active"):
            hello = welcome("a")
        return page_ops(coalesce(hello, lost_account()))

    result = runner.run(flow)

    assert result.status is RunStatus.SUCCEEDED
    assert result["page_ops"].status is SKIPPED
    assert result["page_ops"].reason == "no option of its coalesce(...) succeeded"
    assert result.output is None


def test_output_coalesce_with_no_succeeded_option_is_none(runner: Runner) -> None:
    @workflow
    def flow() -> object:
        return coalesce(lost_account())

    result = runner.run(flow)

    assert result.success
    assert result.output is None


# ---------------------------------------------------------------- guards on inputs


@workflow
def notify_if(flag: bool, name: str) -> str | None:
    with when(flag):
        sent = welcome(name)
    with otherwise():
        page_ops("not sent")
    return sent


@pytest.mark.parametrize(("flag", "ran"), [(True, "welcome"), (False, "page_ops")])
def test_a_guard_on_a_workflow_input_picks_the_branch(
    runner: Runner, flag: bool, ran: str
) -> None:
    result = runner.run(notify_if, flag, "Ada")

    assert result.success
    assert result[ran].status is SUCCEEDED
    assert result.output == ("welcome Ada" if flag else None)


@task
def wants_mail(plan: str) -> bool:
    return plan == "pro"


@workflow
def parent(plan: str) -> str | None:
    return notify_if(wants_mail(plan), "Ada")


@pytest.mark.parametrize(("plan", "ran"), [("pro", "welcome"), ("free", "page_ops")])
def test_a_guard_on_a_sub_workflow_input_is_decided_at_run_time(
    runner: Runner, plan: str, ran: str
) -> None:
    result = runner.run(parent, plan)

    assert result.success
    assert result[f"notify_if/{ran}"].status is SUCCEEDED
    other = "page_ops" if ran == "welcome" else "welcome"
    assert result[f"notify_if/{other}"].status is SKIPPED
