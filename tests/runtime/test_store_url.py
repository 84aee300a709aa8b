"""Run stores named by URL: ``Runner(store="sqlite:///...")`` and ``FISCUS_STORE``.

Each test uses a real SQLite file under ``tmp_path``; a relative URL is
read from the test's own working directory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from fiscus_dsl import (
    ConfigurationError,
    OptionTypeError,
    Runner,
    RunStoreError,
    SQLiteRunStore,
    task,
    workflow,
)
from fiscus_dsl._runtime.store_url import ENVIRONMENT_VARIABLE, open_store

if TYPE_CHECKING:
    from pathlib import Path


@task
def double(x: int) -> int:
    return 2 * x


@workflow
def flow(x: int) -> int:
    return double(x)


def _recorded(path: Path, run_id: str) -> int:
    """Return the recorded value of ``double`` in the run, from the file itself."""
    with SQLiteRunStore(path) as store:
        run = store.load_run(run_id)
    assert run is not None
    value = run.tasks["double"].value
    assert isinstance(value, int)
    return value


@pytest.fixture(autouse=True)
def no_environment_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)


def test_a_relative_sqlite_url_is_a_file_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = Runner(store="sqlite:///runs.db").run(flow, x=21)

    assert _recorded(tmp_path / "runs.db", result.run_id) == 42


def test_an_absolute_sqlite_url_has_four_slashes(tmp_path: Path) -> None:
    path = tmp_path / "kept" / "runs.db"
    path.parent.mkdir()

    runner = Runner(store=f"sqlite:///{path}")  # sqlite:// + / + /tmp/...
    result = runner.run(flow, x=4)

    assert isinstance(runner.store, SQLiteRunStore)
    assert runner.store.path == str(path)
    assert _recorded(path, result.run_id) == 8


def test_fiscus_store_is_the_default_of_a_runner_given_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "env.db"
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, f"sqlite:///{path}")

    result = Runner().run(flow, x=5)
    unrecorded = Runner(store=None)

    assert _recorded(path, result.run_id) == 10
    assert unrecorded.store is None  # None says: record nothing


def test_an_empty_fiscus_store_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "  ")

    assert Runner().store is None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite:///", "names no file"),
        ("sqlite:///runs/", "names no file"),
        ("postgresql://fiscus@db.example.test/runs", "SQLite only"),
        ("postgres://db.example.test/runs", "SQLite only"),
        ("mysql://db.example.test/runs", "is not a run store URL"),
        ("runs.db", "is not a run store URL"),
    ],
)
def test_a_url_that_is_no_store_is_refused_with_the_forms(url: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says) as caught:
        Runner(store=url)

    assert caught.value.option == "store"
    assert "sqlite:///runs.db" in str(caught.value)  # the form to write
    assert not isinstance(caught.value, OptionTypeError)


def test_a_bad_fiscus_store_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "runs.db")

    with pytest.raises(ConfigurationError, match=r"FISCUS_STORE='runs\.db'") as caught:
        Runner()

    assert caught.value.option == ENVIRONMENT_VARIABLE


def test_a_store_that_is_neither_a_store_nor_a_url_is_a_type_error() -> None:
    with pytest.raises(OptionTypeError, match="store=42"):
        Runner(store=42)  # type: ignore[arg-type]  # the mistake under test


def test_make_folder_creates_the_missing_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "runs.db"

    with pytest.raises(RunStoreError, match="open the file"):  # no folder: refused
        open_store(f"sqlite:///{path}")
    store = open_store(f"sqlite:///{path}", make_folder=True)

    assert isinstance(store, SQLiteRunStore)
    assert path.exists()
    store.close()


def test_a_runner_given_a_url_makes_no_file_until_it_records(tmp_path: Path) -> None:
    path = tmp_path / "lazy.db"

    runner = Runner(store=f"sqlite:///{path}")
    assert not path.exists()
    runner.run(flow, x=1)

    assert path.exists()
