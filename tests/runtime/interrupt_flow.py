"""A workflow whose sync task hangs, for the Ctrl-C tests.

``python -c "import interrupt_flow; interrupt_flow.main(store, how)"`` runs
``hanging`` with a ``SQLiteRunStore``: ``fetch`` finishes, then ``hang``
prints ``hanging`` and sleeps far longer than any test waits. ``how`` is
``sync`` (``wf.run`` from plain code) or ``loop`` (``wf.run`` from inside a
running event loop, as in a notebook). The test sends SIGINT once it reads
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


@task
def hang(n: int) -> int:
    sys.stdout.write("hanging\n")
    sys.stdout.flush()
    time.sleep(HANG_SECONDS)
    return n  # pragma: no cover  (interrupted first)


@workflow
def hanging() -> int:
    return hang(fetch())


def main(path: str, how: str) -> None:
    """Run ``hanging``, recorded in the store at ``path``, the way ``how`` says."""
    runner = Runner(store=SQLiteRunStore(path))
    if how == "sync":
        runner.run(hanging)
        return

    async def inside_a_loop() -> None:
        runner.run(hanging)  # sync, on a loop that is running: a notebook cell

    # run_until_complete, not asyncio.run: no SIGINT handler of asyncio's,
    # so Ctrl-C raises KeyboardInterrupt where the caller waits, as in Jupyter.
    asyncio.new_event_loop().run_until_complete(inside_a_loop())
