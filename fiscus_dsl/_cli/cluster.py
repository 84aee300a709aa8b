"""``--dask ADDRESS``: run a command's task bodies on a Dask cluster.

``fiscus run`` and ``fiscus runs resume`` take the option. ``on_dask``
makes the ``DaskExecutor`` it names, uploads the workflow's file to the
workers of a remote cluster (a ``local`` one inherits ``sys.path``, so its
workers import the file as this process does), and closes the executor
when the command ends, which stops a local cluster it started. Dask
``distributed`` is imported only when the option is given.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from fiscus_dsl._cli.output import describe, fail
from fiscus_dsl._runtime.dask_executor import DaskExecutor, parse_local
from fiscus_dsl.errors import ConfigurationError, FiscusError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fiscus_dsl._dsl.workflow import Workflow

FORMS: Final = (
    "give 'local', 'local:N' for N worker processes (such as local:4), or a "
    "scheduler's address such as tcp://10.0.0.5:8786"
)

Dask = Annotated[
    str | None,
    typer.Option(
        "--dask",
        metavar="ADDRESS",
        help=(
            "Run the task bodies on a Dask cluster: 'local' or 'local:N' starts "
            "N worker processes (2 by default) and stops them at the end; "
            "tcp://HOST:8786 uses that scheduler's workers, to which the "
            "workflow's file is uploaded (its own imports, fiscus_dsl "
            "included, must be installed there). See docs/distributed.md."
        ),
    ),
]


@contextmanager
def on_dask(
    address: str | None, wf: Workflow[..., Any]
) -> Iterator[DaskExecutor | None]:
    """Yield the executor of ``--dask ADDRESS`` (``None`` without it); close it after.

    A bad ADDRESS, a remote scheduler that cannot be reached, or a file the
    workers cannot import ends the command (exit code 2) before anything
    runs.
    """
    if address is None:
        yield None
        return
    try:
        local = parse_local(address) is not None
        executor = DaskExecutor(address)
    except ConfigurationError as exc:  # local:0, or distributed is not installed
        wrong = f"--dask {address!r} names no Dask cluster; {FORMS}"
        fail(wrong if exc.option == "cluster" else str(exc))
    with executor:
        path = workflow_file(wf)
        if path is not None and not local:
            upload(executor, path, address)
        yield executor


def workflow_file(wf: Workflow[..., Any]) -> Path | None:
    """Return the ``.py`` file of the workflow's module, unless it is a package's.

    A package's modules must be installed on the workers; a top-level
    module (the file ``fiscus run`` or a resume loaded) is uploaded to a
    remote cluster. Either way workers import it by its file's name, which
    must be its name here.
    """
    name = wf.__wrapped__.__module__
    file = getattr(sys.modules.get(name), "__file__", None)
    if "." in name or file is None or Path(file).name == "__init__.py":
        return None
    path = Path(file)
    if path.stem != name:
        fail(
            f"--dask: Dask workers import a file by its name, and {path} is "
            f"imported here as module {name!r} ({path.stem!r} is not a Python "
            "name, or another module has it); rename the file to a Python name "
            "no other module has"
        )
    return path


def upload(executor: DaskExecutor, path: Path, address: str) -> None:
    """Send the file to every worker (those that join later too) and import it."""
    from distributed.diagnostics.plugin import UploadFile

    try:
        client = executor.client
    except FiscusError as exc:  # ClusterError: no scheduler there; or no address
        fail(str(exc))
    try:
        # Only the workers': the scheduler runs no task, so it needs none of
        # the file's imports. One name per file: an upload replaces the last.
        client.register_plugin(UploadFile(str(path)), name=f"fiscus-file-{path.name}")
    # The workers run the file's own code, which may raise anything.
    except Exception as exc:
        fail(
            f"The Dask workers at {address} cannot import {path} "
            f"({describe(exc)}); install the file's own imports where the "
            "workers run, or give --dask local"
        )
