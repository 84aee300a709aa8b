"""The run store contract, on both stores: SQLite on a file, PostgreSQL on a server.

Every test takes ``backend``, parametrized ``sqlite`` (a file under
``tmp_path``) and ``postgres`` (a database of the test's own, from
``postgres_database``), and asserts the same behaviour of both: what is
recorded and read back, leases, ``interrupted`` runs, deletion, schema
refusal, and runs through a ``Runner``. PostgreSQL's own behaviour is in
``test_postgres_store.py``; runs in several processes in ``test_leases.py``.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import psycopg
import pytest

from fiscus_dsl import (
    Lease,
    PostgresRunStore,
    ResumeError,
    RunLocked,
    Runner,
    RunRecord,
    RunStatus,
    RunStoreError,
    SQLiteRunStore,
    TaskRecord,
    TaskStatus,
    task,
    workflow,
)
from fiscus_dsl._runtime.store import SCHEMA_VERSION

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

Store = SQLiteRunStore | PostgresRunStore

T0 = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
OTHER = "elsewhere:1:other"  # an owner on another host: never taken as dead


@dataclass
class Backend:
    """One store kind: how to open it, and the URL a ``Runner`` takes."""

    kind: str
    url: str
    opened: list[Store] = field(default_factory=list)

    def open(self, *, lease_seconds: float = 30.0) -> Store:
        store: Store
        if self.kind == "sqlite":
            store = SQLiteRunStore(self.path, lease_seconds=lease_seconds)
        else:
            store = PostgresRunStore(self.url, lease_seconds=lease_seconds)
        self.opened.append(store)
        return store

    @property
    def path(self) -> str:
        return self.url.removeprefix("sqlite:///")

    def rows(self, query: str) -> list[tuple[object, ...]]:
        """Read rows with the database's own client, as a SQL reader would."""
        if self.kind == "sqlite":
            with closing(sqlite3.connect(self.path)) as connection:
                return connection.execute(query).fetchall()
        with psycopg.connect(self.url) as connection:
            return connection.execute(query).fetchall()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'runs.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_database")
    opened = Backend(request.param, url)
    yield opened
    for store in opened.opened:
        store.close()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()


def _run(
    run_id: str, *, workflow: str = "onboard", started_at: datetime = T0
) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        workflow=workflow,
        status="running",
        inputs_json='{"name": "Zoë", "tags": ["a", "ü"]}',
        started_at=started_at,
        source="flows.py:onboard",
    )


def _finish(
    store: Store, lease: Lease, *tasks: TaskRecord, status: str = "succeeded"
) -> None:
    store.finish_run(
        lease,
        status=status,
        ended_at=T0 + timedelta(minutes=1),
        error_message=None if status == "succeeded" else "boom",
        tasks=tasks,
    )


# ---------------------------------------------------------------- round trip

FULL = TaskRecord(
    task_id="fetch[2]",
    name="fetch",
    status=TaskStatus.SUCCEEDED,
    value_json='{"contact": {"id": 7, "name": "Zoë 日本", '
    '"tags": [1, null, {"x": true}]}}',
    error_type=None,
    error_message=None,
    attempts=3,
    started_at=T0,
    ended_at=T0 + timedelta(seconds=1, microseconds=654321),
    inputs_digest="sha256:inputs",
    code_version="sha256:code",
)
FAILED = TaskRecord(
    task_id="send",
    name="send",
    status=TaskStatus.FAILED,
    error_type="HTTPStatusError",
    error_message="CRM answered 503 — «retry later»",
    attempts=1,
    started_at=T0.astimezone(
        timezone(timedelta(hours=2))
    ),  # another zone, same instant
    ended_at=None,
)
BARE = TaskRecord(
    task_id="audit",
    name="audit",
    status=TaskStatus.SKIPPED,
    reason="needs the value of 'send', which failed",
)


def test_a_run_round_trips_with_every_task_field(store: Store) -> None:
    lease = Lease("r1", "me:1:a")
    store.start_run(
        _run("r1", started_at=T0.astimezone(timezone(timedelta(hours=-5)))), lease
    )
    store.record_tasks(lease, [FULL])
    store.record_tasks(lease, [BARE])
    _finish(store, lease, FAILED, status="failed")

    run = store.load_run("r1")

    assert run is not None
    assert run.tasks == {"fetch[2]": FULL, "send": FAILED, "audit": BARE}
    assert run.tasks["fetch[2]"].value == {
        "contact": {"id": 7, "name": "Zoë 日本", "tags": [1, None, {"x": True}]}
    }
    assert (run.run_id, run.workflow, run.status) == ("r1", "onboard", "failed")
    assert run.inputs == {"name": "Zoë", "tags": ["a", "ü"]}
    assert (run.started_at, run.ended_at) == (T0, T0 + timedelta(minutes=1))
    assert run.started_at.tzinfo is not None
    assert (run.error_message, run.source) == ("boom", "flows.py:onboard")
    assert (run.owner, run.lease_expires_at, run.task_count) == ("me:1:a", None, 3)


def test_the_tasks_view_shows_each_tasks_latest_record_with_its_reason(
    backend: Backend,
) -> None:
    store = backend.open()
    lease = Lease("r1", "me:1:a")
    store.start_run(_run("r1"), lease)
    store.record_tasks(lease, [FAILED, BARE])
    _finish(store, lease, FAILED._replace(status=TaskStatus.SUCCEEDED))

    rows = backend.rows(
        "SELECT task_id, status, reason FROM tasks WHERE run_id = 'r1' ORDER BY task_id"
    )

    assert rows == [
        ("audit", "skipped", "needs the value of 'send', which failed"),
        ("send", "succeeded", None),
    ]


def test_load_run_of_an_unknown_id_is_none(store: Store) -> None:
    assert store.load_run("nope") is None


def test_a_later_record_of_a_task_replaces_the_earlier(store: Store) -> None:
    lease = Lease("r1", "me:1:a")
    store.start_run(_run("r1"), lease)
    store.record_tasks(lease, [FAILED, BARE])
    store.record_tasks(
        lease, [FAILED._replace(status=TaskStatus.SUCCEEDED, value_json="1")]
    )
    _finish(store, lease, BARE._replace(attempts=2))

    run = store.load_run("r1")

    assert run is not None
    assert run.tasks["send"].status is TaskStatus.SUCCEEDED
    assert run.tasks["send"].value == 1
    assert run.tasks["audit"].attempts == 2
    assert list(run.tasks) == ["send", "audit"]


def test_list_runs_is_newest_first_with_filters_limit_and_task_counts(
    store: Store,
) -> None:
    for n, (name, status) in enumerate(
        [("onboard", "succeeded"), ("billing", "failed"), ("onboard", "failed")]
    ):
        lease = Lease(f"r{n}", "me:1:a")
        store.start_run(
            _run(f"r{n}", workflow=name, started_at=T0 + timedelta(hours=n)), lease
        )
        store.record_tasks(
            lease, [BARE._replace(task_id=f"t{i}") for i in range(n + 1)]
        )
        _finish(store, lease, status=status)

    every = store.list_runs()

    assert [run.run_id for run in every] == ["r2", "r1", "r0"]
    assert [run.task_count for run in every] == [3, 2, 1]
    assert all(run.tasks == {} for run in every)
    assert [run.run_id for run in store.list_runs(workflow="onboard")] == ["r2", "r0"]
    assert [run.run_id for run in store.list_runs(status="failed")] == ["r2", "r1"]
    assert [r.run_id for r in store.list_runs(workflow="onboard", status="failed")] == [
        "r2"
    ]
    assert [run.run_id for run in store.list_runs(limit=2)] == ["r2", "r1"]
    assert store.list_runs(workflow="nothing") == []


# ---------------------------------------------------------------- leases


def test_a_running_run_whose_lease_lapsed_lists_as_interrupted(
    backend: Backend,
) -> None:
    store = backend.open(lease_seconds=0.2)
    store.start_run(_run("r1"), Lease("r1", OTHER, 0.2))

    (running,) = store.list_runs()
    time.sleep(0.3)
    (lapsed,) = store.list_runs()

    assert running.status == "running"
    assert running.lease_expires_at is not None
    assert lapsed.status == "interrupted"
    assert [run.run_id for run in store.list_runs(status="interrupted")] == ["r1"]
    assert store.list_runs(status="running") == []
    loaded = store.load_run("r1")
    assert loaded is not None
    assert loaded.status == "interrupted"


def test_another_owners_live_lease_raises_run_locked(store: Store) -> None:
    store.start_run(_run("r1"), Lease("r1", OTHER))

    with pytest.raises(
        RunLocked,
        match=rf"^Run 'r1' in {re.escape(repr(store))} is locked: {OTHER} holds "
        r"its lease \(it lapses in (29|30) s unless renewed\)\. That process is "
        r"running it now; wait for it to end, or resume the run once `fiscus "
        r"runs list` shows it as interrupted$",
    ) as caught:
        store.start_run(_run("r1"), Lease("r1", "me:1:a"))

    assert (caught.value.run_id, caught.value.owner) == ("r1", OTHER)
    assert caught.value.expires_in is not None
    assert 25 < caught.value.expires_in <= 30
    (run,) = store.list_runs()
    assert (run.status, run.owner) == ("running", OTHER)


def test_a_lapsed_lease_is_taken_over_keeping_the_first_start(backend: Backend) -> None:
    store = backend.open()
    store.start_run(_run("r1"), Lease("r1", OTHER, 0.2))
    time.sleep(0.3)

    later = _run("r1", started_at=T0 + timedelta(days=1))
    store.start_run(later, Lease("r1", "me:1:a"))

    run = store.load_run("r1")
    assert run is not None
    assert (run.status, run.owner, run.started_at) == ("running", "me:1:a", T0)


def test_the_same_owner_may_start_its_run_again(store: Store) -> None:
    lease = Lease("r1", "me:1:a")
    store.start_run(_run("r1"), lease)
    store.start_run(_run("r1"), lease)
    store.renew_lease(lease)
    store.record_tasks(lease, [])  # nothing to write: no batch

    (run,) = store.list_runs()
    assert (run.status, run.owner, run.task_count) == ("running", "me:1:a", 0)


def test_a_lost_owner_records_nothing_and_gets_run_locked(backend: Backend) -> None:
    store = backend.open()
    lost = Lease("r1", OTHER, 0.2)
    store.start_run(_run("r1"), lost)
    store.record_tasks(lost, [BARE])
    time.sleep(0.3)
    store.start_run(_run("r1"), Lease("r1", "me:1:a"))

    taken = r"is locked: me:1:a holds its lease"
    with pytest.raises(RunLocked, match=taken) as recording:
        store.record_tasks(lost, [FULL])
    with pytest.raises(RunLocked, match=taken):
        store.renew_lease(lost)
    with pytest.raises(RunLocked, match=taken):
        _finish(store, lost, FULL, status="failed")

    assert recording.value.owner == "me:1:a"
    run = store.load_run("r1")
    assert run is not None
    assert list(run.tasks) == ["audit"]
    assert (run.status, run.owner, run.task_count) == ("running", "me:1:a", 1)


def test_a_run_whose_local_owner_died_is_taken_at_once(store: Store) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = f"{socket.gethostname()}:{gone.stdout.strip()}:feed"
    store.start_run(_run("r1"), Lease("r1", dead))  # a live lease of 30 s

    (shown,) = store.list_runs()
    store.start_run(_run("r1"), Lease("r1", "me:1:a"))

    assert shown.status == "interrupted"
    (run,) = store.list_runs()
    assert (run.status, run.owner) == ("running", "me:1:a")


def test_a_deleted_run_cannot_be_written(store: Store) -> None:
    lease = Lease("r1", "me:1:a")
    store.start_run(_run("r1"), lease)
    _finish(store, lease)
    store.delete_runs(started_before=T0 + timedelta(days=1))

    with pytest.raises(
        RunStoreError, match=r"has no run 'r1': it was deleted"
    ) as caught:
        store.renew_lease(lease)

    assert (caught.value.store, caught.value.run_id) == (repr(store), "r1")


def test_delete_runs_keeps_a_run_whose_lease_is_live(backend: Backend) -> None:
    store = backend.open()
    cut = T0 + timedelta(days=1)
    for run_id, owner, seconds in [
        ("done", "me:1:a", 30.0),
        ("live", OTHER, 30.0),
        ("lapsed", OTHER, 0.2),
    ]:
        lease = Lease(run_id, owner, seconds)
        store.start_run(_run(run_id), lease)
        store.record_tasks(lease, [BARE])
        if run_id == "done":
            _finish(store, lease)
    new = Lease("new", "me:1:a")
    store.start_run(_run("new", started_at=cut + timedelta(hours=1)), new)
    _finish(store, new)
    time.sleep(0.3)

    deleted = store.delete_runs(started_before=cut)

    assert deleted == 2
    assert sorted(run.run_id for run in store.list_runs()) == ["live", "new"]
    assert store.load_run("done") is None
    assert store.load_run("lapsed") is None


# ---------------------------------------------------------------- schema, repr


def _set_schema_version(backend: Backend, version: int) -> None:
    if backend.kind == "sqlite":
        with sqlite3.connect(backend.path) as connection:
            connection.execute(f"PRAGMA user_version = {version}")
        return
    with psycopg.connect(backend.url, autocommit=True) as connection:
        connection.execute("UPDATE fiscus_schema SET version = %s", (version,))


def test_a_store_of_a_newer_schema_is_refused(backend: Backend) -> None:
    backend.open().close()
    _set_schema_version(backend, SCHEMA_VERSION + 1)

    with pytest.raises(
        ResumeError,
        match=rf"has schema version {SCHEMA_VERSION + 1}, newer than the "
        rf"{SCHEMA_VERSION} this fiscus_dsl reads; upgrade fiscus_dsl, or use "
        r"another (file|database)$",
    ) as caught:
        backend.open()

    assert caught.value.run_id is None


def test_a_store_reopened_keeps_its_runs(backend: Backend) -> None:
    with backend.open() as first:
        lease = Lease("r1", "me:1:a")
        first.start_run(_run("r1"), lease)
        _finish(first, lease, FULL)

    run = backend.open().load_run("r1")

    assert run is not None
    assert run.tasks == {"fetch[2]": FULL}


def test_the_repr_names_the_store_without_a_password(backend: Backend) -> None:
    if backend.kind == "sqlite":
        assert repr(backend.open()) == f"SQLiteRunStore({backend.path!r})"
        return
    url = backend.url.replace("://fiscus@", "://fiscus:s3cret@", 1)
    store = PostgresRunStore(url)
    backend.opened.append(store)

    assert repr(store) == f"PostgresRunStore({backend.url!r})"
    assert store.url == backend.url
    assert "s3cret" not in repr(store)


# ---------------------------------------------------------------- through a runner

called: list[str] = []
broken: set[str] = set()


@pytest.fixture(autouse=True)
def _fresh_calls() -> Iterator[None]:
    called.clear()
    broken.clear()
    yield
    called.clear()
    broken.clear()


@task
def lookup(name: str) -> dict[str, object]:
    called.append("lookup")
    return {"name": name, "id": 7, "nested": {"tags": ["ü", None]}}


@task
def greet(contact: dict[str, object]) -> str:
    called.append("greet")
    if "greet" in broken:
        msg = "greet is broken"
        raise RuntimeError(msg)
    return f"Hello, {contact['name']}"


@workflow
def hello(name: str) -> str:
    return greet(lookup(name))


def test_a_runner_records_a_run_and_resumes_it_serving_what_succeeded(
    backend: Backend,
) -> None:
    broken.add("greet")
    runner = Runner(store=backend.url)
    first = runner.run(hello, name="Zoë")
    broken.clear()
    resumed = runner.resume(hello, first.run_id)
    store = runner.store
    assert isinstance(store, SQLiteRunStore | PostgresRunStore)
    backend.opened.append(store)

    assert first.status is RunStatus.FAILED
    assert resumed.status is RunStatus.SUCCEEDED
    assert resumed.output == "Hello, Zoë"
    assert resumed.tasks["lookup"].reason == "resumed from the run store"
    assert called == ["lookup", "greet", "greet"]
    run = store.load_run(first.run_id)
    assert run is not None
    assert (run.status, run.workflow, run.inputs) == (
        "succeeded",
        "hello",
        {"name": "Zoë"},
    )
    assert run.tasks["lookup"].value == {
        "name": "Zoë",
        "id": 7,
        "nested": {"tags": ["ü", None]},
    }
    assert run.tasks["greet"].value == "Hello, Zoë"
    # Two tasks, greet recorded twice (failed, then succeeded): counted once.
    (listed,) = store.list_runs()
    assert (listed.task_count, len(run.tasks), run.task_count) == (2, 2, 2)
