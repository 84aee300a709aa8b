"""Tasks called outside any workflow: at once, and awaitable from async code.

An ``async def`` task called from a running event loop returns a coroutine
that runs it when awaited, as any ``async def`` does, so a task's body can
``await inner(x)``; called from sync code, any task runs at once and
returns its value.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest

from fiscus_dsl import Runner, TaskStatus, task, workflow

pytestmark = pytest.mark.usefixtures("default")

calls: list[int] = []


@task
async def inner(x: int) -> int:
    calls.append(x)
    return x * 2


@task
async def outer(x: int) -> int:
    doubled: int = await inner(x)  # type: ignore[misc]  # statically the value
    return doubled + 1


@task
def sync_outer(x: int) -> int:
    return inner(x) + 1  # a sync body runs in a worker thread: no loop, a value


@task
def double(x: int) -> int:
    return x * 2


@workflow
def flow(x: int) -> int:
    return outer(x)


def test_an_async_task_awaits_an_async_task_inside_a_workflow(runner: Runner) -> None:
    result = runner.run(flow, 3)

    assert result.output == 7
    assert result["outer"].status is TaskStatus.SUCCEEDED


def test_an_async_task_awaits_an_async_task_when_called_on_its_own() -> None:
    assert outer(4) == 9


async def test_an_async_task_called_in_a_running_loop_is_awaitable() -> None:
    pending: object = outer(5)

    assert inspect.iscoroutine(pending)
    assert await pending == 11


async def test_a_sync_task_called_in_a_running_loop_returns_its_value() -> None:
    assert double(6) == 12
    assert sync_outer(6) == 13


def test_an_async_task_called_from_sync_code_returns_its_value() -> None:
    assert inner(7) == 14


async def test_an_async_task_called_without_await_runs_nothing_and_warns() -> None:
    calls.clear()

    with pytest.warns(RuntimeWarning, match=r"coroutine 'inner' was never awaited"):
        inner(8)  # the coroutine is dropped at once, unawaited
    await asyncio.sleep(0)

    assert calls == []


async def test_the_typed_form_arun_works_inside_a_running_loop_too() -> None:
    assert await inner.arun(9) == 18
