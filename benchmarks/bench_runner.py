"""Measure the runner's overhead per task against plain asyncio, in one process.

Run ``python benchmarks/bench_runner.py`` (``--quick`` for a smoke run). Each
workload runs through fiscus_dsl and through a plain-asyncio baseline that
does the same work with one ``asyncio.create_task`` per coroutine; the two
are interleaved, repeated after a warm-up, and reported as medians, their
ratio, and the overhead per task in µs: (fiscus - baseline) / tasks.

Workloads: (a) a chain of dependent no-op async tasks, (b) a fan-out of
independent no-op async tasks joined by one task that takes them all, both
with no tracer provider and with a recording SDK provider; (c) tracing a
fan-out workflow (``wf.graph()``) against building as many plain dicts.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Final

# The benchmarks folder is not a package: make workloads.py importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workloads import (
    NO_PROVIDER,
    Telemetry,
    chain_baseline,
    fan_out_baseline,
    make_chain,
    make_fan_out,
    run_workflow,
    telemetry_settings,
    trace_baseline,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from fiscus_dsl import Workflow

TARGET_NO_PROVIDER_US: Final = 10.0
TARGET_SDK_PROVIDER_US: Final = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Sizes:
    """How big each workload is and how often it repeats."""

    chain: int
    fan_out: int
    trace: int
    repeats: int


FULL: Final = Sizes(chain=1_000, fan_out=10_000, trace=10_000, repeats=7)
QUICK: Final = Sizes(chain=200, fan_out=1_000, trace=1_000, repeats=3)


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One line of the table: medians of one workload in one setting."""

    workload: str
    telemetry: str
    runner: str
    tasks: int
    baseline: float
    ours: float
    spread: float
    target: float | None

    @property
    def ratio(self) -> float:
        """Return how many times slower than the baseline fiscus_dsl is."""
        return self.ours / self.baseline

    @property
    def overhead_us(self) -> float:
        """Return the extra time per task in microseconds."""
        return (self.ours - self.baseline) / self.tasks * 1e6

    @property
    def verdict(self) -> str:
        """Say whether the overhead meets its target, if it has one."""
        if self.target is None:
            return ""
        return "ok" if self.overhead_us < self.target else "MISSED"


# ---------------------------------------------------------------- timing


async def timed(make: Callable[[], Awaitable[object]]) -> float:
    """Return the seconds one awaited call of ``make`` takes."""
    gc.collect()
    start = time.perf_counter()
    await make()
    return time.perf_counter() - start


async def compare(
    baseline: Callable[[], Awaitable[object]],
    ours: Callable[[], Awaitable[object]],
    *,
    repeats: int,
    reset: Callable[[], None],
) -> tuple[float, float, float]:
    """Return the medians of baseline and ours, and the spread of ours.

    The two are interleaved, after one warm-up each; the spread is
    (max - min) / median of ours, to show how noisy the machine was.
    """
    reset()
    await baseline()
    await ours()
    base_times: list[float] = []
    our_times: list[float] = []
    for _ in range(repeats):
        reset()
        base_times.append(await timed(baseline))
        reset()
        our_times.append(await timed(ours))
    reset()
    median = statistics.median(our_times)
    spread = (max(our_times) - min(our_times)) / median
    return statistics.median(base_times), median, spread


def timed_sync(make: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Return the median seconds of a sync call and its spread, after a warm-up."""
    make()
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        make()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return median, (max(times) - min(times)) / median


# ---------------------------------------------------------------- workloads


async def measure_runs(
    name: str,
    wf: Workflow[[], int],
    baseline: Callable[[], Awaitable[object]],
    tasks: int,
    sizes: Sizes,
) -> list[Row]:
    """Measure one workflow in every telemetry setting, on both runners."""
    rows = []
    for setting in telemetry_settings():
        for unbounded in (True, False):
            runner = setting.runner(unbounded=unbounded)
            ours = run_workflow(runner, wf)
            await check_spans(setting, ours, tasks)
            base, mine, spread = await compare(
                baseline, ours, repeats=sizes.repeats, reset=setting.reset
            )
            rows.append(
                Row(
                    workload=name,
                    telemetry=setting.name,
                    runner="max_concurrency=None" if unbounded else "default (256)",
                    tasks=tasks,
                    baseline=base,
                    ours=mine,
                    spread=spread,
                    target=target(setting, unbounded=unbounded),
                )
            )
    return rows


def target(setting: Telemetry, *, unbounded: bool) -> float | None:
    """Return the issue's target for a setting; the default runner has none."""
    if not unbounded:
        return None
    if setting.name == NO_PROVIDER:
        return TARGET_NO_PROVIDER_US
    return TARGET_SDK_PROVIDER_US


async def check_spans(
    setting: Telemetry, ours: Callable[[], Awaitable[object]], tasks: int
) -> None:
    """Check that a recording setting records a span per task plus the run's."""
    setting.reset()
    await ours()
    expected = 0 if setting.exporter is None else tasks + 1
    if setting.span_count() != expected:
        msg = f"expected {expected} spans, got {setting.span_count()}"
        raise RuntimeError(msg)
    setting.reset()


def measure_tracing(sizes: Sizes) -> Row:
    """Measure ``wf.graph()`` of a fan-out against building as many plain dicts."""
    wf = make_fan_out(sizes.trace)
    base, _ = timed_sync(lambda: trace_baseline(sizes.trace), sizes.repeats)
    ours, spread = timed_sync(wf.graph, sizes.repeats)
    return Row(
        workload="trace: wf.graph()",
        telemetry="-",
        runner="-",
        tasks=sizes.trace + 1,
        baseline=base,
        ours=ours,
        spread=spread,
        target=None,
    )


async def measure_all(sizes: Sizes) -> list[Row]:
    """Measure every workload at the given sizes."""
    chain = make_chain(sizes.chain)
    fan_out = make_fan_out(sizes.fan_out)
    rows = await measure_runs(
        f"chain of {sizes.chain:,}",
        chain,
        lambda: chain_baseline(sizes.chain),
        sizes.chain,
        sizes,
    )
    rows += await measure_runs(
        f"fan-out of {sizes.fan_out:,} + join",
        fan_out,
        lambda: fan_out_baseline(sizes.fan_out),
        sizes.fan_out + 1,
        sizes,
    )
    rows.append(measure_tracing(sizes))
    return rows


# ---------------------------------------------------------------- report

HEADER: Final = (
    f"{'workload':<26} {'telemetry':<9} {'runner':<20} {'tasks':>7} "
    f"{'baseline ms':>11} {'fiscus ms':>10} {'spread':>6} {'ratio':>7} {'µs/task':>8} "
    f"{'target':>7}  verdict"
)


def format_row(row: Row) -> str:
    """Format one row of the table."""
    goal = "" if row.target is None else f"<{row.target:g}"
    return (
        f"{row.workload:<26} {row.telemetry:<9} {row.runner:<20} {row.tasks:>7,} "
        f"{row.baseline * 1e3:>11.2f} {row.ours * 1e3:>10.2f} {row.spread:>6.0%} "
        f"{row.ratio:>6.1f}x "
        f"{row.overhead_us:>8.2f} {goal:>7}  {row.verdict}"
    )


def describe_machine() -> str:
    """Describe the interpreter, the machine and the package versions."""
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("fiscus_dsl", "opentelemetry-api", "opentelemetry-sdk", "pydantic")
    )
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()} "
        f"({platform.python_implementation()}) on {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs ({cpu_model()}); "
        f"event loop {type(asyncio.get_event_loop_policy()).__name__}\n{versions}"
    )


def cpu_model() -> str:
    """Return the CPU model name, where the platform tells it."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown CPU"


def print_report(rows: list[Row], sizes: Sizes) -> None:
    """Print the table and the notes that read it."""
    print(describe_machine())
    print(
        f"medians of {sizes.repeats} interleaved repeats after a warm-up; "
        "overhead = (fiscus - baseline) / tasks"
    )
    print()
    print(HEADER)
    print("-" * len(HEADER))
    for row in rows:
        print(format_row(row))
    print()
    print(
        "telemetry none: no provider given, the global no-op tracer; sdk: a "
        "TracerProvider with a SimpleSpanProcessor on an InMemorySpanExporter"
    )
    print(
        "trace row: baseline builds the same number of plain dicts; "
        "'µs/task' there is the extra time per traced task"
    )
    print("spread: (max - min) / median of the fiscus_dsl repeats")


def parse_args(argv: list[str] | None = None) -> Sizes:
    """Read the command line: ``--quick`` for a smoke run, ``--repeats N``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 3 repeats")
    parser.add_argument("--repeats", type=int, help="timed repeats per measurement")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.repeats is not None:
        sizes = Sizes(
            chain=sizes.chain,
            fan_out=sizes.fan_out,
            trace=sizes.trace,
            repeats=args.repeats,
        )
    return sizes


def main(argv: list[str] | None = None) -> None:
    """Measure every workload and print the table."""
    sizes = parse_args(argv)
    rows = asyncio.run(measure_all(sizes))
    print_report(rows, sizes)


if __name__ == "__main__":
    main()
