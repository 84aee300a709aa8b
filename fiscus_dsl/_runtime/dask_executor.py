"""``DaskExecutor``: run task bodies on a Dask ``distributed`` cluster.

The runner (the process that calls ``wf.run()``) keeps the plan, the
scheduling decisions, hooks, retries, timeouts, spans and the run store;
the cluster's workers run task bodies and the connectors' requests.

Each call is pickled at once, on its own: the ``Task`` travels as its
import path (``Task.__reduce_ex__``), never as a function, so a value
that cannot travel fails only its own task, and a ``Secret`` refuses to
be pickled at all. Calls made in the same turn of the event loop (the
ready items of a ``map``, the tasks a settled one released) go to the
cluster together, in batches of at most ``batch_size`` spread over the
workers' threads: one Dask task per batch, not per task call. Their
outcomes come back as they finish (``dask_batches.py`` on this side,
``dask_worker.py`` on the workers').

Dask reruns a batch whose worker died on another worker, and the runner
resends the calls a dead worker had not returned; they carry the same
attempt ids, so connectors send the same ``Idempotency-Key``. A batch
Dask gives up on, or a scheduler that went away, fails the batch's calls
with the ``ClusterError`` that ``DaskExecutor.lost`` makes.
"""

from __future__ import annotations

import asyncio
import pickle
import threading
import weakref
from typing import TYPE_CHECKING, Any, Final, NamedTuple, final

from opentelemetry.trace.propagation.tracecontext import (
    TraceContextTextMapPropagator,
)

from fiscus_dsl._dsl.options import check_count_type
from fiscus_dsl._dsl.overrides import plan_override
from fiscus_dsl._runtime.attempts import current_attempt
from fiscus_dsl._runtime.dask_batches import Batcher
from fiscus_dsl._runtime.end_user import CURRENT_USER
from fiscus_dsl._runtime.overrides import LOCAL_OVERRIDE
from fiscus_dsl.errors import ClusterError, ConfigurationError, PlanShippingError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import TracebackType

    from distributed import Client

    from fiscus_dsl._dsl.plan import Plan
    from fiscus_dsl._dsl.task import Task

_PROPAGATOR: Final = TraceContextTextMapPropagator()
_PROTOCOL: Final = pickle.HIGHEST_PROTOCOL
_INSTALL: Final = "pip install 'fiscus_dsl[dask]'"
LOCAL: Final = "local"


class ShippedCall(NamedTuple):
    """One attempt of one task, as it travels to a worker."""

    task: Task[..., Any]
    args: tuple[object, ...]
    kwargs: dict[str, object]
    run_id: str
    workflow: str
    task_id: str
    task_name: str
    attempt: int
    timeout: float | None
    carrier: dict[str, str]


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:  # the extra is not installed
        msg = f"DaskExecutor needs Dask distributed; install it with {_INSTALL}"
        raise ConfigurationError(msg, option="executor") from exc
    return distributed


def parse_local(address: str) -> int | None:
    """Return N for ``"local"`` / ``"local:N"`` (``None`` when it is an address).

    Raises:
        ConfigurationError: ``local:`` followed by something other than a
            positive count of workers.
    """
    name, colon, count = address.partition(":")
    if name != LOCAL:
        return None
    if not colon:
        return 2
    if not count.isdigit() or int(count) < 1:
        msg = (
            f"DaskExecutor({address!r}): write 'local' or 'local:N' with N "
            "worker processes, such as 'local:4'"
        )
        raise ConfigurationError(msg, option="cluster")
    return int(count)


@final
class DaskExecutor:
    """Run task bodies on a Dask ``distributed`` cluster, in batches.

    Args:
        cluster: A synchronous ``distributed.Client`` (used as is, never
            closed here), a cluster object such as ``LocalCluster`` (a client
            to it is made and closed here), a scheduler address such as
            ``"tcp://10.0.0.5:8786"``, or ``"local"`` / ``"local:N"`` for a
            ``LocalCluster`` of N worker processes (2 by default) that this
            executor starts on first use and closes in ``close()``.
        batch_size: The most task calls in one Dask task.
        worker_tracing: The import path ``"module:function"`` of a function
            that sets up OpenTelemetry on each worker (``WorkerTracing``).

    Raises:
        ConfigurationError: ``distributed`` is not installed, the client is
            asynchronous, or an option is out of range.
    """

    def __init__(
        self,
        cluster: object,
        *,
        batch_size: int = 1000,
        worker_tracing: str | None = None,
    ) -> None:
        distributed = _distributed()
        check_count_type("DaskExecutor", "batch_size", batch_size)
        if batch_size < 1:
            msg = f"DaskExecutor(batch_size={batch_size!r}) must be at least 1"
            raise ConfigurationError(msg, option="batch_size")
        self.batch_size = batch_size
        self.worker_tracing = worker_tracing
        self._client: Client | None = None
        self._owned: list[object] = []  # what close() closes: a client, a cluster
        self._address: str | None = None
        self._cluster: object = None
        self._local: int | None = None
        if isinstance(cluster, distributed.Client):
            if cluster.asynchronous:
                msg = (
                    "DaskExecutor needs a synchronous distributed.Client; create "
                    "it with Client(address) (the default, asynchronous=False), "
                    "also in async code"
                )
                raise ConfigurationError(msg, option="cluster")
            self._client = cluster
        elif isinstance(cluster, str):
            self._local = parse_local(cluster)
            self._address = None if self._local is not None else cluster
        elif hasattr(cluster, "scheduler_address"):
            self._cluster = cluster
        else:
            msg = (
                f"DaskExecutor({cluster!r}) takes a distributed.Client, a cluster "
                "such as LocalCluster, a scheduler address 'tcp://host:8786', or "
                "'local:N'"
            )
            raise ConfigurationError(msg, option="cluster")
        self._lock = threading.Lock()
        self._checked: weakref.WeakSet[Task[..., Any]] = weakref.WeakSet()
        self._batchers: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, Batcher
        ] = weakref.WeakKeyDictionary()
        #: The worker threads of the cluster, counted when a run starts.
        self.threads = 1
        self._plugged = False

    # ------------------------------------------------------------ the cluster

    @property
    def address(self) -> str:
        """Return the scheduler's address, or what was asked for until connected."""
        scheduler = None if self._client is None else self._client.scheduler
        if scheduler is not None:
            return str(scheduler.address)
        if self._address is not None:
            return self._address
        return LOCAL if self._local is not None else repr(self._cluster)

    @property
    def client(self) -> Client:
        """Return the Dask client, connecting (or starting the local cluster) first."""
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Client:
        distributed = _distributed()
        target: object = self._cluster or self._address
        try:
            if self._local is not None:
                cluster = distributed.LocalCluster(
                    n_workers=self._local,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # a free port, not 8787
                )
                self._owned.append(cluster)
                target = cluster
            client: Client = distributed.Client(target, set_as_default=False)
        except OSError as exc:  # no scheduler there, or it did not answer in time
            msg = (
                f"Cannot reach the Dask scheduler at {self.address} ({exc}); "
                "start one (`dask scheduler`, then `dask worker ADDRESS`) or "
                "check the address"
            )
            raise ClusterError(msg, address=self.address, retryable=False) from exc
        except ValueError as exc:  # not an address: no port, or an unknown scheme
            msg = (
                f"DaskExecutor({self.address!r}) names no Dask scheduler ({exc}); "
                "give an address such as 'tcp://10.0.0.5:8786', or 'local:N'"
            )
            raise ConfigurationError(msg, option="cluster") from exc
        self._owned.insert(0, client)
        return client

    def close(self) -> None:
        """Close the client and the local cluster this executor made (not one given)."""
        with self._lock:
            owned, self._owned = self._owned, []
            if owned:
                self._client = None
        for thing in owned:
            thing.close()  # type: ignore[attr-defined]  # a Client or a cluster

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DaskExecutor({self.address!r}, batch_size={self.batch_size})"

    # ------------------------------------------------------------ a run

    async def prepare(self, plan: Plan) -> None:
        """Check that every task of ``plan`` can be shipped, then connect.

        Raises:
            PlanShippingError: A task is not importable by its qualified
                name, or is replaced by a mock of the testing kit.
            ClusterError: The cluster cannot be reached.
        """
        for owner, node in plan.walk():
            task = node.task
            if task is not None and task not in self._checked:
                check_reference(task, owner.name, node.id)
                self._checked.add(task)
            if task is not None and plan_override(task) is not None:
                msg = (
                    f"Task {node.id!r} of workflow {owner.name!r} is replaced by "
                    "a mock of the testing kit, which cannot reach Dask workers; "
                    "test with the in-process executor (the default runner)"
                )
                raise PlanShippingError(msg, workflow=owner.name)
        local = LOCAL_OVERRIDE.get()
        if local is not None:
            msg = (
                f"Workflow {plan.name!r} cannot run on Dask workers while "
                f"{local} is active in this process: the workers would reach "
                "the real API. Test with the in-process executor (the default "
                "runner)"
            )
            raise PlanShippingError(msg, workflow=plan.name)
        user = CURRENT_USER.get()
        if user is not None:
            msg = (
                f"Workflow {plan.name!r} runs for end user {user.user_id!r}, whose "
                "credentials and policies live in this process and are never "
                "shipped to Dask workers; run it with the in-process executor "
                "(the default runner)"
            )
            raise PlanShippingError(msg, workflow=plan.name)
        await asyncio.to_thread(self._ready)

    def _ready(self) -> None:
        client = self.client
        if client.status != "running":
            msg = (
                f"The Dask client of {self.address} is {client.status}, not "
                "running; make a new DaskExecutor with a running client"
            )
            raise ClusterError(msg, address=self.address, retryable=False)
        if not self._plugged:
            from fiscus_dsl._runtime.dask_worker import WorkerCleanup, WorkerTracing

            client.register_plugin(WorkerCleanup())
            if self.worker_tracing is not None:
                client.register_plugin(WorkerTracing(self.worker_tracing))
            self._plugged = True
        self.threads = max(1, sum(client.nthreads().values()))

    async def call(
        self,
        function: Callable[..., object],
        args: Sequence[object],
        kwargs: Mapping[str, object],
        *,
        is_async: bool,
        task: Task[..., Any],
    ) -> object:
        """Ship one call of ``task`` to the cluster and return its value.

        Raises:
            PlanShippingError: An argument cannot be pickled.
            ClusterError: The cluster lost the call (see the module docstring).
        """
        del function, is_async  # the worker finds both through the task
        payload = _ship(task, args, kwargs)
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            batcher = self._batchers[loop] = Batcher(self, loop)
        waiter = batcher.add(payload)
        try:
            ok, value = await waiter
        except asyncio.CancelledError:
            batcher.abandon()
            raise
        if ok:
            return value
        raise value

    def lost(self, error: BaseException, calls: int) -> ClusterError:
        """Explain why Dask could not give a batch's outcomes back."""
        distributed = _distributed()
        address = self.address
        if isinstance(error, distributed.scheduler.KilledWorker):
            msg = (
                f"Dask gave up on a batch of {calls} task call(s): the workers "
                f"running it died too often ({error}); find why they die (memory, "
                "a crash in native code) or raise the Dask setting "
                "distributed.scheduler.allowed-failures"
            )
            return ClusterError(msg, address=address, retryable=True)
        client = self._client
        gone = client is None or client.status != "running" or _cancelled(error)
        if gone:
            msg = (
                f"The Dask scheduler at {address} went away during the run "
                f"({type(error).__name__}: {error}); the run stops. Start the "
                "cluster again and resume the run from its run store "
                "(fiscus runs resume RUN_ID --dask ADDRESS)"
            )
            return ClusterError(msg, address=address, retryable=False)
        msg = (
            f"The Dask cluster at {address} failed a batch of {calls} task "
            f"call(s): {type(error).__name__}: {error}"
        )
        return ClusterError(msg, address=address, retryable=False)


def _cancelled(error: BaseException) -> bool:
    name = type(error).__name__
    return "Cancelled" in name or isinstance(error, asyncio.CancelledError)


def check_reference(task: Task[..., Any], workflow: str, node_id: str) -> None:
    """Raise ``PlanShippingError`` unless ``task`` is importable by its name.

    A worker imports ``module`` and looks ``qualname`` up in it: that must
    give this very task, so a closure, a lambda, a task defined in the
    script being run (``__main__``) or one not kept under its own name
    cannot be shipped.
    """
    function = task.__wrapped__
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", "")
    problem = None
    if module is None or not qualname:
        problem = "has no module and name to be imported by"
    elif "<lambda>" in qualname or "<locals>" in qualname:
        problem = f"is defined inside a function ({qualname})"
    elif module == "__main__":
        problem = (
            "is defined in the script being run (__main__), which workers cannot import"
        )
    else:
        from fiscus_dsl._dsl.task import _resolve_task

        try:
            found = _resolve_task(module, qualname)
        except (ImportError, AttributeError):
            found = None
        if found is not task:
            problem = f"is not what {module}.{qualname} names"
    if problem is None:
        return
    msg = (
        f"Cannot ship task {node_id!r} of workflow {workflow!r} to Dask workers: "
        f"it {problem}; define it at module level in a module the workers can "
        "import (the same code installed where they run)"
    )
    raise PlanShippingError(msg, workflow=workflow)


def _ship(
    task: Task[..., Any], args: Sequence[object], kwargs: Mapping[str, object]
) -> bytes:
    """Pickle one attempt of ``task`` with its ids and trace context."""
    attempt = current_attempt()
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)  # the task span, current here
    name = task.name
    call = ShippedCall(
        task=task,
        args=tuple(args),
        kwargs=dict(kwargs),
        run_id="" if attempt is None else attempt.run_id,
        workflow="" if attempt is None else attempt.workflow,
        task_id=name if attempt is None else attempt.task_id,
        task_name=name,
        attempt=1 if attempt is None else attempt.number,
        timeout=task.options.timeout,
        carrier=carrier,
    )
    try:
        return pickle.dumps(call, protocol=_PROTOCOL)
    # Pickling user values may raise anything: the task fails, nothing is sent.
    except Exception as exc:
        workflow = call.workflow or name
        msg = (
            f"Task {call.task_id!r} of workflow {workflow!r}: its arguments cannot "
            f"be sent to Dask workers ({type(exc).__name__}: {exc}); nothing was "
            "sent. Pass data that pickles; make credentials on the workers "
            "(Secret.from_env reads the worker's environment)"
        )
        raise PlanShippingError(msg, workflow=workflow) from None
