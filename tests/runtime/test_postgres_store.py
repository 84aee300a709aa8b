"""PostgresRunStore's own behaviour, beyond the contract both stores share.

Each test runs against a database of its own (``postgres_database``) on
the session's server (``postgres_url``): a conninfo libpq cannot read, a
server that does not answer, a closed pool, processes migrating one new
database at once, the ``tasks`` view, and a database that goes away in the
middle of a run (its connections cut, new ones refused), then comes back.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import psycopg
import pytest
from loopback import free_port

from fiscus_dsl import (
    ConfigurationError,
    Lease,
    PostgresRunStore,
    Runner,
    RunRecord,
    RunStatus,
    RunStoreError,
    TaskRecord,
    TaskStatus,
    task,
    workflow,
)
from fiscus_dsl._runtime.store import SCHEMA_VERSION

if TYPE_CHECKING:
    from collections.abc import Iterator

T0 = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
DEADLINE = 20.0

FULL = TaskRecord(
    task_id="fetch",
    name="fetch",
    status=TaskStatus.SUCCEEDED,
    value_json='{"id": 7, "name": "Zoë"}',
    attempts=3,
    started_at=T0,
    ended_at=T0 + timedelta(seconds=1),
)
FAILED = TaskRecord(
    task_id="send", name="send", status=TaskStatus.FAILED, attempts=1, started_at=T0
)


def _run(run_id: str) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        workflow="onboard",
        status="running",
        inputs_json="{}",
        started_at=T0,
    )


def test_a_conninfo_libpq_cannot_read_is_a_configuration_error() -> None:
    with pytest.raises(
        ConfigurationError, match=r"^PostgresRunStore\(conninfo\) is not a PostgreSQL"
    ) as caught:
        PostgresRunStore("host=db password secret")

    assert caught.value.option == "conninfo"
    assert "secret" not in str(caught.value)


def test_a_server_that_does_not_answer_is_a_run_store_error() -> None:
    port = free_port()
    url = f"postgresql://ada:s3cret@127.0.0.1:{port}/runs"

    with pytest.raises(
        RunStoreError,
        match=r"^Run store PostgresRunStore\('postgresql://ada@127\.0\.0\.1:"
        rf"{port}/runs'\) could not open the database: OperationalError: .+ "
        r"Connection refused .+; check that the server is up and reachable and "
        r"that its user may write the database$",
    ) as caught:
        PostgresRunStore(url, timeout=2)

    assert "s3cret" not in str(caught.value)
    assert (
        caught.value.store
        == f"PostgresRunStore('postgresql://ada@127.0.0.1:{port}/runs')"
    )
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)


def test_a_closed_store_raises_run_store_error(postgres_database: str) -> None:
    store = PostgresRunStore(postgres_database)
    store.close()

    with pytest.raises(
        RunStoreError, match=r"could not read run 'r1': PoolClosed"
    ) as caught:
        store.load_run("r1")

    assert caught.value.run_id == "r1"


def test_processes_opening_a_new_database_at_once_migrate_it_once(
    postgres_database: str,
) -> None:
    stores: list[PostgresRunStore] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_one() -> None:
        start.wait()
        try:
            stores.append(PostgresRunStore(postgres_database))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()

    assert errors == []
    with psycopg.connect(postgres_database) as connection:
        versions = connection.execute("SELECT version FROM fiscus_schema").fetchall()
    assert versions == [(SCHEMA_VERSION,)]


def test_the_tasks_view_shows_each_tasks_latest_record(postgres_database: str) -> None:
    with PostgresRunStore(postgres_database) as store:
        lease = Lease("r1", "me:1:a")
        store.start_run(_run("r1"), lease)
        store.record_tasks(lease, [FAILED, FULL])
        store.finish_run(
            lease,
            status="succeeded",
            ended_at=T0,
            error_message=None,
            tasks=[FAILED._replace(status=TaskStatus.SUCCEEDED, attempts=2)],
        )

    with psycopg.connect(postgres_database) as connection:
        rows = connection.execute(
            "SELECT task_id, status, attempts, started_at, value FROM tasks "
            "ORDER BY task_id"
        ).fetchall()

    assert rows == [
        ("fetch", "succeeded", 3, T0, FULL.value_json),
        ("send", "succeeded", 2, T0, None),
    ]


# ---------------------------------------------------------------- the server goes away

release = threading.Event()


@pytest.fixture(autouse=True)
def _released() -> Iterator[None]:
    release.clear()
    yield
    release.set()


@task
def before(x: int) -> int:
    return x + 1


@task
def after(n: int) -> int:
    release.wait(DEADLINE)
    return n * 2


@workflow
def severed(x: int) -> int:
    return after(before(x))


def _accept_connections(server_url: str, database: str, *, accept: bool) -> None:
    """Let the database take connections or not; cut its open ones when not."""
    name = urlsplit(database).path.lstrip("/")
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {str(accept).lower()}")
        if not accept:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s",
                (name,),
            )


def _wait_for_a_task(store: PostgresRunStore) -> str:
    """Return the id of the store's one run once it recorded a task."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        runs = store.list_runs()
        if runs and runs[0].task_count:
            return runs[0].run_id
        time.sleep(0.02)
    raise TimeoutError


def test_a_database_gone_mid_run_fails_the_run_and_it_resumes_once_back(
    postgres_url: str, postgres_database: str
) -> None:
    store = PostgresRunStore(postgres_database, timeout=1)
    results = []
    running = threading.Thread(
        target=lambda: results.append(Runner(store=store).run(severed, x=1))
    )
    running.start()
    run_id = _wait_for_a_task(store)

    _accept_connections(postgres_url, postgres_database, accept=False)
    release.set()  # ``after`` settles: its record is the first write to fail
    running.join(DEADLINE)
    _accept_connections(postgres_url, postgres_database, accept=True)
    store.close()

    (result,) = results
    assert result.status is RunStatus.FAILED
    error = result.error
    assert isinstance(error, RunStoreError)
    assert (error.store, error.run_id) == (repr(store), run_id)
    # The end follows at once: the writer records it with ``after``, or after.
    assert re.match(
        rf"^Run store {re.escape(repr(store))} could not record (task 'after' of "
        rf"run|the end of run) '{run_id}': PoolTimeout: couldn't get a connection "
        r"after 1\.00 sec; check that the server is up and reachable and that "
        r"its user may write the database, then resume the run$",
        str(error),
    ), str(error)
    assert result["after"].value == 4  # it ran; its record was lost with the server
    with PostgresRunStore(postgres_database) as back:
        record = back.load_run(run_id)
        assert record is not None
        assert record.status == "interrupted"  # its owner, this process, ended
        assert list(record.tasks) == ["before"]
        resumed = Runner(store=back).resume(severed, run_id)

    assert resumed.status is RunStatus.SUCCEEDED
    assert resumed.output == 4
    assert resumed.tasks["before"].reason == "resumed from the run store"
