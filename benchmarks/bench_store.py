"""Measure what ``Runner(store=SQLiteRunStore(...))`` adds per task, in one process.

Run ``python benchmarks/bench_store.py`` (``--quick`` for a smoke run). A
1,000-link chain and a 10,000-task fan-out of no-op async tasks run
through a runner without a store and through one with a fresh SQLite file
(WAL, ``synchronous=NORMAL``, tasks committed in groups by the run's writer
thread), as an application calls them (``asyncio.run(runner.arun(...))``,
the run's end waiting for its last commit). The runs are interleaved,
repeated, and reported as medians and as the added cost per task in µs:
(with store - without) / tasks. The targets are 20 µs per link on the
chain and 10 µs per task on the fan-out. The file lives in a temporary
directory on the machine's own disk. ``--postgres URL`` measures a
``PostgresRunStore`` on that database too (a local server: each group
commit is a round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from fiscus_dsl import Runner, RunStore, SQLiteRunStore, Workflow, task, workflow

CHAIN: Final = 1000
FAN_OUT: Final = 10_000


@task
async def step(x: int) -> int:
    return x + 1


@workflow
def chain(n: int) -> int:
    value = step(0)
    for _ in range(n - 1):
        value = step(value)
    return value


@workflow
def fan_out(n: int) -> list[int]:
    return [step(i) for i in range(n)]


def _time(runner: Runner, flow: Workflow[..., Any], n: int) -> float:
    gc.collect()
    start = time.perf_counter()
    result = asyncio.run(runner.arun(flow, n=n))
    elapsed = time.perf_counter() - start
    assert result.success
    return elapsed


def _measure(store: RunStore, label: str, *, quick: bool) -> None:
    """Print one store's cost per task on the chain and the fan-out."""
    repeats = 3 if quick else 11
    plain, stored = Runner(store=None), Runner(store=store)
    flows: tuple[tuple[str, Workflow[..., Any], int], ...] = (
        ("chain", chain, 100 if quick else CHAIN),
        ("fan-out", fan_out, 1000 if quick else FAN_OUT),
    )
    for name, flow, n in flows:
        _time(plain, flow, n)
        _time(stored, flow, n)
        without: list[float] = []
        with_store: list[float] = []
        for _ in range(repeats):
            without.append(_time(plain, flow, n))
            with_store.append(_time(stored, flow, n))
        base = statistics.median(without)
        cost = statistics.median(with_store)
        print(
            f"{label:10} {name:8} {n} tasks: without store {base * 1e3:8.2f} ms, "
            f"with store {cost * 1e3:8.2f} ms, "
            f"+{(cost - base) / n * 1e6:6.1f} µs per task"
        )


def main() -> None:
    """Print the median run times and the store's cost per task."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also measure a PostgresRunStore on this database (it is written to)",
    )
    options = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as folder,
        SQLiteRunStore(Path(folder) / "runs.sqlite3") as store,
    ):
        _measure(store, "sqlite", quick=options.quick)
    if options.postgres:
        from fiscus_dsl import PostgresRunStore  # the postgres extra: only then

        with PostgresRunStore(options.postgres) as postgres:
            _measure(postgres, "postgresql", quick=options.quick)


if __name__ == "__main__":
    main()
