"""Where task bodies run: in this process (the default) or on a Dask cluster.

``InProcessExecutor`` awaits async bodies on the run's event loop and runs
sync ones in threads. ``DaskExecutor`` (extra ``fiscus_dsl[dask]``) runs
them on the workers of a Dask ``distributed`` cluster, in batches, while
the runner keeps scheduling, hooks, retries, spans and the run store;
``WorkerTracing`` is the worker plugin that sets up OpenTelemetry there.
See docs/distributed.md.

``DaskExecutor`` and ``WorkerTracing`` are imported on first use, so this
module imports without ``distributed`` installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fiscus_dsl._runtime.executor import Executor as Executor
from fiscus_dsl._runtime.executor import InProcessExecutor as InProcessExecutor

if TYPE_CHECKING:
    from fiscus_dsl._runtime.dask_executor import DaskExecutor as DaskExecutor
    from fiscus_dsl._runtime.dask_worker import WorkerTracing as WorkerTracing

__all__ = ["DaskExecutor", "Executor", "InProcessExecutor", "WorkerTracing"]


def __getattr__(name: str) -> object:
    """Import ``DaskExecutor`` and ``WorkerTracing`` when first asked for."""
    if name == "DaskExecutor":
        from fiscus_dsl._runtime.dask_executor import DaskExecutor

        DaskExecutor.__module__ = __name__
        return DaskExecutor
    if name == "WorkerTracing":
        from fiscus_dsl._runtime.dask_executor import _distributed

        _distributed()  # a clear error without the extra
        from fiscus_dsl._runtime.dask_worker import WorkerTracing

        WorkerTracing.__module__ = __name__
        return WorkerTracing
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
