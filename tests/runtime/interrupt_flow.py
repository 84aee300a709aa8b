"""A workflow whose sync task hangs, for the Ctrl-C tests.

``python -c "import interrupt_flow; interrupt_flow.main(store, how)"`` runs
``hanging`` with a ``SQLiteRunStore``: ``fetch`` finishes, then ``hang``
prints ``hanging`` and sleeps far longer than any test waits. ``how`` is
``sync`` (``wf.run`` from plain code), ``loop`` (``wf.run`` from inside a
running event loop, as in a notebook) or ``hook`` (a sync ``before_task``
hook of ``hang`` does the hanging). The test sends SIGINT once it reads
``hanging``; the KeyboardInterrupt is left uncaught, as in a user's script.
"""

from __future__ import annotations

import asyncio
import sys
import time

from fiscus_dsl import Runner, SQLiteRunStore, task, workflow

HANG_SECONDS = 120.0


@task
def fetch() -> int:
    return 1


def hang_here(*_: object) -> None:
    """Say so, then hang: in the task's body, or in its hook."""
    sys.stdout.write("hanging\n")
    sys.stdout.flush()
    time.sleep(HANG_SECONDS)


@task
def hang(n: int) -> int:
    hang_here()
    return n  # pragma: no cover  (interrupted first)


@task(before=hang_here)
def hooked(n: int) -> int:
    return n  # pragma: no cover  (its hook is interrupted first)


@workflow
def hanging() -> int:
    return hang(fetch())


@workflow(name="hanging")
def hanging_in_a_hook() -> int:
    return hooked(fetch())


def main(path: str, how: str) -> None:
    """Run ``hanging``, recorded in the store at ``path``, the way ``how`` says."""
    runner = Runner(store=SQLiteRunStore(path))
    if how == "hook":
        runner.run(hanging_in_a_hook)
        return
    if how == "sync":
        runner.run(hanging)
        return

    async def inside_a_loop() -> None:
        runner.run(hanging)  # sync, on a loop that is running: a notebook cell

    # run_until_complete, not asyncio.run: no SIGINT handler of asyncio's,
    # so Ctrl-C raises KeyboardInterrupt where the caller waits, as in Jupyter.
    asyncio.new_event_loop().run_until_complete(inside_a_loop())
