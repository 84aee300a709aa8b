"""The docs run: every ```python block of docs/**/*.md and README.md is executed.

The convention, for whoever writes a page:

- A block fenced as ```python runs. A page's blocks run in order, in one
  namespace (a fresh module per page), so a later block may use what an
  earlier one defined. Blocks assert what they claim, so a page that
  drifts from the code fails here.
- A block that must not run (a sketch, a fragment, a connector that needs
  the network) is fenced as ```python no-run. Shell commands, output and
  diagrams use ```bash, ```text, ```mermaid and so on, which never run.
- Any other info string starting with "python" (```py, ```python3,
  ```pycon) is refused, so that no block is skipped by accident.

Each page runs with a fresh default runner, restored afterwards. Errors
point at the page's own line numbers. The README's test command must be
the one ``.ci/run`` runs, and relative links must lead to files that exist.
"""

from __future__ import annotations

import re
import shlex
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pytest

from fiscus_dsl import set_default_runner

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT: Final = Path(__file__).resolve().parent.parent
README: Final = ROOT / "README.md"
CI_SCRIPT: Final = ROOT / ".ci" / "run"
PAGES: Final = [*sorted((ROOT / "docs").rglob("*.md")), README]
RUNS: Final = "python"
NO_RUN: Final = "python no-run"
# A fence as CommonMark has it: a backtick fence's info string has no backtick.
FENCE: Final = re.compile(
    r"^ {0,3}(?:(?P<fence>`{3,})(?P<info>[^`]*)|(?P<tilde>~{3,})(?P<tinfo>.*))$"
)
LINK: Final = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    """One fenced code block of a page."""

    info: str
    line: int  # the line number of the block's first line of code
    code: str


def _fence(match: re.Match[str]) -> tuple[str, str]:
    """Return a fence line's ``(fence, info string)``."""
    if match["fence"]:
        return match["fence"], match["info"]
    return match["tilde"], match["tinfo"]


def _blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    opening: re.Match[str] | None = None
    start = 0
    lines: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line)
        if opening is None:
            if match:
                opening, start, lines = match, number + 1, []
            continue
        fence, info = _fence(opening)
        closing = _fence(match) if match else None
        if closing and closing[0].startswith(fence) and not closing[1].strip():
            blocks.append(Block(info=info.strip(), line=start, code="\n".join(lines)))
            opening = None
            continue
        lines.append(line)
    assert opening is None, (
        f"{path}: a code block opened on line {start - 1} never closes"
    )
    return blocks


def _page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.fixture
def fresh_default_runner() -> Iterator[None]:
    previous = set_default_runner(None)
    yield
    set_default_runner(previous)


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
@pytest.mark.usefixtures("fresh_default_runner")
def test_page_python_blocks_run(page: Path) -> None:
    name = "docs_" + re.sub(r"\W", "_", _page_id(page).removesuffix(".md"))
    module = types.ModuleType(name)
    module.__file__ = str(page)
    sys.modules[name] = module
    try:
        for block in _blocks(page):
            if block.info != RUNS:
                continue
            source = "\n" * (block.line - 1) + block.code
            exec(compile(source, str(page), "exec", dont_inherit=True), module.__dict__)
    finally:
        del sys.modules[name]


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_marks_python_blocks_run_or_no_run(page: Path) -> None:
    unclear = [
        f"{page.name}:{block.line - 1} ```{block.info}"
        for block in _blocks(page)
        if block.info.startswith(("py", "pycon")) and block.info not in (RUNS, NO_RUN)
    ]

    assert not unclear, f"fence these as ```{RUNS} or ```{NO_RUN}: {unclear}"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_links_lead_to_files_that_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    broken = [
        match["target"]
        for match in LINK.finditer(text)
        if not re.match(r"[a-z]+:|#", match["target"])
        and not (page.parent / match["target"].split("#")[0]).exists()
    ]

    assert not broken


def _readme_commands() -> list[str]:
    first = _blocks(README)[0]
    return [line for line in first.code.splitlines() if line.strip()]


def test_readme_starts_with_the_two_commands_of_a_fresh_machine() -> None:
    text = README.read_text(encoding="utf-8")
    before_first_block = text.split("```", 1)[0]
    run_demo, run_tests = _readme_commands()

    assert len(before_first_block.splitlines()) <= 5, "the commands come first"
    assert run_demo.startswith("python3 -m venv .venv && ")
    assert run_demo.endswith(" && .venv/bin/fiscus demo")
    assert run_tests.startswith("python3 -m venv .venv && ")
    assert " .venv/bin/pip install -e '.[dev]' && " in run_tests


def test_readme_test_command_is_the_one_ci_runs() -> None:
    readme_pytest = shlex.split(_readme_commands()[1].split("&&")[-1])
    ci_lines = [
        line.strip()
        for line in CI_SCRIPT.read_text(encoding="utf-8").splitlines()
        if re.search(r"bin/pytest\"?\s", line)
    ]

    assert readme_pytest[0] == ".venv/bin/pytest"
    assert len(ci_lines) == 1, ci_lines
    ci_pytest = shlex.split(re.split(r"\|\||&&|;", ci_lines[0])[0])
    assert ci_pytest[0].endswith("/bin/pytest")
    assert ci_pytest[1:] == readme_pytest[1:]


def test_ci_installs_the_dev_extra_as_the_readme_does() -> None:
    script = CI_SCRIPT.read_text(encoding="utf-8")

    assert "pip install -e '.[dev]'" in _readme_commands()[1]
    assert re.search(r"bin/pip\"? install (--quiet |-q )*-e '\.\[dev\]'", script)
