"""Exit codes, the one-line error, and the text helpers every command shares.

A usage error ends the command with exit code 2 and one line on stderr,
``fiscus: error: ...``, never a traceback; a failed run or check exits 1.
"""

from __future__ import annotations

from typing import Final, NoReturn

import typer
from rich.console import Console
from rich.text import Text

USAGE: Final = 2
"""Exit code of bad usage: no such file or workflow, bad inputs, a definition error."""

FAILED: Final = 1
"""Exit code of a failed run, task file or check."""

STYLES: Final = {
    "pending": "dim",
    "running": "yellow",
    "retrying": "magenta",
    "succeeded": "green",
    "failed": "bold red",
    "skipped": "dim",
    "not_run": "dim",
}
"""The rich style of each status in a table."""

DETAIL_LIMIT: Final = 240
"""The most characters of a detail cell, unless ``--full`` asks for all of it."""


def one_line(text: str) -> str:
    """Return ``text`` with every run of whitespace, line breaks too, as one space."""
    return " ".join(text.split())


def fail(message: str, code: int = USAGE) -> NoReturn:
    """Print ``message`` on one line of stderr and exit with ``code``."""
    typer.echo(f"fiscus: error: {one_line(message)}", err=True)
    raise typer.Exit(code)


def describe(error: BaseException) -> str:
    """Return an error as ``Type: message`` on one line."""
    return one_line(f"{type(error).__name__}: {error}")


def shorten(text: str, limit: int = DETAIL_LIMIT) -> str:
    """Cut ``text`` to ``limit`` characters, ending with an ellipsis if cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def detail_cell(detail: str, *, full: bool = False) -> Text:
    """Return a table's detail cell, wrapped to the column's width.

    Messages put their key detail (the error's type, status, field) first,
    so the cut at ``DETAIL_LIMIT`` characters keeps it; ``full`` shows all.
    """
    text = detail if full else shorten(detail)
    return Text(text, style="dim", overflow="fold")


def duration(seconds: float) -> str:
    """Write seconds as ``12 ms`` below a second, else ``1.25 s``."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def plural(number: int, noun: str) -> str:
    """Return ``1 workflow``, ``2 workflows``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def new_console() -> Console:
    """Return the console tables go to: stdout, colours only on a terminal."""
    return Console(highlight=False)
