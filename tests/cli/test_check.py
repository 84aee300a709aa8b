"""``fiscus check``: trace every workflow of a file; name the line of each error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .conftest import one_error_line

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .conftest import Cli

BAD = """
    from fiscus_dsl import task, workflow

    @task
    def fetch(x: int) -> int:
        return x

    @workflow
    def fine(x: int) -> int:
        return fetch(x)

    @workflow
    def truthy(x: int) -> int:
        value = fetch(x)
        if value:
            return fetch(1)
        return value

    @workflow
    def divides(x: int) -> int:
        return fetch(1 // 0)
    """


def test_check_passes_a_good_file_with_one_line_per_workflow(
    cli: Cli, flow: Path
) -> None:
    result = cli("check", str(flow))

    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"{flow}: ok: workflow 'hello' (2 nodes)",
        f"{flow}: ok: workflow 'broken' (2 nodes)",
        "2 workflows traced: 2 ok, 0 failed",
    ]


def test_check_fails_a_bad_file_and_names_file_and_line(
    cli: Cli, write: Callable[[str, str], Path]
) -> None:
    path = write("bad.py", BAD)

    result = cli("check", str(path))

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path}: ok: workflow 'fine' (1 node)"
    assert lines[1].startswith(
        f"{path}:14: error: workflow 'truthy': Cannot use the future 'fetch' as a "
        "bool (if, and, or and not need its value while tracing) in workflow "
        "'truthy' (bad.py:14)"
    )
    assert lines[2] == (
        f"{path}:20: error: workflow 'divides': "
        "ZeroDivisionError: integer division or modulo by zero"
    )
    assert lines[3] == "3 workflows traced: 1 ok, 2 failed"


INPUT_GUARD = """
    from fiscus_dsl import otherwise, task, when, workflow

    @task
    def notify(who: str) -> str:
        return who

    @workflow
    def flow(flag: bool, who: str) -> str | None:
        with when(flag):
            sent = notify(who)
        with otherwise():
            notify("ops")
        return sent
    """


def test_check_passes_a_guard_on_a_workflow_input(
    cli: Cli, write: Callable[[str, str], Path]
) -> None:
    path = write("guarded.py", INPUT_GUARD)

    result = cli("check", str(path))

    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"{path}: ok: workflow 'flow' (2 nodes)",
        "1 workflow traced: 1 ok, 0 failed",
    ]


def test_graph_draws_a_guard_on_a_workflow_input(
    cli: Cli, write: Callable[[str, str], Path]
) -> None:
    path = write("guarded.py", INPUT_GUARD)

    result = cli("graph", f"{path}:flow")

    assert result.exit_code == 0
    assert '    inputs -->|"flag == True"| n0' in result.stdout.splitlines()
    assert '    inputs -->|"not (flag == True)"| n1' in result.stdout.splitlines()


def test_check_reports_a_file_that_does_not_import(
    cli: Cli, write: Callable[[str, str], Path]
) -> None:
    path = write("crash.py", "import json\n\njson.loads('{')\n")

    result = cli("check", str(path))

    assert result.exit_code == 1
    assert result.stdout.startswith(
        f"{path}:3: error: cannot import the file: JSONDecodeError: Expecting"
    )


def test_check_reports_a_syntax_error_with_its_line(
    cli: Cli, write: Callable[[str, str], Path]
) -> None:
    path = write("syntax.py", "x = 1\ndef f(:\n    pass\n")

    result = cli("check", str(path))

    assert result.exit_code == 1
    assert result.stdout.startswith(f"{path}:2: error: cannot import the file: ")


def test_check_fails_a_file_without_workflows(
    cli: Cli, write: Callable[[str, str], Path]
) -> None:
    path = write("plain.py", "VALUE = 1\n")

    result = cli("check", str(path))

    assert result.exit_code == 1
    assert result.stdout == f"{path}: error: no @workflow at module level\n"


def test_check_of_a_missing_file_is_bad_usage(cli: Cli) -> None:
    result = cli("check", "nowhere.py")

    assert result.exit_code == 2
    assert one_error_line(result) == "fiscus: error: No such file: nowhere.py"


INVALID = """
    from fiscus_dsl import task, workflow

    @task
    def charge(amount: int) -> int:
        return amount

    @workflow
    def billing() -> int:
        return charge("twelve")
    """


def test_check_fails_a_literal_argument_that_does_not_validate(
    cli: Cli, write: Callable[[str, str], Path]
) -> None:
    path = write("invalid.py", INVALID)

    result = cli("check", str(path))

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        f"{path}:9: error: workflow 'billing': Task 'charge' in workflow "
        "'billing' got an invalid argument ('amount': "
    )
    assert lines[1] == "1 workflow traced: 0 ok, 1 failed"
