"""Every misuse of the DSL raises ``TracingError`` naming the workflow, line and fix."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

from fiscus_dsl import (
    Condition,
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
from fiscus_dsl._graph.model import ConstCondition
from fiscus_dsl._graph.render import describe_condition

from .conftest import as_future, first_body_line, next_line


@task
def fetch(url: str) -> dict[str, Any]:
    return {"url": url}


@task
def count() -> int:
    return 1


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def use(value: object) -> object:
    return value


ADD_SIGNATURE = re.escape(f"add{inspect.signature(add)}")


def assert_located(error: TracingError, workflow: str | None, line: int) -> None:
    """Assert the error's fields and that its message names workflow and line."""
    location = f"test_misuse.py:{line}"
    assert isinstance(error, TypeError)
    assert error.workflow == workflow
    assert error.location == location
    assert f"({location})" in str(error)
    if workflow is not None:
        assert f"in workflow {workflow!r} ({location})" in str(error)


# ---------------------------------------------------------------- futures as values


def test_bool_of_a_future_raises() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        contact = fetch("x")
        line = next_line()
        bool(contact)

    with pytest.raises(
        TracingError,
        match=r"^Cannot use the future 'fetch' as a bool \(if, and, or and not need "
        r"its value while tracing\) in workflow 'onboard' \(test_misuse\.py:\d+\); "
        r"guard with when\(\.\.\.\) and build the condition with & for and, \| for "
        r"or, ~ for not and \.is_in\(\[\.\.\.\]\) for in, e\.g\. with "
        r"when\(\(plan == 'pro'\) \| ~plan\.is_in\(\['free', 'trial'\]\)\)$",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_if_on_a_future_raises() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        contact = fetch("x")
        line = next_line()
        if contact:
            use(1)

    with pytest.raises(
        TracingError, match=r"^Cannot use the future 'fetch' as a bool"
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_not_of_a_projection_raises_naming_the_projection() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        contact = fetch("x")
        line = next_line()
        if not contact["active"]:
            use(1)

    with pytest.raises(
        TracingError,
        match=r"^Cannot use the future \"fetch\['active'\]\" as a bool",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_iter_of_a_future_raises() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        contact = fetch("x")
        line = next_line()
        iter(contact)

    with pytest.raises(
        TracingError,
        match=r"^Cannot iterate over the future 'fetch' \(a for loop or unpacking "
        r"needs its value while tracing\) in workflow 'onboard' "
        r"\(test_misuse\.py:\d+\); fan out with task\.map\(item=future\) instead "
        r"of a for loop; to test membership inside when\(\.\.\.\), write "
        r"future\.is_in\(\[\.\.\.\]\)$",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_for_loop_over_a_future_raises() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        contact = fetch("x")
        line = next_line()
        for key in contact:
            use(key)

    with pytest.raises(
        TracingError, match=r"^Cannot iterate over the future 'fetch'"
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_len_of_a_future_raises() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        contact = fetch("x")
        line = next_line()
        len(contact)

    with pytest.raises(
        TracingError,
        match=r"^Cannot take len\(\) of the future 'fetch' in workflow 'onboard' "
        r"\(test_misuse\.py:\d+\); compute the length in a task that receives the "
        r"value$",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_str_of_a_future_raises() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        contact = fetch("x")
        line = next_line()
        str(contact)

    with pytest.raises(
        TracingError,
        match=r"^Cannot turn the future 'fetch' into a str in workflow 'onboard' "
        r"\(test_misuse\.py:\d+\); pass the future to a task that formats it$",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_f_string_of_a_future_raises() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        contact = fetch("x")
        line = next_line()
        use(f"Dear {contact['url']}")

    with pytest.raises(
        TracingError,
        match=r"^Cannot use the future \"fetch\['url'\]\" in an f-string or "
        r"format\(\) in workflow 'onboard' \(test_misuse\.py:\d+\); pass the "
        r"future to a task that formats it$",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_format_of_a_future_raises() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        total = count()
        line = next_line()
        format(total, ">5")

    with pytest.raises(
        TracingError,
        match=r"^Cannot use the future 'count' in an f-string or format\(\)",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_membership_in_a_future_raises() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        contact = fetch("x")
        line = next_line()
        _ = "url" in contact

    with pytest.raises(
        TracingError,
        match=r"^Cannot test membership in the future 'fetch' \('in' needs its value "
        r"while tracing\) in workflow 'onboard' \(test_misuse\.py:\d+\); for "
        r"`future in \[\.\.\.\]` write future\.is_in\(\[\.\.\.\]\) inside "
        r"when\(\.\.\.\); to look inside the value, guard with a predicate: with "
        r"when\(lambda value: 'url' in value, future\)$",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_indexing_a_future_with_a_float_raises() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        contact = as_future(fetch("x"))
        line = next_line()
        _ = contact[1.5]  # type: ignore[index]  # deliberately a float key

    with pytest.raises(
        TracingError,
        match=r"^Cannot index the future 'fetch' with float in workflow 'onboard' "
        r"\(test_misuse\.py:\d+\); use a str key or an int index$",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_using_a_future_as_an_index_raises() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        position = count()
        line = next_line()
        _ = ["a", "b"][position]

    with pytest.raises(
        TracingError,
        match=r"^Cannot use the future 'count' as an index in workflow 'onboard' "
        r"\(test_misuse\.py:\d+\); guard with when",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


# ---------------------------------------------------------------- conditions as values


def test_bool_of_a_condition_raises() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        total = count()
        line = next_line()
        bool(total == 1)

    with pytest.raises(
        TracingError,
        match=r"^Cannot use a condition as a bool \(if, and, or, not and in need a "
        r"bool while tracing\) in workflow 'onboard' \(test_misuse\.py:\d+\); "
        r"combine conditions with & for and, \| for or and ~ for not, write `x in "
        r"\[\.\.\.\]` as x\.is_in\(\[\.\.\.\]\), and use it in a guard: with "
        r"when\(condition\): \.\.\., e\.g\. when\(\(plan == 'pro'\) \| "
        r"~plan\.is_in\(\['free', 'trial'\]\)\)$",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_if_on_a_comparison_raises() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        total = count()
        line = next_line()
        if total > 1:
            use(1)

    with pytest.raises(
        TracingError, match=r"^Cannot use a condition as a bool \(.*\) in workflow"
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_and_between_conditions_raises_showing_the_ampersand() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        total = count()
        line = next_line()
        with when((total > 1) and (total < 5)):
            use(1)

    with pytest.raises(
        TracingError,
        match=r"^Cannot use a condition as a bool .*; combine conditions with & for "
        r"and, \| for or and ~ for not",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_not_of_a_condition_raises_showing_the_tilde() -> None:
    @workflow
    def onboard() -> None:
        total = count()
        with when(not (total > 1)):
            use(1)

    with pytest.raises(TracingError, match=r"~ for not"):
        onboard.graph()


def test_a_future_in_a_list_raises_showing_is_in() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        total = count()
        line = next_line()
        with when(total in [1, 2]):
            use(1)

    with pytest.raises(
        TracingError,
        match=r"write `x in \[\.\.\.\]` as x\.is_in\(\[\.\.\.\]\)",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_or_on_a_future_raises_showing_the_bar() -> None:
    @workflow
    def onboard() -> None:
        total = count()
        with when(total or True):  # type: ignore[call-overload]  # the misuse
            use(1)

    with pytest.raises(
        TracingError, match=r"^Cannot use the future 'count' as a bool .*\| for or"
    ):
        onboard.graph()


def test_is_in_builds_the_condition_the_advice_shows() -> None:
    @workflow
    def onboard() -> None:
        total = as_future(count())
        with when((total == 0) | ~total.is_in([1, 2])):
            use(1)

    (_, guarded) = onboard.graph().nodes
    assert guarded.guard is not None
    assert describe_condition(guarded.guard) == "count == 0 or not (count in [1, 2])"


def test_bool_of_a_condition_outside_a_workflow_raises() -> None:
    condition = Condition(ConstCondition(value=True))

    with pytest.raises(
        TracingError,
        match=r"^Cannot use a condition as a bool \(if, and, or, not and in need a "
        r"bool while tracing\); "
        r"combine conditions with & for and, \| for or and ~ for not, write `x in "
        r"\[\.\.\.\]` as x\.is_in\(\[\.\.\.\]\), and use it in a guard: with "
        r"when\(condition\): \.\.\., e\.g\. when\(\(plan == 'pro'\) \| "
        r"~plan\.is_in\(\['free', 'trial'\]\)\)$",
    ) as info:
        bool(condition)

    assert info.value.workflow is None
    assert info.value.location is None


def test_passing_a_condition_as_an_argument_raises() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        total = count()
        line = next_line()
        use(total == 1)

    with pytest.raises(
        TracingError,
        match=r"^Cannot pass a condition as a task argument in workflow 'onboard' "
        r"\(test_misuse\.py:\d+\); guard the call with when\(condition\) instead$",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


# ---------------------------------------------------------------- outside a workflow


def test_when_outside_a_workflow_raises() -> None:
    def misuse() -> None:
        with when(True):
            pass

    with pytest.raises(
        TracingError,
        match=r"^when\(\.\.\.\) can only be used inside a @workflow function "
        r"\(test_misuse\.py:\d+\); call it inside the workflow's body$",
    ) as info:
        misuse()

    assert_located(info.value, None, first_body_line(misuse))


def test_otherwise_outside_a_workflow_raises() -> None:
    def misuse() -> None:
        with otherwise():
            pass

    with pytest.raises(
        TracingError,
        match=r"^otherwise\(\) can only be used inside a @workflow function "
        r"\(test_misuse\.py:\d+\); call it inside the workflow's body$",
    ) as info:
        misuse()

    assert_located(info.value, None, first_body_line(misuse))


@pytest.mark.parametrize("outcome", [succeeded, failed, skipped])
def test_outcome_test_outside_a_workflow_raises(outcome: Any) -> None:
    def misuse() -> None:
        outcome(1)

    name = outcome.__name__
    with pytest.raises(
        TracingError,
        match=rf"^{name}\(\.\.\.\) can only be used inside a @workflow function "
        r"\(test_misuse\.py:\d+\); call it inside the workflow's body$",
    ) as info:
        misuse()

    assert_located(info.value, None, first_body_line(misuse))


def test_coalesce_outside_a_workflow_raises() -> None:
    def misuse() -> None:
        coalesce(1, 2)

    with pytest.raises(
        TracingError,
        match=r"^coalesce\(\.\.\.\) can only be used inside a @workflow function "
        r"\(test_misuse\.py:\d+\); call it inside the workflow's body$",
    ) as info:
        misuse()

    assert_located(info.value, None, first_body_line(misuse))


# ---------------------------------------------------------------- binding


def test_task_call_missing_an_argument_raises_with_the_signature() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        line = next_line()
        add(1)  # type: ignore[call-arg]  # deliberately missing b

    with pytest.raises(
        TracingError,
        match=rf"^Task 'add' was called with arguments that do not bind to "
        rf"{ADD_SIGNATURE} \(missing 'b'\) in workflow "
        r"'onboard' \(test_misuse\.py:\d+\); pass each required parameter once, "
        r"by its name, and no unknown ones$",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_task_call_with_an_unknown_argument_raises_with_the_signature() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        line = next_line()
        add(1, 2, c=3)  # type: ignore[call-arg]  # deliberately unknown c

    with pytest.raises(
        TracingError,
        match=rf"^Task 'add' was called with arguments that do not bind to "
        rf"{ADD_SIGNATURE} \(unknown keyword 'c'\) in workflow",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_task_call_with_extra_positional_arguments_raises_with_the_signature() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        line = next_line()
        add(1, 2, 3)  # type: ignore[call-arg]  # deliberately one too many

    with pytest.raises(
        TracingError,
        match=rf"^Task 'add' was called with arguments that do not bind to "
        rf"{ADD_SIGNATURE} \(3 positional arguments given, but it takes 2\) ",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)


def test_task_call_giving_an_argument_twice_raises() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        line = next_line()
        add(1, 2, a=3)  # type: ignore[misc]  # deliberately a twice

    with pytest.raises(
        TracingError,
        match=r"^Task 'add' was called with arguments .*\('a' given twice, by "
        r"position and by keyword\) in workflow",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)
    assert info.value.problems == ("'a' given twice, by position and by keyword",)


def test_task_call_that_does_not_bind_lists_every_problem() -> None:
    line = 0

    @workflow
    def onboard() -> None:
        nonlocal line
        line = next_line()
        add(1, 2, 3, a=4, c=5)  # type: ignore[call-arg, misc]  # deliberately wrong thrice

    with pytest.raises(
        TracingError,
        match=rf"^Task 'add' was called with arguments that do not bind to "
        rf"{ADD_SIGNATURE} \(3 positional arguments given, but it takes 2; 'a' "
        r"given twice, by position and by keyword; unknown keyword 'c'\) in "
        r"workflow 'onboard'",
    ) as info:
        onboard.graph()

    assert_located(info.value, "onboard", line)
    assert info.value.problems == (
        "3 positional arguments given, but it takes 2",
        "'a' given twice, by position and by keyword",
        "unknown keyword 'c'",
    )


def test_task_call_with_a_misspelt_keyword_lists_it_and_the_missing_one() -> None:
    @workflow
    def onboard() -> None:
        add(a=1, bb=2)  # type: ignore[call-arg]  # deliberately misspelt b

    with pytest.raises(
        TracingError,
        match=r"\(unknown keyword 'bb' \(did you mean 'b'\?\); missing 'b'\)",
    ) as info:
        onboard.graph()

    assert info.value.problems == (
        "unknown keyword 'bb' (did you mean 'b'?)",
        "missing 'b'",
    )


def test_task_call_outside_a_workflow_that_does_not_bind_raises() -> None:
    def misuse() -> None:
        add(1)  # type: ignore[call-arg]  # deliberately missing b

    with pytest.raises(
        TracingError,
        match=rf"^Task 'add' was called with arguments that do not bind to "
        rf"{ADD_SIGNATURE} \(missing 'b'\) "
        r"in a direct call of task 'add'",
    ) as info:
        misuse()

    assert info.value.workflow == "add"
    assert info.value.location == f"test_misuse.py:{first_body_line(misuse)}"


def test_a_positional_only_parameter_given_by_keyword_is_named() -> None:
    def pick(first: int, /, second: int) -> int:
        return first + second

    picked = task(pick)

    @workflow
    def onboard() -> None:
        picked(first=1, second=2)  # type: ignore[call-arg]  # deliberately by keyword

    with pytest.raises(TracingError, match=r"\('first' is positional-only") as info:
        onboard.graph()

    assert info.value.problems == (
        "'first' is positional-only, but was given by keyword",
        "missing 'first'",
    )
