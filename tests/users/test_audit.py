"""The audit log of end users' actions: events, the logging log, the SQL logs.

Real components throughout: the ``fiscus_dsl.audit`` logger read with
caplog, SQLite files in a temporary folder (beside a ``SQLiteRunStore``'s
tables), the session's PostgreSQL server (``postgres_database``) beside a
``PostgresRunStore``'s, and a real run for the attempt an event takes its
run and task from. Write failures are real too: a table dropped by another
connection, a file another connection holds locked, a closed store.
"""

from __future__ import annotations

import gc
import logging
import sqlite3
import threading
import warnings
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from loopback import free_port

from fiscus_dsl import (
    ConfigurationError,
    FiscusWarning,
    PostgresRunStore,
    Retry,
    Runner,
    RunStoreError,
    Secret,
    SQLiteRunStore,
    task,
    workflow,
)
from fiscus_dsl._users.audit import (
    AuditAction,
    AuditEvent,
    CombinedAuditLog,
    LoggingAuditLog,
    PostgresAuditLog,
    SQLiteAuditLog,
    audit_log_for,
)

if TYPE_CHECKING:
    from pathlib import Path

    from fiscus_dsl._users.audit import AuditLog

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FIELDS = ("at", "user_id", "action", "connector", "operation", "detail", "run_id",
          "task_id")  # fmt: skip


def _event(
    user_id: str = "u-1",
    *,
    minutes: int = 0,
    action: AuditAction = AuditAction.CALL_DENIED,
    connector: str | None = None,
    operation: str | None = None,
    detail: str = "",
    run_id: str | None = None,
    task_id: str | None = None,
) -> AuditEvent:
    return AuditEvent(
        at=T0 + timedelta(minutes=minutes),
        user_id=user_id,
        action=action,
        connector=connector,
        operation=operation,
        detail=detail,
        run_id=run_id,
        task_id=task_id,
    )


def _fields(record: logging.LogRecord) -> dict[str, str | None]:
    """Return the event fields a LoggingAuditLog put on a log record."""
    fields: dict[str, str | None] = record.__dict__["fiscus_audit"]
    return fields


# A retried task: a plain one runs on the runner's hot path, without an
# attempt (connector operations always have one).
@task(retry=Retry(attempts=2))
def audited() -> list[str | None]:
    event = AuditEvent(user_id="u-1", action=AuditAction.CALL_ALLOWED)
    return [event.run_id, event.task_id]


@workflow
def audit_flow() -> list[str | None]:
    return audited()


# ---------------------------------------------------------------- events


def test_an_event_inside_a_task_takes_the_attempts_run_and_task() -> None:
    result = Runner().run(audit_flow)

    assert result.output == [result.run_id, "audited"]


@task
def unattended() -> list[str | None]:
    event = AuditEvent(user_id="u-1", action=AuditAction.CALL_ALLOWED)
    return [event.run_id, event.task_id]


@workflow
def unattended_flow() -> list[str | None]:
    return unattended()


def test_an_event_in_a_task_without_an_attempt_has_no_run() -> None:
    assert Runner().run(unattended_flow).output == [None, None]


def test_a_stored_event_read_back_inside_a_task_keeps_no_run(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    with SQLiteAuditLog(path) as log:
        log.record(_event())

    @task(retry=Retry(attempts=2))
    def read_back() -> list[str | None]:
        with SQLiteAuditLog(path) as reader:
            (event,) = reader.events()
        return [event.run_id, event.task_id]

    @workflow
    def reading() -> list[str | None]:
        return read_back()

    assert Runner().run(reading).output == [None, None]


def test_an_event_outside_a_run_has_no_run_and_keeps_given_ones() -> None:
    assert (_event().run_id, _event().task_id) == (None, None)
    given = _event(run_id="r-1", task_id="t-1")
    assert (given.run_id, given.task_id) == ("r-1", "t-1")


def test_an_event_keeps_its_time_in_utc_and_takes_an_actions_value() -> None:
    paris = timezone(timedelta(hours=2))
    event = AuditEvent(
        at=datetime(2024, 5, 1, 14, 0, tzinfo=paris),
        user_id="u",
        action="role_removed",  # type: ignore[arg-type]  # the value is taken too
    )

    assert event.at == T0
    assert event.at.tzinfo is UTC
    assert event.action is AuditAction.ROLE_REMOVED


def test_an_event_refuses_a_naive_time() -> None:
    with pytest.raises(
        ConfigurationError, match=r"^Audit time at=.* has no time zone"
    ) as caught:
        AuditEvent(
            at=datetime(2024, 5, 1),  # noqa: DTZ001  (naive on purpose)
            user_id="u",
            action=AuditAction.CALL_DENIED,
        )

    assert caught.value.option == "at"


def test_an_event_refuses_an_unknown_action() -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"^AuditEvent\(action='deleted'\) is not an audit action; use one "
        r"of 'call_allowed', 'call_denied', ",
    ) as caught:
        AuditEvent(user_id="u", action="deleted")  # type: ignore[arg-type]  # on purpose

    assert caught.value.option == "action"


def test_an_events_detail_masks_a_registered_secret() -> None:
    Secret("tok-123")

    event = _event(detail="refresh with tok-123 was refused")

    assert event.detail == "refresh with ********** was refused"


# ---------------------------------------------------------------- logging


@pytest.mark.parametrize("action", list(AuditAction))
def test_the_logging_log_writes_denials_and_failures_at_warning_the_rest_at_info(
    caplog: pytest.LogCaptureFixture, action: AuditAction
) -> None:
    caplog.set_level(logging.INFO, logger="fiscus_dsl.audit")

    LoggingAuditLog().record(_event(action=action))

    (record,) = caplog.records
    expected = (
        logging.WARNING
        if action in {AuditAction.CALL_DENIED, AuditAction.TOKEN_REFRESH_FAILED}
        else logging.INFO
    )
    assert (record.name, record.levelno) == ("fiscus_dsl.audit", expected)


def test_the_logging_log_record_carries_the_events_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="fiscus_dsl.audit")
    Secret("tok-456")
    event = _event(
        connector="crm",
        operation="delete_contact",
        detail="no policy grants it (token tok-456)",
        run_id="r-1",
        task_id="sync",
    )

    LoggingAuditLog().record(event)

    (record,) = caplog.records
    assert record.getMessage() == (
        "Audit: call_denied, user 'u-1', connector 'crm', operation "
        "'delete_contact', run r-1, task 'sync': no policy grants it (token "
        "**********)"
    )
    assert _fields(record) == {
        "at": "2024-05-01T12:00:00+00:00",
        "user_id": "u-1",
        "action": "call_denied",
        "connector": "crm",
        "operation": "delete_contact",
        "detail": "no policy grants it (token **********)",
        "run_id": "r-1",
        "task_id": "sync",
    }


def test_the_logging_log_keeps_the_newest_events_in_memory() -> None:
    log = LoggingAuditLog(keep=3)
    for minute in range(5):
        log.record(_event(f"u-{minute % 2}", minutes=minute))

    assert [e.at.minute for e in log.events()] == [2, 3, 4]
    assert [e.at.minute for e in log.events(user_id="u-0")] == [2, 4]
    assert [e.at.minute for e in log.events(since=T0 + timedelta(minutes=3))] == [3, 4]
    assert [e.at.minute for e in log.events(limit=2)] == [3, 4]
    assert log.events(limit=0) == []


def test_the_logging_log_refuses_a_negative_keep() -> None:
    with pytest.raises(ConfigurationError, match=r"keep=-1\) is negative") as caught:
        LoggingAuditLog(keep=-1)

    assert caught.value.option == "keep"


def test_a_query_refuses_a_negative_limit_and_a_naive_since() -> None:
    log = LoggingAuditLog()

    with pytest.raises(ConfigurationError, match=r"limit=-1\) is negative") as caught:
        log.events(limit=-1)
    assert caught.value.option == "limit"
    with pytest.raises(ConfigurationError, match="has no time zone") as caught:
        log.events(since=datetime(2024, 5, 1))  # noqa: DTZ001  (naive on purpose)
    assert caught.value.option == "since"


def test_a_combined_log_records_in_each_and_reads_the_last() -> None:
    first, last = LoggingAuditLog(), LoggingAuditLog()
    combined = CombinedAuditLog(first, last)
    combined.record(_event("u-1"))
    last.record(_event("u-2"))

    assert [e.user_id for e in first.events()] == ["u-1"]
    assert [e.user_id for e in combined.events()] == ["u-1", "u-2"]
    assert repr(combined) == (
        "CombinedAuditLog(LoggingAuditLog(logger='fiscus_dsl.audit'), "
        "LoggingAuditLog(logger='fiscus_dsl.audit'))"
    )
    with pytest.raises(ConfigurationError, match="needs at least one log"):
        CombinedAuditLog()


# ---------------------------------------------------------------- SQLite


def test_sqlite_events_are_read_back_by_another_log_on_the_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    with SQLiteAuditLog(path) as writer:
        writer.record(_event("u-1", minutes=0, connector="crm", operation="get"))
        writer.record(_event("u-2", minutes=1, action=AuditAction.ROLE_ASSIGNED))
        writer.record(_event("u-1", minutes=2, run_id="r-1", task_id="t"))
        written = writer.events()

    with SQLiteAuditLog(str(path)) as reader:
        assert reader.events() == written
        assert [e.at.minute for e in reader.events(user_id="u-1")] == [0, 2]
        assert [
            e.at.minute for e in reader.events(since=T0 + timedelta(minutes=1))
        ] == [1, 2]
        assert [
            e.at.minute
            for e in reader.events(user_id="u-1", since=T0 + timedelta(seconds=1))
        ] == [2]
        assert [e.at.minute for e in reader.events(limit=2)] == [1, 2]
    assert written[0] == _event("u-1", connector="crm", operation="get")
    assert written[2].run_id == "r-1"


def test_sqlite_since_compares_times_not_text(tmp_path: Path) -> None:
    with SQLiteAuditLog(tmp_path / "audit.db") as log:
        log.record(_event(minutes=0))  # no microseconds
        log.record(
            AuditEvent(
                at=T0 + timedelta(microseconds=5),
                user_id="u-1",
                action=AuditAction.CALL_ALLOWED,
            )
        )

        found = log.events(since=T0 + timedelta(microseconds=1))

    assert [e.action for e in found] == [AuditAction.CALL_ALLOWED]


def test_sqlite_stores_a_registered_secret_masked(tmp_path: Path) -> None:
    Secret("tok-789")
    path = tmp_path / "audit.db"
    with SQLiteAuditLog(path) as log:
        log.record(_event(detail="Bearer tok-789 refused"))

    with sqlite3.connect(path) as raw:
        rows = raw.execute("SELECT detail FROM fiscus_audit").fetchall()
    assert rows == [("Bearer ********** refused",)]
    assert b"tok-789" not in path.read_bytes()


def _run_store_works(path: Path) -> None:
    with SQLiteRunStore(path) as store:
        result = Runner(store=store).run(audit_flow)
        loaded = store.load_run(result.run_id)
    assert loaded is not None
    assert loaded.status == "succeeded"


def test_sqlite_table_sits_beside_a_run_stores_tables_and_both_keep_working(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.db"
    with SQLiteRunStore(path) as store:
        first = Runner(store=store).run(audit_flow)
        with SQLiteAuditLog(store) as log:
            log.record(_event())
        assert store.load_run(first.run_id) is not None
    _run_store_works(path)

    with SQLiteAuditLog(path) as again:
        assert [e.user_id for e in again.events()] == ["u-1"]
    with sqlite3.connect(path) as raw:
        tables = {
            name
            for (name,) in raw.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        }
        (version,) = raw.execute("PRAGMA user_version").fetchone()
    assert {"runs", "task_batches", "fiscus_audit"} <= tables
    assert version > 0


def test_a_run_store_opens_a_file_the_audit_log_made_first(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    with SQLiteAuditLog(path) as log:
        log.record(_event())

    _run_store_works(path)

    with SQLiteAuditLog(path) as log:
        assert len(log.events()) == 1


def test_sqlite_opening_a_missing_folder_is_a_run_store_error(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "audit.db"

    with pytest.raises(
        RunStoreError,
        match=r"^Audit log SQLiteAuditLog\(.*audit\.db'\) could not open the "
        r"database: OperationalError",
    ) as caught:
        SQLiteAuditLog(path)

    assert caught.value.store == f"SQLiteAuditLog({str(path)!r})"


def test_sqlite_opening_a_file_that_is_not_a_database_is_a_run_store_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database, " * 100)

    with pytest.raises(
        RunStoreError,
        match="could not open the database: DatabaseError: file is not a database",
    ):
        SQLiteAuditLog(path)


def _recorded_with_warning(log: AuditLog, caplog: pytest.LogCaptureFixture) -> None:
    """Record one event into a failing log: it warns, logs it, and does not raise."""
    caplog.set_level(logging.INFO, logger="fiscus_dsl.audit")
    with pytest.warns(
        FiscusWarning,
        match=r"could not store the call_denied event of user 'u-1'.*went on\. "
        r"Cause: Audit log ",
    ) as caught:
        log.record(_event(detail="no policy grants it"))

    assert caught[0].filename == __file__
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert (
        errors[0].getMessage().endswith("call_denied, user 'u-1': no policy grants it")
    )
    assert _fields(errors[0])["detail"] == "no policy grants it"


def test_a_sqlite_write_to_a_dropped_table_warns_and_does_not_raise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.db"
    with SQLiteAuditLog(path) as log:
        with sqlite3.connect(path) as other:
            other.execute("DROP TABLE fiscus_audit")

        _recorded_with_warning(log, caplog)


def test_a_sqlite_write_to_a_file_locked_past_the_timeout_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "audit.db"
    with SQLiteAuditLog(path, timeout=0.05) as log:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            _recorded_with_warning(log, caplog)
        finally:
            other.execute("ROLLBACK")
            other.close()
        log.record(_event("u-2"))  # the lock gone, writes work again
        assert [e.user_id for e in log.events()] == ["u-2"]


def test_a_write_to_a_closed_sqlite_log_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = SQLiteAuditLog(tmp_path / "audit.db")
    log.close()

    _recorded_with_warning(log, caplog)
    with pytest.raises(RunStoreError, match="could not read its audit events"):
        log.events()


def test_sqlite_logs_on_one_file_take_writes_from_many_threads(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    with SQLiteAuditLog(path) as first, SQLiteAuditLog(path) as second:

        def write(log: SQLiteAuditLog, user_id: str) -> None:
            for minute in range(25):
                log.record(_event(user_id, minutes=minute))

        threads = [
            threading.Thread(target=write, args=(log, f"u-{number}"))
            for number, log in enumerate([first, second, first, second])
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert len(first.events(limit=1000)) == 100
        assert len(second.events(user_id="u-3")) == 25


# ---------------------------------------------------------------- audit_log_for


def test_audit_log_for_no_store_or_an_unknown_one_is_the_logging_log() -> None:
    log = audit_log_for(None)

    assert isinstance(log, LoggingAuditLog)
    assert audit_log_for(object()) is log
    assert audit_log_for("sqlite:///runs.db") is log


def test_audit_log_for_a_sqlite_store_logs_and_stores_once_per_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fiscus_dsl.audit")
    with SQLiteRunStore(tmp_path / "runs.db") as store:
        log = audit_log_for(store)
        log.record(_event("u-for"))

        assert audit_log_for(store) is log
        assert isinstance(log, CombinedAuditLog)
        assert [type(part) for part in log.logs] == [LoggingAuditLog, SQLiteAuditLog]
        assert log.logs[0] is audit_log_for(None)
        assert [e.user_id for e in log.events()] == ["u-for"]
        with SQLiteRunStore(tmp_path / "other.db") as other:
            assert audit_log_for(other) is not log
    assert [_fields(r)["user_id"] for r in caplog.records] == ["u-for"]
    with SQLiteAuditLog(tmp_path / "runs.db") as reader:
        assert [e.user_id for e in reader.events()] == ["u-for"]


def test_the_sql_log_of_a_collected_store_is_closed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteRunStore(tmp_path / "runs.db")
    log = audit_log_for(store)
    assert isinstance(log, CombinedAuditLog)
    sql = log.logs[1]
    store.close()
    del store, log
    gc.collect()

    _recorded_with_warning(sql, caplog)


# ---------------------------------------------------------------- PostgreSQL


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def test_postgres_events_are_read_back_by_another_log(postgres_database: str) -> None:
    with PostgresAuditLog(postgres_database) as writer:
        writer.record(_event("u-1", minutes=0, connector="crm", operation="get"))
        writer.record(_event("u-2", minutes=1, action=AuditAction.TOKEN_REFRESHED))
        writer.record(_event("u-1", minutes=2, run_id="r-1", task_id="t"))
        written = writer.events()

    with PostgresAuditLog(postgres_database) as reader:
        assert reader.events() == written
        assert [e.at.minute for e in reader.events(user_id="u-1")] == [0, 2]
        assert [
            e.at.minute for e in reader.events(since=T0 + timedelta(minutes=1))
        ] == [1, 2]
        assert [
            e.at.minute
            for e in reader.events(user_id="u-1", since=T0 + timedelta(seconds=1))
        ] == [2]
        assert [e.at.minute for e in reader.events(limit=1)] == [2]
    assert written[0] == _event("u-1", connector="crm", operation="get")
    assert written[0].at.tzinfo is UTC


def test_postgres_stores_a_registered_secret_masked(postgres_database: str) -> None:
    Secret("tok-pg-321")
    with PostgresAuditLog(postgres_database) as log:
        log.record(_event(detail="token tok-pg-321 expired"))

    with psycopg.connect(postgres_database) as raw:
        rows = raw.execute("SELECT detail FROM fiscus_audit").fetchall()
    assert rows == [("token ********** expired",)]


def test_postgres_table_sits_beside_a_run_stores_tables_through_its_pool(
    postgres_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fiscus_dsl.audit")
    with PostgresRunStore(postgres_database) as store:
        log = audit_log_for(store)
        assert audit_log_for(store) is log
        assert isinstance(log, CombinedAuditLog)
        assert [type(part) for part in log.logs] == [LoggingAuditLog, PostgresAuditLog]
        log.record(_event("u-pg"))
        result = Runner(store=store).run(audit_flow)
        assert store.load_run(result.run_id) is not None
        assert [e.user_id for e in log.events()] == ["u-pg"]

    with PostgresRunStore(postgres_database) as again:
        assert again.load_run(result.run_id) is not None
    with PostgresAuditLog(postgres_database) as reader:
        assert [e.user_id for e in reader.events()] == ["u-pg"]
    assert [_fields(r)["user_id"] for r in caplog.records] == ["u-pg"]


def test_a_postgres_write_to_a_dropped_table_warns_and_does_not_raise(
    postgres_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    with PostgresAuditLog(postgres_database) as log:
        with psycopg.connect(postgres_database, autocommit=True) as other:
            other.execute("DROP TABLE fiscus_audit")

        _recorded_with_warning(log, caplog)


def test_a_postgres_write_after_the_run_store_closed_warns(
    postgres_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresRunStore(postgres_database)
    log = PostgresAuditLog(store)
    store.close()

    _recorded_with_warning(log, caplog)


def test_a_postgres_log_never_shows_its_password(
    postgres_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = _with_password(postgres_database, "pw-not-shown")

    with PostgresAuditLog(url) as log:
        assert "pw-not-shown" not in repr(log)
        assert log.url == _with_password(postgres_database, "x").replace(":x@", "@")
        with psycopg.connect(postgres_database, autocommit=True) as other:
            other.execute("DROP TABLE fiscus_audit")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            log.record(_event())
    assert caught
    assert all("pw-not-shown" not in str(w.message) for w in caught)
    assert all("pw-not-shown" not in r.getMessage() for r in caplog.records)


def test_a_postgres_server_that_does_not_answer_is_a_run_store_error() -> None:
    port = free_port()

    url = f"postgresql://fiscus:pw-hidden@127.0.0.1:{port}/audit"
    with pytest.raises(
        RunStoreError,
        match=rf"^Audit log PostgresAuditLog\('postgresql://fiscus@127\.0\.0\.1:"
        rf"{port}/audit'\) could not open the database: OperationalError: .*"
        r"refused",
    ) as caught:
        PostgresAuditLog(url, timeout=1.0)

    assert "pw-hidden" not in str(caught.value)
    assert (
        caught.value.store
        == f"PostgresAuditLog('postgresql://fiscus@127.0.0.1:{port}/audit')"
    )


def test_a_conninfo_libpq_cannot_read_is_a_configuration_error() -> None:
    with pytest.raises(
        ConfigurationError, match=r"^PostgresAuditLog\(conninfo\) is not"
    ) as caught:
        PostgresAuditLog("host=db password secret-pw")

    assert caught.value.option == "conninfo"
    assert "secret-pw" not in str(caught.value)
