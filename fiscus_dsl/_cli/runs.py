"""``fiscus runs``: list, show, resume and prune the runs a store recorded.

Every command reads the store ``fiscus run`` records in (``cli_store``:
``--store URL``, else ``FISCUS_STORE``, else ``.fiscus/runs.db``) through
the ``RunStore`` protocol only, so any store a URL opens will do. A run id
is given whole or as a unique prefix of at least four characters, as git
takes a commit. ``resume`` imports the workflow where the run recorded it
(``module:name`` with the current directory on ``sys.path``, or
``path/file.py:name`` by path), or where ``FILE.py[:WORKFLOW]`` says, and
runs it with ``fiscus run``'s live table (on a Dask cluster with
``--dask``). Exit codes: 0; 1 the resumed run failed; 2 bad usage (an
unknown run id, a run that cannot be resumed); 3 another live process
holds the run (``RunLocked``).
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer
from rich.table import Table
from rich.text import Text

from fiscus_dsl._cli.cluster import Dask, on_dask
from fiscus_dsl._cli.loading import find_workflow, load
from fiscus_dsl._cli.output import (
    FAILED,
    STYLES,
    describe,
    duration,
    fail,
    new_console,
    one_line,
    plural,
    shorten,
)
from fiscus_dsl._cli.stores import CLI_STORE, cli_store
from fiscus_dsl._cli.table import TaskRow, report, run_live, task_table
from fiscus_dsl._dsl.workflow import Workflow
from fiscus_dsl._runtime.journal import plan_resume
from fiscus_dsl._runtime.results import TaskStatus
from fiscus_dsl._runtime.store import RUN_STATUSES, RUNNING, locked
from fiscus_dsl.errors import FiscusError, RunLocked

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType

    from fiscus_dsl._runtime.store import RunRecord, RunStore, TaskRecord

LOCKED: Final = 3
"""Exit code of ``fiscus runs resume`` when another live process holds the run."""

PREFIX: Final = 4
"""The fewest characters of a run id prefix."""

SHORT_ID: Final = 12
"""How many characters of each run id ``fiscus runs list`` shows (a prefix)."""

_AGE: Final = re.compile(r"(\d+)\s*([mhdw])")
_UNIT_SECONDS: Final = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_TIME: Final = "%Y-%m-%d %H:%M:%S"
_SHOWN_MATCHES: Final = 5

runs_app = typer.Typer(
    help="List, show, resume and prune the runs a store recorded.",
    no_args_is_help=True,
)

StoreUrl = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URL",
        help=(
            "The store to read (sqlite:///PATH or postgresql://...); by "
            f"default FISCUS_STORE, else {CLI_STORE}, as for fiscus run."
        ),
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON only.")]
RunId = Annotated[
    str,
    typer.Argument(
        metavar="RUN_ID",
        help="The run id, or a unique prefix of it (4 characters or more).",
    ),
]
Full = Annotated[
    bool,
    typer.Option(
        "--full", help="Show each task's detail in full, not cut at 240 characters."
    ),
]


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """End the command with the error's message: exit 3 if locked, else 2."""
    try:
        yield
    except RunLocked as exc:
        fail(str(exc), LOCKED)
    except FiscusError as exc:  # ConfigurationError, RunStoreError, ResumeError
        fail(str(exc))


# ---------------------------------------------------------------- list


@runs_app.command("list")
def list_command(
    *,
    workflow: Annotated[
        str | None,
        typer.Option("--workflow", metavar="NAME", help="Only the runs of NAME."),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help=f"Only the runs of this status: {', '.join(RUN_STATUSES)}.",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", help="At most N runs.")
    ] = 20,
    store_url: StoreUrl = None,
    as_json: AsJson = False,
) -> None:
    """List the recorded runs, newest first (--json: a JSON array).

    The table shows the first 12 characters of each run id, a prefix that
    show and resume take; --json has the whole ids.
    """
    if status is not None and status not in RUN_STATUSES:
        fail(f"Unknown --status {status!r}; use one of {', '.join(RUN_STATUSES)}")
    if limit < 1:
        fail(f"--limit {limit} shows no run; give 1 or more")
    with _one_line_errors():
        store = cli_store(store_url, create=False)
        runs = store.list_runs(workflow=workflow, status=status, limit=limit)
    if as_json:
        typer.echo(json.dumps([run_json(run) for run in runs], indent=2))
        return
    if not runs:
        of = "" if workflow is None else f" of workflow {workflow!r}"
        shown = "" if status is None else f" {status}"
        typer.echo(f"No{shown} runs{of} in {store!r}")
        return
    new_console().print(_runs_table(runs))
    if len(runs) == limit:
        typer.echo(f"The newest {limit} runs; --limit N shows more")


def _runs_table(runs: list[RunRecord]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("run id", no_wrap=True)
    table.add_column("workflow", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("tasks", justify="right", no_wrap=True)
    for run in runs:
        table.add_row(
            run.run_id[:SHORT_ID],
            run.workflow,
            Text(run.status, style=STYLES.get(run.status, "")),
            local_time(run.started_at),
            _run_time(run),
            str(run.task_count),
        )
    return table


def local_time(moment: datetime) -> str:
    """Return a time in the local time zone, to the second."""
    return moment.astimezone().strftime(_TIME)


def _seconds(run: RunRecord) -> float | None:
    """Return how long a run took, from its first start to its last end."""
    if run.ended_at is None:
        return None
    return (run.ended_at - run.started_at).total_seconds()


def _run_time(run: RunRecord) -> str:
    seconds = _seconds(run)
    return "" if seconds is None else duration(seconds)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def run_json(run: RunRecord, *, tasks: bool = False) -> dict[str, object]:
    """Return a run as ``--json`` prints it; with its tasks for ``show``."""
    data: dict[str, object] = {
        "run_id": run.run_id,
        "workflow": run.workflow,
        "status": run.status,
        "started_at": _iso(run.started_at),
        "ended_at": _iso(run.ended_at),
        "duration": _seconds(run),
        "error_message": run.error_message,
        "source": run.source,
        "owner": run.owner,
        "lease_expires_at": _iso(run.lease_expires_at),
        "task_count": run.task_count,
        "inputs": run.inputs,
    }
    if tasks:
        data["tasks"] = [_task_json(task) for task in run.tasks.values()]
    return data


def _task_json(task: TaskRecord) -> dict[str, object]:
    return {
        "task_id": task.task_id,
        "name": task.name,
        "status": task.status.value,
        "attempts": task.attempts,
        "started_at": _iso(task.started_at),
        "ended_at": _iso(task.ended_at),
        "duration": task.duration,
        "error_type": task.error_type,
        "error_message": task.error_message,
        "value": task.value,
    }


# ---------------------------------------------------------------- show


def find_run(store: RunStore, text: str) -> RunRecord:
    """Return the run of an id, or of a unique prefix of one; else fail (exit 2)."""
    run = store.load_run(text)
    if run is not None:
        return run
    runs = store.list_runs() if len(text) >= PREFIX else []
    matches = [each.run_id for each in runs if each.run_id.startswith(text)]
    if len(matches) > 1:
        listed = ", ".join(matches[:_SHOWN_MATCHES])
        more = ", ..." if len(matches) > _SHOWN_MATCHES else ""
        fail(
            f"Run id prefix {text!r} fits {len(matches)} runs in {store!r} "
            f"({listed}{more}); give more of the run id"
        )
    run = store.load_run(matches[0]) if matches else None
    if run is None:
        short = len(text) < PREFIX
        hint = f"; a prefix needs {PREFIX} characters or more" if short else ""
        fail(f"No run {text!r} in {store!r}; `fiscus runs list` shows its runs{hint}")
    return run


@runs_app.command("show")
def show_command(
    run_id: RunId,
    *,
    store_url: StoreUrl = None,
    as_json: AsJson = False,
    full: Full = False,
) -> None:
    """Show a run: how it went, and its tasks as fiscus run's table shows them.

    The table has each task's status, attempts, time, and its error (or
    the attempt it succeeded on).
    """
    with _one_line_errors():
        store = cli_store(store_url, create=False)
        run = find_run(store, run_id)
    if as_json:
        typer.echo(json.dumps(run_json(run, tasks=True), indent=2))
        return
    for label, value in _header(run, store, full=full):
        typer.echo(f"{label:<9} {value}")
    if run.tasks:
        typer.echo("")
        rows = {task.task_id: _task_row(task) for task in run.tasks.values()}
        new_console().print(task_table(rows, now=0.0, full=full))
    if run.status not in {"succeeded", RUNNING}:
        typer.echo(f"\nResume it with: fiscus runs resume {run.run_id}")


def _header(run: RunRecord, store: RunStore, *, full: bool) -> list[tuple[str, str]]:
    lines = [
        ("run", run.run_id),
        ("workflow", run.workflow),
        ("status", run.status),
        ("started", local_time(run.started_at)),
    ]
    if run.ended_at is not None:
        lines.append(("ended", f"{local_time(run.ended_at)} ({_run_time(run)})"))
    if run.error_message is not None:
        error = one_line(run.error_message)
        lines.append(("error", error if full else shorten(error)))
    lines.append(("source", run.source or "not recorded"))
    if run.status == RUNNING:
        lines.append(("owner", f"{run.owner} ({_lease_left(run)})"))
    inputs = "not stored" if run.inputs_json is None else run.inputs_json
    lines.append(("inputs", inputs if full else shorten(inputs)))
    lines.append(("store", repr(store)))
    return lines


def _expires_in(run: RunRecord) -> float | None:
    expires = run.lease_expires_at
    return None if expires is None else (expires - datetime.now(UTC)).total_seconds()


def _lease_left(run: RunRecord) -> str:
    left = _expires_in(run)
    seconds = "?" if left is None else f"{max(left, 0.0):.0f}"
    return f"its lease lapses in {seconds} s unless renewed"


def _task_row(task: TaskRecord) -> TaskRow:
    if task.error_type is not None:
        detail = one_line(f"{task.error_type}: {task.error_message or ''}")
    elif task.reason is not None:  # skipped or not run, and why
        detail = one_line(task.reason)
    elif task.status is TaskStatus.SUCCEEDED and task.attempts > 1:
        detail = f"succeeded on attempt {task.attempts}"
    else:
        detail = ""
    return TaskRow(
        status=task.status.value,
        attempts=task.attempts,
        seconds=task.duration,
        detail=detail,
    )


# ---------------------------------------------------------------- resume


@runs_app.command("resume")
def resume_command(
    run_id: RunId,
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="FILE.py[:WORKFLOW]",
            help="Where the workflow is, when the recorded source is missing or moved.",
        ),
    ] = None,
    *,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help=(
                "Resume even though the workflow no longer has a task the run "
                "recorded: serve the tasks that still match, run the rest."
            ),
        ),
    ] = False,
    full: Full = False,
    store_url: StoreUrl = None,
    dask: Dask = None,
) -> None:
    """Resume a failed or interrupted run: its succeeded tasks are not run again.

    The workflow is imported from where the run recorded it (see
    fiscus runs show), or from FILE.py[:WORKFLOW]; the run keeps its id and
    its stored inputs, and is shown with fiscus run's live table. --dask
    runs the task bodies on a Dask cluster, such as a new one for a run
    whose cluster went away.
    """
    with _one_line_errors():
        store = cli_store(store_url, create=False)
        run = find_run(store, run_id)
        if run.status == RUNNING:  # before importing: RunLocked, as a resume raises
            raise locked(store, run.run_id, run.owner, _expires_in(run))
    wf = recorded_workflow(run) if target is None else find_workflow(target)
    with _one_line_errors():
        resumed = plan_resume(store, wf, run.run_id, force=force)
    with _one_line_errors(), on_dask(dask, wf) as executor:
        result = run_live(
            new_console(),
            wf,
            resumed[1],
            full=full,
            store=store,
            resumed=resumed,
            executor=executor,
        )
        report(result)
        typer.echo(f"Run id {result.run_id}, recorded in {store!r}")
    if not result.success:
        fail(f"The run failed: {result.error_message}", FAILED)


def recorded_workflow(run: RunRecord) -> Workflow[..., Any]:
    """Import the workflow of a run from its recorded source; else fail (exit 2)."""
    retry = f"name its file: fiscus runs resume {run.run_id} FILE.py:{run.workflow}"
    source = run.source
    if source is None:
        fail(
            f"Run {run.run_id!r} of workflow {run.workflow!r} recorded no source "
            f"(its workflow was not defined at a module's top level); {retry}"
        )
    where, _, qualname = source.rpartition(":")
    if where.endswith(".py"):
        module = _file_module(where, retry)
    else:
        module = _named_module(where, source, retry)
    found: object = module
    for name in qualname.split("."):
        found = getattr(found, name, None)
    if not isinstance(found, Workflow):
        fail(f"{where} has no workflow {qualname!r} (recorded as {source}); {retry}")
    return found


def _file_module(where: str, retry: str) -> ModuleType:
    if not Path(where).is_file():
        fail(
            f"The run's workflow was recorded in {where}, which is not there "
            f"from {Path.cwd()} (moved, or recorded from another folder); "
            f"run this from that folder, or {retry}"
        )
    return load(where)


def _named_module(name: str, source: str, retry: str) -> ModuleType:
    """Import a module by name, with the current directory first on ``sys.path``."""
    here = str(Path.cwd())
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        return importlib.import_module(name)
    # Importing runs the module's own code, which may raise anything: report it.
    except Exception as exc:
        fail(
            f"Cannot import module {name!r}, where the run's workflow was "
            f"recorded ({source}): {describe(exc)}; run this from the folder "
            f"the run was started in, or {retry}"
        )


# ---------------------------------------------------------------- prune


def started_before(age: str) -> datetime:
    """Return the time ``--older-than AGE`` names: ``90m``, ``12h``, ``30d``, ``2w``."""
    found = _AGE.fullmatch(age.strip().lower())
    if found is None:
        fail(
            f"--older-than {age!r} is not an age; write a whole number and a "
            "unit: 90m (minutes), 12h (hours), 30d (days) or 2w (weeks)"
        )
    seconds = int(found[1]) * _UNIT_SECONDS[found[2]]
    try:
        return datetime.now(UTC) - timedelta(seconds=seconds)
    except OverflowError:
        fail(f"--older-than {age!r} reaches before the year 1; give a smaller age")


def _prunable(store: RunStore, before: datetime) -> int:
    """Count the runs ``delete_runs`` would delete: not those holding a live lease."""
    now = datetime.now(UTC)
    return sum(
        run.started_at < before
        and (run.lease_expires_at is None or run.lease_expires_at < now)
        for run in store.list_runs()
    )


@runs_app.command("prune")
def prune_command(
    *,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Delete the runs started more than AGE ago: 90m, 12h, 30d, 2w.",
        ),
    ],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete without asking.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say how many would be deleted.")
    ] = False,
    store_url: StoreUrl = None,
) -> None:
    """Delete old runs with their tasks; a run still running is kept.

    Asks before deleting, unless --yes; --dry-run deletes nothing.
    """
    if yes and dry_run:
        fail("Give --yes or --dry-run, not both")
    before = started_before(older_than)
    when = f"started before {local_time(before)}"
    with _one_line_errors():
        store = cli_store(store_url, create=False)
        if not yes:
            count = _prunable(store, before)
            if dry_run:
                typer.echo(f"Would delete {plural(count, 'run')} {when} from {store!r}")
                return
            if not count:
                typer.echo(f"No runs {when} in {store!r}: nothing to delete")
                return
            typer.confirm(
                f"Delete {plural(count, 'run')} {when} from {store!r}?", abort=True
            )
        deleted = store.delete_runs(started_before=before)
    typer.echo(f"Deleted {plural(deleted, 'run')} {when} from {store!r}")
