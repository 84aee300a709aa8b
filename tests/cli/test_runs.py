"""``fiscus runs``: list, show, resume and prune the runs of a store.

Runs are recorded for real: by ``fiscus run`` on a workflow file in the
test's directory, by a script run with ``python``, or through the store's
own API (``start_run`` and ``finish_run``) when a test needs a given start
time, status or source. The CLI conftest points ``FISCUS_STORE`` at
``runs.db`` in the test's directory.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fiscus_dsl import Lease, RunRecord, SQLiteRunStore, TaskRecord
from fiscus_dsl._runtime.results import TaskStatus
from fiscus_dsl._runtime.store import LIVE_OWNERS, RUNNING, new_owner

from .conftest import one_error_line, row

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from typer.testing import Result

    from .conftest import Cli

PIPELINE = """
from pathlib import Path

from fiscus_dsl import Retry, task, workflow

FOLDER = Path({folder!r})


def note(name: str) -> None:
    with (FOLDER / "calls.log").open("a") as log:
        log.write(name + "\\n")


@task
def fetch(n: int) -> int:
    note("fetch")
    return n * 2


@task(retry=Retry(attempts=2, backoff=0, jitter=False))
def save(value: int) -> str:
    note("save")
    if (FOLDER / "marker").exists():
        raise RuntimeError("the marker file exists; remove it")
    return f"saved {{value}}"


@workflow
def pipeline(n: int) -> str:
    return save(fetch(n))


if __name__ == "__main__":
    pipeline.run(n=21)
"""
"""``fetch`` then ``save``, which fails (twice: it is retried) while ``marker`` exists.

Every call is noted in ``calls.log`` of ``FOLDER``, wherever the file is.
"""

RUN_ID = re.compile(r"^Run id ([0-9a-f]{32}), recorded in ", re.MULTILINE)
NOW = datetime.now(UTC)


# ---------------------------------------------------------------- helpers


@pytest.fixture
def store_path(recorded_in_the_test: Path) -> Path:
    """Return the store the CLI reads (``FISCUS_STORE``)."""
    return recorded_in_the_test


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.py"
    path.write_text(PIPELINE.format(folder=str(tmp_path)), encoding="utf-8")
    return path


@pytest.fixture
def live_owners() -> Iterator[set[str]]:
    """Owners added here look alive to the store; they are removed afterwards."""
    added: set[str] = set()
    yield added
    LIVE_OWNERS.difference_update(added)


def run_id_of(result: Result) -> str:
    found = RUN_ID.search(result.stdout)
    assert found is not None, result.output
    return found.group(1)


def failed_pipeline_run(cli: Cli, pipeline: Path) -> str:
    """Run the pipeline while ``marker`` exists (it fails); return its run id."""
    (pipeline.parent / "marker").touch()
    result = cli("run", f"{pipeline}:pipeline", "-i", "n=21")
    assert result.exit_code == 1, result.output
    return run_id_of(result)


def calls(folder: Path) -> list[str]:
    return (folder / "calls.log").read_text(encoding="utf-8").split()


def record(
    path: Path,
    run_id: str,
    *,
    workflow: str = "pipeline",
    status: str = "succeeded",
    started: datetime = NOW,
    seconds: float = 1.5,
    tasks: Sequence[TaskRecord] = (),
    source: str | None = None,
    inputs_json: str | None = "{}",
    error: str | None = None,
) -> None:
    """Record a finished run through the store's API."""
    with SQLiteRunStore(path) as store:
        lease = Lease(run_id, new_owner())
        store.start_run(
            RunRecord(
                run_id=run_id,
                workflow=workflow,
                status=RUNNING,
                inputs_json=inputs_json,
                started_at=started,
                source=source,
            ),
            lease,
        )
        store.finish_run(
            lease,
            status=status,
            ended_at=started + timedelta(seconds=seconds),
            error_message=error,
            tasks=tasks,
        )


def hold(path: Path, run_id: str, owners: set[str], *, started: datetime = NOW) -> str:
    """Start a run whose lease this process holds, alive; return its owner."""
    owner = new_owner()
    owners.add(owner)
    LIVE_OWNERS.add(owner)
    with SQLiteRunStore(path) as store:
        store.start_run(
            RunRecord(
                run_id=run_id,
                workflow="pipeline",
                status=RUNNING,
                inputs_json='{"n": 21}',
                started_at=started,
            ),
            Lease(run_id, owner),
        )
    return owner


def stored_ids(path: Path) -> list[str]:
    with SQLiteRunStore(path) as store:
        return [run.run_id for run in store.list_runs()]


def local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def task(
    task_id: str,
    status: TaskStatus = TaskStatus.SUCCEEDED,
    *,
    attempts: int = 1,
    error: tuple[str, str] | None = None,
) -> TaskRecord:
    return TaskRecord(
        task_id=task_id,
        name=task_id,
        status=status,
        value_json="1" if status is TaskStatus.SUCCEEDED else None,
        error_type=None if error is None else error[0],
        error_message=None if error is None else error[1],
        attempts=attempts,
        started_at=NOW,
        ended_at=NOW + timedelta(milliseconds=250),
    )


# ---------------------------------------------------------------- list


def test_list_shows_runs_newest_first_with_start_time_and_task_count(
    cli: Cli, store_path: Path
) -> None:
    older = NOW - timedelta(hours=2)
    record(store_path, "a" * 32, started=older, tasks=[task("one")])
    record(
        store_path,
        "b" * 32,
        workflow="billing",
        status="failed",
        seconds=0.25,
        tasks=[task("one"), task("two", TaskStatus.FAILED)],
    )

    result = cli("runs", "list")

    assert result.exit_code == 0, result.output
    header, newest, oldest = result.stdout.splitlines()
    assert header.split() == [
        "run",
        "id",
        "workflow",
        "status",
        "started",
        "time",
        "tasks",
    ]
    assert newest.split() == [
        "b" * 12,
        "billing",
        "failed",
        *local(NOW).split(),
        "250",
        "ms",
        "2",
    ]
    assert oldest.split() == [
        "a" * 12,
        "pipeline",
        "succeeded",
        *local(older).split(),
        "1.50",
        "s",
        "1",
    ]


def test_list_shows_a_running_run_with_no_time_and_no_end(
    cli: Cli, store_path: Path, live_owners: set[str]
) -> None:
    hold(store_path, "a" * 32, live_owners)

    table = cli("runs", "list", "--status", "running")
    as_json = cli("runs", "list", "--json")

    assert table.stdout.splitlines()[1].split() == [
        "a" * 12,
        "pipeline",
        "running",
        *local(NOW).split(),
        "0",
    ]
    (run,) = json.loads(as_json.stdout)
    assert (run["status"], run["ended_at"], run["duration"]) == ("running", None, None)
    assert run["lease_expires_at"] is not None


def test_list_filters_by_workflow_and_by_status(cli: Cli, store_path: Path) -> None:
    record(store_path, "a" * 32, started=NOW - timedelta(minutes=3))
    record(store_path, "b" * 32, status="failed", started=NOW - timedelta(minutes=2))
    record(store_path, "c" * 32, workflow="billing", started=NOW - timedelta(minutes=1))

    by_workflow = cli("runs", "list", "--workflow", "pipeline", "--json")
    by_status = cli("runs", "list", "--status", "succeeded", "--json")
    both = cli("runs", "list", "--workflow", "pipeline", "--status", "failed", "--json")

    assert [run["run_id"] for run in json.loads(by_workflow.stdout)] == [
        "b" * 32,
        "a" * 32,
    ]
    assert [run["run_id"] for run in json.loads(by_status.stdout)] == [
        "c" * 32,
        "a" * 32,
    ]
    assert [run["run_id"] for run in json.loads(both.stdout)] == ["b" * 32]


def test_list_limit_keeps_the_newest_and_says_more_may_exist(
    cli: Cli, store_path: Path
) -> None:
    for minutes, letter in enumerate("abc"):
        record(store_path, letter * 32, started=NOW + timedelta(minutes=minutes))

    limited = cli("runs", "list", "--limit", "2")
    everything = cli("runs", "list")

    lines = limited.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:3]] == ["c" * 12, "b" * 12]
    assert lines[3:] == ["The newest 2 runs; --limit N shows more"]
    assert len(everything.stdout.splitlines()) == 4  # the header and three runs


def test_list_refuses_a_limit_below_one(cli: Cli) -> None:
    result = cli("runs", "list", "--limit", "0")

    assert result.exit_code == 2
    assert (
        one_error_line(result)
        == "fiscus: error: --limit 0 shows no run; give 1 or more"
    )


def test_list_json_is_an_array_of_every_field(cli: Cli, store_path: Path) -> None:
    record(
        store_path,
        "a" * 32,
        status="failed",
        tasks=[task("one")],
        source="pipeline:pipeline",
        inputs_json='{"n": 21}',
        error="Task 'one' failed",
    )

    result = cli("runs", "list", "--json")

    (run,) = json.loads(result.stdout)
    owner = run.pop("owner")
    assert owner.split(":")[1] == str(os.getpid())  # the last owner of its lease
    assert run == {
        "run_id": "a" * 32,
        "workflow": "pipeline",
        "status": "failed",
        "started_at": NOW.isoformat(),
        "ended_at": (NOW + timedelta(seconds=1.5)).isoformat(),
        "duration": 1.5,
        "error_message": "Task 'one' failed",
        "source": "pipeline:pipeline",
        "lease_expires_at": None,
        "task_count": 1,
        "inputs": {"n": 21},
    }


def test_list_of_an_empty_store_says_so_and_names_the_store(
    cli: Cli, store_path: Path
) -> None:
    plain = cli("runs", "list")
    filtered = cli("runs", "list", "--workflow", "billing", "--status", "failed")
    as_json = cli("runs", "list", "--json")

    store = f"SQLiteRunStore('{store_path}')"
    assert plain.exit_code == 0
    assert plain.stdout == f"No runs in {store}\n"
    assert filtered.stdout == f"No failed runs of workflow 'billing' in {store}\n"
    assert json.loads(as_json.stdout) == []


def test_list_refuses_an_unknown_status_naming_the_statuses(cli: Cli) -> None:
    result = cli("runs", "list", "--status", "done")

    assert result.exit_code == 2
    assert one_error_line(result) == (
        "fiscus: error: Unknown --status 'done'; use one of running, "
        "interrupted, succeeded, failed"
    )


def test_store_reads_the_store_the_url_names(
    cli: Cli, store_path: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.db"
    record(other, "a" * 32)
    record(store_path, "b" * 32)

    result = cli("runs", "list", "--store", f"sqlite:///{other}", "--json")

    assert [run["run_id"] for run in json.loads(result.stdout)] == ["a" * 32]


def test_list_without_a_store_reads_dot_fiscus_in_the_working_directory(
    cli: Cli, pipeline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FISCUS_STORE")
    monkeypatch.chdir(tmp_path)
    ran = cli("run", f"{pipeline}:pipeline", "-i", "n=1")

    result = cli("runs", "list", "--json")

    assert [run["run_id"] for run in json.loads(result.stdout)] == [run_id_of(ran)]


@pytest.mark.parametrize(
    "command", [["list"], ["show", "abcd"], ["prune", "--older-than", "1d", "--yes"]]
)
def test_reading_a_folder_without_runs_says_so_and_leaves_no_file(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.delenv("FISCUS_STORE")
    monkeypatch.chdir(tmp_path)

    result = cli("runs", *command)

    assert result.exit_code == 2
    assert one_error_line(result) == (
        "fiscus: error: No runs recorded here: .fiscus/runs.db does not exist in "
        f"{tmp_path} (fiscus run records there); run this from the folder the "
        "runs started in, or name their store with --store URL or FISCUS_STORE"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_bad_store_url_is_one_error_line(cli: Cli) -> None:
    result = cli("runs", "list", "--store", "mysql://db/runs")

    assert result.exit_code == 2
    assert "--store='mysql://db/runs' is not a run store URL" in one_error_line(result)


def test_a_file_that_is_no_database_is_one_error_line(cli: Cli, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("not a database " * 100, encoding="utf-8")

    result = cli("runs", "list", "--store", f"sqlite:///{junk}")

    assert result.exit_code == 2
    assert "could not open the file" in one_error_line(result)


# ---------------------------------------------------------------- show


def test_show_prints_the_run_and_its_tasks_like_fiscus_run(
    cli: Cli, pipeline: Path, store_path: Path
) -> None:
    run_id = failed_pipeline_run(cli, pipeline)

    result = cli("runs", "show", run_id)

    assert result.exit_code == 0, result.output
    with SQLiteRunStore(store_path) as store:
        run = store.load_run(run_id)
    assert run is not None
    assert run.ended_at is not None
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        f"run       {run_id}",
        "workflow  pipeline",
        "status    failed",
        f"started   {local(run.started_at)}",
    ]
    assert lines[4].startswith(f"ended     {local(run.ended_at)} (")
    assert lines[5:9] == [
        "error     Task 'save' in workflow 'pipeline' failed: RuntimeError: the "
        "marker file exists; remove it",
        f"source    {pipeline}:pipeline",
        'inputs    {"n":21}',
        f"store     SQLiteRunStore('{store_path}')",
    ]
    assert row(result.stdout, "task")[:4] == ["task", "status", "attempts", "time"]
    assert row(result.stdout, "fetch")[:3] == ["fetch", "succeeded", "1"]
    save = row(result.stdout, "save")
    assert save[:3] == ["save", "failed", "2"]
    assert "RuntimeError: the marker file exists; remove it" in " ".join(save)
    assert lines[-1] == f"Resume it with: fiscus runs resume {run_id}"


def test_show_says_which_attempt_a_retried_task_succeeded_on(
    cli: Cli, flow: Path
) -> None:
    run_id = run_id_of(cli("run", f"{flow}:hello", "-i", "name=Ada"))

    result = cli("runs", "show", run_id)

    assert row(result.stdout, "double")[:3] == ["double", "succeeded", "2"]
    assert "succeeded on attempt 2" in result.stdout
    assert row(result.stdout, "greet")[:3] == ["greet", "succeeded", "1"]
    assert "Resume it with" not in result.stdout
    assert "error " not in result.stdout


def test_show_says_why_a_task_was_skipped_as_fiscus_run_does(
    cli: Cli, tmp_path: Path
) -> None:
    flow = tmp_path / "tolerant.py"
    flow.write_text(
        "from fiscus_dsl import task, workflow\n\n\n"
        "@task(on_error='continue')\n"
        "def lookup(name: str) -> str:\n"
        "    raise LookupError(name)\n\n\n"
        "@task\n"
        "def greet(found: str) -> str:\n"
        "    return found\n\n\n"
        "@workflow\n"
        "def tolerant(name: str) -> str:\n"
        "    greet(lookup(name))\n"
        "    return name\n",
        encoding="utf-8",
    )
    ran = cli("run", f"{flow}:tolerant", "-i", "name=Ada")

    result = cli("runs", "show", run_id_of(ran))

    assert row(result.stdout, "greet")[:2] == ["greet", "skipped"]
    assert "needs the value of 'lookup', which failed" in result.stdout


def test_show_takes_a_unique_prefix_of_the_run_id(cli: Cli, store_path: Path) -> None:
    record(store_path, "abcd" + "1" * 28)
    record(store_path, "abce" + "2" * 28)

    result = cli("runs", "show", "abcd")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "run       abcd" + "1" * 28


def test_show_refuses_an_ambiguous_prefix_naming_the_runs(
    cli: Cli, store_path: Path
) -> None:
    record(store_path, "abcd" + "1" * 28)
    record(store_path, "abcd" + "2" * 28)

    result = cli("runs", "show", "abcd")

    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"fiscus: error: Run id prefix 'abcd' fits 2 runs in "
        f"SQLiteRunStore('{store_path}') (abcd{'2' * 28}, abcd{'1' * 28}); give "
        "more of the run id"
    )


def test_an_ambiguous_prefix_names_five_runs_at_most(
    cli: Cli, store_path: Path
) -> None:
    for digit in "123456":
        record(store_path, "abcd" + digit * 28)

    result = cli("runs", "show", "abcd")

    assert "fits 6 runs" in one_error_line(result)
    assert "abcd" + "1" * 28 not in result.stderr  # the oldest is left out
    assert ", ...); give more of the run id" in result.stderr


def test_show_of_an_unknown_run_names_the_store_and_fiscus_runs_list(
    cli: Cli, store_path: Path
) -> None:
    record(store_path, "a" * 32)

    result = cli("runs", "show", "f" * 32)

    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"fiscus: error: No run '{'f' * 32}' in SQLiteRunStore('{store_path}'); "
        "`fiscus runs list` shows its runs"
    )


def test_a_prefix_shorter_than_four_characters_is_no_prefix(
    cli: Cli, store_path: Path
) -> None:
    record(store_path, "a" * 32)

    result = cli("runs", "show", "aaa")

    assert result.exit_code == 2
    assert one_error_line(result).endswith(
        "`fiscus runs list` shows its runs; a prefix needs 4 characters or more"
    )


def test_show_json_has_the_run_and_its_tasks_with_values_and_errors(
    cli: Cli, pipeline: Path
) -> None:
    run_id = failed_pipeline_run(cli, pipeline)

    result = cli("runs", "show", run_id[:8], "--json")

    data = json.loads(result.stdout)
    assert data["run_id"] == run_id
    assert data["status"] == "failed"
    assert data["inputs"] == {"n": 21}
    fetch, save = data["tasks"]
    assert {key: fetch[key] for key in ("task_id", "status", "attempts", "value")} == {
        "task_id": "fetch",
        "status": "succeeded",
        "attempts": 1,
        "value": 42,
    }
    assert fetch["duration"] >= 0
    assert {key: save[key] for key in ("status", "attempts", "error_type")} == {
        "status": "failed",
        "attempts": 2,
        "error_type": "RuntimeError",
    }
    assert save["error_message"] == "the marker file exists; remove it"
    assert save["value"] is None


def test_show_of_a_running_run_names_its_owner_and_offers_no_resume(
    cli: Cli, store_path: Path, live_owners: set[str]
) -> None:
    owner = hold(store_path, "a" * 32, live_owners)

    result = cli("runs", "show", "a" * 32)

    lines = result.stdout.splitlines()
    assert "status    running" in lines
    assert not any(line.startswith("ended") for line in lines)
    (owned,) = [line for line in lines if line.startswith("owner")]
    assert re.fullmatch(
        rf"owner     {re.escape(owner)} \(its lease lapses in \d+ s unless renewed\)",
        owned,
    )
    assert "Resume it with" not in result.stdout


def test_show_of_a_run_without_tasks_source_or_inputs_says_so(
    cli: Cli, store_path: Path
) -> None:
    record(store_path, "a" * 32, status="failed", inputs_json=None, error="boom")

    result = cli("runs", "show", "a" * 32)

    lines = result.stdout.splitlines()
    assert "source    not recorded" in lines
    assert "inputs    not stored" in lines
    assert "task" not in result.stdout.split()  # no table
    assert lines[-1] == f"Resume it with: fiscus runs resume {'a' * 32}"


def test_show_cuts_long_errors_and_inputs_unless_full(
    cli: Cli, store_path: Path
) -> None:
    long_input = "x" * 300
    record(
        store_path,
        "a" * 32,
        status="failed",
        inputs_json=json.dumps({"text": long_input}),
        error="E" * 300,
        tasks=[task("one", TaskStatus.FAILED, error=("ValueError", "V" * 300))],
    )

    cut = cli("runs", "show", "a" * 32)
    full = cli("runs", "show", "a" * 32, "--full")

    assert "E" * 239 + "…" in cut.stdout
    assert "E" * 300 not in cut.stdout
    assert "E" * 300 in full.stdout
    assert long_input not in cut.stdout
    assert long_input in full.stdout
    assert "V" * 300 not in "".join(cut.stdout.split())
    assert "V" * 300 in "".join(full.stdout.split())  # the detail wraps


# ---------------------------------------------------------------- resume


def test_resume_serves_the_tasks_that_succeeded_and_runs_the_rest(
    cli: Cli,
    pipeline: Path,
    store_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_id = failed_pipeline_run(cli, pipeline)
    (tmp_path / "marker").unlink()
    sys.modules.pop("pipeline")  # as in a new process: imported from its source
    monkeypatch.chdir(tmp_path)

    result = cli("runs", "resume", run_id[:10])

    assert result.exit_code == 0, result.output
    assert calls(tmp_path) == ["fetch", "save", "save", "save"]  # fetch ran once
    fetch = row(result.stdout, "fetch")
    assert fetch[:3] == ["fetch", "succeeded", "1"]
    assert "resumed from the run store" in " ".join(fetch)
    assert row(result.stdout, "save")[:3] == ["save", "succeeded", "1"]
    assert '"saved 42"' in result.stdout
    *_, summary, recorded = result.stdout.splitlines()
    assert summary.startswith("Run succeeded in ")
    assert recorded == f"Run id {run_id}, recorded in SQLiteRunStore('{store_path}')"
    with SQLiteRunStore(store_path) as store:
        resumed = store.load_run(run_id)
    assert resumed is not None
    assert resumed.status == "succeeded"
    assert resumed.tasks["save"].value == "saved 42"


def test_resume_imports_a_script_recorded_by_its_path(
    cli: Cli,
    pipeline: Path,
    store_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "marker").touch()
    script = subprocess.run(
        [sys.executable, pipeline.name],
        cwd=tmp_path,
        env={**os.environ, "FISCUS_STORE": f"sqlite:///{store_path}"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert script.returncode == 0, script.stderr  # a failed run does not raise
    (run,) = json.loads(cli("runs", "list", "--json").stdout)
    assert run["source"] == "pipeline.py:pipeline"
    (tmp_path / "marker").unlink()
    monkeypatch.chdir(tmp_path)

    result = cli("runs", "resume", run["run_id"])

    assert result.exit_code == 0, result.output
    assert calls(tmp_path) == ["fetch", "save", "save", "save"]


def test_resume_takes_the_workflow_from_a_target_when_its_file_moved(
    cli: Cli, pipeline: Path, tmp_path: Path
) -> None:
    run_id = failed_pipeline_run(cli, pipeline)
    (tmp_path / "marker").unlink()
    moved = tmp_path / "moved"
    moved.mkdir()
    pipeline.rename(moved / "pipeline.py")
    sys.modules.pop("pipeline")
    importlib.invalidate_caches()  # this process listed the folder before

    lost = cli("runs", "resume", run_id)
    found = cli("runs", "resume", run_id, f"{moved / 'pipeline.py'}:pipeline")

    assert lost.exit_code == 2
    assert one_error_line(lost) == (
        f"fiscus: error: The run's workflow was recorded in {pipeline}, which is "
        f"not there from {Path.cwd()} (moved, or recorded from another folder); "
        "run this from that folder, or name its file: fiscus runs resume "
        f"{run_id} FILE.py:pipeline"
    )
    assert found.exit_code == 0, found.output
    assert calls(tmp_path) == ["fetch", "save", "save", "save"]


def test_resume_of_a_changed_workflow_needs_force(
    cli: Cli, pipeline: Path, tmp_path: Path
) -> None:
    run_id = failed_pipeline_run(cli, pipeline)
    (tmp_path / "marker").unlink()
    pipeline.write_text(
        pipeline.read_text(encoding="utf-8").replace("fetch", "load"), encoding="utf-8"
    )

    refused = cli("runs", "resume", run_id, f"{pipeline}:pipeline")
    forced = cli("runs", "resume", run_id, f"{pipeline}:pipeline", "--force")

    assert refused.exit_code == 2
    assert one_error_line(refused).startswith(
        f"fiscus: error: Workflow 'pipeline' has no task 'fetch', which run "
        f"{run_id!r} recorded"
    )
    assert refused.stdout == ""  # no table: nothing ran
    assert forced.exit_code == 0, forced.output
    assert calls(tmp_path) == ["fetch", "save", "save", "load", "save"]


def test_resume_of_a_run_held_by_a_live_process_exits_3(
    cli: Cli, pipeline: Path, store_path: Path, live_owners: set[str]
) -> None:
    owner = hold(store_path, "a" * 32, live_owners)

    result = cli("runs", "resume", "a" * 32, f"{pipeline}:pipeline")

    assert result.exit_code == 3
    line = one_error_line(result)
    assert line.startswith(
        f"fiscus: error: Run '{'a' * 32}' in SQLiteRunStore('{store_path}') is "
        f"locked: {owner} holds its lease (it lapses in "
    )
    assert line.endswith(
        "wait for it to end, or resume the run once `fiscus runs list` shows it "
        "as interrupted"
    )
    assert result.stdout == ""
    assert not (pipeline.parent / "calls.log").exists()


def test_resume_that_fails_again_exits_1_and_keeps_the_run_id(
    cli: Cli, pipeline: Path, tmp_path: Path
) -> None:
    run_id = failed_pipeline_run(cli, pipeline)

    result = cli("runs", "resume", run_id, str(pipeline))

    assert result.exit_code == 1
    assert row(result.stdout, "save")[:2] == ["save", "failed"]
    assert run_id_of(result) == run_id
    assert one_error_line(result).startswith("fiscus: error: The run failed: ")
    assert calls(tmp_path).count("fetch") == 1


def test_resume_with_another_workflow_says_whose_run_it_is(
    cli: Cli, pipeline: Path, flow: Path
) -> None:
    run_id = failed_pipeline_run(cli, pipeline)

    result = cli("runs", "resume", run_id, f"{flow}:hello")

    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"fiscus: error: Run {run_id!r} is a run of workflow 'pipeline', not "
        "'hello'; resume it with workflow 'pipeline'"
    )


def test_resume_of_a_run_without_a_source_asks_for_the_file(
    cli: Cli, store_path: Path
) -> None:
    record(store_path, "a" * 32, status="failed")

    result = cli("runs", "resume", "a" * 32)

    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"fiscus: error: Run {'a' * 32!r} of workflow 'pipeline' recorded no "
        "source (its workflow was not defined at a module's top level); name "
        f"its file: fiscus runs resume {'a' * 32} FILE.py:pipeline"
    )


def test_resume_of_a_recorded_file_that_is_gone_asks_for_the_file(
    cli: Cli, store_path: Path
) -> None:
    record(store_path, "a" * 32, status="failed", source="gone/pipeline.py:pipeline")

    result = cli("runs", "resume", "a" * 32)

    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith(
        "fiscus: error: The run's workflow was recorded in gone/pipeline.py, "
        f"which is not there from {Path.cwd()} (moved, or recorded from another "
        "folder)"
    )
    assert line.endswith(f"fiscus runs resume {'a' * 32} FILE.py:pipeline")


@pytest.mark.parametrize("source", ["pipeline:missing", "pipeline:fetch"])
def test_resume_of_a_source_that_is_no_workflow_asks_for_the_file(
    cli: Cli,
    pipeline: Path,
    store_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    record(store_path, "a" * 32, status="failed", source=source)
    monkeypatch.chdir(tmp_path)

    result = cli("runs", "resume", "a" * 32)

    name = source.partition(":")[2]
    assert result.exit_code == 2
    assert one_error_line(result).startswith(
        f"fiscus: error: pipeline has no workflow {name!r} (recorded as {source}); "
        "name its file"
    )


def test_resume_reports_a_recorded_module_that_raises_on_import(
    cli: Cli, store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "raising.py").write_text("raise ValueError('no config')\n")
    record(store_path, "a" * 32, status="failed", source="raising:flow")
    monkeypatch.chdir(folder)  # not on sys.path yet: the command puts it there

    result = cli("runs", "resume", "a" * 32)

    assert result.exit_code == 2
    assert one_error_line(result).startswith(
        "fiscus: error: Cannot import module 'raising', where the run's workflow "
        "was recorded (raising:flow): ValueError: no config;"
    )


def test_resume_reports_a_recorded_file_that_raises_on_import(
    cli: Cli, store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "raising.py").write_text("raise ValueError('no config')\n")
    record(store_path, "a" * 32, status="failed", source="raising.py:flow")
    monkeypatch.chdir(tmp_path)

    result = cli("runs", "resume", "a" * 32)

    assert result.exit_code == 2
    assert one_error_line(result) == (
        "fiscus: error: Cannot import raising.py: ValueError: no config (raising.py:1)"
    )


# ---------------------------------------------------------------- prune


def _aged(store_path: Path) -> None:
    """Record runs started 40 days, 100 minutes and 1 minute ago."""
    record(store_path, "a" * 32, started=NOW - timedelta(days=40))
    record(store_path, "b" * 32, started=NOW - timedelta(minutes=100))
    record(store_path, "c" * 32, started=NOW - timedelta(minutes=1))


def test_prune_deletes_the_runs_started_before_the_age(
    cli: Cli, store_path: Path
) -> None:
    _aged(store_path)

    result = cli("runs", "prune", "--older-than", "30d", "--yes")

    assert result.exit_code == 0, result.output
    store = re.escape(f"SQLiteRunStore('{store_path}')")
    assert re.fullmatch(
        rf"Deleted 1 run started before [0-9: -]+ from {store}\n", result.stdout
    )
    assert stored_ids(store_path) == ["c" * 32, "b" * 32]


@pytest.mark.parametrize(
    ("age", "count"),
    [("90m", 2), ("2h", 1), ("12H", 1), ("30d", 1), ("2w", 1), ("6w", 0), ("0m", 3)],
)
def test_prune_dry_run_counts_without_deleting(
    cli: Cli, store_path: Path, age: str, count: int
) -> None:
    _aged(store_path)

    result = cli("runs", "prune", "--older-than", age, "--dry-run")

    assert result.exit_code == 0, result.output
    noun = "run" if count == 1 else "runs"
    assert result.stdout.startswith(f"Would delete {count} {noun} started before ")
    assert len(stored_ids(store_path)) == 3


def test_prune_asks_first_and_deletes_on_yes(cli: Cli, store_path: Path) -> None:
    _aged(store_path)

    result = cli("runs", "prune", "--older-than", "90m", stdin="y\n")

    assert result.exit_code == 0, result.output
    assert "Delete 2 runs started before " in result.stdout
    assert "Deleted 2 runs started before " in result.stdout
    assert stored_ids(store_path) == ["c" * 32]


def test_prune_asks_first_and_deletes_nothing_on_no(cli: Cli, store_path: Path) -> None:
    _aged(store_path)

    result = cli("runs", "prune", "--older-than", "90m", stdin="n\n")

    assert result.exit_code == 1
    assert "Aborted" in result.output
    assert len(stored_ids(store_path)) == 3


def test_prune_with_nothing_old_enough_asks_nothing(cli: Cli, store_path: Path) -> None:
    _aged(store_path)

    result = cli("runs", "prune", "--older-than", "6w")

    assert result.exit_code == 0
    assert result.stdout.startswith("No runs started before ")
    assert result.stdout.endswith(": nothing to delete\n")


def test_prune_keeps_an_old_run_that_is_still_running(
    cli: Cli, store_path: Path, live_owners: set[str]
) -> None:
    _aged(store_path)
    hold(store_path, "d" * 32, live_owners, started=NOW - timedelta(days=50))

    dry = cli("runs", "prune", "--older-than", "30d", "--dry-run")
    done = cli("runs", "prune", "--older-than", "30d", "--yes")

    assert dry.stdout.startswith("Would delete 1 run ")
    assert done.stdout.startswith("Deleted 1 run ")
    assert "d" * 32 in stored_ids(store_path)


@pytest.mark.parametrize("age", ["30", "d", "30 days", "-3d", "1.5h", "30s", ""])
def test_prune_refuses_an_age_it_cannot_read(cli: Cli, age: str) -> None:
    result = cli("runs", "prune", "--older-than", age, "--yes")

    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"fiscus: error: --older-than {age!r} is not an age; write a whole number "
        "and a unit: 90m (minutes), 12h (hours), 30d (days) or 2w (weeks)"
    )


@pytest.mark.parametrize("age", ["99999999w", "9" * 30 + "m"])
def test_prune_refuses_an_age_before_the_year_one(cli: Cli, age: str) -> None:
    result = cli("runs", "prune", "--older-than", age, "--dry-run")

    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"fiscus: error: --older-than {age!r} reaches before the year 1; give a "
        "smaller age"
    )


def test_prune_refuses_yes_with_dry_run(cli: Cli, store_path: Path) -> None:
    _aged(store_path)

    result = cli("runs", "prune", "--older-than", "1m", "--yes", "--dry-run")

    assert result.exit_code == 2
    assert one_error_line(result) == "fiscus: error: Give --yes or --dry-run, not both"
    assert len(stored_ids(store_path)) == 3


def test_prune_needs_older_than(cli: Cli) -> None:
    result = cli("runs", "prune", "--yes")

    assert result.exit_code == 2
    assert "--older-than" in result.output


def test_runs_without_a_command_prints_its_commands(cli: Cli) -> None:
    result = cli("runs")

    for command in ("list", "show", "resume", "prune"):
        assert command in result.output
