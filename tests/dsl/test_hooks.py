"""``Hooks``: registration checks each function against its hook's signature."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from fiscus_dsl import Hooks, HookSignatureError, workflow
from fiscus_dsl._dsl.hooks import HOOK_SIGNATURES, verify_hook


def before_task(ctx: object) -> None:
    return None


def after_task(ctx: object, value: object) -> object:
    return value


def on_retry(ctx: object, error: BaseException, delay: float) -> None:
    return None


def before_workflow(run: object) -> None:
    return None


def after_workflow(run: object, result: object) -> None:
    return None


def test_empty_hooks_are_empty() -> None:
    hooks = Hooks()

    assert hooks.is_empty()
    assert hooks.before_task == ()
    assert hooks.after_workflow == ()


def test_hooks_register_one_function_per_kind() -> None:
    hooks = Hooks(
        before_task=before_task,
        after_task=after_task,
        on_retry=on_retry,
        before_workflow=before_workflow,
        after_workflow=after_workflow,
    )

    assert not hooks.is_empty()
    assert hooks.before_task == (before_task,)
    assert hooks.after_task == (after_task,)
    assert hooks.on_retry == (on_retry,)
    assert hooks.before_workflow == (before_workflow,)
    assert hooks.after_workflow == (after_workflow,)


@pytest.mark.parametrize(
    "kind",
    ["before_task", "after_task", "on_retry", "before_workflow", "after_workflow"],
)
def test_hooks_with_a_single_kind_are_not_empty(kind: str) -> None:
    def any_arity(*args: object) -> None:
        return None

    assert not Hooks(**{kind: any_arity}).is_empty()


def test_hooks_register_a_sequence_in_order() -> None:
    def second(ctx: object) -> None:
        return None

    assert Hooks(before_task=[before_task, second]).before_task == (
        before_task,
        second,
    )


def test_hooks_accept_async_functions_defaults_and_varargs() -> None:
    async def async_before(ctx: object) -> None:
        return None

    def with_default(ctx: object, value: object, extra: int = 0) -> None:
        return None

    def variadic(*args: object, **kwargs: object) -> None:
        return None

    hooks = Hooks(before_task=async_before, after_task=with_default, on_retry=variadic)

    assert hooks.before_task == (async_before,)
    assert hooks.after_task == (with_default,)
    assert hooks.on_retry == (variadic,)


def test_hooks_trust_a_callable_without_a_signature() -> None:
    assert Hooks(before_task=min).before_task == (min,)


def test_hooks_are_frozen() -> None:
    hooks = Hooks()

    with pytest.raises(dataclasses.FrozenInstanceError, match="before_task"):
        hooks.before_task = (before_task,)  # type: ignore[misc]  # deliberately frozen


@pytest.mark.parametrize(
    ("kind", "signature"),
    [
        ("before_task", r"before_task\(ctx\)"),
        ("after_task", r"after_task\(ctx, value\)"),
        ("on_retry", r"on_retry\(ctx, error, delay\)"),
        ("before_workflow", r"before_workflow\(run\)"),
        ("after_workflow", r"after_workflow\(run, result\)"),
    ],
)
def test_hook_with_too_few_parameters_names_the_expected_signature(
    kind: str, signature: str
) -> None:
    def takes_nothing() -> None:
        return None

    with pytest.raises(
        HookSignatureError,
        match=rf"^Hook '{kind}' .*takes_nothing\(\) -> 'None' cannot be called as "
        rf"{signature} \(too many positional arguments\); give it exactly the "
        rf"parameters of {signature}$",
    ) as info:
        Hooks(**{kind: takes_nothing})

    assert info.value.hook == kind
    assert isinstance(info.value.__cause__, TypeError)


def test_hook_with_too_many_required_parameters_is_refused() -> None:
    def greedy(ctx: object, value: object, more: object) -> None:
        return None

    with pytest.raises(
        HookSignatureError,
        match=r"^Hook 'after_task' .*greedy\(ctx: 'object', value: 'object', more: "
        r"'object'\) -> 'None' cannot be called as after_task\(ctx, value\) "
        r"\(missing a required argument: 'more'\)",
    ) as info:
        Hooks(after_task=greedy)

    assert info.value.hook == "after_task"


def test_hook_that_is_not_callable_is_refused() -> None:
    not_a_function: Any = 42

    with pytest.raises(
        HookSignatureError,
        match=r"^Hook 'on_retry' must be a function like on_retry\(ctx, error, "
        r"delay\), got int$",
    ) as info:
        Hooks(on_retry=not_a_function)

    assert info.value.hook == "on_retry"


def test_hook_sequence_holding_a_non_callable_is_refused() -> None:
    items: Any = [before_task, "not a hook"]

    with pytest.raises(
        HookSignatureError,
        match=r"^Hook 'before_task' must be a function like before_task\(ctx\), "
        r"got str$",
    ) as info:
        Hooks(before_task=items)

    assert info.value.hook == "before_task"


def test_verify_hook_returns_the_function() -> None:
    assert verify_hook("before_task", before_task) is before_task
    assert set(HOOK_SIGNATURES) == {
        "before_task",
        "after_task",
        "on_retry",
        "before_workflow",
        "after_workflow",
    }


# ---------------------------------------------------------------- hooks= option


def test_workflow_hooks_option_refuses_a_bare_function() -> None:
    bare: Any = before_workflow

    with pytest.raises(
        HookSignatureError,
        match=r"^hooks= takes Hooks\(\.\.\.\) objects, got function; wrap your "
        r"functions: Hooks\(before_task=fn\)$",
    ) as info:
        workflow(hooks=bare)

    assert info.value.hook == "hooks"


def test_workflow_hooks_option_refuses_a_sequence_with_a_non_hooks_item() -> None:
    items: Any = [Hooks(), {"before_task": before_task}]

    with pytest.raises(
        HookSignatureError, match=r"^hooks= takes Hooks\(\.\.\.\) objects, got dict;"
    ) as info:
        workflow(hooks=items)

    assert info.value.hook == "hooks"


def test_workflow_hooks_option_refuses_a_non_iterable_object() -> None:
    number: Any = 3

    with pytest.raises(
        HookSignatureError, match=r"^hooks= takes Hooks\(\.\.\.\) objects, got int;"
    ) as info:
        workflow(hooks=number)

    assert info.value.hook == "hooks"
