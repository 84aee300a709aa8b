"""Ask whether a tracer's cost simply adds to a run's, or grows inside one.

Run ``python benchmarks/sdk_interference.py`` (``--size``, ``--repeats``,
``--work``, ``--kind``). In one process, with the cyclic garbage collector off, it
times the fan-out (``runner.run(wf)``, tracing included) and plain asyncio
doing the same work, each three ways: with no tracer provider, with a
*synthetic* tracer whose spans record nothing but cost CPU time and
allocations of about the SDK's size in pure Python (``--kind`` adds locks,
clocks, context variables, or sixty distinct functions), and with a recording
SDK provider (``SimpleSpanProcessor`` into an exporter that counts). For
each tracer it prints what its spans cost plain asyncio and what they cost
fiscus_dsl, per task, and the difference: zero when the cost simply adds
up, positive when the same span work runs slower inside a run.

``--only CASE`` runs one case, two warm-ups and ``--repeats`` more, and
prints nothing: a run for ``valgrind --tool=cachegrind``, whose totals with
``--repeats 3`` and ``--repeats 0`` give the instructions (and simulated
cache misses and branch mispredictions) of one run of that case.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import threading
import time
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

# The benchmarks folder is not a package: make workloads.py importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_user import CountingExporter
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NonRecordingSpan
from workloads import fan_out_baseline, fan_out_baseline_with_spans, make_fan_out

from fiscus_dsl import Runner

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from opentelemetry.context import Context
    from opentelemetry.trace import Link, Span, SpanKind
    from opentelemetry.util.types import Attributes, AttributeValue


_VAR: ContextVar[int] = ContextVar("synthetic")


def _loop(work: int) -> list[object]:
    """Spend ``work`` loop turns and return ``work // 10`` fresh small dicts."""
    total = 0
    for turn in range(work):
        total += turn
    return [{"turn": turn, "total": total} for turn in range(work // 10)]


def _locks(work: int) -> list[object]:
    """``_loop``, plus a lock and a reentrant lock made and taken per 50 turns."""
    held = _loop(work)
    for _ in range(work // 50):
        lock, rlock = threading.Lock(), threading.RLock()
        with lock, rlock:
            held.append((lock, rlock))
    return held


def _clocks(work: int) -> list[object]:
    """``_loop``, plus a wall-clock read and 64 random bits per 50 turns."""
    held = _loop(work)
    held.extend(
        (time.time_ns(), random.getrandbits(64))  # not for secrets
        for _ in range(work // 50)
    )
    return held


def _context(work: int) -> list[object]:
    """``_loop``, plus a context variable set and reset per 50 turns."""
    held = _loop(work)
    for turn in range(work // 50):
        _VAR.reset(_VAR.set(turn))
    return held


def _distinct_functions(count: int) -> list[Callable[[int], int]]:
    """Compile ``count`` small functions, each with its own bytecode."""
    functions = []
    for index in range(count):
        lines = [
            f"    x = x * {turn % 7 + 2} + {index} if x < {1000 + turn} "
            f"else x - {turn + index}"
            for turn in range(6)
        ]
        source = f"def f(x):\n{chr(10).join(lines)}\n    return x % 9973\n"
        namespace: dict[str, Callable[[int], int]] = {}
        exec(source, namespace)  # the benchmark's own generated source
        functions.append(namespace["f"])
    return functions


_FUNCTIONS = _distinct_functions(60)


def _functions(work: int) -> list[object]:
    """Call 60 distinct small functions ``work // 60`` times over, and allocate."""
    value = 1
    for _ in range(max(1, work // len(_FUNCTIONS))):
        for function in _FUNCTIONS:
            value = function(value)
    return [{"turn": turn, "value": value} for turn in range(work // 10)]


#: What a synthetic span spends its cost on (``--kind``).
KINDS: dict[str, Callable[[int], list[object]]] = {
    "loop": _loop,
    "locks": _locks,
    "clocks": _clocks,
    "context": _context,
    "functions": _functions,
}


class SyntheticSpan(NonRecordingSpan):
    """A span that exports nothing but costs what a recording one costs.

    It holds its allocations until it ends, as a recording span holds its
    attributes, and claims to record, so that fiscus_dsl builds and sets
    every attribute it would for the SDK.
    """

    def __init__(self, work: int, burn: Callable[[int], list[object]]) -> None:
        super().__init__(INVALID_SPAN_CONTEXT)
        self._work = work
        self._burn = burn
        self._held: list[object] | None = burn(work)

    def is_recording(self) -> bool:
        return True

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self._burn(self._work // 8)

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        self._burn(self._work // 8)

    def end(self, end_time: int | None = None) -> None:
        self._burn(self._work // 8)
        self._held = None


class SyntheticTracer(trace.Tracer):
    """Make ``SyntheticSpan``s, each costing ``burn(work)`` to start."""

    def __init__(self, work: int, burn: Callable[[int], list[object]]) -> None:
        self.work = work
        self.burn = burn

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = trace.SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,  # noqa: FBT001, FBT002  # the API's signature
        set_status_on_exception: bool = True,  # noqa: FBT001, FBT002
    ) -> Span:
        return SyntheticSpan(self.work, self.burn)

    def start_as_current_span(  # type: ignore[override]  # never called here
        self, *args: object, **kwargs: object
    ) -> Iterator[Span]:
        msg = "fiscus_dsl makes its spans current itself"
        raise TypeError(msg)


class SyntheticProvider(trace.TracerProvider):
    """Hand out one ``SyntheticTracer``."""

    def __init__(self, work: int, burn: Callable[[int], list[object]]) -> None:
        self.tracer = SyntheticTracer(work, burn)

    def get_tracer(self, *args: object, **kwargs: object) -> trace.Tracer:
        """Return the one tracer, whatever the name asked for."""
        return self.tracer


def cases(size: int, work: int, kind: str) -> dict[str, Callable[[], object]]:
    """Return every case by name: what one timed run of it calls."""
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(CountingExporter()))
    synthetic = SyntheticProvider(work, KINDS[kind])
    fan = make_fan_out(size)
    plain = Runner()
    with_synthetic = Runner(tracer_provider=synthetic)
    with_sdk = Runner(tracer_provider=sdk)
    synthetic_tracer = synthetic.get_tracer("baseline")
    sdk_tracer = sdk.get_tracer("baseline")
    return {
        "asyncio": lambda: asyncio.run(fan_out_baseline(size)),
        "fiscus": lambda: plain.run(fan),
        "asyncio-synthetic": lambda: asyncio.run(
            fan_out_baseline_with_spans(size, synthetic_tracer)
        ),
        "fiscus-synthetic": lambda: with_synthetic.run(fan),
        "asyncio-sdk": lambda: asyncio.run(
            fan_out_baseline_with_spans(size, sdk_tracer)
        ),
        "fiscus-sdk": lambda: with_sdk.run(fan),
    }


def measure(
    calls: Mapping[str, Callable[[], object]], size: int, repeats: int
) -> dict[str, float]:
    """Time every case in turn, ``repeats`` rounds; return µs per task (medians)."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm-up
    for _ in range(repeats):
        for name, call in calls.items():
            started = time.perf_counter_ns()
            call()
            samples[name].append((time.perf_counter_ns() - started) / size / 1e3)
            gc.collect()
    return {name: statistics.median(values) for name, values in samples.items()}


def report(per_task: Mapping[str, float], size: int, repeats: int) -> None:
    """Print each case, then what each tracer's spans cost each side."""
    print(
        f"fan-out of {size}, tracing included, gc off, medians of {repeats} "
        "rounds, µs per task"
    )
    for name, value in per_task.items():
        print(f"  {name:<20}{value:8.2f}")
    print("the spans' cost per task:    in asyncio  in fiscus_dsl  difference")
    for tracer in ("synthetic", "sdk"):
        in_asyncio = per_task[f"asyncio-{tracer}"] - per_task["asyncio"]
        in_fiscus = per_task[f"fiscus-{tracer}"] - per_task["fiscus"]
        print(
            f"  {tracer:<26}{in_asyncio:10.2f}{in_fiscus:15.2f}"
            f"{in_fiscus - in_asyncio:12.2f}"
        )


def main() -> None:
    """Print whether each tracer's cost adds up inside a run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument(
        "--work", type=int, default=500, help="loop turns of a synthetic span's start"
    )
    parser.add_argument(
        "--kind",
        choices=sorted(KINDS),
        default="loop",
        help="what a synthetic span spends its cost on",
    )
    parser.add_argument("--only", help="run this case alone, for cachegrind")
    options = parser.parse_args()
    calls = cases(options.size, options.work, options.kind)
    gc.disable()
    if options.only is not None:
        call = calls[options.only]
        for _ in range(2 + options.repeats):
            call()
        return
    report(measure(calls, options.size, options.repeats), options.size, options.repeats)


if __name__ == "__main__":
    main()
