"""``fiscus run``: the live table, ``--json``, inputs, and the exit codes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from .conftest import one_error_line, row

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .conftest import Cli


def test_run_prints_the_task_table_the_output_and_a_summary(
    cli: Cli, flow: Path
) -> None:
    result = cli("run", f"{flow}:hello", "-i", "name=Ada", "-i", "times=3")

    assert result.exit_code == 0, result.output
    assert row(result.stdout, "greet")[:3] == ["greet", "succeeded", "1"]
    assert "Output:" in result.stdout
    assert '"message": "Hello, Ada!"' in result.stdout
    assert '"doubled": 6' in result.stdout
    *_, summary, recorded = result.stdout.splitlines()
    assert summary.startswith("Run succeeded in ")
    assert summary.endswith(": 2 succeeded")
    assert recorded.startswith("Run id ")
    assert result.stderr == ""


def test_run_shows_a_retried_task_with_its_attempts(cli: Cli, flow: Path) -> None:
    result = cli("run", f"{flow}:hello", "-i", "name=Ada")

    assert row(result.stdout, "double")[:3] == ["double", "succeeded", "2"]
    assert "succeeded on attempt 2" in result.stdout


def test_run_json_prints_only_the_run_result(cli: Cli, flow: Path) -> None:
    result = cli("run", f"{flow}:hello", "-i", "name=Ada", "--json")

    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["status"] == "succeeded"
    assert data["output"] == {"message": "Hello, Ada!", "doubled": 2}
    assert data["tasks"]["double"]["attempts"] == 2
    assert set(data["tasks"]) == {"greet", "double"}


def test_run_without_a_workflow_name_runs_the_only_workflow(
    cli: Cli, write: Callable[[str, str], Path]
) -> None:
    path = write(
        "single.py",
        """
        from fiscus_dsl import task, workflow

        @task
        def one() -> int:
            return 1

        @workflow
        def only() -> int:
            return one()
        """,
    )

    result = cli("run", str(path), "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["output"] == 1


def test_input_values_are_json_when_they_parse_and_text_otherwise(
    cli: Cli, write: Callable[[str, str], Path]
) -> None:
    path = write(
        "echo.py",
        """
        from fiscus_dsl import task, workflow

        @task
        def pack(code: str, count: int, tags: list[str], note: object) -> dict:
            return {"code": code, "count": count, "tags": tags, "note": note}

        @workflow
        def echo(code: str, count: int, tags: list[str], note: object) -> dict:
            return pack(code, count, tags, note)
        """,
    )

    result = cli(
        "run",
        f"{path}:echo",
        "--json",
        "-i",
        "code=007",  # annotated str: taken as typed, not as the number 7
        "-i",
        "count=3",
        "-i",
        'tags=["a", "b"]',
        "-i",
        "note=not json",
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["output"] == {
        "code": "007",
        "count": 3,
        "tags": ["a", "b"],
        "note": "not json",
    }


def test_inputs_come_from_a_json_file_and_i_overrides_them(
    cli: Cli, flow: Path, write: Callable[[str, str], Path]
) -> None:
    inputs = write("inputs.json", '{"name": "Ada", "times": 5}')

    result = cli(
        "run", f"{flow}:hello", "--input-json", str(inputs), "-i", "name=Bob", "--json"
    )

    assert json.loads(result.stdout)["output"] == {
        "message": "Hello, Bob!",
        "doubled": 10,
    }


def test_inputs_come_from_stdin_with_a_dash(cli: Cli, flow: Path) -> None:
    result = cli(
        "run", f"{flow}:hello", "--input-json", "-", "--json", stdin='{"name": "Cy"}'
    )

    assert json.loads(result.stdout)["output"]["message"] == "Hello, Cy!"


def test_a_failed_run_exits_1_with_the_table_and_one_error_line(
    cli: Cli, flow: Path
) -> None:
    result = cli("run", f"{flow}:broken")

    assert result.exit_code == 1
    assert row(result.stdout, "explode")[:2] == ["explode", "failed"]
    assert "RuntimeError: kaboom" in result.stdout
    assert row(result.stdout, "greet")[:2] == ["greet", "skipped"]
    *_, summary, recorded = result.stdout.splitlines()
    assert summary.startswith("Run failed in ")
    assert recorded.startswith("Run id ")  # a failed run is one to resume
    assert "Output:" not in result.stdout
    line = one_error_line(result)
    assert line.startswith("fiscus: error: The run failed: Task 'explode'")
    assert "RuntimeError: kaboom" in line


def test_a_failed_run_with_json_exits_1_and_prints_only_json(
    cli: Cli, flow: Path
) -> None:
    result = cli("run", f"{flow}:broken", "--json")

    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["status"] == "failed"
    assert data["tasks"]["explode"]["error"] == {
        "type": "RuntimeError",
        "message": "kaboom",
    }
    assert result.stderr == ""


# ---------------------------------------------------------------- bad usage


BAD_FILES = {
    "tracing.py": """
        from fiscus_dsl import task, workflow

        @task
        def fetch(x: int) -> int:
            return x

        @workflow
        def bad(x: int) -> int:
            value = fetch(x)
            if value:
                return fetch(1)
            return value
        """,
    "crash.py": """
        raise RuntimeError("no settings file")
        """,
}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.py:hello"], "No such file: missing.py"),
        (["{tmp}/flow.py:nope"], "has no workflow named 'nope'; its workflows: "),
        (["{tmp}/flow.py"], "has 2 workflows (broken, hello); name one"),
        (["{tmp}/flow.py:hello", "-i", "name"], "Bad input 'name'; write -i NAME"),
        (["{tmp}/flow.py:hello", "-i", "=x"], "Bad input '=x'"),
        (["{tmp}/flow.py:hello"], "Workflow 'hello' takes the inputs name, times"),
        (
            ["{tmp}/flow.py:hello", "-i", "name=A", "-i", "size=2"],
            "unknown keyword 'size'",
        ),
        (
            ["{tmp}/flow.py:hello", "-i", "name=A", "-i", "times=x"],
            "Workflow 'hello' got an invalid input ('times': ",
        ),
        (
            ["{tmp}/tracing.py:bad", "-i", "x=1"],
            "as a bool (if, and, or and not need its value while tracing) in "
            "workflow 'bad'",
        ),
        (["{tmp}/crash.py:x"], "Cannot import {tmp}/crash.py: RuntimeError: no "),
        (["{tmp}/inputs.txt"], "is not a Python file"),
        (["{tmp}/flow.py:hello", "--input-json", "{tmp}/none.json"], "Cannot read"),
        (["{tmp}/flow.py:hello", "--input-json", "{tmp}/inputs.txt"], "is not JSON"),
        (["{tmp}/flow.py:hello", "--input-json", "{tmp}/list.json"], "JSON object"),
    ],
)
def test_bad_usage_exits_2_with_one_error_line(
    cli: Cli,
    flow: Path,
    write: Callable[[str, str], Path],
    args: list[str],
    message: str,
) -> None:
    for name, text in BAD_FILES.items():
        write(name, text)
    write("inputs.txt", "name = Ada")
    write("list.json", "[1, 2]")
    tmp = str(flow.parent)

    result = cli("run", *[arg.format(tmp=tmp) for arg in args])

    assert result.exit_code == 2, result.output
    assert message.format(tmp=tmp) in one_error_line(result)
    assert result.stdout == ""


def test_a_tracing_error_with_json_is_bad_usage_too(
    cli: Cli, write: Callable[[str, str], Path]
) -> None:
    path = write("tracing.py", BAD_FILES["tracing.py"])

    result = cli("run", f"{path}:bad", "-i", "x=1", "--json")

    assert result.exit_code == 2
    assert "(tracing.py:10)" in one_error_line(result)


def test_a_failing_import_names_the_line(
    cli: Cli, write: Callable[[str, str], Path]
) -> None:
    path = write("crash.py", BAD_FILES["crash.py"])

    result = cli("run", f"{path}:x")

    assert one_error_line(result).endswith(
        "RuntimeError: no settings file (crash.py:1)"
    )


LONG_REASON = " ".join(f"w{number:03}" for number in range(1, 81))  # 399 characters


def table_text(output: str) -> str:
    """Return the printed table with its wrapped lines run together."""
    return " ".join(output.split())


def test_a_long_detail_wraps_instead_of_being_cut_at_the_column(
    cli: Cli, flow: Path
) -> None:
    result = cli("run", f"{flow}:broken", "-i", f"reason={LONG_REASON}")

    text = table_text(result.stdout.split("Run failed in ")[0])
    assert "RuntimeError: w001 w002" in text
    assert "w044 w045" in text  # 238 characters in: past a 120-column line
    assert "w080" not in text  # cut at 240 characters, with an ellipsis
    assert "…" in text


def test_full_shows_a_long_detail_whole(cli: Cli, flow: Path) -> None:
    result = cli("run", f"{flow}:broken", "-i", f"reason={LONG_REASON}", "--full")

    text = table_text(result.stdout.split("Run failed in ")[0])
    assert f"RuntimeError: {LONG_REASON}" in text
