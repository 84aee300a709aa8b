"""Task and workflow options are checked when the decorator runs.

A wrong option fails at once with a ``ConfigurationError`` (an
``OptionTypeError``, also a ``TypeError``, for a wrong type) whose message
shows the one form that works: ``retry=Retry(attempts=3)``, ``timeout=5.0``.
"""

from __future__ import annotations

from typing import Any

import pytest

from fiscus_dsl import (
    ConfigurationError,
    HookSignatureError,
    OptionTypeError,
    Retry,
    task,
    workflow,
)


def test_retry_given_as_a_number_shows_the_retry_form() -> None:
    retry: Any = 3  # the mistake under test

    with pytest.raises(
        OptionTypeError,
        match=r"^Task 'fetch' got retry=3; pass a Retry policy, e.g. "
        r"retry=Retry\(attempts=3\), or None for no retries$",
    ) as info:

        @task(retry=retry)
        def fetch() -> None:
            return None

    assert info.value.option == "retry"
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, ValueError)


def test_retry_given_as_something_else_shows_a_retry_example() -> None:
    retry: Any = {"attempts": 5}

    with pytest.raises(
        OptionTypeError, match=r"got retry=\{'attempts': 5\}; .*Retry\(attempts=3\)"
    ):

        @task(retry=retry)
        def fetch() -> None:
            return None


@pytest.mark.parametrize(
    ("timeout", "shown"),
    [("5s", "5.0"), ("500ms", "0.5"), ("2 min", "120.0"), (True, "5.0")],
)
def test_timeout_given_as_text_shows_the_seconds(timeout: Any, shown: str) -> None:
    with pytest.raises(
        OptionTypeError,
        match=rf"^Task 'fetch' got timeout={timeout!r}; pass the seconds as a "
        rf"number, e.g. timeout={shown}$",
    ) as info:

        @task(timeout=timeout)
        def fetch() -> None:
            return None

    assert info.value.option == "timeout"


def test_timeout_of_infinity_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"got timeout=inf; pass a number"):

        @task(timeout=float("inf"))
        def fetch() -> None:
            return None


def test_right_forms_are_accepted() -> None:
    @task(retry=Retry(attempts=3), timeout=5, on_error="continue", name="get")
    def fetch() -> None:
        return None

    assert fetch.policy.timeout == 5
    assert fetch.name == "get"


def test_name_that_is_not_a_str_is_refused() -> None:
    name: Any = 42

    with pytest.raises(
        OptionTypeError,
        match=r"^The task of '.*fetch' got name=42; pass the name as a str, "
        r"e.g. name='create_contact'$",
    ) as info:

        @task(name=name)
        def fetch() -> None:
            return None

    assert info.value.option == "name"


def test_task_given_its_name_where_the_function_goes_says_to_use_keywords() -> None:
    misuse: Any = task

    with pytest.raises(
        OptionTypeError,
        match=r"^@task takes the function to wrap, got str 'fetch'; pass options "
        r"by keyword, e.g. @task\(name='fetch'\) above a def$",
    ) as info:
        misuse("fetch")

    assert info.value.option == "function"


def test_a_hook_that_is_not_a_function_is_refused_at_declaration() -> None:
    before: Any = "log"

    with pytest.raises(HookSignatureError, match=r"Hook 'before_task' must be a"):

        @task(before=before)
        def fetch() -> None:
            return None


def test_workflow_name_that_is_not_a_str_is_refused() -> None:
    name: Any = ["flow"]

    with pytest.raises(
        OptionTypeError, match=r"^The workflow of '.*flow' got name=\['flow'\]; pass"
    ) as info:

        @workflow(name=name)
        def flow() -> None:
            return None

    assert info.value.option == "name"


def test_workflow_given_a_non_function_says_to_use_keywords() -> None:
    misuse: Any = workflow

    with pytest.raises(OptionTypeError, match=r"^@workflow takes the function"):
        misuse("flow")


def test_workflow_hooks_that_are_functions_are_refused() -> None:
    hooks: Any = print

    with pytest.raises(
        HookSignatureError,
        match=r"^hooks= takes Hooks\(\.\.\.\) objects, got builtin_function_or_method",
    ) as info:

        @workflow(hooks=hooks)
        def flow() -> None:
            return None

    assert info.value.hook == "hooks"
