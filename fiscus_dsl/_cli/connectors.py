"""``fiscus connectors generate``: write an OpenAPI document's connector as Python.

``generate SPEC -o module.py`` writes the module ``generate_module`` makes
(the models, the ``Connector(...)`` and one ``@connector.operation``
function per operation) for users to commit, review and type-check; it
needs the ``openapi`` extra (datamodel-code-generator and ruff). Without
``-o`` the module goes to stdout. A document that cannot be read, or that
uses what fiscus_dsl does not read, is bad usage (exit code 2).
"""

from __future__ import annotations

from pathlib import Path  # noqa: TC003  (typer reads the annotations at run time)
from typing import Annotated

import typer

from fiscus_dsl._cli.output import fail
from fiscus_dsl._connectors.openapi_codegen import generate_module
from fiscus_dsl.errors import ConfigurationError

connectors_app = typer.Typer(
    help="Write connectors from OpenAPI documents as Python modules.",
    no_args_is_help=True,
)


@connectors_app.command()
def generate(
    spec: Annotated[
        str, typer.Argument(metavar="SPEC", help="The OpenAPI document: a path or URL.")
    ],
    *,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="The module to write."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="The connector's name (default: the title)."),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", metavar="URL", help="Default: the first server."),
    ] = None,
    operations: Annotated[
        str | None,
        typer.Option(
            "--operations",
            metavar="A,B",
            help="Only these operations (snake_case names), comma-separated.",
        ),
    ] = None,
) -> None:
    """Write a module of a document's models and typed operations.

    The module declares what Connector.from_openapi builds at run time:
    pydantic models, the Connector (auth from the document's security
    scheme, its secret read from the environment) and one
    @connector.operation function per operation, formatted by ruff.
    """
    only = None
    if operations is not None:
        only = [part.strip() for part in operations.split(",") if part.strip()]
    try:
        code = generate_module(spec, name=name, base_url=base_url, operations=only)
    except ConfigurationError as exc:  # an unreadable document, a missing extra
        fail(str(exc))
    if output is None:
        typer.echo(code, nl=False)
        return
    output.write_text(code, encoding="utf-8")
    count = sum(line.startswith("@") for line in code.splitlines())
    typer.echo(f"Wrote {output}: {count} operations")
