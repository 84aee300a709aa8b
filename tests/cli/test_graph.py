"""``fiscus graph``: Mermaid, DOT and JSON, without running anything."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from .conftest import one_error_line

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .conftest import Cli

GUARDED = """
    from fiscus_dsl import otherwise, task, when, workflow

    RAN: list[str] = []

    @task
    def score(user: str) -> int:
        RAN.append(user)
        return 90

    @task
    def notify(user: str) -> str:
        return user

    @task
    def archive(user: str) -> None:
        return None

    @workflow
    def review(user: str) -> None:
        s = score(user)
        with when(s > 80):
            notify(user)
        with otherwise():
            archive(user)
    """


@pytest.fixture
def review(write: Callable[[str, str], Path]) -> Path:
    return write("review.py", GUARDED)


def test_graph_prints_mermaid_by_default(cli: Cli, review: Path) -> None:
    result = cli("graph", f"{review}:review")

    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "flowchart TD",
        '    n0["score"]',
        '    n1["notify"]',
        '    n2["archive"]',
        '    n0 -->|"score #gt; 80"| n1',
        '    n0 -->|"not (score #gt; 80)"| n2',
    ]


def test_graph_prints_dot(cli: Cli, review: Path) -> None:
    result = cli("graph", f"{review}:review", "--format", "dot")

    assert result.exit_code == 0
    assert result.stdout.startswith('digraph "review" {\n')
    assert '    n0 -> n1 [label="score > 80"];' in result.stdout.splitlines()


def test_graph_prints_json(cli: Cli, review: Path) -> None:
    result = cli("graph", f"{review}:review", "-f", "JSON")

    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["name"] == "review"
    assert data["inputs"] == ["user"]
    assert [node["id"] for node in data["nodes"]] == ["score", "notify", "archive"]


def test_graph_takes_inputs_as_run_does(cli: Cli, review: Path) -> None:
    result = cli("graph", f"{review}:review", "-f", "json", "-i", "user=ada")

    assert json.loads(result.stdout)["inputs"] == []


def test_graph_runs_nothing(cli: Cli, review: Path) -> None:
    import sys

    cli("graph", f"{review}:review")

    assert sys.modules["review"].RAN == []


def test_an_unknown_format_is_bad_usage(cli: Cli, review: Path) -> None:
    result = cli("graph", f"{review}:review", "-f", "svg")

    assert result.exit_code == 2
    assert "Unknown --format 'svg'; use one of mermaid, dot, json" in one_error_line(
        result
    )


def test_a_tracing_error_is_bad_usage(
    cli: Cli, write: Callable[[str, str], Path]
) -> None:
    path = write(
        "loop.py",
        """
        from fiscus_dsl import task, workflow

        @task
        def items() -> list[int]:
            return [1]

        @workflow
        def loop() -> None:
            for item in items():
                print(item)
        """,
    )

    result = cli("graph", str(path))

    assert result.exit_code == 2
    assert "(loop.py:9)" in one_error_line(result)
