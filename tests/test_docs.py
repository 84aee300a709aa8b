"""The docs run: the code blocks and the commands of docs/**/*.md and README.md.

The convention, for whoever writes a page:

- A block fenced as ```python runs. Each block is compiled on its own, with
  ``dont_inherit=True``, so nothing of this module (its ``from __future__``
  import, say) leaks into it: a block must import what it uses. A page's
  blocks run in order in one namespace, a fresh module per page, because a
  page builds its example up as a reader types along: a later block may use
  what an earlier block of the same page defined, never what another page
  did. Each page runs from the repository root, with a fresh default
  runner restored afterwards, and errors point at the page's own lines.
  Blocks assert what they claim, so a page that drifts from the code fails.
  A block that defines a pytest-style ``test_*`` function must also call
  it (the testing kit's ``mock_connectors()`` and ``capture_spans()`` stand
  in for the fixtures), or it would check nothing.
- A block fenced as ```python exec="on" (markdown-exec) runs here as any
  ``python`` block does; the docs build runs it too and shows what it
  prints, so the output a page shows is never pasted.
- ```bash and ```console blocks hold shell commands: every line of a bash
  block is one (``\\`` continues a line), and in a console block the lines
  starting with ``$ `` are, the others being their output. Each command
  whose program is ``fiscus`` or ``python`` (``.venv/bin/`` ones included)
  runs from the repository root, ``fiscus`` as the console script beside
  the interpreter running the tests and ``python`` as that interpreter,
  and must exit 0, or the code that a line ``<!-- exit-code: N -->`` right
  above its block gives. A command that installs (``pip install``) never
  runs here: ``.ci/run`` runs the README's in a fresh venv.
- A block that cannot run (it needs a trace backend, a browser, minutes)
  has the line ``<!-- not-run: reason -->`` right above it; a Python block
  marked so is still compiled. Such blocks stay few (``MAX_NOT_RUN``), and
  any other command (``mkdocs``, ``curl``) must be in one.
- Any other info string starting with "py" (```py, ```pycon, ```python3)
  is refused, so that no block is skipped by accident. Output and diagrams
  use ```text, ```mermaid and so on, which never run.

Links: a relative link must lead to a file that exists, and a page of the
site must not link outside docs/ (the site serves docs/ only): it links to
the repository's other files under ``REPO_URL``, and those must exist too.
The README's test command must be the one ``.ci/run`` runs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import types
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pytest

from fiscus_dsl import set_default_runner

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

ROOT: Final = Path(__file__).resolve().parent.parent
DOCS: Final = ROOT / "docs"
README: Final = ROOT / "README.md"
CI_SCRIPT: Final = ROOT / ".ci" / "run"
PAGES: Final = [*sorted(DOCS.rglob("*.md")), README]
REPO_URL: Final = "https://github.com/fiscus-dsl/fiscus_dsl"
RUNS: Final = "python"
SHELLS: Final = ("bash", "console")
MAX_NOT_RUN: Final = 6
COMMAND_TIMEOUT: Final = 60.0
# A fence as CommonMark has it: a backtick fence's info string has no backtick.
FENCE: Final = re.compile(
    r"^ {0,3}(?:(?P<fence>`{3,})(?P<info>[^`]*)|(?P<tilde>~{3,})(?P<tinfo>.*))$"
)
#: markdown-exec's blocks: python, executed at build time, output shown.
EXECUTED: Final = re.compile(r'python(?:\s+(?:exec|result|session|source|id)="[^"]*")+')
MARKER: Final = re.compile(r"^<!-- (?P<kind>not-run|exit-code):(?P<value>.*)-->$")
LINK: Final = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
REPO_LINK: Final = re.compile(
    re.escape(REPO_URL) + r"/(?:blob|tree)/main/(?P<path>[^)\s#]*)"
)
ENV_ASSIGNMENT: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    """One fenced code block of a page, with the marker above it, if any."""

    page: Path
    info: str
    line: int  # the line number of the block's first line of code
    code: str
    not_run: str | None = None  # the reason, for a block marked not-run
    exit_code: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """One shell command of a page, as typed."""

    page: Path
    line: int
    text: str
    exit_code: int
    not_run: str | None

    @property
    def where(self) -> str:
        return f"{_page_id(self.page)}:{self.line}"


def _fence(match: re.Match[str]) -> tuple[str, str]:
    """Return a fence line's ``(fence, info string)``."""
    if match["fence"]:
        return match["fence"], match["info"]
    return match["tilde"], match["tinfo"]


def _marked(path: Path, block: Block, marker: re.Match[str] | None) -> Block:
    """Return the block with the marker right above it applied."""
    if marker is None:
        return block
    value = marker["value"].strip()
    if marker["kind"] == "not-run":
        return replace(block, not_run=value)
    assert re.fullmatch(r"[1-9][0-9]{0,2}", value), (
        f"{path}:{block.line - 2}: exit-code takes a number from 1 to 255"
    )
    return replace(block, exit_code=int(value))


def _info(info: str) -> str:
    """Return a block's info string; markdown-exec's ``python exec="on"`` runs too.

    The docs build runs such a block and shows what it prints (docs/plans.md);
    here it runs as any ``python`` block does.
    """
    info = info.strip()
    return RUNS if EXECUTED.fullmatch(info) else info


def _blocks(path: Path) -> list[Block]:
    """Return the page's fenced blocks, in order, with their markers."""
    blocks: list[Block] = []
    opening: re.Match[str] | None = None
    marker: re.Match[str] | None = None
    previous = ""
    start = 0
    lines: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line)
        if opening is None:
            if match:
                opening, start, lines = match, number + 1, []
                marker = MARKER.match(previous.strip())
            previous = line
            continue
        fence, info = _fence(opening)
        closing = _fence(match) if match else None
        if closing and closing[0].startswith(fence) and not closing[1].strip():
            block = Block(
                page=path, info=_info(info), line=start, code="\n".join(lines)
            )
            blocks.append(_marked(path, block, marker))
            opening = None
            previous = line
            continue
        lines.append(line)
    assert opening is None, (
        f"{path}: a code block opened on line {start - 1} never closes"
    )
    return blocks


def _page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _logical_lines(block: Block) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` per line, ``\\`` continuations joined."""
    pending: list[str] = []
    first = block.line
    for offset, line in enumerate(block.code.splitlines()):
        if not pending:
            first = block.line + offset
        if line.rstrip().endswith("\\"):
            pending.append(line.rstrip()[:-1])
            continue
        yield first, " ".join([*pending, line]).strip()
        pending = []
    assert not pending, f"{_page_id(block.page)}:{first}: a \\ continues nothing"


def _commands(block: Block) -> list[Command]:
    """Return a shell block's commands: bash lines, or console ``$`` lines."""
    found: list[Command] = []
    for line, text in _logical_lines(block):
        if block.info == "console":
            if not text.startswith("$ "):
                continue  # output
            text = text.removeprefix("$ ")
        if not text or text.startswith("#"):
            continue
        found.append(
            Command(
                page=block.page,
                line=line,
                text=text,
                exit_code=block.exit_code,
                not_run=block.not_run,
            )
        )
    return found


ALL_BLOCKS: Final = [block for page in PAGES for block in _blocks(page)]
ALL_COMMANDS: Final = [
    command
    for block in ALL_BLOCKS
    if block.info in SHELLS
    for command in _commands(block)
]


def _words(text: str) -> list[str]:
    """Split a command as a POSIX shell would, operators as words of their own."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def _argv(command: Command) -> tuple[dict[str, str], list[str]] | None:
    """Return the environment and argv a command runs with; None if not run.

    A command runs when it is optional ``NAME=value`` words, then ``fiscus``
    or ``python`` and their arguments; one that installs never does.
    """
    if "pip install" in command.text:
        return None
    words = _words(command.text)
    env = {}
    while words and ENV_ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    program = Path(words[0]).name if words else ""
    if program == "fiscus":
        return env, [*_fiscus(), *words[1:]]
    if program in ("python", "python3"):
        return env, [sys.executable, *words[1:]]
    return None


def _fiscus() -> list[str]:
    script = Path(sys.executable).with_name("fiscus")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "fiscus_dsl"]


def _runnable_commands() -> list[Command]:
    """Return each distinct command to run once, at its first occurrence."""
    seen: set[tuple[tuple[str, ...], int]] = set()
    runnable: list[Command] = []
    for command in ALL_COMMANDS:
        key = (tuple(_words(command.text)), command.exit_code)
        if command.not_run is None and _argv(command) and key not in seen:
            seen.add(key)
            runnable.append(command)
    return runnable


RUNNABLE_COMMANDS: Final = _runnable_commands()


# ---------------------------------------------------------------- Python blocks


@pytest.fixture
def fresh_default_runner() -> Iterator[None]:
    previous = set_default_runner(None)
    yield
    set_default_runner(previous)


def _compile(block: Block) -> types.CodeType:
    source = "\n" * (block.line - 1) + block.code
    return compile(source, str(block.page), "exec", dont_inherit=True)


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
@pytest.mark.usefixtures("fresh_default_runner")
def test_page_python_blocks_run(page: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    name = "docs_" + re.sub(r"\W", "_", _page_id(page).removesuffix(".md"))
    module = types.ModuleType(name)
    module.__file__ = str(page)
    called: set[str] = set()

    def note_test_calls(frame: FrameType, event: str, arg: object) -> None:
        code = frame.f_code
        if event == "call" and code.co_filename == str(page):
            called.add(code.co_name)

    sys.modules[name] = module
    profile = sys.getprofile()
    sys.setprofile(note_test_calls)
    try:
        for block in _blocks(page):
            if block.info == RUNS:
                code = _compile(block)
                if block.not_run is None:
                    exec(code, module.__dict__)
    finally:
        sys.setprofile(profile)
        del sys.modules[name]
    defined = {
        key
        for key, value in vars(module).items()
        if key.startswith("test_") and isinstance(value, types.FunctionType)
    }

    assert defined <= called, f"call these tests on the page: {defined - called}"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_fences_python_blocks_as_python(page: Path) -> None:
    unclear = [
        f"{page.name}:{block.line - 1} ```{block.info}"
        for block in _blocks(page)
        if block.info.startswith(("py", "pycon")) and block.info != RUNS
    ]

    assert not unclear, f"fence these as ```{RUNS} (not-run goes above): {unclear}"


# ---------------------------------------------------------------- markers


def test_blocks_that_do_not_run_are_few_and_say_why() -> None:
    not_run = [block for block in ALL_BLOCKS if block.not_run is not None]
    vague = [
        f"{_page_id(block.page)}:{block.line - 1}"
        for block in not_run
        if len((block.not_run or "").split()) < 3
    ]

    assert len(not_run) <= MAX_NOT_RUN, [
        f"{_page_id(block.page)}:{block.line - 1}: {block.not_run}" for block in not_run
    ]
    assert not vague, f"say why these blocks do not run: {vague}"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_markers_sit_right_above_a_block_they_fit(page: Path) -> None:
    lines = page.read_text(encoding="utf-8").splitlines()
    marked = {block.line - 3 for block in _blocks(page)}  # 0-based, above a fence
    stray = [
        number + 1
        for number, line in enumerate(lines)
        if line.lstrip().startswith(("<!-- not-run", "<!-- exit-code"))
        and (number not in marked or not MARKER.match(line.strip()))
    ]
    misfit = [
        block.line - 1
        for block in _blocks(page)
        if (block.not_run is not None and block.info not in (RUNS, *SHELLS))
        or (block.exit_code and (block.info not in SHELLS or block.not_run))
    ]

    assert not stray, f"{page.name}: a marker not right above a block: {stray}"
    assert not misfit, f"{page.name}: a marker on a block it does not fit: {misfit}"


# ---------------------------------------------------------------- commands


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_shell_blocks_hold_commands(page: Path) -> None:
    empty = [
        f"{page.name}:{block.line - 1}"
        for block in _blocks(page)
        if block.info in SHELLS and not _commands(block)
    ]

    assert not empty, f"no command (a console block's start with '$ '): {empty}"


def test_commands_that_do_not_run_install_or_are_marked_not_run() -> None:
    unmarked = [
        f"{command.where}: {command.text}"
        for command in ALL_COMMANDS
        if command.not_run is None
        and _argv(command) is None
        and "pip install" not in command.text
    ]

    assert not unmarked, f"run only fiscus and python, or mark not-run: {unmarked}"
    assert RUNNABLE_COMMANDS


@pytest.mark.parametrize(
    "command", RUNNABLE_COMMANDS, ids=[command.where for command in RUNNABLE_COMMANDS]
)
def test_doc_command_runs_as_written(command: Command) -> None:
    argv = _argv(command)
    assert argv is not None
    extra, args = argv
    operators = [word for word in args if word and not word.strip("();<>|&")]
    assert not operators, f"{command.where}: run one plain command per line"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    completed = subprocess.run(
        args,
        cwd=ROOT,
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )

    assert completed.returncode == command.exit_code, (
        f"{command.where}: `{command.text}` exited {completed.returncode}\n"
        f"{completed.stderr[-2000:]}"
    )


def test_cli_page_shows_the_task_file_the_repository_ships() -> None:
    (shown,) = [block for block in _blocks(DOCS / "cli.md") if block.info == "yaml"]
    shipped = ROOT / "examples" / "onboarding.yaml"

    assert shown.code + "\n" == shipped.read_text(encoding="utf-8")


# ---------------------------------------------------------------- links


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_links_lead_to_files_that_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    targets = [match["target"] for match in LINK.finditer(text)]
    relative = [t for t in targets if not re.match(r"[a-z]+:|#", t)]
    broken = [t for t in relative if not (page.parent / t.split("#")[0]).exists()]
    outside = [
        t
        for t in relative
        if page.is_relative_to(DOCS)
        and not (page.parent / t).resolve().is_relative_to(DOCS)
    ]
    missing = [
        match["path"]
        for match in REPO_LINK.finditer(text)
        if not (ROOT / match["path"]).exists()
    ]

    assert not broken
    assert not outside, f"the site serves docs/ only; link under {REPO_URL}"
    assert not missing, f"links into the repository to no such file: {missing}"


# ---------------------------------------------------------------- the README


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
