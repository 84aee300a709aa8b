"""Hooks around tasks and runs: order, contexts, replacing args and values."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from fiscus_dsl import (
    Hooks,
    HookSignatureError,
    Retry,
    RunContext,
    Runner,
    RunResult,
    RunStatus,
    SkipTask,
    TaskContext,
    TaskStatus,
    WorkflowFailed,
    set_default_runner,
    task,
    workflow,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fiscus_dsl.testing import FakeClock, FakeSleep


def _runner(fake_sleep: FakeSleep, fake_clock: FakeClock, *hooks: Hooks) -> Runner:
    return Runner(hooks=hooks, sleep=fake_sleep, clock=fake_clock)


def test_before_hooks_run_runner_then_workflow_then_task(
    fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    calls: list[str] = []
    runner = _runner(
        fake_sleep,
        fake_clock,
        Hooks(before_task=lambda ctx: calls.append("runner")),
    )

    async def workflow_hook(ctx: TaskContext) -> None:
        calls.append("workflow")

    @task(before=lambda ctx: calls.append("task"))
    def double(x: int) -> int:
        calls.append("body")
        return 2 * x

    @workflow(hooks=Hooks(before_task=workflow_hook))
    def flow() -> int:
        return double(2)

    assert runner.run(flow).output == 4
    assert calls == ["runner", "workflow", "task", "body"]


def test_after_hooks_run_task_then_workflow_then_runner(
    fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    calls: list[tuple[str, object]] = []

    def runner_hook(ctx: TaskContext, value: object) -> None:
        calls.append(("runner", value))

    async def workflow_hook(ctx: TaskContext, value: object) -> None:
        calls.append(("workflow", value))

    def task_hook(ctx: TaskContext, value: object) -> None:
        calls.append(("task", value))

    runner = _runner(fake_sleep, fake_clock, Hooks(after_task=runner_hook))

    @task(after=task_hook)
    def double(x: int) -> int:
        return 2 * x

    @workflow(hooks=Hooks(after_task=workflow_hook))
    def flow() -> int:
        return double(2)

    assert runner.run(flow).output == 4
    assert calls == [("task", 4), ("workflow", 4), ("runner", 4)]


def test_several_hooks_of_one_kind_run_in_order(
    fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    calls: list[str] = []
    runner = _runner(
        fake_sleep,
        fake_clock,
        Hooks(
            before_task=[
                lambda ctx: calls.append("first"),
                lambda ctx: calls.append("second"),
            ]
        ),
        Hooks(before_task=lambda ctx: calls.append("third")),
    )

    @task
    def noop() -> None:
        return None

    @workflow
    def flow() -> None:
        noop()

    runner.run(flow)

    assert calls == ["first", "second", "third"]


def test_task_context_describes_the_task(runner: Runner) -> None:
    seen: list[TaskContext] = []

    @task(before=seen.append)
    def greet(name: str, punctuation: str = "!") -> str:
        return f"Hello, {name}{punctuation}"

    @workflow
    def flow(name: str) -> list[str]:
        return [greet("first"), greet(name)]

    result = runner.run(flow, name="Ada")

    ctx = next(ctx for ctx in seen if ctx.task_id == "greet#2")
    assert isinstance(ctx, TaskContext)
    assert ctx.run_id == result.run_id
    assert ctx.workflow == "flow"
    assert ctx.task_id == "greet#2"
    assert ctx.task_name == "greet"
    assert ctx.args == {"name": "Ada"}
    assert ctx.attempt == 1


def test_before_hook_mapping_replaces_the_arguments(runner: Runner) -> None:
    seen: list[Mapping[str, object]] = []

    def override(ctx: TaskContext) -> dict[str, object]:
        return {**ctx.args, "x": "10"}

    def observe(ctx: TaskContext) -> None:
        seen.append(ctx.args)

    @task(before=[override, observe])
    def double(x: int) -> int:
        return 2 * x

    @workflow
    def flow() -> int:
        return double(1)

    assert runner.run(flow).output == 20
    assert seen == [{"x": "10"}]


def test_before_hook_returning_a_non_mapping_fails_the_task(runner: Runner) -> None:
    def bad_hook(ctx: TaskContext) -> int:
        return 42

    @task(before=bad_hook)
    def double(x: int) -> int:
        return 2 * x

    @workflow
    def flow() -> int:
        return double(1)

    result = runner.run(flow)

    error = result["double"].error
    assert result["double"].status is TaskStatus.FAILED
    assert isinstance(error, TypeError)
    with pytest.raises(
        HookSignatureError,
        match=r"before_task hook .*bad_hook returned int for task 'double'; "
        r"return None, or a mapping",
    ) as info:
        raise error
    assert info.value.hook == "before_task"
    assert result["double"].attempts == 0


def test_skip_task_from_a_before_hook_skips_the_task_and_its_dependents(
    runner: Runner,
) -> None:
    calls: list[str] = []

    def skip_it(ctx: TaskContext) -> None:
        raise SkipTask

    @task(before=skip_it)
    def fetch() -> int:
        calls.append("fetch")
        return 1

    @task
    def use(x: int) -> int:
        return x

    @workflow
    def flow() -> int:
        return use(fetch())

    result = runner.run(flow)

    assert result.success
    assert result.statuses() == {"fetch": TaskStatus.SKIPPED, "use": TaskStatus.SKIPPED}
    assert result["fetch"].reason == "it raised SkipTask (from a hook or its body)"
    assert result["use"].reason == "needs the value of 'fetch', which was skipped"
    assert calls == []
    assert result.output is None


def test_skip_task_raised_by_a_task_body_skips_the_task(runner: Runner) -> None:
    @task(retry=Retry(attempts=3))
    def maybe() -> int:
        raise SkipTask

    @workflow
    def flow() -> int:
        return maybe()

    result = runner.run(flow)

    assert result["maybe"].status is TaskStatus.SKIPPED
    assert result["maybe"].attempts == 1


def test_after_hook_return_value_replaces_the_value(runner: Runner) -> None:
    def upper(ctx: TaskContext, value: object) -> object:
        return str(value).upper()

    def keep(ctx: TaskContext, value: object) -> None:
        return None

    @task(after=[upper, keep])
    def greet(name: str) -> str:
        return f"hello {name}"

    @workflow
    def flow() -> str:
        return greet("ada")

    result = runner.run(flow)

    assert result.output == "HELLO ADA"
    assert result["greet"].value == "HELLO ADA"


def test_after_hook_sees_the_final_attempt_and_validated_args(
    runner: Runner,
) -> None:
    seen: list[TaskContext] = []
    calls = 0

    def record(ctx: TaskContext, value: object) -> None:
        seen.append(ctx)

    @task(after=record, retry=Retry(attempts=3, jitter=False))
    def flaky(x: int) -> int:
        nonlocal calls
        calls += 1
        if calls < 2:
            raise ConnectionError("reset")
        return x

    @workflow
    def flow() -> int:
        return flaky("7")  # type: ignore[arg-type]  # coerced to int by validation

    assert runner.run(flow).output == 7
    assert [(ctx.attempt, ctx.args) for ctx in seen] == [(2, {"x": 7})]


def test_after_hook_does_not_run_for_a_failed_task(runner: Runner) -> None:
    seen: list[object] = []

    @task(after=lambda ctx, value: seen.append(value), on_error="continue")
    def broken() -> int:
        raise ValueError("kaput")

    @workflow
    def flow() -> int:
        return broken()

    runner.run(flow)

    assert seen == []


def test_on_retry_gets_the_failed_attempt_the_error_and_the_delay(
    fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    seen: list[tuple[str, int, str, float]] = []

    async def runner_hook(ctx: TaskContext, error: BaseException, delay: float) -> None:
        seen.append(("runner", ctx.attempt, str(error), delay))

    def task_hook(ctx: TaskContext, error: BaseException, delay: float) -> None:
        seen.append(("task", ctx.attempt, str(error), delay))

    runner = _runner(fake_sleep, fake_clock, Hooks(on_retry=runner_hook))
    calls = 0

    @task(on_retry=task_hook, retry=Retry(attempts=3, backoff=1, jitter=False))
    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError(f"reset {calls}")
        return "ok"

    @workflow
    def flow() -> str:
        return flaky()

    assert runner.run(flow).output == "ok"
    assert seen == [
        ("runner", 1, "reset 1", 1.0),
        ("task", 1, "reset 1", 1.0),
        ("runner", 2, "reset 2", 2.0),
        ("task", 2, "reset 2", 2.0),
    ]
    assert fake_sleep.delays == [1.0, 2.0]


def test_before_hook_runs_once_per_task_not_per_attempt(runner: Runner) -> None:
    before: list[int] = []
    calls = 0

    @task(before=lambda ctx: before.append(ctx.attempt), retry=Retry(attempts=3))
    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("reset")
        return "ok"

    @workflow
    def flow() -> str:
        return flaky()

    result = runner.run(flow)

    assert result["flaky"].attempts == 3
    assert before == [1]


def test_workflow_hooks_get_the_run_context_and_the_result(
    fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    calls: list[tuple[str, object, object]] = []

    def before_runner(run: RunContext) -> None:
        calls.append(("before runner", run, None))

    async def before_workflow(run: RunContext) -> None:
        calls.append(("before workflow", run, None))

    def after_runner(run: RunContext, result: RunResult[object]) -> None:
        calls.append(("after runner", run, result))

    async def after_workflow(run: RunContext, result: RunResult[object]) -> None:
        calls.append(("after workflow", run, result))

    runner = _runner(
        fake_sleep,
        fake_clock,
        Hooks(before_workflow=before_runner, after_workflow=after_runner),
    )

    @task
    def double(x: int) -> int:
        return 2 * x

    @workflow(
        hooks=Hooks(before_workflow=before_workflow, after_workflow=after_workflow)
    )
    def flow(x: int) -> int:
        return double(x)

    result = runner.run(flow, x=3)

    assert [label for label, _, _ in calls] == [
        "before runner",
        "before workflow",
        "after workflow",
        "after runner",
    ]
    run = calls[0][1]
    assert isinstance(run, RunContext)
    assert run.run_id == result.run_id
    assert run.workflow == "flow"
    assert run.inputs == {"x": 3}
    assert all(entry[1] is run for entry in calls)
    assert calls[2][2] is result
    assert calls[3][2] is result


def test_after_workflow_hook_sees_a_failed_run(
    fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    results: list[RunResult[object]] = []
    runner = _runner(
        fake_sleep,
        fake_clock,
        Hooks(after_workflow=lambda run, result: results.append(result)),
    )

    @task
    def broken() -> int:
        raise ValueError("kaput")

    @workflow
    def flow() -> int:
        return broken()

    result = runner.run(flow)

    assert results == [result]
    assert not results[0].success


def test_sub_workflow_hooks_apply_to_its_tasks(runner: Runner) -> None:
    calls: list[str] = []

    @task
    def double(x: int) -> int:
        return 2 * x

    @workflow(hooks=Hooks(before_task=lambda ctx: calls.append(f"inner {ctx.task_id}")))
    def inner(x: int) -> int:
        return double(x)

    @workflow(hooks=Hooks(before_task=lambda ctx: calls.append(f"outer {ctx.task_id}")))
    def outer() -> list[int]:
        return [double(1), inner(2)]

    assert runner.run(outer).output == [2, 4]
    assert sorted(calls) == [
        "inner inner/double",
        "outer double",
        "outer inner/double",
    ]


def test_task_called_outside_a_workflow_runs_the_runner_hooks(
    fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    calls: list[str] = []
    runner = _runner(
        fake_sleep,
        fake_clock,
        Hooks(
            before_task=lambda ctx: calls.append(f"task {ctx.task_id} {ctx.workflow}"),
            before_workflow=lambda run: calls.append(f"run {run.workflow}"),
        ),
    )

    @task
    def double(x: int) -> int:
        return 2 * x

    previous = set_default_runner(runner)
    try:
        assert double(4) == 8
    finally:
        set_default_runner(previous)
    assert calls == ["run double", "task double double"]


# ---------------------------------------------------------------- hooks that raise


def test_a_before_workflow_hook_that_raises_fails_the_run_before_any_task(
    fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    ran: list[str] = []

    def closed(run: RunContext) -> None:
        raise RuntimeError("maintenance window")

    @task
    def step() -> int:
        ran.append("step")
        return 1

    @workflow
    def flow() -> int:
        return step()

    result = _runner(fake_sleep, fake_clock, Hooks(before_workflow=closed)).run(flow)

    assert result.status is RunStatus.FAILED
    assert ran == []
    assert result.tasks == {}
    assert isinstance(result.error, RuntimeError)
    assert result.error_message == (
        "Hook before_workflow of workflow 'flow' raised RuntimeError: maintenance "
        "window; fix the hook (the error is RunResult.error)"
    )


def test_an_after_workflow_hook_that_raises_fails_the_run_and_drops_its_output(
    fake_sleep: FakeSleep, fake_clock: FakeClock
) -> None:
    def broken(run: RunContext, result: RunResult[object]) -> None:
        raise ValueError("report sink is down")

    @task
    def step() -> int:
        return 1

    @workflow
    def flow() -> int:
        return step()

    runner = _runner(fake_sleep, fake_clock, Hooks(after_workflow=broken))
    result = runner.run(flow)

    assert result.status is RunStatus.FAILED
    assert result.output is None
    assert result["step"].status is TaskStatus.SUCCEEDED
    assert isinstance(result.error, ValueError)
    assert result.error_message is not None
    assert result.error_message.startswith(
        "Hook after_workflow of workflow 'flow' raised ValueError"
    )
    with pytest.raises(WorkflowFailed, match="Hook after_workflow") as info:
        runner.call(flow)
    assert isinstance(info.value.__cause__, ValueError)


def test_the_message_of_a_skip_is_the_reason() -> None:
    def not_today(ctx: TaskContext) -> None:
        del ctx
        raise SkipTask("no emails on weekends")

    @task
    def send() -> str:
        return "sent"

    @workflow
    def flow() -> str:
        return send()

    result = Runner(hooks=Hooks(before_task=not_today)).run(flow)

    assert result["send"].status is TaskStatus.SKIPPED
    assert result["send"].reason == (
        "it raised SkipTask (from a hook or its body): no emails on weekends"
    )
