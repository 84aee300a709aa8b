"""Workflows the Dask tests run; worker processes import this module by name.

The connectors' base URL comes from ``FISCUS_DASK_API`` when the module is
imported, so the test process sets it before the cluster spawns its
workers (they inherit the environment). Every request carries the
sending process's pid in ``X-Worker-Pid``. ``setup_tracing`` is the
``WorkerTracing`` setup of the span tests: an SDK provider whose spans a
test collects from every worker with ``client.run(worker_spans)``.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel

from fiscus_dsl import (
    BearerAuth,
    Connector,
    Hooks,
    Retry,
    Secret,
    SkipTask,
    TaskContext,
    task,
    when,
    workflow,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

API: Final = os.environ.get("FISCUS_DASK_API", "http://127.0.0.1:9")
PID: Final = {"X-Worker-Pid": str(os.getpid())}

#: Read by each process from its own environment when it imports this module.
TOKEN: Final = "FISCUS_DASK_TOKEN"
api = Connector(
    "DaskApi",
    API,
    headers=PID,
    max_concurrency=None,
    auth=BearerAuth(Secret.from_env(TOKEN)),
)
limited = Connector("DaskLimited", API, headers=PID, max_concurrency=2)
paced = Connector("DaskPaced", API, headers=PID, rate_limit="10/s")


class Receipt(BaseModel):
    """What ``POST /calls`` answers."""

    label: str
    key: str
    applied: int


@api.operation("POST /calls", retry=Retry(attempts=3, backoff=0.01))
def record(label: str) -> Receipt:
    """Record one call of ``label``."""
    raise NotImplementedError


@limited.operation("GET /slow/{index}")
def slow_limited(index: int) -> dict[str, int]:
    """A slow request of the connector limited to 2 in flight."""
    raise NotImplementedError


@paced.operation("GET /slow/{index}")
def slow_paced(index: int) -> dict[str, int]:
    """A slow request of the connector limited to 10 a second."""
    raise NotImplementedError


# ---------------------------------------------------------------- plain tasks


@task
async def double(x: int) -> int:
    """Double ``x``, on the event loop of a worker."""
    return 2 * x


@task
def square(x: int) -> int:
    """Square ``x``, in a worker thread."""
    return x * x


@task
def echo(value: object) -> object:
    """Return ``value`` as it came."""
    return value


@task
def pid() -> int:
    """Return the pid of the process that ran the body."""
    return os.getpid()


@task
async def total(values: list[int]) -> int:
    """Add the values up."""
    return sum(values)


@task
async def fail(x: int) -> int:
    """Fail with a ValueError naming ``x``."""
    msg = f"no good: {x}"
    raise ValueError(msg)


@task
async def skip_me(x: int) -> int:
    """Skip itself from its body."""
    msg = f"nothing to do for {x}"
    raise SkipTask(msg)


@task(timeout=0.3)
async def nap(seconds: float) -> float:
    """Sleep ``seconds`` on the worker; the task times out after 0.3 s."""
    await asyncio.sleep(seconds)
    return seconds


@task(retry=Retry(attempts=3, backoff=0.01))
def flaky(counter: str) -> int:
    """Fail until the third attempt, counted in the file ``counter``."""
    path = Path(counter)
    attempts = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempts))
    if attempts < 3:
        msg = f"attempt {attempts} fails"
        raise ConnectionError(msg)
    return attempts


@task
def opened(path: str) -> object:
    """Return an open file: a value that cannot travel back."""
    return Path(path).open()


@task
def wait_for(path: str, timeout: float) -> str:
    """Say it started (``path.started``), then wait until ``path`` exists."""
    Path(f"{path}.started").touch()
    until = time.monotonic() + timeout
    while not Path(path).exists() and time.monotonic() < until:
        time.sleep(0.02)
    return path


# ---------------------------------------------------------------- workflows


@workflow
def arithmetic(n: int) -> int:
    """Squares on threads and doubles on the loop, mapped and added up."""
    squares = square.map(x=list(range(n)))
    doubles = double.map(x=squares)
    return total(doubles)


@workflow
def where() -> list[int]:
    """Three bodies, each returning its process's pid."""
    return [pid(), pid(), pid()]


@workflow
def guarded(go: bool) -> int:
    """A guard decided in the runner; a skip raised on a worker."""
    first = double(1)
    with when(go):
        double(first)
    skip_me(3)
    return first


@workflow
def failing() -> int:
    """One task that fails on a worker."""
    return total([double(1), fail(2)])


@workflow
def timing_out() -> float:
    """A body that runs past its task's timeout."""
    return nap(5.0)


@workflow
def retried(counter: str) -> int:
    """A sync body that fails twice, then succeeds."""
    return flaky(counter)


@workflow
def unreturnable(path: str) -> object:
    """A body whose value cannot be sent back."""
    return opened(path)


@workflow
def recorded(labels: list[str]) -> list[Receipt]:
    """One keyed POST per label."""
    return record.map(label=labels)


@workflow
def limited_fan(n: int) -> list[dict[str, int]]:
    """``n`` slow requests through the connector limited to 2 in flight."""
    return slow_limited.map(index=list(range(n)))


@workflow
def paced_fan(n: int) -> list[dict[str, int]]:
    """``n`` slow requests through the connector limited to 10 a second."""
    return slow_paced.map(index=list(range(n)))


@workflow
def held(path: str) -> int:
    """Quick steps, one that waits for ``path``, then one after it: 26."""
    first = double(2)
    waited = wait_for(path, 60.0)
    return total([first, double(3), square(when_ready(waited))])


@task
def when_ready(path: str) -> int:
    """Return 4 once the step before it is done."""
    del path
    return 4


# ---------------------------------------------------------------- hooks


def tag_before(ctx: TaskContext) -> dict[str, object] | None:
    """Add 10 to ``x``, in the runner's process."""
    if "x" not in ctx.args:
        return None
    return {**ctx.args, "x": int(ctx.args["x"]) + 10}


def note_after(ctx: TaskContext, value: object) -> object:
    """Return the value with the pid of the process that ran the hook."""
    del ctx
    return [value, os.getpid()]


HOOKS: Final = Hooks(before_task=tag_before, after_task=note_after)


# ---------------------------------------------------------------- telemetry

_EXPORTER: list[InMemorySpanExporter] = []


def setup_tracing() -> TracerProvider:
    """Install an SDK provider on this worker, its spans kept in memory."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _EXPORTER.append(exporter)
    return provider


def worker_spans() -> list[dict[str, object]]:
    """Return the spans this worker ended, as plain data, and forget them."""
    spans: list[dict[str, object]] = []
    for exporter in _EXPORTER:
        for span in exporter.get_finished_spans():
            context = span.get_span_context()
            assert context is not None  # an SDK span has one
            spans.append(
                {
                    "name": span.name,
                    "trace_id": context.trace_id,
                    "span_id": context.span_id,
                    "parent_id": None if span.parent is None else span.parent.span_id,
                    "attributes": dict(span.attributes or {}),
                }
            )
        exporter.clear()
    return spans
