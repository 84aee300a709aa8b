"""Measure storing and resuming big runs, as an application calls them.

Run ``python benchmarks/bench_resume.py`` (``--quick`` for a smoke run).

- **Store**: a fan-out of 100,000 no-op async tasks joined by one, run with
  ``runner.run(...)`` without a store and with a fresh SQLite file: the
  wall time of each (tracing included) and the difference.
- **Resume**: the same fan-out whose join failed, resumed: 100,000 tasks
  served from the store and the join run again; the wall time of
  ``runner.resume(...)`` (loading, planning, checking, serving, recording).
- **Plan**: a 20,000-link chain whose last link failed: the time of
  ``plan_resume`` alone (load the run, trace the workflow, check each
  recorded task against the plan).

Each figure is the median of a few repeats, each on a fresh file in a
temporary directory on the machine's own disk. The targets are under 5 s to
store, under 2 s to resume and under 1 s to plan.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Final

from fiscus_dsl import Runner, SQLiteRunStore, task, workflow
from fiscus_dsl._runtime.journal import plan_resume

FAN_OUT: Final = 100_000
CHAIN: Final = 20_000
FAILING: Final = [True]


@task
async def step(x: int) -> int:
    return x + 1


@task
def join(values: list[int]) -> int:
    if FAILING[0]:
        msg = "the join's API is down"
        raise ConnectionError(msg)
    return len(values)


@workflow
def fan_out(n: int) -> int:
    return join([step(i) for i in range(n)])


@workflow
def chain(n: int) -> int:
    value = step(0)
    for _ in range(n - 1):
        value = step(value)
    return join([value])


def _measure(fan: int, links: int) -> tuple[float, float, float, float]:
    """Return one round's seconds: plain run, stored run, resume, plan."""
    with (
        tempfile.TemporaryDirectory() as folder,
        SQLiteRunStore(Path(folder) / "runs.db") as store,
    ):
        FAILING[0] = True
        start = time.perf_counter()
        Runner().run(fan_out, n=fan)
        plain = time.perf_counter() - start
        start = time.perf_counter()
        result = Runner(store=store).run(fan_out, n=fan)
        stored = time.perf_counter() - start
        FAILING[0] = False
        start = time.perf_counter()
        again = Runner(store=store).resume(fan_out, result.run_id)
        resumed = time.perf_counter() - start
        assert again.output == fan, again
        FAILING[0] = True
        failed = Runner(store=store).run(chain, n=links)
        start = time.perf_counter()
        plan_resume(store, chain, failed.run_id)
        planned = time.perf_counter() - start
    return plain, stored, resumed, planned


def main() -> None:
    """Print the store, resume and plan figures with their medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    quick = parser.parse_args().quick
    fan = 2_000 if quick else FAN_OUT
    links = 1_000 if quick else CHAIN
    rounds = [_measure(fan, links) for _ in range(1 if quick else 3)]
    plain, stored, resumed, planned = (
        statistics.median(column) for column in zip(*rounds, strict=True)
    )
    print(
        f"store  {fan} tasks: without store {plain:6.2f} s, "
        f"with store {stored:6.2f} s (target < 5 s)"
    )
    print(f"resume {fan} tasks: {resumed:6.2f} s (target < 2 s)")
    print(f"plan   {links}-link chain: {planned:6.2f} s (target < 1 s)")


if __name__ == "__main__":
    main()
