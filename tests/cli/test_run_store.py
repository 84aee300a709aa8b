"""``fiscus run`` records runs: in ``.fiscus/runs.db``, or where a store URL says.

The CLI conftest points ``FISCUS_STORE`` at the test's directory; the
tests of the ``.fiscus`` default remove it and work in ``tmp_path``.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from fiscus_dsl import SQLiteRunStore

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from .conftest import Cli

RUN_ID = re.compile(r"^Run id ([0-9a-f]{32}), recorded in SQLiteRunStore\('(.+)'\)$")


def _printed(stdout: str) -> tuple[str, str]:
    """Return the run id and the store path of the last line."""
    found = RUN_ID.match(stdout.splitlines()[-1])
    assert found is not None, stdout
    return found.group(1), found.group(2)


def _runs(path: Path) -> list[str]:
    with SQLiteRunStore(path) as store:
        return [run.run_id for run in store.list_runs()]


def test_a_run_is_recorded_in_dot_fiscus_under_the_working_directory(
    cli: Cli, flow: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FISCUS_STORE")
    monkeypatch.chdir(tmp_path)

    result = cli("run", f"{flow}:hello", "-i", "name=Ada")

    assert result.exit_code == 0, result.output
    run_id, where = _printed(result.stdout)
    assert where == ".fiscus/runs.db"
    assert _runs(tmp_path / ".fiscus" / "runs.db") == [run_id]


def test_fiscus_store_names_the_default_store(
    cli: Cli, flow: Path, recorded_in_the_test: Path
) -> None:
    first = cli("run", f"{flow}:hello", "-i", "name=Ada")
    second = cli("run", f"{flow}:hello", "-i", "name=Bo")

    ids = [_printed(result.stdout)[0] for result in (first, second)]
    assert _runs(recorded_in_the_test) == ids[::-1]  # newest first


def test_store_chooses_another_store_and_makes_its_folder(
    cli: Cli, flow: Path, tmp_path: Path, recorded_in_the_test: Path
) -> None:
    chosen = tmp_path / "elsewhere" / "chosen.db"

    result = cli(
        "run", f"{flow}:hello", "-i", "name=Ada", "--store", f"sqlite:///{chosen}"
    )

    run_id, where = _printed(result.stdout)
    assert where == str(chosen)
    assert _runs(chosen) == [run_id]
    assert not recorded_in_the_test.exists()


def test_no_store_records_nothing_and_prints_no_run_id(
    cli: Cli, flow: Path, recorded_in_the_test: Path
) -> None:
    result = cli("run", f"{flow}:hello", "-i", "name=Ada", "--no-store")

    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1].startswith("Run succeeded in ")
    assert not recorded_in_the_test.exists()


def test_json_runs_are_recorded_and_print_only_json(
    cli: Cli, flow: Path, recorded_in_the_test: Path
) -> None:
    result = cli("run", f"{flow}:hello", "-i", "name=Ada", "--json")

    data = json.loads(result.stdout)
    assert _runs(recorded_in_the_test) == [data["run_id"]]


def test_a_bad_store_url_is_one_error_line_and_runs_nothing(
    cli: Cli, flow: Path, tmp_path: Path
) -> None:
    result = cli("run", f"{flow}:hello", "-i", "name=Ada", "--store", "runs.db")

    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("fiscus: error: --store='runs.db' is not a run store URL")
