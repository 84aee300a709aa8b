"""``@task`` and ``Task``: options, policies, wrapt metadata, methods, pickling."""

from __future__ import annotations

import inspect
import pickle
from typing import Any

import pytest

from fiscus_dsl import (
    ConfigurationError,
    Hooks,
    HookSignatureError,
    Partial,
    Retry,
    Task,
    TaskFuture,
    TaskOptions,
    task,
    workflow,
)
from fiscus_dsl._graph.model import (
    Policy,
    RefArg,
    RetrySpec,
    TaskNode,
    ValueArg,
    WorkflowGraph,
)


@task
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@task
async def fetch(url: str) -> str:
    """Fetch a page."""
    return url


@task(name="pinned", timeout=1.0)
def pinned_task(x: int) -> int:
    return x


def _before(ctx: object) -> None:
    return None


def _after(ctx: object, value: object) -> object:
    return value


def _on_retry(ctx: object, error: BaseException, delay: float) -> None:
    return None


def _only_node(graph: WorkflowGraph) -> TaskNode:
    (node,) = graph.nodes
    assert isinstance(node, TaskNode)
    return node


# ---------------------------------------------------------------- bare and options


def test_bare_task_is_named_after_its_function() -> None:
    assert isinstance(add, Task)
    assert add.name == "add"
    assert add.options == TaskOptions(name="add")
    assert add.policy == Policy()
    assert repr(add) == "<Task 'add'>"


def test_task_name_option_overrides_the_function_name() -> None:
    @task(name="create_contact")
    def make_contact(name: str) -> str:
        return name

    @workflow
    def onboard() -> str:
        return make_contact("Ada")

    node = _only_node(onboard.graph())
    assert make_contact.name == "create_contact"
    assert node.id == "create_contact"
    assert node.task == "create_contact"


def test_empty_name_option_falls_back_to_the_function_name() -> None:
    @task(name="")
    def lookup() -> int:
        return 1

    assert lookup.name == "lookup"


def test_task_options_become_the_node_policy() -> None:
    @task(
        retry=Retry(
            attempts=4, backoff=1.0, max_delay=5.0, jitter=False, retry_on=OSError
        ),
        timeout=2.5,
        on_error="continue",
    )
    def flaky() -> int:
        return 1

    @workflow
    def flow() -> int:
        return flaky()

    expected = Policy(
        retry=RetrySpec(
            attempts=4, backoff=1.0, max_delay=5.0, jitter=False, retry_on="OSError"
        ),
        timeout=2.5,
        on_error="continue",
    )
    assert flaky.policy == expected
    assert _only_node(flow.graph()).policy == expected


def test_retry_spec_describes_the_default_retry_on() -> None:
    @task(retry=Retry())
    def flaky() -> int:
        return 1

    assert flaky.policy.retry == RetrySpec(
        attempts=3,
        backoff=0.5,
        max_delay=30.0,
        jitter=True,
        retry_on="retryable errors",
    )


def test_task_without_options_has_the_default_policy_in_its_node() -> None:
    @workflow
    def flow() -> int:
        return add(1, 2)

    node = _only_node(flow.graph())
    assert node.policy == Policy(retry=None, timeout=None, on_error="fail")


@pytest.mark.parametrize("timeout", [0, -1.5])
def test_task_rejects_a_timeout_not_above_zero(timeout: float) -> None:
    with pytest.raises(ConfigurationError, match=r"Task 'slow' got timeout=") as info:

        @task(timeout=timeout)
        def slow() -> None:
            return None

    assert str(info.value) == (
        f"Task 'slow' got timeout={timeout!r}; "
        "pass a number of seconds above 0, or None"
    )


def test_task_rejects_an_unknown_on_error() -> None:
    on_error: Any = "ignore"  # deliberately not one of the accepted literals

    with pytest.raises(
        ConfigurationError,
        match=r"^Task 'careless' got on_error='ignore'; pass 'fail' or 'continue'$",
    ):

        @task(on_error=on_error)
        def careless() -> None:
            return None


def test_task_hooks_are_registered_in_its_options() -> None:
    @task(before=_before, after=[_after], on_retry=(_on_retry,))
    def hooked() -> int:
        return 1

    hooks = hooked.options.hooks
    assert isinstance(hooks, Hooks)
    assert hooks.before_task == (_before,)
    assert hooks.after_task == (_after,)
    assert hooks.on_retry == (_on_retry,)
    assert hooks.before_workflow == ()
    assert hooks.after_workflow == ()


def test_task_without_hooks_keeps_none_in_its_options() -> None:
    assert add.options.hooks is None


def test_task_hook_with_the_wrong_arity_fails_at_decoration() -> None:
    def needs_nothing() -> None:
        return None

    with pytest.raises(
        HookSignatureError,
        match=r"^Hook 'after_task' .*needs_nothing\(\) -> 'None' cannot be called as "
        r"after_task\(ctx, value\) .*; give it exactly the parameters of "
        r"after_task\(ctx, value\)$",
    ) as info:

        @task(after=needs_nothing)
        def hooked() -> int:
            return 1

    assert info.value.hook == "after_task"


# ---------------------------------------------------------------- wrapt metadata


def test_task_keeps_name_and_docstring() -> None:
    assert add.__name__ == "add"
    assert add.__qualname__ == "add"
    assert add.__doc__ == "Add two numbers."
    assert add.__module__ == __name__


def test_task_keeps_its_signature() -> None:
    signature = inspect.signature(add)
    assert list(signature.parameters) == ["a", "b"]
    assert signature == inspect.signature(add.__wrapped__)
    assert add.call_signature.parameter_names == ("a", "b")


def test_async_task_is_a_coroutine_function() -> None:
    assert fetch.is_async
    assert fetch.__doc__ == "Fetch a page."
    assert inspect.iscoroutinefunction(fetch)


def test_sync_task_is_not_a_coroutine_function() -> None:
    assert not inspect.iscoroutinefunction(add)
    assert not add.is_async


def test_module_level_task_pickles_to_the_same_object() -> None:
    assert pickle.loads(pickle.dumps(add)) is add
    assert pickle.loads(pickle.dumps(pinned_task)) is pinned_task


# ---------------------------------------------------------------- methods


class Counter:
    def __init__(self, start: int) -> None:
        self.start = start

    @task
    def bump(self, by: int) -> int:
        return self.start + by


def test_task_method_records_its_instance_inside_a_workflow() -> None:
    counter = Counter(10)

    @workflow
    def flow() -> int:
        return counter.bump(by=2)  # type: ignore[no-any-return]  # wrapt types bound methods loosely

    node = _only_node(flow.graph())
    assert node.id == "bump"
    assert node.args == {"self": ValueArg(value=counter), "by": ValueArg(value=2)}


def test_task_method_called_through_the_class_records_the_instance() -> None:
    counter = Counter(1)

    @workflow
    def flow() -> int:
        return Counter.bump(counter, 5)  # type: ignore[no-any-return, call-arg, arg-type]  # wrapt's class-bound type drops self

    node = _only_node(flow.graph())
    assert node.args == {"self": ValueArg(value=counter), "by": ValueArg(value=5)}


def test_task_method_runs_bound_to_its_instance() -> None:
    assert Counter(10).bump(by=2) == 12


# ---------------------------------------------------------------- calling


def test_task_call_inside_a_workflow_returns_a_future() -> None:
    seen: list[object] = []

    @workflow
    def flow() -> int:
        total = add(1, b=2)
        seen.append(total)
        return total

    graph = flow.graph()
    (future,) = seen
    assert isinstance(future, TaskFuture)
    assert _only_node(graph).args == {"a": ValueArg(value=1), "b": ValueArg(value=2)}
    assert graph.output == RefArg(node="add")


def test_task_call_outside_a_workflow_runs_it() -> None:
    assert add(1, 2) == 3


async def test_task_arun_runs_it_from_async_code() -> None:
    assert await add.arun(2, 3) == 5


def test_task_map_outside_a_workflow_runs_every_item() -> None:
    assert add.map(a=[1, 2], b=[10, 20]) == [11, 22]


def test_task_partial_map_outside_a_workflow_runs_every_item() -> None:
    assert add.partial(b=100).map(a=[1, 2]) == [101, 102]


def test_partial_binds_more_arguments_without_changing_the_first() -> None:
    first = add.partial(a=1)
    second = first.partial(b=2)
    assert isinstance(second, Partial)
    assert first.bound == {"a": 1}
    assert second.bound == {"a": 1, "b": 2}
    assert second.target is add
