"""The benchmark workloads: the same work through fiscus_dsl and through plain asyncio.

Every workload has a fiscus_dsl form (a ``@workflow`` built for a given size)
and a baseline that does the same work with one ``asyncio.create_task`` per
coroutine. The benchmark and the profiler share them. Uses the public API
only, so it keeps working while the runtime changes underneath, except for
the "execute only" measurements: they trace once with ``wf.compile`` and
execute the traced workflow with ``runner.arun_plan``, the two halves of
``runner.arun``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind

from fiscus_dsl import Runner, Workflow, task, workflow

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from opentelemetry.trace import Tracer

# ---------------------------------------------------------------- tasks


@task
async def step(value: int) -> int:
    """Pass the previous value on: a no-op link of the chain."""
    return value


@task
async def leaf(index: int) -> int:
    """Return the index: a no-op leaf of the fan-out."""
    return index


@task
async def join(values: list[int]) -> int:
    """Count the leaves: the one task that takes them all."""
    return len(values)


# ---------------------------------------------------------------- fiscus_dsl forms


def make_chain(size: int) -> Workflow[[], int]:
    """Build a workflow of ``size`` dependent tasks, each taking the previous value."""

    @workflow(name=f"chain_{size}")
    def chain() -> int:
        value = step(0)
        for _ in range(size - 1):
            value = step(value)
        return value

    return chain


def make_fan_out(size: int) -> Workflow[[], int]:
    """Build a workflow of ``size`` independent tasks joined by one more."""

    @workflow(name=f"fan_out_{size}")
    def fan_out() -> int:
        return join([leaf(index) for index in range(size)])

    return fan_out


# ---------------------------------------------------------------- baselines


async def _base_step(previous: asyncio.Task[int] | None) -> int:
    return 0 if previous is None else await previous


async def _base_leaf(index: int) -> int:
    return index


async def _base_join(values: list[int]) -> int:
    return len(values)


async def chain_baseline(size: int) -> int:
    """Run ``size`` tasks where each coroutine awaits the previous task."""
    previous: asyncio.Task[int] | None = None
    for _ in range(size):
        previous = asyncio.create_task(_base_step(previous))
    assert previous is not None
    return await previous


async def fan_out_baseline(size: int) -> int:
    """Create a task per leaf, gather them, then run one task on the list."""
    leaves = [asyncio.create_task(_base_leaf(index)) for index in range(size)]
    values = await asyncio.gather(*leaves)
    return await asyncio.create_task(_base_join(list(values)))


# ---------------------------------------------------------------- baselines with spans


class _Spans:
    """Make task spans as fiscus_dsl does, on the global provider, around a body."""

    def __init__(self, workflow: str, tracer: Tracer | None = None) -> None:
        self.tracer = tracer or trace.get_tracer("baseline")
        self.root = self.tracer.start_span(f"workflow {workflow}")
        self.context = trace.set_span_in_context(self.root)

    async def around(self, name: str, index: int, body: Awaitable[int]) -> int:
        """Run ``body`` inside a current task span with fiscus_dsl's attributes."""
        span = self.tracer.start_span(
            f"task {name}",
            context=self.context,
            kind=SpanKind.INTERNAL,
            attributes={
                "fiscus.workflow.name": "baseline",
                "fiscus.run.id": "0123456789abcdef",
                "fiscus.task.id": f"{name}#{index}",
                "fiscus.task.name": name,
            },
        )
        token = otel_context.attach(trace.set_span_in_context(span, self.context))
        try:
            value = await body
        finally:
            otel_context.detach(token)
        span.set_attributes(
            {"fiscus.task.status": "succeeded", "fiscus.task.attempt": 1}
        )
        span.end()
        return value


async def chain_baseline_with_spans(size: int, tracer: Tracer | None = None) -> int:
    """``chain_baseline``, each task inside a current span made as fiscus_dsl does.

    The spans come from ``tracer``, or from the global provider's.
    """
    spans = _Spans("chain", tracer)
    previous: asyncio.Task[int] | None = None
    for index in range(size):
        body = _base_step(previous)
        previous = asyncio.create_task(spans.around("step", index, body))
    assert previous is not None
    value = await previous
    spans.root.end()
    return value


async def fan_out_baseline_with_spans(size: int, tracer: Tracer | None = None) -> int:
    """``fan_out_baseline``, each task inside a current span made as fiscus_dsl does.

    The spans come from ``tracer``, or from the global provider's.
    """
    spans = _Spans("fan_out", tracer)
    leaves = [
        asyncio.create_task(spans.around("leaf", index, _base_leaf(index)))
        for index in range(size)
    ]
    values = await asyncio.gather(*leaves)
    value = await asyncio.create_task(spans.around("join", 0, _base_join(list(values))))
    spans.root.end()
    return value


def trace_baseline(size: int) -> list[dict[str, object]]:
    """Build the plain-dict equivalent of a traced fan-out graph, one per task."""
    nodes: list[dict[str, object]] = []
    for index in range(size):
        node_id = "leaf" if index == 0 else f"leaf#{index + 1}"
        nodes.append({"id": node_id, "task": "leaf", "args": {"index": index}})
    nodes.append({"id": "join", "task": "join", "args": {"values": nodes}})
    return nodes


# ---------------------------------------------------------------- telemetry setups


class Telemetry:
    """One telemetry setting: no provider at all, or a recording SDK provider."""

    def __init__(self, name: str, *, recording: bool) -> None:
        self.name = name
        self.exporter: InMemorySpanExporter | None = None
        self.provider: TracerProvider | None = None
        if recording:
            self.exporter = InMemorySpanExporter()
            self.provider = TracerProvider()
            self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def runner(self, *, unbounded: bool) -> Runner:
        """Return a runner for this setting: unbounded, or with the default limit."""
        if unbounded:
            return Runner(max_concurrency=None, tracer_provider=self.provider)
        return Runner(tracer_provider=self.provider)

    def reset(self) -> None:
        """Drop the spans recorded so far, so that repeats start equal."""
        if self.exporter is not None:
            self.exporter.clear()

    def span_count(self) -> int:
        """Return how many spans were recorded since the last reset."""
        return 0 if self.exporter is None else len(self.exporter.get_finished_spans())


NO_PROVIDER = "none"
SDK_PROVIDER = "sdk"


def telemetry_settings() -> list[Telemetry]:
    """Return the two settings measured: no provider, and a recording SDK one."""
    return [
        Telemetry(NO_PROVIDER, recording=False),
        Telemetry(SDK_PROVIDER, recording=True),
    ]


def run_workflow(
    runner: Runner, wf: Workflow[[], int]
) -> Callable[[], Awaitable[object]]:
    """Return a coroutine factory that runs ``wf`` on ``runner`` and checks it."""

    async def run() -> object:
        result = await runner.arun(wf)
        if not result.success:
            msg = f"benchmark run of {wf.name!r} failed: {result.error_message}"
            raise RuntimeError(msg)
        return result.output

    return run


def execute_workflow(
    runner: Runner, wf: Workflow[[], int]
) -> Callable[[], Awaitable[object]]:
    """Trace ``wf`` once, now; return a factory that only executes the traced graph.

    ``runner.arun(wf)`` is ``wf.compile`` followed by ``runner.arun_plan``;
    a traced workflow can be executed again and again, so timing the factory
    measures the runner alone, without the tracer.
    """
    traced = wf.compile((), {})

    async def execute() -> object:
        result = await runner.arun_plan(traced, {})
        if not result.success:
            msg = f"benchmark execution of {wf.name!r} failed: {result.error_message}"
            raise RuntimeError(msg)
        return result.output

    return execute
