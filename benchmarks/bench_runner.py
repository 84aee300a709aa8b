"""Measure the runner's overhead per task against plain asyncio, in one process.

Run ``python benchmarks/bench_runner.py`` (``--quick`` for a smoke run). Each
workload runs through fiscus_dsl and through a plain-asyncio baseline that
does the same work with one ``asyncio.create_task`` per coroutine; the two
are interleaved, repeated after a warm-up (a ``gc.collect()`` before each
timed call), and reported as medians, their ratio, and the overhead per
task in µs: (fiscus - baseline) / tasks.

Workloads: (a) a chain of dependent no-op async tasks, (b) a fan-out of
independent no-op async tasks joined by one task that takes them all, both
with no tracer provider and with a recording SDK provider, each measured two
ways: ``run (trace+execute)``, what ``runner.arun(wf)`` and ``wf.run()`` cost,
and ``execute only``, the traced workflow executed by
``runner.arun_plan`` after tracing once outside the timed region (the
runner's own cost, which the targets are about); (c) tracing a fan-out
workflow (``wf.graph()``) against building as many plain dicts. Last, the
OpenTelemetry SDK's own cost per span, measured without fiscus_dsl.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import textwrap
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Final

# The benchmarks folder is not a package: make workloads.py importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind
from workloads import (
    NO_PROVIDER,
    Telemetry,
    chain_baseline,
    execute_workflow,
    fan_out_baseline,
    make_chain,
    make_fan_out,
    run_workflow,
    telemetry_settings,
    trace_baseline,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from opentelemetry.context import Context

    from fiscus_dsl import Workflow

TARGET_NO_PROVIDER_US: Final = 10.0
TARGET_SDK_PROVIDER_US: Final = 30.0

RUN: Final = "run (trace+execute)"
EXECUTE: Final = "execute only"
TRACE: Final = "trace only"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sizes:
    """How big each workload is and how often it repeats."""

    chain: int
    fan_out: int
    trace: int
    spans: int
    repeats: int


FULL: Final = Sizes(chain=1_000, fan_out=10_000, trace=10_000, spans=10_000, repeats=7)
QUICK: Final = Sizes(chain=200, fan_out=1_000, trace=1_000, spans=1_000, repeats=3)


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One line of the table: medians of one workload in one setting."""

    workload: str
    measures: str
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
    """Measure one workflow in every telemetry setting, on both runners, both ways.

    Returns the ``run (trace+execute)`` rows first, then the ``execute only``
    ones. Each kind is compared with its own interleaved baseline; the
    execute-only factory traces when it is made, outside the timed region,
    and its traced graph is dropped before the next measurement.
    """
    runs: list[Row] = []
    executes: list[Row] = []
    for setting in telemetry_settings():
        for unbounded in (True, False):
            runner = setting.runner(unbounded=unbounded)
            for measures, rows in ((RUN, runs), (EXECUTE, executes)):
                ours = (
                    run_workflow(runner, wf)
                    if measures == RUN
                    else execute_workflow(runner, wf)
                )
                await check_spans(setting, ours, tasks)
                base, mine, spread = await compare(
                    baseline, ours, repeats=sizes.repeats, reset=setting.reset
                )
                del ours  # the execute-only factory holds a traced graph
                rows.append(
                    Row(
                        workload=name,
                        measures=measures,
                        telemetry=setting.name,
                        runner="max_concurrency=None" if unbounded else "default (256)",
                        tasks=tasks,
                        baseline=base,
                        ours=mine,
                        spread=spread,
                        target=target(setting, measures=measures, unbounded=unbounded),
                    )
                )
    return runs + executes


def target(setting: Telemetry, *, measures: str, unbounded: bool) -> float | None:
    """Return the target for a row, or None where it gets no verdict.

    The targets are about the runner's own cost, so only the execute-only
    rows of the unbounded runner are judged; end-to-end rows (which include
    tracing, reported in its own row) and the default runner are shown
    without a verdict.
    """
    if measures != EXECUTE or not unbounded:
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
        measures=TRACE,
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


# ---------------------------------------------------------------- the SDK alone


@dataclass(frozen=True, slots=True, kw_only=True)
class SpanCost:
    """The OpenTelemetry SDK's median µs per task-like span, without fiscus_dsl."""

    processor: str
    us_per_span: float
    spread: float


def task_like_spans(tracer: trace.Tracer, parent: Context, count: int) -> None:
    """Record ``count`` spans as fiscus_dsl records one per task, on the SDK alone."""
    for _ in range(count):
        span = tracer.start_span("task leaf", context=parent, kind=SpanKind.INTERNAL)
        span.set_attributes(
            {
                "fiscus.workflow.name": "wf",
                "fiscus.run.id": "0123456789abcdef",
                "fiscus.task.id": "leaf#2",
                "fiscus.task.name": "leaf",
            }
        )
        span.set_attribute("fiscus.task.status", "succeeded")
        span.set_attribute("fiscus.task.attempt", 1)
        span.end()


def sdk_span_costs(sizes: Sizes) -> list[SpanCost]:
    """Time task-like spans on the SDK alone: no processor, and the benchmark's.

    Each span is what fiscus_dsl makes per task (start under a parent, four
    attributes, two more at the end, end), with the cyclic GC disabled as
    ``timeit`` does, so this is the SDK's CPU cost, not the GC work its
    finished spans cause later.
    """
    costs = []
    for processor in ("none", "SimpleSpanProcessor + InMemorySpanExporter"):
        provider = TracerProvider()
        exporter = InMemorySpanExporter()
        if processor != "none":
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("sdk-probe")
        parent = trace.set_span_in_context(tracer.start_span("workflow wf"))
        times = []
        for repeat in range(sizes.repeats + 1):
            exporter.clear()
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                task_like_spans(tracer, parent, sizes.spans)
                elapsed = time.perf_counter() - start
            finally:
                gc.enable()
            if repeat:  # the first round warms up
                times.append(elapsed)
        exporter.clear()
        median = statistics.median(times)
        costs.append(
            SpanCost(
                processor=processor,
                us_per_span=median / sizes.spans * 1e6,
                spread=(max(times) - min(times)) / median,
            )
        )
    return costs


# ---------------------------------------------------------------- report

HEADER: Final = (
    f"{'workload':<26} {'measures':<19} {'telemetry':<9} {'runner':<20} {'tasks':>7} "
    f"{'baseline ms':>11} {'fiscus ms':>10} {'spread':>6} {'ratio':>7} {'µs/task':>8} "
    f"{'target':>7}  verdict"
)


def format_row(row: Row) -> str:
    """Format one row of the table."""
    goal = "" if row.target is None else f"<{row.target:g}"
    return (
        f"{row.workload:<26} {row.measures:<19} {row.telemetry:<9} "
        f"{row.runner:<20} {row.tasks:>7,} "
        f"{row.baseline * 1e3:>11.2f} {row.ours * 1e3:>10.2f} {row.spread:>6.0%} "
        f"{row.ratio:>6.1f}x "
        f"{row.overhead_us:>8.2f} {goal:>7}  {row.verdict}"
    ).rstrip()


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


NOTES: Final = (
    "measures: 'run (trace+execute)' is runner.arun(wf), what wf.run() costs: it "
    "traces the workflow, then executes the graph; 'execute only' is "
    "runner.arun_plan() of a workflow traced once before timing (the runner's "
    "own cost); 'trace only' is wf.graph()",
    "verdict: only the execute-only rows with max_concurrency=None are judged "
    "against the targets (the runner's own cost per task); the run rows include "
    "tracing, whose cost is the trace row, and are shown without a verdict; the "
    "default runner (max_concurrency=256) is shown for comparison",
    "telemetry none: no provider given, the global no-op tracer; sdk: a "
    "TracerProvider with a SimpleSpanProcessor on an InMemorySpanExporter",
    "trace row: baseline builds the same number of plain dicts; "
    "'µs/task' there is the extra time per traced task",
    "spread: (max - min) / median of the fiscus_dsl repeats",
)


def print_report(rows: list[Row], spans: list[SpanCost], sizes: Sizes) -> None:
    """Print the table, the notes that read it, and the SDK's own span cost."""
    print(describe_machine())
    print(
        f"medians of {sizes.repeats} interleaved repeats after a warm-up, "
        "gc.collect() before each; overhead = (fiscus - baseline) / tasks"
    )
    print()
    print(HEADER)
    print("-" * len(HEADER))
    for row in rows:
        print(format_row(row))
    print()
    for note in NOTES:
        print(textwrap.fill(note, width=100, subsequent_indent="  "))
    print()
    print(
        f"OpenTelemetry SDK alone, without fiscus_dsl ({sizes.spans:,} task-like "
        f"spans, median of {sizes.repeats}, cyclic GC off):"
    )
    for cost in spans:
        print(
            f"  processor {cost.processor:<44} {cost.us_per_span:6.2f} µs/span "
            f"(spread {cost.spread:.0%})"
        )


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
            spans=sizes.spans,
            repeats=args.repeats,
        )
    return sizes


def main(argv: list[str] | None = None) -> None:
    """Measure every workload and print the table."""
    sizes = parse_args(argv)
    rows = asyncio.run(measure_all(sizes))
    print_report(rows, sdk_span_costs(sizes), sizes)


if __name__ == "__main__":
    main()
