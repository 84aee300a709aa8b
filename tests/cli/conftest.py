"""Shared fixtures for the CLI tests: the command, workflow files, the sandbox.

``cli`` invokes the typer app in-process (``CliRunner``; stdout and stderr
apart, no colours, 120 columns); ``write`` puts a file in the test's
directory; ``sandbox_url`` serves one sandbox API for the module. Every
test gets a fresh default runner and leaves ``sys.path`` and
``sys.modules`` as it found them, since the CLI imports files by path.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import pytest
from typer.testing import CliRunner

from fiscus_dsl import set_default_runner
from fiscus_dsl._cli import app
from fiscus_dsl._sandbox import sandbox

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from typer.testing import Result

ENV: Final[dict[str, str | None]] = {
    "COLUMNS": "120",
    "NO_COLOR": "1",
    "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None,
    "TTY_INTERACTIVE": None,
}

FLOW: Final = """
from fiscus_dsl import Retry, task, workflow

CALLS: list[int] = []


@task(retry=Retry(attempts=3, backoff=0, jitter=False))
def double(n: int) -> int:
    CALLS.append(n)
    if len(CALLS) < 2:
        raise ConnectionError("reset by peer")
    return n * 2


@task
def greet(name: str) -> str:
    return f"Hello, {name}!"


@task
def explode(reason: str) -> str:
    raise RuntimeError(reason)


@workflow
def hello(name: str, times: int = 1) -> dict[str, object]:
    return {"message": greet(name), "doubled": double(times)}


@workflow
def broken(reason: str = "kaboom") -> str:
    return greet(explode(reason))
"""
"""Two workflows: ``hello`` (a retried task) and ``broken`` (a failing one)."""


@dataclass(frozen=True, slots=True)
class Cli:
    """The ``fiscus`` command, invoked in-process."""

    runner: CliRunner

    def __call__(self, *args: str, stdin: str | None = None) -> Result:
        return self.runner.invoke(app, list(args), input=stdin, env=ENV)


@pytest.fixture
def cli() -> Cli:
    return Cli(CliRunner())


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``text`` (dedented) to ``name`` in the test's directory."""

    def write_file(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write_file


@pytest.fixture
def flow(write: Callable[[str, str], Path]) -> Path:
    return write("flow.py", FLOW)


@pytest.fixture(autouse=True)
def recorded_in_the_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``fiscus run`` record in the test's directory, not the working one."""
    store = tmp_path / "runs.db"
    monkeypatch.setenv("FISCUS_STORE", f"sqlite:///{store}")
    return store


@pytest.fixture(autouse=True)
def isolated_imports(tmp_path: Path) -> Iterator[None]:
    """Restore ``sys.path`` and the default runner; forget the test's own modules."""
    path = sys.path[:]
    previous = set_default_runner(None)
    yield
    set_default_runner(previous)
    sys.path[:] = path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with sandbox() as base_url:
        yield base_url


def one_error_line(result: Result) -> str:
    """Return the only line of stderr, checking it is the CLI's one-line error."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fiscus: error: ")
    assert "Traceback" not in result.output
    return lines[0]


def row(output: str, task_id: str) -> list[str]:
    """Return the cells of ``task_id``'s row in a printed task table."""
    for line in output.splitlines():
        cells = line.split()
        if cells[:1] == [task_id]:
            return cells
    raise AssertionError(f"no row for {task_id!r} in:\n{output}")
