"""Measure ``DaskExecutor`` beside the in-process runner and Dask used directly.

Run ``python benchmarks/bench_dask.py`` (``--quick`` for a smoke run, well
under a minute; the full run takes several minutes).

The script starts one ``LocalCluster`` (2 worker processes of 1 thread,
no dashboard) and keeps it for every row, so all Dask figures share the
same cluster. fiscus_dsl rows are ``wf.run()`` as an application calls it,
inside ``use_runner(runner)``: tracing, the run, and for ``DaskExecutor``
the pickling, the batches and the trip through the scheduler. The tasks
live in ``dask_tasks.py`` beside this script (workers import them by
name). Every workload is timed in rounds that take each contender in
turn, after one warm-up run of each, so drift reaches all of them; the
figures are medians, and "spread" is (max - min) / median.

Sections:

- fan-out: ``join(leaf.map(index=...))`` of N no-op async tasks, N =
  10,000 and 100,000, through the in-process runner (``Runner()``),
  ``DaskExecutor`` with the runner's default ``max_concurrency`` (256
  tasks in flight, what users get) and with ``max_concurrency=None``,
  and Dask directly (``client.gather(client.map(noop, range(N),
  pure=False))``; ``pure=False`` so that no run finds the last one's
  results). "µs/task" is the median / N. Targets: ``DaskExecutor`` at
  most 200 µs per task on 100,000, and at most ``client.map``'s time on
  10,000. ``client.map`` of 100,000 takes minutes here, so it runs once,
  without a warm-up;
- chain: N links (1,000), each taking the previous value, through
  ``DaskExecutor`` beside ``client.submit(increment, previous)`` chained
  N times (and the in-process runner); ms per link, no target;
- HTTP: a connector operation mapped over 1,000 indexes, against a server
  on 127.0.0.1 in a subprocess (``bench_http.py``'s: an
  ``asyncio.Protocol`` that answers 50 ms after reading a request, so
  its own cost stays small on a 2-CPU machine); ``Runner(max_concurrency
  =None)``, so all 1,000 are in flight, in-process and on the cluster.
  The connector declares ``max_concurrency=1000`` (as in
  ``bench_http.py``), which on workers takes a cluster-wide lease per
  request; one more row sends through a connector that declares no limit
  (100 connections per worker, no lease). Shown: the wall time and its
  ratio to the ideal 50 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import shlex
import statistics
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Final

# The benchmarks folder is not a package: make dask_tasks.py importable here,
# and on the workers, which the cluster spawns with this sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from distributed import Client, LocalCluster

from fiscus_dsl import Runner, Workflow, use_runner
from fiscus_dsl.executors import DaskExecutor

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from dask_tasks import Item

FOLDER: Final = Path(__file__).resolve().parent
#: dask_tasks.py reads the server's base URL from it when imported.
URL_VARIABLE: Final = "BENCH_DASK_URL"
IDEAL: Final = 0.05
TARGET_BIG_US: Final = 200.0
TARGET_VS_MAP: Final = 1.0

_SERVER: Final = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, {folder!r})
    from bench_http import serve, url_of

    async def main():
        server = await serve()
        print(url_of(server), flush=True)
        # Serve until the parent closes our stdin (or exits).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())
    """
)


@contextlib.contextmanager
def serving() -> Iterator[str]:
    """Start the 50 ms HTTP server in a subprocess; yield its base URL."""
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER.format(folder=str(FOLDER))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None  # piped
    assert server.stdout is not None
    try:
        yield server.stdout.readline().strip()
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# ---------------------------------------------------------------- timing


@dataclass(frozen=True, slots=True)
class Contender:
    """One way to do a workload: where it runs, with which runner, and the call."""

    runs_on: str
    runner: str
    call: Callable[[], object]
    #: Timed runs when fewer than the workload's rounds; ``None``: every round.
    repeats: int | None = None
    warm_up: bool = True


@dataclass(frozen=True, slots=True)
class Timing:
    """A contender's median and spread over its timed runs."""

    contender: Contender
    median: float
    spread: float | None


def time_rounds(contenders: list[Contender], rounds: int) -> list[Timing]:
    """Warm each contender up, then time them in rounds, each in turn."""
    for contender in contenders:
        if contender.warm_up:
            contender.call()
    times: list[list[float]] = [[] for _ in contenders]
    for number in range(rounds):
        for contender, mine in zip(contenders, times, strict=True):
            if contender.repeats is not None and number >= contender.repeats:
                continue
            start = time.perf_counter()
            contender.call()
            mine.append(time.perf_counter() - start)
    timings = []
    for contender, mine in zip(contenders, times, strict=True):
        median = statistics.median(mine)
        spread = (max(mine) - min(mine)) / median if len(mine) > 1 else None
        timings.append(Timing(contender, median, spread))
    return timings


def in_runner(runner: Runner, call: Callable[[], object]) -> Callable[[], object]:
    """Return a call that runs ``call`` with ``runner`` as the default runner."""

    def run() -> object:
        with use_runner(runner):
            return call()

    return run


def checked(flow: Workflow[[int], int], n: int, expected: int) -> int | None:
    """Run ``flow.run(n)`` as an application does; check its output."""
    result = flow.run(n)
    assert result.success, result.error_message
    assert result.output == expected, result.output
    return result.output


# ---------------------------------------------------------------- printing


@dataclass(frozen=True, slots=True)
class Sizes:
    """The workloads' sizes and rounds."""

    fan: int
    big_fan: int
    chain: int
    gets: int
    rounds: int
    big_rounds: int


def spread_text(timing: Timing) -> str:
    return "-" if timing.spread is None else f"{timing.spread:.0%}"


def verdict(*, meets: bool) -> str:
    """Say whether a figure meets its target."""
    return "meets" if meets else "MISSES"


def print_header(title: str, unit: str, versus: str) -> None:
    print(f"\n{title}")
    print(
        f"{'workload':<26} {'runs on':<20} {'runner':<22} {'runs':>4} "
        f"{'median ms':>10} {'spread':>6} {unit:>10} {versus:>15}"
    )


def print_row(
    workload: str, timing: Timing, runs: int, per_unit: str, versus: str
) -> None:
    contender = timing.contender
    print(
        f"{workload:<26} {contender.runs_on:<20} {contender.runner:<22} "
        f"{runs:>4} {timing.median * 1e3:>10.1f} {spread_text(timing):>6} "
        f"{per_unit:>10} {versus:>15}"
    )


# ---------------------------------------------------------------- fan-out


def fan_out_section(client: Client, executor: DaskExecutor, sizes: Sizes) -> None:
    """Time the two fan-outs four ways; print µs per task and the verdicts."""
    from dask_tasks import fan_out, noop  # imported by main() already

    print_header("fan-out: N no-op tasks + join", "µs/task", "vs client.map")
    for n, rounds, big in (
        (sizes.fan, sizes.rounds, False),
        (sizes.big_fan, sizes.big_rounds, True),
    ):

        def flow(size: int = n) -> object:
            return checked(fan_out, size, size)

        def direct(size: int = n) -> object:
            futures = client.map(noop, range(size), pure=False)
            return client.gather(futures)

        contenders = [
            Contender("in-process", "Runner()", in_runner(Runner(), flow)),
            *dask_contenders(executor, flow),
            Contender(
                "Dask directly",
                "client.map + gather",
                direct,
                repeats=1 if big else None,
                warm_up=not big,
            ),
        ]
        timings = time_rounds(contenders, rounds)
        print_fan_out(n, timings, big=big, rounds=rounds)


def dask_contenders(
    executor: DaskExecutor, flow: Callable[[], object]
) -> list[Contender]:
    """``flow`` on the cluster, with the default runner limit and with none."""
    return [
        Contender(
            "DaskExecutor",
            "default (256)",
            in_runner(Runner(executor=executor), flow),
        ),
        Contender(
            "DaskExecutor",
            "max_concurrency=None",
            in_runner(Runner(executor=executor, max_concurrency=None), flow),
        ),
    ]


def print_fan_out(n: int, timings: list[Timing], *, big: bool, rounds: int) -> None:
    """Print one fan-out's rows, then a verdict line per DaskExecutor row."""
    direct = timings[-1]
    workload = f"fan-out of {n:,}"
    for timing in timings:
        runs = 1 if timing.contender.repeats == 1 else rounds
        ratio = timing.median / direct.median
        print_row(
            workload, timing, runs, f"{timing.median / n * 1e6:.1f}", f"{ratio:.3f}x"
        )
    for timing in timings[1:-1]:
        label = f"  {workload}, DaskExecutor {timing.contender.runner}:"
        if big:
            per_task = timing.median / n * 1e6
            meets = per_task <= TARGET_BIG_US
            print(
                f"{label} {per_task:.1f} µs/task, target <= {TARGET_BIG_US:g} µs: "
                f"{verdict(meets=meets)}"
            )
        else:
            ratio = timing.median / direct.median
            print(
                f"{label} {ratio:.3f}x client.map, target <= "
                f"{TARGET_VS_MAP:g}x: {verdict(meets=ratio <= TARGET_VS_MAP)}"
            )


# ---------------------------------------------------------------- chain


def chain_section(client: Client, executor: DaskExecutor, sizes: Sizes) -> None:
    """Time the chain on the cluster both ways (and in-process); ms per link."""
    from dask_tasks import chain, increment  # imported by main() already

    n = sizes.chain

    def flow() -> object:
        return checked(chain, n, n)

    def direct() -> object:
        future = client.submit(increment, 0, pure=False)
        for _ in range(n - 1):
            future = client.submit(increment, future, pure=False)
        value = future.result()
        assert value == n, value
        return value

    timings = time_rounds(
        [
            Contender("in-process", "Runner()", in_runner(Runner(), flow)),
            Contender(
                "DaskExecutor",
                "default (256)",
                in_runner(Runner(executor=executor), flow),
            ),
            Contender("Dask directly", "client.submit chain", direct),
        ],
        sizes.rounds,
    )
    print_header(f"chain: {n:,} links", "ms/link", "vs submit")
    direct_median = timings[-1].median
    for timing in timings:
        print_row(
            f"chain of {n:,}",
            timing,
            sizes.rounds,
            f"{timing.median / n * 1e3:.2f}",
            f"{timing.median / direct_median:.2f}x",
        )


# ---------------------------------------------------------------- HTTP


def http_section(executor: DaskExecutor, sizes: Sizes) -> None:
    """Time the GETs in-process and on the cluster; print the ratio to 50 ms."""
    from dask_tasks import fetch_all, fetch_all_unlimited  # imported by main()

    n = sizes.gets

    def run(flow: Workflow[[int], list[Item]]) -> Callable[[], object]:
        def call() -> object:
            result = flow.run(n)
            assert result.success, result.error_message
            assert result.output is not None
            assert len(result.output) == n
            return result.output

        return call

    unlimited = Runner(max_concurrency=None)
    on_cluster = Runner(executor=executor, max_concurrency=None)
    timings = time_rounds(
        [
            Contender(
                "in-process",
                "max_concurrency=None",
                in_runner(unlimited, run(fetch_all)),
            ),
            Contender(
                "DaskExecutor",
                "max_concurrency=None",
                in_runner(on_cluster, run(fetch_all)),
            ),
            Contender(
                "DaskExecutor",
                "max_concurrency=None",
                in_runner(on_cluster, run(fetch_all_unlimited)),
            ),
        ],
        sizes.rounds,
    )
    print_header(f"HTTP: {n:,} GETs of 50 ms at once", "vs in-proc", "vs ideal 50 ms")
    labels = ("connector limit 1000", "connector limit 1000", "connector, no limit")
    in_process = timings[0].median
    for label, timing in zip(labels, timings, strict=True):
        print_row(
            label,
            timing,
            sizes.rounds,
            f"{timing.median / in_process:.2f}x",
            f"{timing.median / IDEAL:.1f}x",
        )


# ---------------------------------------------------------------- main


def parse_sizes(argv: list[str] | None) -> Sizes:
    """Read the command line: full sizes, or ``--quick`` ones."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 3 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds")
    args = parser.parse_args(argv)
    sizes = (
        Sizes(fan=1000, big_fan=10_000, chain=100, gets=200, rounds=3, big_rounds=1)
        if args.quick
        else Sizes(
            fan=10_000, big_fan=100_000, chain=1000, gets=1000, rounds=5, big_rounds=3
        )
    )
    if args.rounds:
        sizes = Sizes(
            sizes.fan,
            sizes.big_fan,
            sizes.chain,
            sizes.gets,
            args.rounds,
            min(args.rounds, sizes.big_rounds),
        )
    return sizes


def describe_machine() -> str:
    """Describe the interpreter, the machine, its load and the versions."""
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("fiscus_dsl", "dask", "distributed", "aiohttp", "pydantic")
    )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()} "
        f"on {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs "
        f"({cpu_model()}), load average {load}\n{versions}\n"
        "LocalCluster(n_workers=2, threads_per_worker=1, processes=True); the "
        "scheduler and the client share this process; a shared machine: "
        "figures are noisy"
    )


def cpu_model() -> str:
    """Return the CPU model name, where the platform tells it."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> None:
    """Start the server and the cluster, then print every section."""
    sizes = parse_sizes(argv)
    print(f"command: {shlex.join(sys.orig_argv)}")
    print(describe_machine())
    print(
        f"medians of {sizes.rounds} rounds after a warm-up ({sizes.big_rounds} for "
        f"the {sizes.big_fan:,} fan-out, whose client.map runs once)"
    )
    # Dask logs the cluster's shutdown races (a worker's heartbeat to a
    # closing scheduler) as errors: noise here, in this process and the workers.
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    with serving() as url:
        os.environ[URL_VARIABLE] = url  # before the import and the workers
        import dask_tasks

        with (
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.CRITICAL,
            ) as cluster,
            Client(cluster) as client,
        ):
            executor = DaskExecutor(client)
            fan_out_section(client, executor, sizes)
            chain_section(client, executor, sizes)
            http_section(executor, sizes)
            client.run(dask_tasks.close_connections)


if __name__ == "__main__":
    main()
