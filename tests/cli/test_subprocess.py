"""The ``fiscus`` command as users start it: ``python -m fiscus_dsl`` and the script."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .conftest import ENV, row

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .conftest import Cli

SCRIPT = Path(sys.executable).with_name("fiscus")


def run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **{k: v for k, v in ENV.items() if v is not None}}
    for name in [k for k, v in ENV.items() if v is None]:
        env.pop(name, None)
    return subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=60, env=env
    )


def test_python_m_fiscus_dsl_demo_succeeds_with_every_task() -> None:
    done = run([sys.executable, "-m", "fiscus_dsl", "demo"])

    assert done.returncode == 0, done.stderr
    for task_id in ("create_contact", "verify_mailbox", "welcome_subject"):
        assert row(done.stdout, task_id)[1] == "succeeded"
    assert row(done.stdout, "send_email")[1] == "succeeded"
    assert row(done.stdout, "page_ops")[1] == "skipped"
    assert "All 4 tasks that ran succeeded" in done.stdout
    assert done.stderr == ""


def test_the_console_script_prints_a_flowchart(flow: Path) -> None:
    done = run([str(SCRIPT), "graph", f"{flow}:hello"])

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("flowchart TD\n")


def test_the_console_script_exits_2_with_one_line_for_bad_usage() -> None:
    done = run([str(SCRIPT), "run", "nowhere.py:flow"])

    assert done.returncode == 2
    assert done.stderr == "fiscus: error: No such file: nowhere.py\n"
    assert done.stdout == ""


def test_the_version_is_the_package_version() -> None:
    done = run([sys.executable, "-m", "fiscus_dsl", "--version"])

    assert done.stdout == f"fiscus_dsl {importlib.metadata.version('fiscus_dsl')}\n"


def test_version_in_process(cli: Cli) -> None:
    result = cli("--version")

    assert result.exit_code == 0
    assert result.stdout.startswith("fiscus_dsl ")
