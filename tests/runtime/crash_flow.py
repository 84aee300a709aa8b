"""A workflow that kills its own process, for the resume-after-kill test.

``python -c "import crash_flow; crash_flow.main(store, marks)"`` runs
``crashing`` with a ``SQLiteRunStore``; each task appends its name to
``marks/calls.txt`` (so calls count across processes), and ``explode``
calls ``os._exit(137)`` while ``marks/armed`` exists, after ``first`` and
``second`` finished: a kill, with no clean-up and no end of run recorded.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from fiscus_dsl import Runner, SQLiteRunStore, task, workflow


def mark(marks: str, name: str) -> None:
    """Append one call of task ``name`` to the calls file."""
    with (Path(marks) / "calls.txt").open("a", encoding="utf-8") as calls:
        calls.write(name + "\n")


def calls(marks: str) -> list[str]:
    """Return the task calls so far, in order, across processes."""
    return (Path(marks) / "calls.txt").read_text(encoding="utf-8").split()


@task
def first(marks: str) -> int:
    mark(marks, "first")
    return 1


@task
def second(marks: str, n: int) -> int:
    mark(marks, "second")
    return n + 1


@task
def explode(marks: str, n: int) -> int:
    mark(marks, "explode")
    if (Path(marks) / "armed").exists():
        # The tasks before were recorded within a commit of settling: wait
        # for that commit, then die with no clean-up.
        time.sleep(0.5)
        os._exit(137)
    return n * 10


@task
def last(marks: str, n: int) -> int:
    mark(marks, "last")
    return n + 1


@workflow
def crashing(marks: str) -> int:
    return last(marks, explode(marks, second(marks, first(marks))))


def main(store: str, marks: str) -> None:
    """Run ``crashing`` with a store at ``store``; it dies while armed."""
    with SQLiteRunStore(store) as runs:
        Runner(store=runs, max_concurrency=1).run(crashing, marks=marks)
