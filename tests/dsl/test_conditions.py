"""Conditions, outcome tests, ``when``/``otherwise`` guards and ``coalesce``."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

import pytest

from fiscus_dsl import (
    Condition,
    TaskFuture,
    TaskStatus,
    TracingError,
    coalesce,
    failed,
    otherwise,
    skipped,
    succeeded,
    task,
    when,
    workflow,
)
from fiscus_dsl._graph.model import (
    AndCondition,
    CoalesceArg,
    CompareCondition,
    ConstCondition,
    InputArg,
    ListArg,
    NotCondition,
    OrCondition,
    OutcomeCondition,
    PredicateCondition,
    RefArg,
    Step,
    TaskNode,
    ValueArg,
    WorkflowGraph,
)
from fiscus_dsl._graph.model import Condition as ConditionSpec

from .conftest import as_future, node_of

if TYPE_CHECKING:
    from collections.abc import Callable


@task
def score() -> int:
    return 7


@task
def lookup() -> dict[str, Any]:
    return {"status": "ok"}


@task
def act(label: str) -> str:
    return label


SCORE = RefArg(node="score")
STATUS = RefArg(node="lookup", path=(Step(kind="item", key="status"),))


def as_condition(value: object) -> Condition:
    """Return a comparison's result as the ``Condition`` it is while tracing."""
    assert isinstance(value, Condition)
    return value


def _guard(graph: WorkflowGraph, node_id: str) -> ConditionSpec | None:
    return node_of(graph, node_id, TaskNode).guard


def _guard_of(build: Callable[[], object]) -> ConditionSpec | None:
    """Trace ``with when(build()): act("x")`` and return the guard of ``act``."""

    @workflow
    def flow() -> None:
        with when(as_condition(build())):
            act("x")

    return _guard(flow.graph(), "act")


# ---------------------------------------------------------------- comparisons


@pytest.mark.parametrize(
    ("compare", "op"),
    [
        (operator.eq, "eq"),
        (operator.ne, "ne"),
        (operator.lt, "lt"),
        (operator.le, "le"),
        (operator.gt, "gt"),
        (operator.ge, "ge"),
    ],
)
def test_comparison_builds_a_compare_condition(
    compare: Callable[[object, object], object], op: str
) -> None:
    guard = _guard_of(lambda: compare(score(), 3))

    assert guard == CompareCondition.model_validate(
        {"op": op, "left": SCORE, "right": ValueArg(value=3)}
    )


def test_reflected_comparison_swaps_the_operator() -> None:
    guard = _guard_of(lambda: 3 < score())  # noqa: SIM300  (the reflection is the point)

    assert guard == CompareCondition(op="gt", left=SCORE, right=ValueArg(value=3))


def test_comparison_of_two_futures_refers_to_both() -> None:
    guard = _guard_of(lambda: lookup()["status"] == score())

    assert guard == CompareCondition(op="eq", left=STATUS, right=SCORE)


def test_is_in_builds_an_in_condition_with_the_values() -> None:
    guard = _guard_of(lambda: as_future(lookup()["status"]).is_in(("ok", "done")))

    assert guard == CompareCondition(
        op="in", left=STATUS, right=ValueArg(value=["ok", "done"])
    )


def test_is_in_collects_a_generator() -> None:
    guard = _guard_of(lambda: as_future(score()).is_in(n for n in range(3)))

    assert guard == CompareCondition(
        op="in", left=SCORE, right=ValueArg(value=[0, 1, 2])
    )


def test_is_in_takes_the_future_of_a_list() -> None:
    guard = _guard_of(lambda: as_future(score()).is_in(as_future(lookup())["codes"]))

    assert guard == CompareCondition(
        op="in",
        left=SCORE,
        right=RefArg(node="lookup", path=(Step(kind="item", key="codes"),)),
    )


def test_is_in_takes_a_list_holding_futures() -> None:
    guard = _guard_of(lambda: as_future(score()).is_in([1, lookup()["n"]]))

    assert guard == CompareCondition(
        op="in",
        left=SCORE,
        right=ListArg(
            items=(
                ValueArg(value=1),
                RefArg(node="lookup", path=(Step(kind="item", key="n"),)),
            )
        ),
    )


# ---------------------------------------------------------------- combining


BIG = CompareCondition(op="gt", left=SCORE, right=ValueArg(value=5))
OK = CompareCondition(op="eq", left=STATUS, right=ValueArg(value="ok"))


def _big() -> Condition:
    return as_condition(score() > 5)


def _ok() -> Condition:
    return as_condition(lookup()["status"] == "ok")


def test_invert_builds_a_not_condition() -> None:
    assert _guard_of(lambda: ~_big()) == NotCondition(operand=BIG)


def test_and_builds_an_and_condition() -> None:
    assert _guard_of(lambda: _big() & _ok()) == AndCondition(operands=(BIG, OK))


def test_or_builds_an_or_condition() -> None:
    assert _guard_of(lambda: _big() | _ok()) == OrCondition(operands=(BIG, OK))


def test_and_with_a_bool_on_the_right_makes_it_constant() -> None:
    assert _guard_of(lambda: _big() & True) == AndCondition(
        operands=(BIG, ConstCondition(value=True))
    )


def test_and_with_a_bool_on_the_left_makes_it_constant() -> None:
    assert _guard_of(lambda: True & _big()) == AndCondition(
        operands=(ConstCondition(value=True), BIG)
    )


def test_or_with_a_bool_on_the_right_makes_it_constant() -> None:
    assert _guard_of(lambda: _big() | False) == OrCondition(
        operands=(BIG, ConstCondition(value=False))
    )


def test_or_with_a_bool_on_the_left_makes_it_constant() -> None:
    assert _guard_of(lambda: False | _big()) == OrCondition(
        operands=(ConstCondition(value=False), BIG)
    )


def test_combined_conditions_nest() -> None:
    def build() -> Condition:
        big, ok = _big(), _ok()
        return ~(big & ok) | big

    assert _guard_of(build) == OrCondition(
        operands=(NotCondition(operand=AndCondition(operands=(BIG, OK))), BIG)
    )


def test_condition_repr_names_its_kind() -> None:
    assert repr(Condition(ConstCondition(value=True))) == "<Condition const>"
    assert repr(Condition(BIG)) == "<Condition compare>"


# ---------------------------------------------------------------- outcomes


@pytest.mark.parametrize(
    ("outcome", "test"),
    [(succeeded, "succeeded"), (failed, "failed"), (skipped, "skipped")],
)
def test_outcome_test_builds_an_outcome_condition(
    outcome: Callable[[object], Condition], test: str
) -> None:
    guard = _guard_of(lambda: outcome(score()))

    assert guard == OutcomeCondition.model_validate({"test": test, "node": "score"})


def test_outcome_test_of_a_projection_tests_its_task() -> None:
    guard = _guard_of(lambda: failed(lookup()["status"]))

    assert guard == OutcomeCondition(test="failed", node="lookup")


@pytest.mark.parametrize("outcome", [succeeded, failed, skipped])
def test_outcome_test_rejects_a_plain_value(
    outcome: Callable[[object], Condition],
) -> None:
    name = outcome.__name__

    @workflow
    def flow() -> None:
        outcome(42)

    with pytest.raises(
        TracingError,
        match=rf"^{name}\(\) expects the future of a task call, got int in workflow "
        rf"'flow' \(test_conditions\.py:\d+\); pass what the task call returned: "
        rf"{name}\(contact\)$",
    ) as info:
        flow.graph()

    assert info.value.workflow == "flow"


def test_outcome_test_rejects_a_workflow_input() -> None:
    @workflow
    def flow(user: object) -> None:
        succeeded(user)

    with pytest.raises(
        TracingError,
        match=r"^succeeded\(\) needs a task's future, and 'user' is not one in "
        r"workflow 'flow' \(test_conditions\.py:\d+\); test the task call itself, "
        r"not a workflow input or a coalesce$",
    ) as info:
        flow.graph()

    assert info.value.workflow == "flow"


def test_outcome_test_rejects_a_coalesce_future() -> None:
    @workflow
    def flow() -> None:
        skipped(coalesce(score(), 0))

    with pytest.raises(
        TracingError,
        match=r"^skipped\(\) needs a task's future, and 'coalesce\(\.\.\.\)' is not "
        r"one in workflow 'flow'",
    ) as info:
        flow.graph()

    assert info.value.workflow == "flow"


# ---------------------------------------------------------------- when


def test_when_guards_every_task_in_its_block_only() -> None:
    @workflow
    def flow() -> None:
        points = score()
        with when(points > 5):
            act("a")
            act("b")
        act("c")

    graph = flow.graph()
    assert _guard(graph, "score") is None
    assert _guard(graph, "act") == BIG
    assert _guard(graph, "act#2") == BIG
    assert _guard(graph, "act#3") is None


def test_nested_when_blocks_and_their_guards() -> None:
    @workflow
    def flow() -> None:
        points = score()
        status = lookup()
        with when(points > 5):
            with when(status["status"] == "ok"):
                act("inner")
            act("outer")

    graph = flow.graph()
    assert _guard(graph, "act") == AndCondition(operands=(BIG, OK))
    assert _guard(graph, "act#2") == BIG


@pytest.mark.parametrize("value", [True, False])
def test_when_with_a_bool_is_a_constant_guard(value: bool) -> None:
    @workflow
    def flow() -> None:
        with when(value):
            act("x")

    assert _guard(flow.graph(), "act") == ConstCondition(value=value)


def is_big(points: int, limit: int) -> bool:
    return points > limit


def test_when_with_a_predicate_records_it() -> None:
    @workflow
    def flow() -> None:
        points = score()
        with when(is_big, points, 5):
            act("x")
        with when(is_big, points, 9):
            act("y")

    traced = flow.compile((), {})

    assert _guard(traced.graph(), "act") == PredicateCondition(
        name="is_big", key="when:is_big", args=(SCORE, ValueArg(value=5))
    )
    assert _guard(traced.graph(), "act#2") == PredicateCondition(
        name="is_big", key="when:is_big#2", args=(SCORE, ValueArg(value=9))
    )
    assert traced.predicates == {"when:is_big": is_big, "when:is_big#2": is_big}


def test_when_with_a_nameless_callable_uses_its_type_name() -> None:
    class Threshold:
        def __call__(self, points: int) -> bool:
            return points > 3

    check = Threshold()

    @workflow
    def flow() -> None:
        with when(check, score()):
            act("x")

    traced = flow.compile((), {})
    assert _guard(traced.graph(), "act") == PredicateCondition(
        name="Threshold", key="when:Threshold", args=(SCORE,)
    )
    assert traced.predicates == {"when:Threshold": check}


def test_when_with_a_bare_future_raises_with_the_fix() -> None:
    @workflow
    def flow() -> None:
        points = score()
        with when(points):  # type: ignore[call-overload]  # deliberately a future
            act("x")

    with pytest.raises(
        TracingError,
        match=r"^when\(\) got the future 'score', not a condition in workflow 'flow' "
        r"\(test_conditions\.py:\d+\); compare it \(when\(score == \.\.\.\)\) or "
        r"test succeeded\(score\)$",
    ) as info:
        flow.graph()

    assert info.value.workflow == "flow"


def test_when_with_a_condition_and_extra_values_raises() -> None:
    @workflow
    def flow() -> None:
        points = score()
        with when(points > 5, points):  # type: ignore[call-overload]  # deliberately extra
            act("x")

    with pytest.raises(
        TracingError,
        match=r"^when\(condition\) got extra values in workflow 'flow' "
        r"\(test_conditions\.py:\d+\); pass values only with a predicate: "
        r"when\(predicate, \*futures\)$",
    ) as info:
        flow.graph()

    assert info.value.workflow == "flow"


def test_when_with_neither_condition_nor_bool_raises() -> None:
    @workflow
    def flow() -> None:
        with when(1):  # type: ignore[call-overload]  # deliberately an int
            act("x")

    with pytest.raises(
        TracingError,
        match=r"^Expected a condition or a bool, got int in workflow 'flow' "
        r"\(test_conditions\.py:\d+\); build one with ==, succeeded\(\.\.\.\) or "
        r"is_in\(\.\.\.\)$",
    ) as info:
        flow.graph()

    assert info.value.workflow == "flow"


def test_combining_a_condition_with_a_non_condition_raises() -> None:
    @workflow
    def flow() -> None:
        _big() & 1  # type: ignore[operator]  # deliberately an int

    with pytest.raises(
        TracingError,
        match=r"^Expected a condition or a bool, got int in workflow 'flow'",
    ) as info:
        flow.graph()

    assert info.value.workflow == "flow"


def test_combining_conditions_outside_a_workflow_with_a_non_condition_raises() -> None:
    with pytest.raises(
        TracingError,
        match=r"^Expected a condition or a bool, got str; build one with ==",
    ) as info:
        Condition(BIG) | "yes"  # type: ignore[operator]  # deliberately a str

    assert info.value.workflow is None
    assert info.value.location is None


# ---------------------------------------------------------------- otherwise


def test_otherwise_right_after_when_negates_it() -> None:
    @workflow
    def flow() -> None:
        points = score()
        with when(points > 5):
            act("big")
        with otherwise():
            act("small")

    graph = flow.graph()
    assert _guard(graph, "act") == BIG
    assert _guard(graph, "act#2") == NotCondition(operand=BIG)


def test_otherwise_may_follow_a_when_with_no_tasks() -> None:
    @workflow
    def flow() -> None:
        with when(False):
            pass
        with otherwise():
            act("always")

    assert _guard(flow.graph(), "act") == NotCondition(
        operand=ConstCondition(value=False)
    )


def test_nested_when_and_otherwise_at_both_levels() -> None:
    @workflow
    def flow() -> None:
        points = score()
        status = lookup()
        with when(points > 5):
            with when(status["status"] == "ok"):
                act("big ok")
            with otherwise():
                act("big not ok")
        with otherwise():
            act("small")

    graph = flow.graph()
    assert _guard(graph, "act") == AndCondition(operands=(BIG, OK))
    assert _guard(graph, "act#2") == AndCondition(
        operands=(BIG, NotCondition(operand=OK))
    )
    assert _guard(graph, "act#3") == NotCondition(operand=BIG)


def test_otherwise_inside_when_nests_under_it() -> None:
    @workflow
    def flow() -> None:
        points = score()
        with when(points > 5):
            with when(False):
                pass
            with otherwise():
                act("x")

    assert _guard(flow.graph(), "act") == AndCondition(
        operands=(BIG, NotCondition(operand=ConstCondition(value=False)))
    )


_OTHERWISE_MISPLACED = (
    r"^otherwise\(\) does not directly follow a when\(\.\.\.\) block in workflow "
    r"'flow' \(test_conditions\.py:\d+\); place `with otherwise\(\):` right after "
    r"the `with when\(\.\.\.\):` block, with no task call between them$"
)


def test_otherwise_after_a_task_call_raises() -> None:
    @workflow
    def flow() -> None:
        points = score()
        with when(points > 5):
            act("big")
        act("between")
        with otherwise():
            act("small")

    with pytest.raises(TracingError, match=_OTHERWISE_MISPLACED) as info:
        flow.graph()

    assert info.value.workflow == "flow"


def test_otherwise_without_a_when_raises() -> None:
    @workflow
    def flow() -> None:
        with otherwise():
            act("small")

    with pytest.raises(TracingError, match=_OTHERWISE_MISPLACED) as info:
        flow.graph()

    assert info.value.workflow == "flow"


def test_otherwise_after_otherwise_raises() -> None:
    @workflow
    def flow() -> None:
        with when(True):
            act("a")
        with otherwise():
            act("b")
        with otherwise():
            act("c")

    with pytest.raises(TracingError, match=_OTHERWISE_MISPLACED) as info:
        flow.graph()

    assert info.value.workflow == "flow"


def test_otherwise_as_first_statement_of_a_when_block_raises() -> None:
    @workflow
    def flow() -> None:
        with when(True):
            pass
        with when(False), otherwise():
            act("a")

    with pytest.raises(TracingError, match=_OTHERWISE_MISPLACED) as info:
        flow.graph()

    assert info.value.workflow == "flow"


def test_when_block_restores_guards_when_its_body_raises() -> None:
    @workflow
    def flow() -> None:
        with pytest.raises(KeyError), when(True):
            raise KeyError("boom")
        act("after")

    assert _guard(flow.graph(), "act") is None


# ---------------------------------------------------------------- coalesce


def test_coalesce_gives_a_future_of_a_coalesce_arg() -> None:
    futures: list[object] = []

    @workflow
    def flow() -> object:
        points = score()
        with when(points > 5):
            big = act("big")
        joined = coalesce(big, "small")
        futures.append(joined)
        return act(joined)

    graph = flow.graph()
    (joined,) = futures
    assert isinstance(joined, TaskFuture)
    assert node_of(graph, "act#2", TaskNode).args == {
        "label": CoalesceArg(options=(RefArg(node="act"), ValueArg(value="small")))
    }


def test_coalesce_of_projections_keeps_their_paths() -> None:
    @workflow
    def flow() -> object:
        return coalesce(lookup()["status"], score())

    assert flow.graph().output == CoalesceArg(options=(STATUS, SCORE))


def test_projection_of_a_coalesce_future_raises() -> None:
    @workflow
    def flow() -> object:
        return as_future(coalesce(lookup(), score())).status

    with pytest.raises(
        TracingError,
        match=r"^Cannot project \.status of a coalesce\(\.\.\.\) future in workflow "
        r"'flow' \(test_conditions\.py:\d+\); project each option first: "
        r"coalesce\(a\.field, b\.field\)$",
    ) as info:
        flow.graph()

    assert info.value.workflow == "flow"


def test_item_projection_of_a_coalesce_future_raises() -> None:
    @workflow
    def flow() -> object:
        return coalesce(lookup(), lookup())["status"]

    with pytest.raises(
        TracingError, match=r"^Cannot project \['status'\] of a coalesce\(\.\.\.\)"
    ) as info:
        flow.graph()

    assert info.value.workflow == "flow"


def test_coalesce_without_options_raises() -> None:
    @workflow
    def flow() -> object:
        return coalesce()

    with pytest.raises(
        TracingError,
        match=r"^coalesce\(\) got no options in workflow 'flow' "
        r"\(test_conditions\.py:\d+\); pass two futures or more$",
    ) as info:
        flow.graph()

    assert info.value.workflow == "flow"


# ---------------------------------------------------------------- running guards


def test_guarded_future_used_after_its_block_counts_as_skipped() -> None:
    @workflow
    def flow() -> str:
        points = score()
        with when(points > 100):
            label = act("big")
        return act(label)

    result = flow.run()

    assert result.success
    assert result.tasks["act"].status == TaskStatus.SKIPPED
    assert result.tasks["act#2"].status == TaskStatus.SKIPPED
    assert result.output is None


def test_skipped_guarded_future_as_workflow_output_is_none() -> None:
    @workflow
    def flow() -> str:
        with when(score() > 100):
            label = act("big")
        return label  # noqa: RET504  (used after its block on purpose)

    assert flow() is None


def test_otherwise_branch_runs_when_the_guard_is_false() -> None:
    @workflow
    def flow() -> str:
        points = score()
        with when(points > 100):
            big = act("big")
        with otherwise():
            small = act("small")
        return coalesce(big, small)

    assert flow() == "small"


# ---------------------------------------------------------------- guards on inputs

IS_TRUE = ValueArg(value=True)


def _guards(graph: WorkflowGraph) -> list[ConditionSpec | None]:
    return [node.guard for node in graph.nodes]


def test_when_on_a_placeholder_input_guards_on_it_being_true() -> None:
    @workflow
    def flow(flag: bool) -> None:
        with when(flag):
            act("on")
        with otherwise():
            act("off")

    on = CompareCondition(op="eq", left=InputArg(name="flag"), right=IS_TRUE)
    assert _guards(flow.graph()) == [on, NotCondition(operand=on)]


def test_when_on_a_given_input_is_the_bool_itself() -> None:
    @workflow
    def flow(flag: bool) -> None:
        with when(flag):
            act("on")

    assert _guards(flow.graph(flag=False)) == [ConstCondition(value=False)]


def test_an_input_combines_with_conditions_in_either_order() -> None:
    @workflow
    def flow(flag: bool, urgent: bool) -> None:
        total = score()
        with when(flag & (total > 5)):
            act("a")
        with when((total > 5) | urgent):
            act("b")
        with when(True & flag):
            act("c")

    flag = CompareCondition(op="eq", left=InputArg(name="flag"), right=IS_TRUE)
    urgent = CompareCondition(op="eq", left=InputArg(name="urgent"), right=IS_TRUE)
    above = CompareCondition(
        op="gt", left=RefArg(node="score"), right=ValueArg(value=5)
    )
    assert _guards(flow.graph())[1:] == [
        AndCondition(operands=(flag, above)),
        OrCondition(operands=(above, urgent)),
        AndCondition(operands=(ConstCondition(value=True), flag)),
    ]


def test_when_on_a_projection_of_an_input_guards_on_it() -> None:
    @workflow
    def flow(settings: dict[str, bool]) -> None:
        with when(settings["beta"]):
            act("beta")

    (guard,) = _guards(flow.graph())
    assert guard == CompareCondition(
        op="eq",
        left=InputArg(name="settings", path=(Step(kind="item", key="beta"),)),
        right=IS_TRUE,
    )


def test_when_on_a_task_future_still_asks_for_a_comparison() -> None:
    @workflow
    def flow() -> None:
        total = score()
        with when(total):  # type: ignore[call-overload]  # the misuse under test
            act("x")

    with pytest.raises(
        TracingError, match=r"^when\(\) got the future 'score', not a condition"
    ):
        flow.graph()


def test_and_of_a_task_future_is_still_refused() -> None:
    @workflow
    def flow() -> None:
        total = score()
        with when(total & True):  # type: ignore[call-overload]  # the misuse
            act("x")

    with pytest.raises(TracingError, match=r"^Cannot compute with the future 'score'"):
        flow.graph()


def test_an_input_combines_with_or_in_either_order() -> None:
    @workflow
    def flow(flag: bool) -> None:
        total = score()
        with when(flag | (total > 5)):
            act("a")
        with when(False | flag):
            act("b")

    flag = CompareCondition(op="eq", left=InputArg(name="flag"), right=IS_TRUE)
    above = CompareCondition(
        op="gt", left=RefArg(node="score"), right=ValueArg(value=5)
    )
    assert _guards(flow.graph())[1:] == [
        OrCondition(operands=(flag, above)),
        OrCondition(operands=(ConstCondition(value=False), flag)),
    ]
