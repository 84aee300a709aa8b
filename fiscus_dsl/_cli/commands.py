"""The typer app: ``fiscus run``, ``plan``, ``graph``, ``check``, ``demo``, and more.

``run FILE.py[:WORKFLOW]`` runs a workflow with a live task table
(``--full``: each detail whole; ``--json``: the ``RunResult`` only;
``--dask ADDRESS``: the task bodies on a Dask cluster); ``plan`` prints
what a run would send (a table, JSON or Mermaid), sending nothing, and
exits 1 if a run would hit problems;
``graph`` prints Mermaid, DOT or JSON and runs nothing; ``check FILE.py``
traces every workflow of a file and names the line of each tracing error;
``demo`` serves the sandbox API on loopback and runs the onboarding
workflow against it. ``main`` is the console script's entry point.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer
from rich.text import Text

from fiscus_dsl._cli.cluster import Dask, on_dask
from fiscus_dsl._cli.connectors import connectors_app
from fiscus_dsl._cli.loading import (
    ImportFailure,
    check_binds,
    error_location,
    existing_python_file,
    find_workflow,
    import_file,
    parse_inputs,
    workflows_in,
)
from fiscus_dsl._cli.output import (
    FAILED,
    describe,
    fail,
    new_console,
    one_line,
    plural,
)
from fiscus_dsl._cli.plan import plan_format, print_plan, read_responses
from fiscus_dsl._cli.runs import runs_app
from fiscus_dsl._cli.stores import CLI_STORE, cli_store
from fiscus_dsl._cli.table import report, run_live, runner_with
from fiscus_dsl._cli.tasks import tasks_app
from fiscus_dsl._connectors.planning import plan_workflow
from fiscus_dsl._sandbox.onboarding import build_onboarding
from fiscus_dsl._sandbox.server import sandbox
from fiscus_dsl.errors import FiscusError, TracingError

if TYPE_CHECKING:
    from rich.console import Console

    from fiscus_dsl._dsl.workflow import Workflow
    from fiscus_dsl._runtime.results import RunResult

DEMO_INPUTS: Final[dict[str, object]] = {
    "name": "John Doe",
    "email": "john@example.com",
}
NEXT_STEPS: Final = (
    ("docs/cli.md", "the fiscus command: run, graph, check, tasks"),
    ("docs/connectors.md", "connectors: operations, auth, retries, limits"),
    ("examples/onboarding_api.py", "this workflow as a program, on the sandbox"),
    ("examples/fanout_api.py", "map over contacts with a rate-limited connector"),
    ("examples/resilience_api.py", "retries, Retry-After, on_error, otherwise"),
)
RUN_EXAMPLE: Final = (
    "fiscus run examples/onboarding.py:onboard -i name=Ada -i email=ada@example.com"
)
FORMATS: Final = ("mermaid", "dot", "json")

app = typer.Typer(
    name="fiscus",
    help="Run, draw and check fiscus_dsl workflows; run Fiscus task files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)
app.add_typer(tasks_app, name="tasks")
app.add_typer(runs_app, name="runs")
app.add_typer(connectors_app, name="connectors")

Inputs = Annotated[
    list[str] | None,
    typer.Option(
        "--input", "-i", metavar="NAME=VALUE", help="An input (JSON, or else text)."
    ),
]
InputJson = Annotated[
    str | None,
    typer.Option(
        "--input-json", metavar="FILE", help="A JSON object of inputs ('-': stdin)."
    ),
]
Full = Annotated[
    bool,
    typer.Option(
        "--full", help="Show each task's detail in full, not cut at 240 characters."
    ),
]
Target = Annotated[
    str, typer.Argument(metavar="FILE.py[:WORKFLOW]", help="The file and workflow.")
]
StoreUrl = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URL",
        help=(
            "Record the run in this store (sqlite:///PATH or "
            f"postgresql://...); by default FISCUS_STORE, else {CLI_STORE}."
        ),
    ),
]
NoStore = Annotated[
    bool, typer.Option("--no-store", help="Record nothing of this run.")
]


def main() -> None:
    """Run the ``fiscus`` command: the console script's entry point."""
    app(prog_name="fiscus")


def _print_version(value: bool) -> None:  # noqa: FBT001  (typer passes the flag)
    if value:
        typer.echo(f"fiscus_dsl {importlib.metadata.version('fiscus_dsl')}")
        raise typer.Exit


@app.callback()
def _root(
    *,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Run, draw and check fiscus_dsl workflows; run Fiscus task files."""


@app.command()
def run(
    target: Target,
    *,
    inputs: Inputs = None,
    input_json: InputJson = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only the RunResult, as JSON.")
    ] = False,
    full: Full = False,
    store_url: StoreUrl = None,
    no_store: NoStore = False,
    dask: Dask = None,
) -> None:
    """Run a workflow with a live table of its tasks; record it in a store.

    Runs are recorded in .fiscus/runs.db under the current directory (or
    the store FISCUS_STORE or --store names); the run id is printed at the
    end. --no-store records nothing. --dask runs the task bodies on a Dask
    cluster.
    """
    wf = find_workflow(target)
    values = parse_inputs(wf, inputs or [], input_json)
    check_binds(wf, values)
    with on_dask(dask, wf) as executor:
        try:
            store = None if no_store else cli_store(store_url)
            if as_json:
                runner = runner_with(None, store, executor=executor)
                result = runner.run(wf, **values)
                typer.echo(result.model_dump_json())
            else:
                console = new_console()
                result = run_live(
                    console, wf, values, full=full, store=store, executor=executor
                )
                report(result)
                if store is not None:
                    typer.echo(f"Run id {result.run_id}, recorded in {store!r}")
        # TracingError, ArgumentValidationError: bad usage; ClusterError: no cluster
        except FiscusError as exc:
            fail(str(exc))
    if not result.success:
        if not as_json:
            fail(f"The run failed: {result.error_message}", FAILED)
        raise typer.Exit(FAILED)


@app.command()
def plan(
    target: Target,
    *,
    inputs: Inputs = None,
    input_json: InputJson = None,
    responses: Annotated[
        str | None,
        typer.Option(
            "--responses",
            metavar="FILE",
            help="A JSON object of sample responses by task id or name.",
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id",
            metavar="ID",
            help="The run id whose Idempotency-Keys to show (default: a new one).",
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", "-f", help="text, json or mermaid.")
    ] = "text",
) -> None:
    """Show the requests a run would send, sending nothing and running no task.

    Exit code 0 when the plan lists no problems, 1 when it lists some (what
    a run would fail on), 2 for bad usage. Steps whose guard needs a value
    the plan does not know are conditional; --responses gives samples.
    """
    chosen = plan_format(output_format)
    wf = find_workflow(target)
    values = parse_inputs(wf, inputs or [], input_json)
    samples = None if responses is None else read_responses(responses)
    check_binds(wf, values)
    try:  # not wf.plan(**values, ...): an input may be named run_id
        planned = plan_workflow(wf, (), values, responses=samples, run_id=run_id)
    # TracingError, ArgumentValidationError: bad usage
    except FiscusError as exc:
        fail(str(exc))
    print_plan(planned, chosen)


@app.command()
def graph(
    target: Target,
    *,
    output_format: Annotated[
        str, typer.Option("--format", "-f", help="mermaid, dot or json.")
    ] = "mermaid",
    inputs: Inputs = None,
    input_json: InputJson = None,
) -> None:
    """Print a workflow's graph without running anything."""
    chosen = output_format.lower()
    if chosen not in FORMATS:
        fail(f"Unknown --format {output_format!r}; use one of {', '.join(FORMATS)}")
    wf = find_workflow(target)
    values = parse_inputs(wf, inputs or [], input_json)
    try:
        drawn = wf.graph(**values)
    except FiscusError as exc:
        fail(str(exc))
    if chosen == "json":
        typer.echo(drawn.model_dump_json(indent=2))
    else:
        text = drawn.to_mermaid() if chosen == "mermaid" else drawn.to_dot()
        typer.echo(text, nl=False)


@app.command()
def check(
    file: Annotated[str, typer.Argument(metavar="FILE.py", help="The file to check.")],
) -> None:
    """Trace every workflow of a file; report each tracing error with its line."""
    path = existing_python_file(file)
    try:
        module = import_file(path)
    except ImportFailure as failure:
        where = _here(file, failure.location)
        typer.echo(f"{where}: error: cannot import the file: {failure.reason}")
        raise typer.Exit(FAILED) from None
    found = workflows_in(module)
    if not found:
        typer.echo(f"{file}: error: no @workflow at module level")
        raise typer.Exit(FAILED)
    failures = sum(not _check_one(file, name, wf) for name, wf in found.items())
    traced = plural(len(found), "workflow")
    typer.echo(f"{traced} traced: {len(found) - failures} ok, {failures} failed")
    if failures:
        raise typer.Exit(FAILED)


def _check_one(file: str, name: str, wf: Workflow[..., Any]) -> bool:
    try:
        plan = wf.compile((), {}, partial=True)
    except TracingError as exc:
        where = _here(file, exc.location or Path(file).name)
        typer.echo(f"{where}: error: workflow {name!r}: {one_line(str(exc))}")
        return False
    # Tracing runs the workflow's body, the file's own code: it may raise anything.
    except Exception as exc:
        where = _here(file, error_location(exc, Path(file).resolve()))
        typer.echo(f"{where}: error: workflow {name!r}: {describe(exc)}")
        return False
    invalid = [node for _, node in plan.walk() if node.invalid is not None]
    for node in invalid:
        where = _here(file, node.location or Path(file).name)
        typer.echo(f"{where}: error: workflow {name!r}: {one_line(str(node.invalid))}")
    if invalid:
        return False
    typer.echo(f"{file}: ok: workflow {name!r} ({plural(len(plan.nodes), 'node')})")
    return True


def _here(file: str, location: str) -> str:
    """Write ``name.py:LINE`` as ``FILE:LINE`` when it is the checked file."""
    base, _, line = location.rpartition(":")
    return f"{file}:{line}" if base == Path(file).name else location


@app.command()
def demo() -> None:
    """Run the onboarding workflow against the embedded sandbox API (no network)."""
    console = new_console()
    console.print(Text("fiscus demo: onboard a contact with the sandbox API", "bold"))
    with sandbox() as base_url:
        typer.echo(f"The sandbox API listens on {base_url} (loopback, demo tokens)")
        result = run_live(console, build_onboarding(base_url), DEMO_INPUTS)
    _finish_demo(console, result)


def _finish_demo(console: Console, result: RunResult[Any]) -> None:
    """Report the demo's run, draw its graph, say where to look next; exit 1 if bad.

    A function of its own: on CPython 3.11, line tracing (coverage) of a frame
    that made socket calls through anyio stops, while new frames are traced.
    """
    report(result)
    failed = [key for key, each in result.tasks.items() if each.status == "failed"]
    skipped = [key for key, each in result.tasks.items() if each.status == "skipped"]
    if result.success and not failed:
        ran = len(result.tasks) - len(skipped)
        console.print(Text(f"All {ran} tasks that ran succeeded", style="green"))
        if skipped:
            typer.echo(f"Skipped, as their guard said: {', '.join(skipped)}")
    typer.echo("\nThe graph (Mermaid):")
    typer.echo(result.graph.to_mermaid(), nl=False)
    typer.echo("\nWhere to look next (in the repository):")
    for where, what in NEXT_STEPS:
        typer.echo(f"  {where:<28} {what}")
    typer.echo(f"  {RUN_EXAMPLE}")
    if not result.success:
        fail(f"The run failed: {result.error_message}", FAILED)
    if failed:
        fail(f"Not every task succeeded: {', '.join(failed)} failed", FAILED)
