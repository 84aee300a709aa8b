"""Time the OpenTelemetry SDK's own calls inside a run and inside plain asyncio.

Run ``python benchmarks/sdk_calls.py`` (``--size``, ``--repeats``). A
recording SDK provider (``SimpleSpanProcessor`` into an exporter that only
counts) is installed globally; ``Tracer.start_span``, ``Span.set_attributes``
and ``Span.end`` of the SDK are wrapped with a ``perf_counter_ns`` timer,
the same wrapper in both cases, and the fan-out runs once through
``wf.run()`` and once as plain asyncio making the same spans. The cyclic
garbage collector is off, so its pauses are billed to neither. Prints, per
task, the wall time of each and the time spent inside each SDK call
(medians): the part of a run's cost that is the SDK's own work, and how
much slower that work runs inside fiscus_dsl than beside plain asyncio.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

# The benchmarks folder is not a package: make workloads.py importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import opentelemetry.sdk.trace as sdk_trace
from bench_user import CountingExporter
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from workloads import fan_out_baseline_with_spans, make_fan_out

if TYPE_CHECKING:
    from collections.abc import Callable

CALLS = (
    (sdk_trace.Tracer, "start_span"),
    (sdk_trace._Span, "set_attributes"),  # noqa: SLF001  # the SDK's span class
    (sdk_trace._Span, "end"),  # noqa: SLF001
)


def instrument(spent: dict[str, int]) -> None:
    """Wrap the SDK calls so that each adds its own time to ``spent``."""
    clock = time.perf_counter_ns
    for owner, name in CALLS:
        original = getattr(owner, name)

        def timed(
            *args: object,
            _original: Callable[..., object] = original,
            _name: str = name,
            **kwargs: object,
        ) -> object:
            started = clock()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_name] += clock() - started

        setattr(owner, name, timed)


def main() -> None:
    """Print the SDK's own time per task inside a run and beside plain asyncio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    options = parser.parse_args()
    size = options.size

    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(CountingExporter()))
    trace.set_tracer_provider(provider)
    spent: dict[str, int] = defaultdict(int)
    instrument(spent)
    fan = make_fan_out(size)
    cases: dict[str, Callable[[], object]] = {
        "plain asyncio, the same spans": lambda: asyncio.run(
            fan_out_baseline_with_spans(size)
        ),
        "fiscus_dsl wf.run()": fan.run,
    }
    gc.disable()
    try:
        rows: dict[str, dict[str, list[float]]] = {}
        for name, call in cases.items():
            call()  # warm-up
            samples: dict[str, list[float]] = defaultdict(list)
            for _ in range(options.repeats):
                spent.clear()
                started = time.perf_counter_ns()
                call()
                samples["wall"].append((time.perf_counter_ns() - started) / size / 1e3)
                for _, call_name in CALLS:
                    samples[call_name].append(spent[call_name] / size / 1e3)
                gc.collect()
            rows[name] = samples
    finally:
        gc.enable()

    columns = ["wall", *(name for _, name in CALLS), "SDK total"]
    print(
        f"fan-out of {size}, recording SDK, gc off, medians of {options.repeats}, "
        "µs per task"
    )
    print(f"{'':32}" + "".join(f"{column:>16}" for column in columns))
    for name, samples in rows.items():
        medians = {key: statistics.median(values) for key, values in samples.items()}
        total = sum(medians[call_name] for _, call_name in CALLS)
        cells = [medians["wall"], *(medians[n] for _, n in CALLS), total]
        print(f"{name:32}" + "".join(f"{cell:16.2f}" for cell in cells))


if __name__ == "__main__":
    main()
