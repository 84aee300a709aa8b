"""Score records on a Dask cluster: the same workflow, its bodies on worker processes.

``score_all`` maps a CPU-heavy ``score`` task over a list of records and
sums the scores. ``main()`` runs it twice: in this process (the default
executor: threads, which Python's GIL lets run one at a time) and with
``DaskExecutor("local:2")``, a ``LocalCluster`` of two worker processes
started for the run and stopped after it. Both give the same total; each
score says which process computed it::

    python examples/scoring.py

Tasks travel to Dask workers by import path, so a script's own tasks (in
``__main__``) cannot: run as a script, this file imports itself by name
(``import scoring``) and runs that module's ``main()``. The command line
does the same for any workflow file:
``fiscus run examples/scoring.py:score_all -i count=40 --dask local:2``.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel

from fiscus_dsl import Runner, RunResult, task, workflow
from fiscus_dsl.executors import DaskExecutor

ROUNDS: Final = 20_000
"""SHA-256 rounds per record: about 7 ms of one core each."""


class Score(BaseModel):
    """One record's score, and the process that computed it."""

    record: int
    value: int
    pid: int


class Summary(BaseModel):
    """The scores added up, and how many processes computed them."""

    count: int
    total: int
    processes: int


@task
def score(record: int) -> Score:
    """Hash the record ``ROUNDS`` times; the score is the last digest's first byte."""
    digest = record.to_bytes(8, "big")
    for _ in range(ROUNDS):
        digest = hashlib.sha256(digest).digest()
    return Score(record=record, value=digest[0], pid=os.getpid())


@task
def summarize(scores: list[Score]) -> Summary:
    """Add the scores up."""
    return Summary(
        count=len(scores),
        total=sum(s.value for s in scores),
        processes=len({s.pid for s in scores}),
    )


@workflow
def score_all(count: int) -> Summary:
    """Score records 0 to ``count - 1`` in parallel and add the scores up."""
    return summarize(score.map(record=list(range(count))))


@dataclass(frozen=True, slots=True)
class Timed:
    """A run and how long ``wf.run()`` took, in seconds."""

    result: RunResult[Summary]
    seconds: float


def timed(runner: Runner, count: int) -> Timed:
    """Run ``score_all`` on ``runner`` and time it."""
    start = time.perf_counter()
    result = runner.run(score_all, count=count)
    return Timed(result, time.perf_counter() - start)


def main(count: int = 200) -> tuple[Timed, Timed]:
    """Score ``count`` records in this process, then on two Dask worker processes."""
    here = timed(Runner(), count)
    with DaskExecutor("local:2") as cluster:
        timed(Runner(executor=cluster), 4)  # start the cluster: not timed
        there = timed(Runner(executor=cluster), count)
    for label, run in (("in this process", here), ("on 2 Dask workers", there)):
        summary = run.result.output
        assert summary is not None
        print(
            f"{label:<18} {run.seconds:5.2f} s  total {summary.total}  "
            f"computed by {summary.processes} process(es)"
        )
    assert here.result.output is not None
    assert there.result.output is not None
    assert here.result.output.total == there.result.output.total
    return here, there


if __name__ == "__main__":
    import scoring  # type: ignore[import-not-found]  # this file, by its name: workers import tasks by name

    scoring.main()
