"""Measure what a user gets: ``wf.run()`` and ``await wf.arun()`` beside plain asyncio.

Run ``python benchmarks/bench_user.py`` (``--quick`` for a smoke run).

Every fiscus_dsl figure is a call as an application makes it: the default
runner, tracing included, the garbage collector on and never collected by
hand between runs. Its baseline does the same work with plain asyncio in the
same process (``asyncio.run`` of a coroutine that creates one task per unit
of work), timed in blocks: the baseline, fiscus_dsl, the baseline again
(so each pays for its own garbage collection, and drift shows in both). Figures
are medians; "µs/task" is (fiscus - baseline) / tasks.

Rows:
- fan-out: N no-op async tasks joined by one, ``wf.run()`` and ``await
  wf.arun()``; N = 10,000 and 100,000 (the latter must stay within 1.5x the
  per-task cost of the former);
- chain: 1,000 no-op async tasks, each taking the previous value;
- the chain rows repeat three times as often (a chain run is short, and its
  median needs more runs to settle);
- the same fan-out and chain with a recording OpenTelemetry SDK provider
  installed globally (``SimpleSpanProcessor`` into an exporter that counts
  the spans it is given),
  beside what plain asyncio pays to make the same spans (one per task,
  with the same attributes, current while the task runs), so that
  fiscus_dsl's own share shows, and the SDK's cost for one such span alone;
- tracing: compiling the fan-out's plan (what each run pays) per task;
- waits: 200 independent tasks each awaiting ``asyncio.sleep(0.05)``;
- memory: the peak RSS of a fresh process that imports fiscus_dsl and runs
  the 10,000-task fan-out once (and of one that only imports it).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from workloads import (
    chain_baseline,
    chain_baseline_with_spans,
    fan_out_baseline,
    fan_out_baseline_with_spans,
    make_chain,
    make_fan_out,
)

from fiscus_dsl import Workflow, task, workflow

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

TARGET_NO_PROVIDER_US: Final = 10.0
TARGET_SDK_US: Final = 30.0
TARGET_TRACING_US: Final = 5.0
TARGET_WAITS_RATIO: Final = 1.1
TARGET_RSS_MB: Final = 60.0
TARGET_SCALING: Final = 1.5
WAIT_SECONDS: Final = 0.05


@task
async def wait_once(index: int) -> int:
    """Wait 50 ms: an independent I/O-bound task."""
    await asyncio.sleep(WAIT_SECONDS)
    return index


@workflow
def waits(n: int) -> list[int]:
    """Run ``n`` independent waits."""
    return [wait_once(index) for index in range(n)]


async def waits_baseline(n: int) -> list[int]:
    """Run ``n`` independent waits with plain asyncio."""

    async def one(index: int) -> int:
        await asyncio.sleep(WAIT_SECONDS)
        return index

    return list(await asyncio.gather(*(one(index) for index in range(n))))


class CountingExporter(SpanExporter):
    """Export spans by counting them: recorded and exported, not kept in memory."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: object) -> SpanExportResult:
        self.count += len(spans)  # type: ignore[arg-type]  # a sequence of spans
        return SpanExportResult.SUCCESS


@dataclass(frozen=True, slots=True)
class Row:
    """One workload: fiscus_dsl beside its baseline."""

    name: str
    tasks: int
    baseline: float
    fiscus: float
    spread: float

    @property
    def ratio(self) -> float:
        return self.fiscus / self.baseline

    @property
    def overhead_us(self) -> float:
        return (self.fiscus - self.baseline) / self.tasks * 1e6


def blocks(
    ours: Callable[[], object], base: Callable[[], object], repeats: int
) -> tuple[float, float, float]:
    """Time the baseline, fiscus_dsl, then the baseline again, each as a block.

    Blocks rather than turns: the garbage one side leaves is collected while
    that side runs, so neither pays for the other's collector. The baseline
    runs before and after, so a machine that slows down mid-way shows in it
    too. Returns the medians and fiscus_dsl's spread.
    """
    ours()  # warm up both: imports, caches, the first event loop
    base()

    def timed(call: Callable[[], object], count: int) -> list[float]:
        times = []
        for _ in range(count):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        return times

    half = max(1, repeats // 2)
    theirs = timed(base, half)
    mine = timed(ours, repeats)
    theirs += timed(base, repeats - half)
    median = statistics.median(mine)
    return statistics.median(theirs), median, (max(mine) - min(mine)) / median


def sync_row(
    name: str,
    wf: Workflow[[], int],
    base: Callable[[], Coroutine[Any, Any, object]],
    tasks: int,
    repeats: int,
) -> Row:
    """``wf.run()`` from sync code, beside ``asyncio.run`` of the baseline."""
    baseline, fiscus, spread = blocks(
        lambda: wf.run(), lambda: asyncio.run(base()), repeats
    )
    return Row(name, tasks, baseline, fiscus, spread)


def async_row(
    name: str,
    wf: Workflow[[], int],
    base: Callable[[], Awaitable[object]],
    tasks: int,
    repeats: int,
) -> Row:
    """``await wf.arun()`` inside a running loop, beside awaiting the baseline."""

    async def both() -> tuple[float, float, float]:
        await wf.arun()  # warm up both
        await base()

        async def timed(
            call: Callable[[], Awaitable[object]], count: int
        ) -> list[float]:
            times = []
            for _ in range(count):
                start = time.perf_counter()
                await call()
                times.append(time.perf_counter() - start)
            return times

        half = max(1, repeats // 2)
        theirs = await timed(base, half)
        mine = await timed(wf.arun, repeats)
        theirs += await timed(base, repeats - half)
        median = statistics.median(mine)
        return statistics.median(theirs), median, (max(mine) - min(mine)) / median

    baseline, fiscus, spread = asyncio.run(both())
    return Row(name, tasks, baseline, fiscus, spread)


def run_rows(sizes: Sizes, label: str) -> list[Row]:
    fan, chain = make_fan_out(sizes.fan), make_chain(sizes.chain)
    return [
        sync_row(
            f"fan-out wf.run() {label}",
            fan,
            lambda: fan_out_baseline(sizes.fan),
            sizes.fan + 1,
            sizes.repeats,
        ),
        async_row(
            f"fan-out await wf.arun() {label}",
            fan,
            lambda: fan_out_baseline(sizes.fan),
            sizes.fan + 1,
            sizes.repeats,
        ),
        sync_row(
            f"chain wf.run() {label}",
            chain,
            lambda: chain_baseline(sizes.chain),
            sizes.chain,
            sizes.repeats * 3,
        ),
        async_row(
            f"chain await wf.arun() {label}",
            chain,
            lambda: chain_baseline(sizes.chain),
            sizes.chain,
            sizes.repeats * 3,
        ),
    ]


def tracing_row(sizes: Sizes) -> Row:
    """Compile the fan-out's plan, beside building as many small dicts."""
    fan = make_fan_out(sizes.fan)

    def dicts() -> list[dict[str, int]]:
        return [{"index": index} for index in range(sizes.fan)]

    baseline, fiscus, spread = blocks(lambda: fan.compile((), {}), dicts, sizes.repeats)
    return Row("tracing: compile the plan", sizes.fan + 1, baseline, fiscus, spread)


def big_fan_row(sizes: Sizes) -> Row:
    fan = make_fan_out(sizes.big_fan)
    return sync_row(
        "fan-out wf.run() 100k",
        fan,
        lambda: fan_out_baseline(sizes.big_fan),
        sizes.big_fan + 1,
        max(1, sizes.repeats // 3),
    )


def waits_row(sizes: Sizes) -> Row:
    return Row(
        *("200 waits of 50 ms wf.run()", sizes.waits),
        *blocks(
            lambda: waits.run(n=sizes.waits),
            lambda: asyncio.run(waits_baseline(sizes.waits)),
            sizes.repeats,
        ),
    )


def sdk_span_us(count: int) -> float:
    """Return the SDK's own µs for one span made as fiscus_dsl makes task spans.

    Started under a parent with four attributes, given two more at the end
    in one call, and ended, on the benchmark's provider.
    """
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(CountingExporter()))
    tracer = provider.get_tracer("sdk-probe")
    parent = trace.set_span_in_context(tracer.start_span("workflow wf"))
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(count):
            span = tracer.start_span(
                "task leaf",
                context=parent,
                attributes={
                    "fiscus.workflow.name": "wf",
                    "fiscus.run.id": "0123456789abcdef",
                    "fiscus.task.id": "leaf#2",
                    "fiscus.task.name": "leaf",
                },
            )
            span.set_attributes(
                {"fiscus.task.status": "succeeded", "fiscus.task.attempt": 1}
            )
            span.end()
        times.append(time.perf_counter() - start)
    return statistics.median(times) / count * 1e6


_RSS_PROBE: Final = textwrap.dedent(
    """
    import resource
    from fiscus_dsl import task, workflow

    @task
    async def leaf(index: int) -> int:
        return index

    @task
    async def join(values: list[int]) -> int:
        return len(values)

    @workflow
    def fan_out(n: int) -> int:
        return join([leaf(index) for index in range(n)])

    if {run}:
        fan_out.run(n={size})
    # VmHWM is this process's own peak; ru_maxrss would keep the parent's
    # peak from before exec.
    try:
        with open("/proc/self/status") as status:
            kib = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
    except OSError:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(kib)
    """
)


def peak_rss_mb(size: int, *, run: bool) -> float:
    """Return the peak RSS (MB) of a fresh process running the fan-out once."""
    code = _RSS_PROBE.format(
        folder=str(Path(__file__).resolve().parent), run=run, size=size
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    kib = int(out.split()[-1])
    return kib / 1024


@dataclass(frozen=True, slots=True)
class Sizes:
    fan: int
    big_fan: int
    chain: int
    waits: int
    repeats: int


def verdict(*, meets: bool) -> str:
    """Say whether a figure meets its target."""
    return "meets" if meets else "MISSES"


def summary(label: str, figure: str, target: str, *, meets: bool) -> None:
    """Print one line that is not a timed row: a figure and its target."""
    print(f"{label:<42} {figure:>56}  {target}: {verdict(meets=meets)}")


def print_rows(rows: list[Row], target_us: float) -> None:
    """Print timed rows with their µs per task against ``target_us``."""
    for row in rows:
        meets = row.overhead_us <= target_us
        print(
            f"{row.name:<42} {row.tasks:>7} {row.baseline * 1e3:>10.1f} "
            f"{row.fiscus * 1e3:>10.1f} {row.spread:>6.0%} {row.ratio:>6.2f}x "
            f"{row.overhead_us:>8.1f}  <= {target_us:g} µs: {verdict(meets=meets)}"
        )


def _asyncio_run(
    make: Callable[[int], Coroutine[Any, Any, int]], size: int
) -> Callable[[], object]:
    """Return a call that runs a fresh ``make(size)`` with ``asyncio.run``."""
    return lambda: asyncio.run(make(size))


def print_span_floor(sizes: Sizes, sdk: list[Row]) -> None:
    """Print what the same spans cost plain asyncio, and fiscus_dsl's share above.

    The baselines make one span per task as fiscus_dsl does (the same
    attributes, current while the task's body runs), so the difference is
    what fiscus_dsl adds to a traced run beyond its spans.
    """
    floors = [
        ("fan-out", sdk[0], fan_out_baseline, fan_out_baseline_with_spans, sizes.fan),
        ("chain", sdk[2], chain_baseline, chain_baseline_with_spans, sizes.chain),
    ]
    for label, row, plain, spanned, size in floors:
        repeats = sizes.repeats * (3 if label == "chain" else 1)
        base, with_spans, _ = blocks(
            _asyncio_run(spanned, size), _asyncio_run(plain, size), repeats
        )
        spans_us = (with_spans - base) / row.tasks * 1e6
        ours = row.overhead_us - spans_us
        print(
            f"{label + ': plain asyncio, the same spans':<42} "
            f"{spans_us:>47.1f} µs; fiscus_dsl's share of its row: {ours:.1f} µs"
        )


def parse_sizes(argv: list[str] | None) -> Sizes:
    """Read the command line: full sizes, or ``--quick`` ones."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 3 repeats")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    sizes = (
        Sizes(fan=1000, big_fan=10_000, chain=200, waits=200, repeats=3)
        if args.quick
        else Sizes(fan=10_000, big_fan=100_000, chain=1000, waits=200, repeats=9)
    )
    if args.repeats:
        sizes = Sizes(sizes.fan, sizes.big_fan, sizes.chain, sizes.waits, args.repeats)
    return sizes


def main(argv: list[str] | None = None) -> None:
    """Print every row, then the figures with a recording SDK provider."""
    sizes = parse_sizes(argv)
    python = f"Python {platform.python_version()} on {platform.machine()}"
    print(f"{python}, gc on, default runner, medians of {sizes.repeats}")
    print(
        f"{'workload':<42} {'tasks':>7} {'base ms':>10} {'fiscus ms':>10} "
        f"{'spread':>6} {'ratio':>7} {'µs/task':>8}"
    )
    plain = run_rows(sizes, "(no provider)")
    print_rows(plain, TARGET_NO_PROVIDER_US)
    big = big_fan_row(sizes)
    print_rows([big], TARGET_NO_PROVIDER_US)
    scale = big.overhead_us / plain[0].overhead_us
    summary(
        f"scaling: {big.tasks - 1} / {sizes.fan} per task",
        f"{scale:.2f}x",
        f"<= {TARGET_SCALING:g}x",
        meets=scale <= TARGET_SCALING,
    )
    print_rows([tracing_row(sizes)], TARGET_TRACING_US)
    wait = waits_row(sizes)
    summary(
        wait.name,
        f"{wait.baseline * 1e3:.1f} vs {wait.fiscus * 1e3:.1f} ms = {wait.ratio:.2f}x",
        f"<= {TARGET_WAITS_RATIO:g}x",
        meets=wait.ratio <= TARGET_WAITS_RATIO,
    )
    rss, idle = peak_rss_mb(sizes.fan, run=True), peak_rss_mb(sizes.fan, run=False)
    summary(
        f"peak RSS, one {sizes.fan}-task fan-out run",
        f"{rss:.1f} MB (import alone {idle:.1f} MB)",
        f"<= {TARGET_RSS_MB:g} MB",
        meets=rss <= TARGET_RSS_MB,
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(CountingExporter()))
    trace.set_tracer_provider(provider)  # as an application installs the SDK
    sdk = run_rows(sizes, "(recording SDK)")
    print_rows(sdk, TARGET_SDK_US)
    print_span_floor(sizes, sdk)
    print(
        f"{'SDK alone: one task-like span':<42} "
        f"{sdk_span_us(sizes.fan):>56.1f} µs (inside the rows above)"
    )


if __name__ == "__main__":
    main()
