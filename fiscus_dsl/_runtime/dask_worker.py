"""What a Dask worker runs for a ``DaskExecutor``: batches of task calls.

A batch is a list of calls, each pickled on its own by the runner
(``ShippedCall``: the task by its import path, the arguments, the
attempt's ids, the task's timeout and the W3C trace context), sent in one
Dask task, ``run_batch``. The worker runs the calls of a batch together
on its event loop: async bodies as coroutines, sync bodies in the
worker's thread pool. The outcomes come back as they finish: ``run_batch``
returns the first ones, and ``collect`` tasks sent to the same worker
fetch the rest, so that a slow call never holds back a quick one. Around each body it
sets what a body reads in-process: the attempt (connectors derive the
``Idempotency-Key`` and name spans from it), the trace context (so spans
made on the worker are children of the task's span), and the cluster-wide
connector limits. Each outcome is pickled on its own, so one value that
cannot travel fails only its own task.

Importing this module imports ``distributed``: only workers and the
executor import it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import importlib
import pickle
from typing import TYPE_CHECKING, Final, final

from distributed import WorkerPlugin, get_worker
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import (
    TraceContextTextMapPropagator,
)

from fiscus_dsl._runtime import telemetry
from fiscus_dsl._runtime.attempts import CURRENT_ATTEMPT, Attempt
from fiscus_dsl._runtime.cluster_limits import CLUSTER_LIMITS, ClusterLimits
from fiscus_dsl._runtime.lifecycle import RunExit, enter_run
from fiscus_dsl.errors import ClusterError, ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from distributed import Worker
    from opentelemetry.trace import Tracer

    from fiscus_dsl._runtime.dask_executor import ShippedCall

PROTOCOL: Final = pickle.HIGHEST_PROTOCOL
PROPAGATOR: Final = TraceContextTextMapPropagator()
#: The name of the span a worker with an OpenTelemetry SDK makes per attempt.
WORKER_SPAN: Final = "attempt {name}"
WORKER_ADDRESS: Final = "fiscus.worker.address"


_LIMITS: ClusterLimits | None = None
#: What the calls of this worker opened that outlives them (connectors'
#: connection pools), closed when the worker closes (``WorkerCleanup``).
_WORKER_EXIT: RunExit | None = None


def _worker_exit() -> RunExit:
    global _WORKER_EXIT  # one per worker process, as its pools
    if _WORKER_EXIT is None:
        _WORKER_EXIT = RunExit()
    return _WORKER_EXIT


def _cluster_limits() -> ClusterLimits:
    global _LIMITS
    if _LIMITS is None:
        _LIMITS = ClusterLimits()
    return _LIMITS


#: How long a landing waits for more outcomes after its first, at least.
LINGER: Final = 0.05
#: How long a batch nobody collects stays on a worker once its calls are done.
UNCOLLECTED: Final = 600.0
#: The calls of the batches this worker runs, by batch key, until collected.
_RUNNING: dict[str, dict[int, asyncio.Task[bytes]]] = {}
#: When each batch of ``_RUNNING`` started, by batch key.
_STARTED: dict[str, float] = {}
#: ``(worker, outcomes by index, indices still running)``; ``None``: unknown batch.
Landing = tuple[str, dict[int, bytes], list[int] | None]


async def run_batch(key: str, calls: list[bytes]) -> Landing:
    """Start a batch of shipped calls on this worker; return its first outcomes.

    Every call runs as a task on the worker's event loop, outside the Dask
    task: this returns once a first call has finished and the others had
    as long again (at least ``LINGER``) to finish too, so that a quick call
    never waits for a slow one of its batch. The runner collects the rest
    with ``collect``. An outcome is ``(True, value)`` or ``(False, error)``,
    pickled; the error is what the body raised, or a ``ClusterError`` when
    the call or its outcome could not travel.
    """
    tracer = telemetry.get_tracer(None)
    live = None if telemetry.is_noop(tracer) else tracer
    address = get_worker().address
    running = {
        index: asyncio.ensure_future(_run_one(payload, live, address))
        for index, payload in enumerate(calls)
    }
    _drop_uncollected(asyncio.get_running_loop().time())
    _RUNNING[key] = running
    _STARTED[key] = asyncio.get_running_loop().time()
    try:
        return await _land(key, running, address, None)
    except asyncio.CancelledError:  # the runner gave the batch up
        forget(key)
        raise


async def collect(key: str, wait: float) -> Landing:
    """Return the outcomes of a batch's calls that finished within ``wait`` seconds.

    A worker that does not know the batch (it ran on a worker that died)
    says so with ``None``: the runner sends those calls again.
    """
    address = get_worker().address
    running = _RUNNING.get(key)
    if running is None:
        return address, {}, None
    return await _land(key, running, address, wait)


def forget(key: str) -> None:
    """Cancel what still runs of a batch the runner gave up, and drop it."""
    _STARTED.pop(key, None)
    for task in _RUNNING.pop(key, {}).values():
        task.cancel()


def _drop_uncollected(now: float) -> None:
    """Drop the finished batches a runner stopped collecting (its run ended).

    A run that ends while some of its calls still run on a worker (it was
    cancelled, its process died) never collects them; once they are done,
    they are dropped ``UNCOLLECTED`` seconds after their batch started.
    """
    for key, started in list(_STARTED.items()):
        running = _RUNNING.get(key)
        if now - started > UNCOLLECTED and (
            running is None or all(task.done() for task in running.values())
        ):
            forget(key)


async def _land(
    key: str,
    running: dict[int, asyncio.Task[bytes]],
    address: str,
    wait: float | None,
) -> Landing:
    pending = {task for task in running.values() if not task.done()}
    if pending:
        loop = asyncio.get_running_loop()
        start = loop.time()
        done, pending = await asyncio.wait(
            pending, timeout=wait, return_when=asyncio.FIRST_COMPLETED
        )
        if done and pending:
            linger = max(LINGER, loop.time() - start)
            await asyncio.wait(pending, timeout=linger)
    outcomes = {
        index: task.result()
        for index, task in running.items()
        if task.done() and not task.cancelled()
    }
    for index in outcomes:
        del running[index]
    if not running:
        _RUNNING.pop(key, None)
        _STARTED.pop(key, None)
    return address, outcomes, sorted(running)


async def _run_one(payload: bytes, tracer: Tracer | None, address: str) -> bytes:
    try:
        call: ShippedCall = pickle.loads(payload)
    # Unpickling imports the task's module, whose code may raise anything.
    except Exception as exc:
        return _pack(_unshipped(exc, address), ok=False)
    CURRENT_ATTEMPT.set(
        Attempt(
            run_id=call.run_id,
            workflow=call.workflow,
            task_id=call.task_id,
            task_name=call.task_name,
            number=call.attempt,
            tracer=tracer,
            sleep=asyncio.sleep,
        )
    )
    CLUSTER_LIMITS.set(_cluster_limits())
    # The worker is the run, for what stays open: pools are reused by the
    # next batches and closed with the worker.
    enter_run(_worker_exit())
    otel_context.attach(PROPAGATOR.extract(call.carrier))
    span = None
    if tracer is not None:
        span = tracer.start_span(
            WORKER_SPAN.format(name=call.task_name),
            kind=SpanKind.INTERNAL,
            attributes={
                telemetry.WORKFLOW_NAME: call.workflow,
                telemetry.RUN_ID: call.run_id,
                telemetry.TASK_ID: call.task_id,
                telemetry.TASK_NAME: call.task_name,
                telemetry.TASK_ATTEMPT: call.attempt,
                WORKER_ADDRESS: address,
            },
        )
        otel_context.attach(trace.set_span_in_context(span))
    try:
        value = await _call(call)
    # The body's own error travels back to the runner's retry policy.
    except Exception as exc:
        exc.add_note(f"raised on Dask worker {address}")
        if span is not None:
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.end()
        return _pack(exc, call, address, ok=False)
    if span is not None:
        span.end()
    return _pack(value, call, address, ok=True)


async def _call(call: ShippedCall) -> object:
    plan = call.task.plan
    body = plan.function
    if plan.is_async:
        step = body(*call.args, **call.kwargs)
    else:  # the worker's thread pool, with this call's context
        context = contextvars.copy_context()
        run = functools.partial(context.run, body, *call.args, **call.kwargs)
        pool = get_worker().executors["default"]
        step = asyncio.get_running_loop().run_in_executor(pool, run)
    if call.timeout is None:
        return await step
    async with asyncio.timeout(call.timeout):
        return await step


def _pack(
    value: object,
    call: ShippedCall | None = None,
    address: str = "",
    *,
    ok: bool,
) -> bytes:
    try:
        return pickle.dumps((ok, value), protocol=PROTOCOL)
    # Whatever a value's pickling raises, its task fails with that reason.
    except Exception as exc:
        what = "value" if ok else f"error {type(value).__name__}"
        task = "" if call is None else f"task {call.task_id!r} of {call.workflow!r}: "
        msg = (
            f"{task}its {what} could not be sent back from Dask worker {address} "
            f"({type(exc).__name__}: {exc}); return data that pickles (dicts, "
            "lists, pydantic models), not open files, clients or locks"
        )
        error = ClusterError(msg, address=address, retryable=False)
        return pickle.dumps((False, error), protocol=PROTOCOL)


def _unshipped(error: Exception, address: str) -> ClusterError:
    msg = (
        f"Dask worker {address} could not load a task call "
        f"({type(error).__name__}: {error}); install the workflow's code "
        "(its modules and their imports) where the workers run, in the same "
        "version"
    )
    return ClusterError(msg, address=address, retryable=False)


@final
class WorkerTracing(WorkerPlugin):
    """A Dask worker plugin that sets up OpenTelemetry on every worker.

    ``setup`` is the import path of a function, ``"package.module:function"``,
    that each worker calls once when it starts (or when the plugin is
    registered): it installs the OpenTelemetry SDK as the application
    does, for example a ``TracerProvider`` with an OTLP exporter. If it
    returns a tracer provider, that provider is installed globally. Spans
    the worker makes for a task (one per attempt, and a connector's HTTP
    spans) are then children of the task's span in the runner. At the
    worker's end the provider is flushed and shut down.

    Register it with ``client.register_plugin(WorkerTracing("app.otel:setup"))``
    or ``DaskExecutor(client, worker_tracing="app.otel:setup")``.
    """

    idempotent = True
    name = "fiscus-worker-tracing"

    def __init__(self, setup: str) -> None:
        module, colon, function = setup.partition(":")
        if not colon or not module or not function:
            msg = (
                f"WorkerTracing({setup!r}) needs the import path of a function, "
                "'package.module:function', that sets up OpenTelemetry"
            )
            raise ConfigurationError(msg, option="setup")
        self.setup_path = setup
        self.provider: object = None

    def setup(self, worker: Worker) -> None:
        """Call the setup function on the worker; install what it returns."""
        del worker
        module, _, function = self.setup_path.partition(":")
        configure: Callable[[], object] = getattr(
            importlib.import_module(module), function
        )
        provider = configure()
        if provider is not None:
            trace.set_tracer_provider(provider)  # type: ignore[arg-type]  # checked by the SDK
        self.provider = provider or trace.get_tracer_provider()

    def teardown(self, worker: Worker) -> None:
        """Flush the worker's spans before it goes."""
        del worker
        shutdown = getattr(self.provider, "shutdown", None)
        if shutdown is not None:
            shutdown()


@final
class WorkerCleanup(WorkerPlugin):
    """Close what task calls left open on a worker (connection pools) when it closes.

    ``DaskExecutor`` registers it on its cluster once, when a run first
    starts there.
    """

    idempotent = True
    name = "fiscus-worker-cleanup"

    async def teardown(self, worker: Worker) -> None:
        """Close the connectors' pools this worker's calls opened."""
        del worker
        if _WORKER_EXIT is not None:
            await _WORKER_EXIT.aclose()
