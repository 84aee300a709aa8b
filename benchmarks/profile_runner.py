"""Profile the fan-out (or the chain) with cProfile and print where the time goes.

Run ``python benchmarks/profile_runner.py`` (``--workload fan-out|chain``,
``--size``, ``--top``, ``--telemetry none|sdk|both``,
``--phase run|trace|execute``, ``--gc on|off``). For each telemetry setting
it first times the phases of a run without a profiler (tracing the
workflow, executing the fresh graph, executing the same graph again once
it has been collected into the oldest generation, as the benchmark's
"execute only" rows do, and the cyclic garbage collector's share of each),
then profiles one call after a warm-up and prints own time summed by area
(fiscus_dsl module, asyncio, opentelemetry, pydantic, ...) and the top
functions by own time.

cProfile adds a fixed cost to every call, so small functions look heavier
than they are and a cyclic GC pause is billed to whichever function was
running: read the ranking, and the phase timings for absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

# The benchmarks folder is not a package: make workloads.py importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workloads import (
    Telemetry,
    chain_baseline,
    fan_out_baseline,
    make_chain,
    make_fan_out,
    telemetry_settings,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from fiscus_dsl import Runner, Workflow

AREAS: Final = (
    ("fiscus_dsl/", "fiscus_dsl/"),
    ("opentelemetry/", "opentelemetry"),
    ("pydantic", "pydantic"),
    ("asyncio/", "asyncio"),
    ("wrapt/", "wrapt"),
)
PHASE_REPEATS: Final = 5


# ---------------------------------------------------------------- phases


@dataclass(slots=True)
class GcMeter:
    """Sum the time the cyclic garbage collector runs, by generation."""

    seconds: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    _started: float = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        """Take a ``gc.callbacks`` notification."""
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        self.seconds[generation] += time.perf_counter() - self._started
        self.counts[generation] += 1

    def total(self) -> float:
        """Return the seconds spent collecting, all generations together."""
        return sum(self.seconds.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class Phases:
    """Median seconds of one run's phases and the GC time inside them."""

    trace: float
    execute: float
    reexecute: float
    baseline: float
    gc_trace: float
    gc_execute: float
    gc_reexecute: float
    gc_detail: str
    gc_detail_reexecute: str


def describe_collections(meter: GcMeter) -> str:
    """Say how many collections of each generation a meter saw, and how long."""
    return ", ".join(
        f"gen{gen}: {meter.counts[gen]}x {meter.seconds[gen] * 1e3:.1f} ms"
        for gen in sorted(meter.counts)
    )


async def measure_phases(
    setting: Telemetry,
    wf: Workflow[[], int],
    baseline: Callable[[], Awaitable[object]],
) -> Phases:
    """Time tracing, executing and executing again, with the GC time inside each."""
    runner = setting.runner(unbounded=True)
    samples: dict[str, list[float]] = defaultdict(list)
    meter = again = GcMeter()
    for repeat in range(PHASE_REPEATS + 1):
        gc.collect()
        meter = GcMeter()
        gc.callbacks.append(meter)
        try:
            start = time.perf_counter()
            traced = wf.compile((), {})
            traced_at, gc_traced = time.perf_counter(), meter.total()
            await runner.arun_plan(traced, {})
            ended_at, gc_total = time.perf_counter(), meter.total()
        finally:
            gc.callbacks.remove(meter)
        setting.reset()
        gc.collect()  # the traced graph moves to the oldest generation
        again = GcMeter()
        gc.callbacks.append(again)
        try:
            again_start = time.perf_counter()
            await runner.arun_plan(traced, {})
            again_end = time.perf_counter()
        finally:
            gc.callbacks.remove(again)
        del traced
        setting.reset()
        gc.collect()
        base_start = time.perf_counter()
        await baseline()
        base = time.perf_counter() - base_start
        if repeat:  # the first round warms up
            samples["trace"].append(traced_at - start)
            samples["execute"].append(ended_at - traced_at)
            samples["reexecute"].append(again_end - again_start)
            samples["baseline"].append(base)
            samples["gc_trace"].append(gc_traced)
            samples["gc_execute"].append(gc_total - gc_traced)
            samples["gc_reexecute"].append(again.total())
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return Phases(
        **medians,
        gc_detail=describe_collections(meter),
        gc_detail_reexecute=describe_collections(again),
    )


def print_phases(phases: Phases, tasks: int) -> None:
    """Print the phase timings, in ms and in µs per task."""

    def line(name: str, seconds: float) -> str:
        per_task = seconds / tasks * 1e6
        return f"  {name:<34} {seconds * 1e3:9.1f} ms {per_task:8.2f} µs/task"

    print(f"phases (medians of {PHASE_REPEATS}, no profiler):")
    print(line("trace: wf.compile((), {})", phases.trace))
    print(line("  of which cyclic GC", phases.gc_trace))
    print(line("execute: runner.arun_plan()", phases.execute))
    print(line("  of which cyclic GC", phases.gc_execute))
    print(line("execute again (graph collected)", phases.reexecute))
    print(line("  of which cyclic GC", phases.gc_reexecute))
    print(line("plain asyncio baseline", phases.baseline))
    print(f"  GC collections in the last trace + execute: {phases.gc_detail}")
    print(f"  GC collections in the last execute again: {phases.gc_detail_reexecute}")


# ---------------------------------------------------------------- profile


def profile(
    make: Callable[[], Awaitable[object]], setting: Telemetry, *, collect: bool
) -> pstats.Stats:
    """Profile one call of ``make`` after a warm-up, with or without cyclic GC."""

    async def warm_then_profile() -> pstats.Stats:
        await make()
        setting.reset()
        gc.collect()
        if not collect:
            gc.disable()
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            await make()
        finally:
            profiler.disable()
            gc.enable()
        setting.reset()
        return pstats.Stats(profiler)

    return asyncio.run(warm_then_profile())


def phase_call(
    phase: str, runner: Runner, wf: Workflow[[], int]
) -> Callable[[], Awaitable[object]]:
    """Return what a phase profiles: the whole run, tracing, or executing."""

    async def run() -> object:
        return await runner.arun(wf)

    async def trace() -> object:
        return wf.compile((), {})

    traced = wf.compile((), {})

    async def execute() -> object:
        return await runner.arun_plan(traced, {})

    return {"run": run, "trace": trace, "execute": execute}[phase]


def area(filename: str) -> str:
    """Name the area a function's file belongs to."""
    for marker, name in AREAS:
        if marker in filename:
            if name == "fiscus_dsl/":
                return "fiscus_dsl." + filename.rpartition("fiscus_dsl/")[2]
            return name
    if filename.startswith(("~", "<")):
        return "builtins"
    return "other"


def print_areas(stats: pstats.Stats) -> None:
    """Print own time summed by area, largest first."""
    totals: dict[str, float] = defaultdict(float)
    raw = stats.stats  # type: ignore[attr-defined]  # pstats keeps its table untyped
    for (filename, _, _), (_, _, own, _, _) in raw.items():
        totals[area(filename)] += own
    overall = sum(totals.values())
    print(f"own time by area (of {overall * 1e3:.1f} ms profiled):")
    for name, own in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {name:<40} {own * 1e3:9.1f} ms  {own / overall:6.1%}")


def short_path(filename: str) -> str:
    """Shorten a file name to its path inside its package."""
    for marker in ("site-packages/", "/lib/python3"):
        if marker in filename:
            tail = filename.rpartition(marker)[2]
            return tail.partition("/")[2] if marker == "/lib/python3" else tail
    if "fiscus_dsl/" in filename:
        return "fiscus_dsl/" + filename.rpartition("fiscus_dsl/")[2]
    return filename


def print_top(stats: pstats.Stats, top: int) -> None:
    """Print the ``top`` functions by own time, with calls and time per call."""
    raw = stats.stats  # type: ignore[attr-defined]  # pstats keeps its table untyped
    rows = sorted(raw.items(), key=lambda item: -item[1][2])[:top]
    print(f"{'calls':>9} {'own ms':>8} {'cum ms':>8} {'own µs/call':>11}  function")
    for (filename, line, function), (_, calls, own, cumulative, _) in rows:
        where = (
            function
            if filename == "~"
            else f"{short_path(filename)}:{line}({function})"
        )
        print(
            f"{calls:>9} {own * 1e3:>8.2f} {cumulative * 1e3:>8.2f} "
            f"{own / calls * 1e6:>11.2f}  {where}"
        )


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    """Time the phases and profile the workload in the chosen settings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("fan-out", "chain"), default="fan-out")
    parser.add_argument(
        "--size", type=int, help="leaves to fan out (10,000) or links (1,000)"
    )
    parser.add_argument("--top", type=int, default=15, help="functions to list")
    parser.add_argument("--telemetry", choices=("none", "sdk", "both"), default="both")
    parser.add_argument(
        "--phase", choices=("run", "trace", "execute"), default="run", help="profiled"
    )
    parser.add_argument(
        "--gc",
        choices=("on", "off"),
        default="on",
        help="off: profile without the cyclic GC, whose pauses land on random lines",
    )
    args = parser.parse_args(argv)
    chain = args.workload == "chain"
    size: int = args.size or (1_000 if chain else 10_000)
    wf = make_chain(size) if chain else make_fan_out(size)
    tasks = size if chain else size + 1
    title = f"chain of {size:,}" if chain else f"fan-out of {size:,} + join"

    def baseline() -> Awaitable[object]:
        return chain_baseline(size) if chain else fan_out_baseline(size)

    for setting in telemetry_settings():
        if args.telemetry not in ("both", setting.name):
            continue
        runner = setting.runner(unbounded=True)
        print(f"=== {title}, telemetry: {setting.name}")
        print_phases(asyncio.run(measure_phases(setting, wf, baseline)), tasks)
        print()
        print(f"cProfile of one {args.phase}, cyclic GC {args.gc}, after a warm-up:")
        call = phase_call(args.phase, runner, wf)
        stats = profile(call, setting, collect=args.gc == "on")
        print_areas(stats)
        print()
        print_top(stats, args.top)
        print()


if __name__ == "__main__":
    main()
