"""Module-level tasks and workflows whose plans ship to another process.

``receive`` is what the other process runs: it unpickles a plan, checks
that its tasks are this module's own objects again, and runs it.
"""

from __future__ import annotations

import asyncio
import pickle

from fiscus_dsl import Hooks, Runner, task, when, workflow


@task
def double(n: int) -> int:
    return n * 2


@task
def total(values: list[int]) -> int:
    return sum(values)


def is_big(n: int) -> bool:
    return n > 5


def note_task(ctx: object) -> None:
    return None


@workflow
def summed(n: int) -> int:
    return double(n)


@workflow(hooks=Hooks(before_task=note_task))
def fan(n: int) -> int:
    doubled = double.map(n=list(range(n)))
    first = double(n)
    with when(is_big, first):
        double(first)
    summed(first)
    return total(doubled)


@workflow
def broken() -> int:
    return double("not a number")  # type: ignore[arg-type]  # invalid on purpose


def receive(blob: bytes) -> tuple[str, bool, str, object, str | None]:
    """Unpickle a plan; return its graph, task identity, status, output, error."""
    plan = pickle.loads(blob)
    tasks_are_ours = all(
        node.task in (double, total) for node in plan.nodes if node.task is not None
    )
    result = asyncio.run(Runner().arun_plan(plan, {}))
    error = None if result.error is None else type(result.error).__name__
    return (
        plan.graph().model_dump_json(),
        tasks_are_ours,
        result.status.value,
        result.output,
        error,
    )
