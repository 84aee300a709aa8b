"""``fiscus run`` and ``fiscus runs resume`` with ``--dask ADDRESS``.

``local:2`` starts a ``LocalCluster`` of two worker processes for the
command, which inherit ``sys.path`` and so import the test's file. The
remote case is a ``LocalCluster`` started once for the module, before any
test wrote its file: its workers import the file only because the command
uploads it. Each task returns its process id, which must not be this one.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any

import dask
import pytest
from loopback import free_port

from fiscus_dsl import task, workflow
from fiscus_dsl._cli.cluster import workflow_file

from .conftest import one_error_line

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from .conftest import Cli

    Write = Callable[[str, str], Path]

PIDS = """
import os

from fiscus_dsl import task, workflow


@task
def where(n: int) -> dict[str, int]:
    return {"n": n, "pid": os.getpid()}


@workflow
def spread() -> list[dict[str, int]]:
    return [where(1), where(2)]
"""
"""Two tasks, each returning its input and the id of the process it ran in."""

PIPELINE = """
import os
from pathlib import Path

from fiscus_dsl import task, workflow

FOLDER = Path(__file__).parent


@task
def fetch(n: int) -> int:
    with (FOLDER / "calls.log").open("a") as log:
        log.write("fetch\\n")
    return n * 2


@task
def save(value: int) -> dict[str, int]:
    if (FOLDER / "marker").exists():
        raise RuntimeError("the marker file exists; remove it")
    return {"value": value, "pid": os.getpid()}


@workflow
def pipeline(n: int) -> dict[str, int]:
    return save(fetch(n))
"""
"""``fetch`` (noted in ``calls.log``), then ``save``, failing while ``marker`` is."""

RUN_ID = re.compile(r"^Run id ([0-9a-f]{32}), recorded in ", re.MULTILINE)


@task
def noop() -> int:
    return 0


@workflow
def packaged() -> int:
    return noop()


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """Return the address of a cluster whose workers started before any test file."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def short_connect() -> Iterator[None]:
    """Give up connecting to a scheduler after 2 s, not Dask's 30 s."""
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        yield


def output(stdout: str) -> Any:
    """Return the JSON ``report`` prints between ``Output:`` and the summary."""
    text = stdout.split("Output:\n", 1)[1].split("\nRun succeeded in ", 1)[0]
    return json.loads(text)


def run_id_of(stdout: str) -> str:
    found = RUN_ID.search(stdout)
    assert found is not None, stdout
    return found.group(1)


# ---------------------------------------------------------------- bad usage


@pytest.mark.parametrize("address", ["local:0", "local:x"])
def test_a_bad_local_cluster_is_bad_usage(cli: Cli, write: Write, address: str) -> None:
    path = write("dask_bad.py", PIDS)

    result = cli("run", f"{path}:spread", "--dask", address)

    assert result.exit_code == 2, result.output
    assert one_error_line(result) == (
        f"fiscus: error: --dask {address!r} names no Dask cluster; give 'local', "
        "'local:N' for N worker processes (such as local:4), or a scheduler's "
        "address such as tcp://10.0.0.5:8786"
    )


def test_dask_without_distributed_installed_says_how_to_install_it(
    cli: Cli, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write("dask_missing.py", PIDS)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails

    result = cli("run", f"{path}:spread", "--dask", "local")

    assert result.exit_code == 2, result.output
    assert one_error_line(result) == (
        "fiscus: error: DaskExecutor needs Dask distributed; install it with "
        "pip install 'fiscus_dsl[dask]'"
    )


def test_an_address_without_a_port_is_bad_usage(cli: Cli, write: Write) -> None:
    path = write("dask_typo.py", PIDS)

    result = cli("run", f"{path}:spread", "--dask", "lcoal")

    assert result.exit_code == 2, result.output
    assert one_error_line(result) == (
        "fiscus: error: DaskExecutor('lcoal') names no Dask scheduler (missing "
        "port number in address 'lcoal'); give an address such as "
        "'tcp://10.0.0.5:8786', or 'local:N'"
    )


@pytest.mark.usefixtures("short_connect")
def test_an_unreachable_scheduler_fails_naming_its_address(
    cli: Cli, write: Write
) -> None:
    path = write("dask_nowhere.py", PIDS)
    address = f"tcp://127.0.0.1:{free_port()}"

    result = cli("run", f"{path}:spread", "--dask", address)

    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert line.startswith(
        f"fiscus: error: Cannot reach the Dask scheduler at {address} ("
    )
    assert line.endswith(
        "start one (`dask scheduler`, then `dask worker ADDRESS`) or check the address"
    )


@pytest.mark.parametrize("address", ["local", "tcp://127.0.0.1:8786"])
def test_a_file_named_unlike_its_module_is_refused_before_connecting(
    cli: Cli, write: Write, address: str
) -> None:
    path = write("dask-dashes.py", PIDS)

    result = cli("run", f"{path}:spread", "--dask", address)

    assert result.exit_code == 2, result.output
    assert one_error_line(result) == (
        f"fiscus: error: --dask: Dask workers import a file by its name, and "
        f"{path} is imported here as module 'dask_dashes' ('dask-dashes' is not "
        "a Python name, or another module has it); rename the file to a Python "
        "name no other module has"
    )


def test_a_workflow_of_a_package_is_not_uploaded() -> None:
    assert workflow_file(packaged) is None  # tests.cli.test_run_dask: installed


# ---------------------------------------------------------------- local


def test_run_on_a_local_cluster_runs_the_tasks_in_worker_processes(
    cli: Cli, write: Write
) -> None:
    path = write("dask_local.py", PIDS)

    result = cli("run", f"{path}:spread", "--dask", "local:2")

    assert result.exit_code == 0, result.output
    ran = output(result.stdout)
    assert [item["n"] for item in ran] == [1, 2]
    assert os.getpid() not in {item["pid"] for item in ran}


def test_resume_on_a_local_cluster_runs_only_the_tasks_left(
    cli: Cli, write: Write, tmp_path: Path
) -> None:
    path = write("dask_resume.py", PIPELINE)
    (tmp_path / "marker").touch()
    failed = cli("run", f"{path}:pipeline", "-i", "n=21")
    assert failed.exit_code == 1, failed.output
    run_id = run_id_of(failed.stdout)
    (tmp_path / "marker").unlink()
    sys.modules.pop("dask_resume")  # as in a new process: imported from its source

    result = cli("runs", "resume", run_id, "--dask", "local:2")

    assert result.exit_code == 0, result.output
    assert (tmp_path / "calls.log").read_text().split() == ["fetch"]  # served
    saved = output(result.stdout)
    assert saved["value"] == 42
    assert saved["pid"] != os.getpid()
    assert run_id_of(result.stdout) == run_id


# ---------------------------------------------------------------- remote


def test_run_on_a_remote_cluster_uploads_the_file(
    cli: Cli, write: Write, scheduler: str
) -> None:
    path = write("dask_remote.py", PIDS)

    result = cli("run", f"{path}:spread", "--dask", scheduler)

    assert result.exit_code == 0, result.output
    assert os.getpid() not in {item["pid"] for item in output(result.stdout)}


def test_a_file_whose_imports_the_workers_lack_is_refused(
    cli: Cli, write: Write, scheduler: str
) -> None:
    write("dask_neighbour.py", "LIMIT = 2\n")
    path = write("dask_needs.py", "import dask_neighbour\n" + PIDS)

    result = cli("run", f"{path}:spread", "--dask", scheduler)

    assert result.exit_code == 2, result.output
    assert one_error_line(result) == (
        f"fiscus: error: The Dask workers at {scheduler} cannot import {path} "
        "(ModuleNotFoundError: No module named 'dask_neighbour'); install the "
        "file's own imports where the workers run, or give --dask local"
    )


def test_a_second_run_on_a_remote_cluster_runs_the_file_as_edited(
    cli: Cli, write: Write, scheduler: str
) -> None:
    path = write("dask_edited.py", PIDS)
    first = cli("run", f"{path}:spread", "--dask", scheduler)
    write("dask_edited.py", PIDS.replace('"n": n', '"n": n * 10'))

    second = cli("run", f"{path}:spread", "--dask", scheduler)

    assert first.exit_code == second.exit_code == 0, second.output
    assert [item["n"] for item in output(first.stdout)] == [1, 2]
    assert [item["n"] for item in output(second.stdout)] == [10, 20]
