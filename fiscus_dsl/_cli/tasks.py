"""``fiscus tasks run FILE``: a Fiscus task file, run through the dict API.

The file (YAML or JSON, read by ``load_tasks``: data only, never code)
names connectors and operations; the command is told where they come from:

- ``--connectors FILE.py`` (repeatable) imports the module and uses every
  ``Connector`` at its top level; a module-level ``REGISTRY`` dict names the
  functions the file may refer to (``custom_logic``, ``callbacks``,
  ``{"fn": name}`` conditions);
- ``--sandbox`` starts the sandbox API on loopback and adds its connectors
  (``CRMSystem``, ``Gmail``, ``Flaky``), after those of ``--connectors``.

It prints a table of the tasks (the detail column wraps; ``--full`` shows
each detail whole), the result and whether the tasks succeeded
(``--json``: the ``FiscusResponse`` as JSON only), and exits 0
when every task that ran succeeded, 1 otherwise, 2 for a bad file.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from fiscus_dsl._cli.loading import load
from fiscus_dsl._cli.output import (
    FAILED,
    STYLES,
    detail_cell,
    fail,
    new_console,
    one_line,
)
from fiscus_dsl._connectors.connector import Connector
from fiscus_dsl._dict_api.client import FiscusClient
from fiscus_dsl._dict_api.files import load_tasks
from fiscus_dsl._sandbox.connectors import sandbox_connectors
from fiscus_dsl._sandbox.server import sandbox
from fiscus_dsl.errors import TaskDefinitionError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from fiscus_dsl._dict_api.response import FiscusResponse

tasks_app = typer.Typer(
    help="Run Fiscus task files (YAML or JSON) through the dict API.",
    no_args_is_help=True,
)


@tasks_app.command("run")
def tasks_run(
    file: Annotated[str, typer.Argument(metavar="FILE", help="A .yaml or .json file.")],
    *,
    connectors: Annotated[
        list[str] | None,
        typer.Option(
            "--connectors",
            "-c",
            metavar="FILE.py",
            help="A module whose Connectors (and REGISTRY) the tasks use.",
        ),
    ] = None,
    use_sandbox: Annotated[
        bool,
        typer.Option("--sandbox", help="Start the sandbox API and use its connectors."),
    ] = False,
    retries: Annotated[
        int, typer.Option(min=0, help="Retries of each task (Fiscus retries).")
    ] = 3,
    backoff: Annotated[
        float, typer.Option(min=0, help="The first retry's wait, in seconds.")
    ] = 0.5,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only the response, as JSON.")
    ] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Show each task's detail in full, not cut at 240 characters."
        ),
    ] = False,
) -> None:
    """Run a Fiscus task file through the dict API (FiscusClient.execute)."""
    if not connectors and not use_sandbox:
        fail(
            "Say where the task file's connectors come from: "
            "--connectors FILE.py (its module-level Connectors) or --sandbox"
        )
    found, registry = connector_modules(connectors or [])
    try:
        tasks = load_tasks(file, registry=registry)
    except OSError as exc:
        fail(f"Cannot read {file}: {exc.strerror or exc}")
    except TaskDefinitionError as exc:
        fail(str(exc))
    with ExitStack() as stack:
        if use_sandbox:
            base_url = stack.enter_context(sandbox())
            found.extend(sandbox_connectors(base_url).connectors)
        client = FiscusClient(connectors=found, retries=retries, backoff_factor=backoff)
        try:
            response = client.execute(tasks=tasks)
        except TaskDefinitionError as exc:  # a connector or operation not found
            fail(str(exc))
    finish(response, as_json=as_json, full=full)


def finish(response: FiscusResponse, *, as_json: bool, full: bool = False) -> None:
    """Print the response (or its JSON) and exit 1 unless it succeeded.

    A function of its own: on CPython 3.11, line tracing (coverage) of a frame
    that made socket calls through anyio stops, while new frames are traced.
    """
    if as_json:
        typer.echo(response.to_json())
    else:
        print_response(response, full=full)
    if not response.success:
        raise typer.Exit(FAILED)


def connector_modules(
    paths: Sequence[str],
) -> tuple[list[Connector], dict[str, Callable[..., object]]]:
    """Import each module; collect its Connectors and its ``REGISTRY`` of functions."""
    found: list[Connector] = []
    registry: dict[str, Callable[..., object]] = {}
    for text in paths:
        module = load(text)
        here = [v for v in vars(module).values() if isinstance(v, Connector)]
        if not here:
            fail(f"{text} declares no Connector at module level")
        found.extend(c for c in here if all(c is not known for known in found))
        registry.update(getattr(module, "REGISTRY", {}))
    return found, registry


def print_response(response: FiscusResponse, *, full: bool = False) -> None:
    """Print a table of the tasks, the result, and the outcome on one line.

    The detail column wraps; ``full`` shows each detail whole (see ``detail_cell``).
    """
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("#", "task", "status"):
        table.add_column(column, no_wrap=True)
    table.add_column("detail", ratio=1, overflow="fold")
    for index, each in enumerate(response.results or []):
        status = "failed"
        if each.skipped:
            status = "skipped"
        elif each.success:
            status = "succeeded"
        table.add_row(
            Text(str(index)),
            Text(each.task_id or each.operation or ""),
            Text(status, style=STYLES[status]),
            detail_cell(one_line(each.error_message or ""), full=full),
        )
    new_console().print(table)
    typer.echo("Result:")
    typer.echo(json.dumps(response.to_dict()["result"], indent=2))
    if response.success:
        typer.echo("The tasks succeeded")
        return
    code = response.error_code
    number = "" if code is None else f" ({code.name} {int(code)})"
    typer.echo(one_line(f"The tasks failed{number}: {response.error_message}"))
