"""Run stores named by URL: ``Runner(store="sqlite:///...")`` and ``FISCUS_STORE``.

Each test uses a real SQLite file under ``tmp_path``; a relative URL is
read from the test's own working directory. The PostgreSQL URLs open a
database of the test's own (``postgres_database``); psycopg's absence is
shown by hiding it from the import system.
"""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

import fiscus_dsl
from fiscus_dsl import (
    ConfigurationError,
    OptionTypeError,
    PostgresRunStore,
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
        ("mysql://db.example.test/runs", "is not a run store URL"),
        ("runs.db", "is not a run store URL"),
    ],
)
def test_a_url_that_is_no_store_is_refused_with_the_forms(url: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says) as caught:
        Runner(store=url)

    assert caught.value.option == "store"
    assert "sqlite:///runs.db" in str(caught.value)  # the forms to write
    assert "postgresql://user@host:5432/dbname" in str(caught.value)
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


def test_a_refused_url_shows_no_password() -> None:
    with pytest.raises(ConfigurationError, match="is not a run store URL") as caught:
        Runner(store="mysql://ada:s3cret@db.example.test/runs")

    assert "s3cret" not in str(caught.value)
    assert "mysql://ada:***@db.example.test/runs" in str(caught.value)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_postgresql_url_opens_a_postgres_store_on_first_use(
    postgres_database: str, scheme: str
) -> None:
    url = postgres_database.replace("postgresql://", f"{scheme}://", 1)

    runner = Runner(store=url)
    result = runner.run(flow, x=21)
    store = runner.store

    assert isinstance(store, PostgresRunStore)
    with store:
        run = store.load_run(result.run_id)
    assert run is not None
    assert run.tasks["double"].value == 42


def test_fiscus_store_may_name_postgresql(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, postgres_database)

    runner = Runner()
    result = runner.run(flow, x=2)
    store = runner.store

    assert isinstance(store, PostgresRunStore)
    store.close()
    opened = open_store(postgres_database)
    assert isinstance(opened, PostgresRunStore)
    with opened:
        run = opened.load_run(result.run_id)
    assert run is not None
    assert run.tasks["double"].value == 4


@pytest.fixture
def no_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide psycopg, as on an install without the postgres extra."""
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "fiscus_dsl._runtime.postgres_store")
    monkeypatch.delattr(fiscus_dsl, "PostgresRunStore", raising=False)


@pytest.mark.usefixtures("no_psycopg")
def test_a_postgresql_url_without_psycopg_says_how_to_install_it() -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"^store='postgresql://ada:\*\*\*@db\.example\.test/runs' names a "
        r"PostgreSQL store, and 'psycopg' is not installed; install fiscus_dsl's "
        r"postgres extra with pip install 'fiscus_dsl\[postgres\]'$",
    ) as caught:
        Runner(store="postgresql://ada:s3cret@db.example.test/runs")

    assert caught.value.option == "store"
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


@pytest.mark.usefixtures("no_psycopg")
def test_postgres_run_store_without_psycopg_says_how_to_install_it() -> None:
    with pytest.raises(
        ModuleNotFoundError, match=r"pip install 'fiscus_dsl\[postgres\]'$"
    ) as caught:
        fiscus_dsl.PostgresRunStore  # noqa: B018  (the first use is the test)

    assert caught.value.name == "psycopg"


def test_fiscus_dsl_imports_without_psycopg() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "import fiscus_dsl\n"
        "from fiscus_dsl import Runner\n"
        "print(sorted(m for m in sys.modules if m.startswith('psycopg_pool')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout

    assert out.splitlines() == ["[]"]
