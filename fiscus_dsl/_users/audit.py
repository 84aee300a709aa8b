"""The audit log of end users' actions: ``AuditEvent``, ``AuditLog`` and the logs.

An ``AuditEvent`` says what an end user did or had done for them (a call
allowed or denied, a connector authorized, a token refreshed, a role or a
policy changed), when, and in which run and task. Its detail is scrubbed
of every registered secret when it is made. ``LoggingAuditLog`` writes
events to the ``fiscus_dsl.audit`` logger and keeps the last ones in
memory; ``SQLiteAuditLog`` and ``PostgresAuditLog`` store them in a
``fiscus_audit`` table (``audit_sql``), beside the run stores' tables when
they share a database; ``audit_log_for(store)`` gives the log a runner's
store calls for, made once per store. A failed write never fails the
caller: it is a ``FiscusWarning`` and an ERROR log line that still holds
the event. Imports the connectors' scrubbing and the runtime; no HTTP.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings
import weakref
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Final, Protocol, Self, TypeGuard, final

from fiscus_dsl._connectors.scrub import scrub_text
from fiscus_dsl._runtime.attempts import CURRENT_ATTEMPT, current_attempt
from fiscus_dsl._runtime.logs import ROOT, cover
from fiscus_dsl._runtime.sqlite_store import SQLiteRunStore
from fiscus_dsl._users.audit_sql import (
    SQLiteAuditTable,
    open_postgres_table,
    share_postgres_pool,
)
from fiscus_dsl.errors import ConfigurationError, FiscusWarning, RunStoreError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from fiscus_dsl._runtime.postgres_store import PostgresRunStore
    from fiscus_dsl._users.audit_sql import AuditRow

AUDIT_LOGGER: Final = logging.getLogger(f"{ROOT}.audit")
"""The logger every ``LoggingAuditLog`` writes to unless given another."""

cover(AUDIT_LOGGER.name)


class AuditAction(StrEnum):
    """What an audit event records: the closed set of end-user actions."""

    CALL_ALLOWED = "call_allowed"
    CALL_DENIED = "call_denied"
    CONNECTOR_AUTHENTICATED = "connector_authenticated"
    CONNECTOR_DEAUTHENTICATED = "connector_deauthenticated"
    TOKEN_REFRESHED = "token_refreshed"
    TOKEN_REFRESH_FAILED = "token_refresh_failed"
    ROLE_ASSIGNED = "role_assigned"
    ROLE_REMOVED = "role_removed"
    POLICY_ADDED = "policy_added"
    POLICY_REMOVED = "policy_removed"


# The actions a LoggingAuditLog writes at WARNING; the others are INFO.
_WARNING_ACTIONS: Final = frozenset(
    {AuditAction.CALL_DENIED, AuditAction.TOKEN_REFRESH_FAILED}
)


def _now() -> datetime:
    return datetime.now(UTC)


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """One end-user action, as an audit log records it.

    Made inside a task's attempt without ``run_id`` and ``task_id``, it
    takes the attempt's. ``detail`` is scrubbed when the event is made:
    a registered secret (any ``Secret``, any token) shows as a mask.

    Attributes:
        at: When it happened, an aware time, kept in UTC (default: now).
        user_id: The end user's id.
        action: What happened (an ``AuditAction``; its value is taken too).
        connector: The connector's name, when one is concerned.
        operation: The operation's name, when one is concerned.
        detail: Human text saying what and why; never a credential.
        run_id: The run it happened in, if any.
        task_id: The task it happened in, if any.

    Raises:
        ConfigurationError: ``at`` is a naive time, or ``action`` is not
            an ``AuditAction`` value.

    Examples:
        >>> from fiscus_dsl import AuditAction, AuditEvent
        >>> event = AuditEvent(
        ...     user_id="u-1", action=AuditAction.CALL_DENIED, connector="crm",
        ...     operation="delete_contact", detail="no policy grants it",
        ... )
        >>> event.action is AuditAction.CALL_DENIED, event.at.tzinfo
        (True, datetime.timezone.utc)
    """

    at: datetime = field(default_factory=_now)
    user_id: str
    action: AuditAction
    connector: str | None = None
    operation: str | None = None
    detail: str = ""
    run_id: str | None = None
    task_id: str | None = None

    def __post_init__(self) -> None:
        # A frozen dataclass sets its own fields through object.__setattr__.
        setter = object.__setattr__
        setter(self, "action", _action(self.action))
        setter(self, "at", _utc(self.at, option="at"))
        setter(self, "detail", scrub_text(self.detail))
        if self.run_id is None and self.task_id is None:
            attempt = current_attempt()
            if attempt is not None:
                setter(self, "run_id", attempt.run_id)
                setter(self, "task_id", attempt.task_id)

    def as_dict(self) -> dict[str, str | None]:
        """Return the fields as text (``at`` in ISO 8601), for logs and JSON."""
        return {
            "at": self.at.isoformat(),
            "user_id": self.user_id,
            "action": self.action.value,
            "connector": self.connector,
            "operation": self.operation,
            "detail": self.detail,
            "run_id": self.run_id,
            "task_id": self.task_id,
        }

    def describe(self) -> str:
        """Return one line saying who did what, where, and the detail."""
        parts = [self.action.value, f"user {self.user_id!r}"]
        if self.connector is not None:
            parts.append(f"connector {self.connector!r}")
        if self.operation is not None:
            parts.append(f"operation {self.operation!r}")
        if self.run_id is not None:
            parts.append(f"run {self.run_id}")
        if self.task_id is not None:
            parts.append(f"task {self.task_id!r}")
        line = ", ".join(parts)
        return f"{line}: {self.detail}" if self.detail else line


def _action(value: str) -> AuditAction:
    try:
        return AuditAction(value)
    except ValueError as exc:
        known = ", ".join(repr(action.value) for action in AuditAction)
        msg = f"AuditEvent(action={value!r}) is not an audit action; use one of {known}"
        raise ConfigurationError(msg, option="action") from exc


def _utc(moment: datetime, *, option: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        msg = (
            f"Audit time {option}={moment!r} has no time zone; give an aware "
            "time, e.g. datetime.now(UTC)"
        )
        raise ConfigurationError(msg, option=option)
    return moment.astimezone(UTC)


class AuditLog(Protocol):
    """Where audit events go: any object with these two methods is one.

    ``record`` is called in the caller's flow (a policy check, a token
    refresh) and must not raise when storing fails: it warns instead, so
    an audit write never changes a run's result.
    """

    def record(self, event: AuditEvent) -> None:
        """Record one event; a failure to store it warns and never raises."""
        ...

    def events(
        self,
        *,
        user_id: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """Return the newest ``limit`` stored events that match, oldest first.

        Args:
            user_id: Only this end user's events.
            since: Only events at or after this aware time.
            limit: At most this many (the newest).
        """
        ...


@final
class LoggingAuditLog:
    """Write audit events to a logger, and keep the last ones in memory.

    Denied calls and failed token refreshes log at WARNING, the rest at
    INFO. Each record carries the event's fields as ``record.fiscus_audit``
    (``AuditEvent.as_dict``), for a JSON formatter or a handler that
    forwards them. ``events()`` reads the kept ones, in the order recorded.

    Args:
        logger: The logger to write to (default: ``fiscus_dsl.audit``).
        keep: How many events to keep in memory, the newest.

    Examples:
        >>> from fiscus_dsl import AuditAction, AuditEvent, LoggingAuditLog
        >>> log = LoggingAuditLog(keep=100)
        >>> log.record(AuditEvent(user_id="u-1", action=AuditAction.ROLE_ASSIGNED,
        ...                       detail="role 'admin'"))
        >>> [event.detail for event in log.events(user_id="u-1")]
        ["role 'admin'"]
    """

    def __init__(
        self, *, logger: logging.Logger | None = None, keep: int = 10_000
    ) -> None:
        if keep < 0:
            msg = f"LoggingAuditLog(keep={keep}) is negative; give 0 or more events"
            raise ConfigurationError(msg, option="keep")
        self.logger = AUDIT_LOGGER if logger is None else logger
        self._kept: deque[AuditEvent] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def record(self, event: AuditEvent) -> None:
        """Log the event and keep it."""
        with self._lock:
            self._kept.append(event)
        level = logging.WARNING if event.action in _WARNING_ACTIONS else logging.INFO
        self.logger.log(
            level,
            "Audit: %s",
            event.describe(),
            extra={"fiscus_audit": event.as_dict()},
        )

    def events(
        self,
        *,
        user_id: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """Return the newest ``limit`` kept events that match, oldest first."""
        since = _checked(since, limit)
        with self._lock:
            kept = list(self._kept)
        matching = [
            event
            for event in kept
            if (user_id is None or event.user_id == user_id)
            and (since is None or event.at >= since)
        ]
        return matching[-limit:] if limit else []

    def __repr__(self) -> str:
        return f"LoggingAuditLog(logger={self.logger.name!r})"


def _checked(since: datetime | None, limit: int) -> datetime | None:
    """Check a query's ``since`` and ``limit``; return ``since`` in UTC."""
    if limit < 0:
        msg = f"Audit events(limit={limit}) is negative; give 0 or more events"
        raise ConfigurationError(msg, option="limit")
    return None if since is None else _utc(since, option="since")


class _Table(Protocol):
    """What a SQL log needs of its table (``audit_sql``)."""

    def insert(self, row: AuditRow, /) -> None: ...
    def select(
        self, *, user_id: str | None, since: datetime | None, limit: int
    ) -> list[AuditRow]: ...
    def close(self) -> None: ...


class _TableLog:
    """What the SQL logs share: record and read through a table, close it."""

    _table: _Table

    def record(self, event: AuditEvent) -> None:
        """Store the event; if the database fails, warn and log it instead."""
        try:
            self._table.insert(_row(event))
        except RunStoreError as exc:
            _unstored(self, event, exc)

    def events(
        self,
        *,
        user_id: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """Return the newest ``limit`` stored events that match, oldest first.

        Raises:
            RunStoreError: The database cannot read the table.
        """
        since = _checked(since, limit)
        return _events_of(self._table.select(user_id=user_id, since=since, limit=limit))

    def close(self) -> None:
        """Close the log's connection or pool (a run store's pool stays open)."""
        self._table.close()

    def __enter__(self) -> Self:
        """Return the log; ``with`` closes it at the end."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the log."""
        self.close()


@final
class SQLiteAuditLog(_TableLog):
    """Store audit events in a SQLite file, in its ``fiscus_audit`` table.

    The file may be a run store's: the table sits beside the run tables
    and leaves them alone. Several processes may share the file (WAL, a
    busy timeout). A failed write (a locked, read-only or broken file) is
    a ``FiscusWarning`` plus an ERROR line on ``fiscus_dsl.audit`` holding
    the event; ``record`` never raises. ``events`` raises
    ``RunStoreError`` when SQLite fails.

    Args:
        database: The file (created, with the table, if missing), or a
            ``SQLiteRunStore`` whose file to share.
        timeout: Seconds to wait while another connection holds the lock.

    Raises:
        RunStoreError: SQLite cannot open the file or create the table.

    Examples:
        >>> from fiscus_dsl import AuditAction, AuditEvent, SQLiteAuditLog
        >>> import tempfile, pathlib
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with SQLiteAuditLog(pathlib.Path(folder) / "audit.db") as log:
        ...         log.record(
        ...             AuditEvent(user_id="u-1", action=AuditAction.POLICY_ADDED)
        ...         )
        ...         [event.action.value for event in log.events()]
        ['policy_added']
    """

    def __init__(
        self, database: str | os.PathLike[str] | SQLiteRunStore, *, timeout: float = 5.0
    ) -> None:
        path = database.path if isinstance(database, SQLiteRunStore) else database
        self.path = os.fspath(path)
        self._table = SQLiteAuditTable(self.path, timeout=timeout)

    def __repr__(self) -> str:
        return f"SQLiteAuditLog({self.path!r})"


@final
class PostgresAuditLog(_TableLog):
    """Store audit events in a PostgreSQL database, in its ``fiscus_audit`` table.

    Given a URL, it opens a small pool of its own; given a
    ``PostgresRunStore``, it writes through the store's pool, beside the
    run tables, and leaves the pool to the store. A failed write is a
    ``FiscusWarning`` plus an ERROR line on ``fiscus_dsl.audit`` holding
    the event; ``record`` never raises. ``events`` raises
    ``RunStoreError`` when the server fails. Needs the postgres extra.

    Args:
        database: A libpq URL (``postgresql://user@host:5432/dbname``) or
            ``key=value`` string, whose password never shows in a
            message; or a ``PostgresRunStore`` whose database to share.
        timeout: Seconds to wait for a connection (own pool only).
        max_size: Connections the own pool opens at most.

    Raises:
        ConfigurationError: ``database`` is not a PostgreSQL URL or string.
        RunStoreError: The server cannot be reached, refuses the user, or
            the table cannot be created.

    Examples:
        >>> from fiscus_dsl import PostgresAuditLog
        >>> def audit_log(url: str) -> PostgresAuditLog:
        ...     return PostgresAuditLog(url, max_size=2)
    """

    def __init__(
        self,
        database: str | PostgresRunStore,
        *,
        timeout: float = 10.0,
        max_size: int = 2,
    ) -> None:
        table = (
            open_postgres_table(database, timeout=timeout, max_size=max_size)
            if isinstance(database, str)
            else share_postgres_pool(database)
        )
        self.url = table.url
        self._table = table

    def __repr__(self) -> str:
        return f"PostgresAuditLog({self.url!r})"


def _row(event: AuditEvent) -> AuditRow:
    return (
        event.at,
        event.user_id,
        event.action.value,
        event.connector,
        event.operation,
        event.detail,
        event.run_id,
        event.task_id,
    )


def _events_of(rows: Iterable[AuditRow]) -> list[AuditEvent]:
    """Return stored rows as events, each with the run it was stored with."""
    # No attempt while rebuilding: a stored event without a run stays so.
    token = CURRENT_ATTEMPT.set(None)
    try:
        return [_event(*row) for row in rows]
    finally:
        CURRENT_ATTEMPT.reset(token)


def _event(
    at: datetime,
    user_id: str,
    action: str,
    connector: str | None,
    operation: str | None,
    detail: str,
    run_id: str | None,
    task_id: str | None,
) -> AuditEvent:
    return AuditEvent(
        at=at,
        user_id=user_id,
        action=AuditAction(action),
        connector=connector,
        operation=operation,
        detail=detail,
        run_id=run_id,
        task_id=task_id,
    )


def _unstored(log: AuditLog, event: AuditEvent, error: RunStoreError) -> None:
    """Say a log could not store an event: an ERROR line holding it, a warning."""
    AUDIT_LOGGER.error(
        "Audit event not stored by %r (%s): %s",
        log,
        error,
        event.describe(),
        extra={"fiscus_audit": event.as_dict()},
    )
    msg = (
        f"Audit log {log!r} could not store the {event.action.value} event of "
        f"user {event.user_id!r}; it went to the {AUDIT_LOGGER.name!r} logger "
        f"only, and the call it records went on. Cause: {error}"
    )
    # Points at record's caller: this function, then record.
    warnings.warn(msg, FiscusWarning, stacklevel=3)


@final
class CombinedAuditLog:
    """Record each event in several logs; read from the last.

    Put the log that stores most durably last: ``events()`` reads it.

    Args:
        *logs: The logs, at least one, each given every event in order.

    Examples:
        >>> from fiscus_dsl import AuditAction, AuditEvent, LoggingAuditLog
        >>> memory = LoggingAuditLog()
        >>> both = CombinedAuditLog(LoggingAuditLog(keep=0), memory)
        >>> both.record(AuditEvent(user_id="u-1", action=AuditAction.ROLE_REMOVED))
        >>> len(both.events()), len(memory.events())
        (1, 1)
    """

    def __init__(self, *logs: AuditLog) -> None:
        if not logs:
            msg = (
                "CombinedAuditLog() needs at least one log; give e.g. LoggingAuditLog()"
            )
            raise ConfigurationError(msg, option="logs")
        self.logs = logs

    def record(self, event: AuditEvent) -> None:
        """Record the event in every log, in order."""
        for log in self.logs:
            log.record(event)

    def events(
        self,
        *,
        user_id: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[AuditEvent]:
        """Return the last log's newest ``limit`` events that match, oldest first."""
        return self.logs[-1].events(user_id=user_id, since=since, limit=limit)

    def __repr__(self) -> str:
        return f"CombinedAuditLog({', '.join(map(repr, self.logs))})"


_LOGGING: Final = LoggingAuditLog()
_BY_STORE: Final[weakref.WeakKeyDictionary[object, AuditLog]] = (
    weakref.WeakKeyDictionary()
)
_BY_STORE_LOCK: Final = threading.Lock()


def audit_log_for(store: object | None) -> AuditLog:
    """Return the audit log for a runner's store, made once per store.

    Always the process's ``LoggingAuditLog`` (``fiscus_dsl.audit``); for a
    ``SQLiteRunStore`` or a ``PostgresRunStore``, followed by the SQL log on
    the store's database (a ``CombinedAuditLog``, whose ``events()`` reads
    the database). Any other store, or none, gets the logging log alone.
    The SQL log is closed when its store is garbage-collected.

    Raises:
        RunStoreError: The store's database refuses the audit table (a
            closed ``PostgresRunStore``, a user who may not create tables).

    Examples:
        >>> audit_log_for(None)
        LoggingAuditLog(logger='fiscus_dsl.audit')
    """
    if not _has_database(store):
        return _LOGGING
    with _BY_STORE_LOCK:
        log = _BY_STORE.get(store)
        if log is None:
            sql = (
                SQLiteAuditLog(store)
                if isinstance(store, SQLiteRunStore)
                else PostgresAuditLog(store)
            )
            log = CombinedAuditLog(_LOGGING, sql)
            _BY_STORE[store] = log
            weakref.finalize(store, sql.close)
        return log


def _has_database(store: object) -> TypeGuard[SQLiteRunStore | PostgresRunStore]:
    """Return whether the store is one whose database can hold the audit table."""
    if isinstance(store, SQLiteRunStore):
        return True
    # Not imported to ask: psycopg is an extra, and a PostgresRunStore
    # exists only once its module has been imported.
    module = sys.modules.get("fiscus_dsl._runtime.postgres_store")
    return module is not None and isinstance(store, module.PostgresRunStore)
