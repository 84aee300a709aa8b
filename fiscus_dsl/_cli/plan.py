"""``fiscus plan``: read its sample responses and print a plan in its format.

The command itself sits with the others in ``commands``; this module reads
``--responses`` (a JSON object of sample responses by task id, step id or
task name; a file that cannot be read or holds anything else is bad usage)
and prints the ``Plan`` as a table (``text``: a row per step, coloured by
status, then the requests to send and the problems a run would hit), as
JSON (``plan.model_dump_json(indent=2)``) or as Mermaid
(``plan.to_mermaid()``). A plan that lists problems exits 1, with one line
on stderr (none for JSON, which carries them in ``problems``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Final

import typer
from rich.table import Table
from rich.text import Text

from fiscus_dsl._cli.output import FAILED, fail, new_console, plural

if TYPE_CHECKING:
    from fiscus_dsl._connectors.plan_model import Plan, PlanStep

PLAN_FORMATS: Final = ("text", "json", "mermaid")

PLAN_STYLES: Final = {
    "planned": "green",
    "conditional": "yellow",
    "skipped": "dim",
    "invalid": "bold red",
    "not_run": "dim",
}
"""The rich style of each step status in a plan's table."""

_GUARD_WORDS: Final = {"planned": "guard true", "conditional": "only if"}


def plan_format(text: str) -> str:
    """Return the ``--format`` asked for, in lower case, or fail with exit code 2."""
    chosen = text.lower()
    if chosen not in PLAN_FORMATS:
        fail(f"Unknown --format {text!r}; use one of {', '.join(PLAN_FORMATS)}")
    return chosen


def read_responses(path: str) -> dict[str, object]:
    """Read ``--responses``: a JSON object of sample responses; else exit 2."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"Cannot read --responses {path}: {exc.strerror or exc}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        fail(f"--responses {path} is not JSON: {exc}")
    if not isinstance(data, dict):
        fail(
            f"--responses {path} must hold a JSON object of sample responses by "
            'task id or name, e.g. {"create_contact": {"id": "c1"}}'
        )
    return data


def print_plan(plan: Plan, chosen: str) -> None:
    """Print ``plan`` in the ``chosen`` format; exit 1 if it lists problems."""
    if chosen == "json":
        typer.echo(plan.model_dump_json(indent=2))
        if plan.problems:
            raise typer.Exit(FAILED)
        return
    if chosen == "mermaid":
        typer.echo(plan.to_mermaid(), nl=False)
    else:
        _print_table(plan)
    if plan.problems:
        said = f"The plan lists {plural(len(plan.problems), 'problem')} a run would hit"
        if chosen == "mermaid":  # the drawing only counts them
            said += ": " + "; ".join(plan.problems)
        fail(said, FAILED)


def _print_table(plan: Plan) -> None:
    console = new_console()
    title = f"Plan of workflow {plan.workflow!r} (run id {plan.run_id}); nothing sent"
    console.print(Text(title, style="bold"))
    console.print(plan_table(plan))
    counts: dict[str, int] = {}
    for step in plan.steps:
        counts[step.status] = counts.get(step.status, 0) + 1
    tally = ", ".join(
        f"{count} {status.replace('_', ' ')}" for status, count in counts.items()
    )
    sent = plural(len(plan.requests), "request")
    typer.echo(f"{sent} to send; {tally or 'no steps'}")
    if plan.problems:
        typer.echo("Problems a run would hit:")
        for problem in plan.problems:
            typer.echo(f"  - {problem}")


def plan_table(plan: Plan) -> Table:
    """Return a plan's steps as a table: step, status, request or call, detail."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("step", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("request", ratio=3, overflow="fold")
    table.add_column("detail", ratio=2, overflow="fold")
    for step in plan.steps:
        table.add_row(
            Text(step.task_id),
            Text(step.status.replace("_", " "), style=PLAN_STYLES[step.status]),
            Text(_call(step)),
            Text("\n".join(_details(step)), style="dim"),
        )
    return table


def _call(step: PlanStep) -> str:
    """Return ``METHOD url`` for a request, ``task(name=value, ...)`` for a call."""
    if step.request is not None:
        return f"{step.request.method} {step.request.url}"
    shown = ", ".join(
        f"{name}={json.dumps(value)}" for name, value in (step.inputs or {}).items()
    )
    return f"{step.task}({shown})"


def _details(step: PlanStep) -> list[str]:
    """Return what decided the step's status, then what its request carries."""
    lines = []
    word = _GUARD_WORDS.get(step.status)
    if word is not None and step.guard is not None:
        lines.append(f"{word}: {step.guard}")
    if word is None and step.reason is not None:
        lines.append(step.reason)
    if step.templated:
        lines.append("one request per item of a list the plan does not know")
    request = step.request
    if request is not None and word is not None:
        lines += [f"{name}: {value}" for name, value in request.headers.items()]
        if request.body is not None:
            lines.append(f"body: {json.dumps(request.body, sort_keys=True)}")
    return lines
