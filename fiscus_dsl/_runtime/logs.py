"""Logging: the ``fiscus_dsl`` loggers, what a run logs, and the scrubbing filter.

fiscus_dsl logs through the standard ``logging`` module under one
hierarchy: ``fiscus_dsl.run`` (a run started, a run finished),
``fiscus_dsl.task`` (a task retried and why, a task failed, a recorded
task a resume runs again because its inputs or code changed) and
``fiscus_dsl.connector`` (a connector cooling down after a 429). Normal
operation logs at INFO and below; only a failed task logs a WARNING. The
top logger has a ``NullHandler``, so nothing is printed until the
application configures logging.

Every record of those loggers, and of the third-party loggers a connector
asks to cover (httpx's and httpcore's), passes ``ScrubFilter``: its
message, arguments and exception chain are scrubbed by the scrubber the
connectors layer installs (``install_scrubber``), so no secret registered
there reaches a handler. The same scrubber cleans a failed task's error
(``scrub_error``). Knows no HTTP: the scrubber is handed down, as the run
entry points hand down the engine.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Final, final

if TYPE_CHECKING:
    from collections.abc import Callable

    from fiscus_dsl._runtime.results import RunResult

ROOT: Final = "fiscus_dsl"
RUN_LOGGER: Final = logging.getLogger(f"{ROOT}.run")
TASK_LOGGER: Final = logging.getLogger(f"{ROOT}.task")
CONNECTOR_LOGGER: Final = logging.getLogger(f"{ROOT}.connector")

logging.getLogger(ROOT).addHandler(logging.NullHandler())


def _keep_text(text: str) -> str:
    return text


def _keep_error(error: BaseException) -> None:
    return None


@final
class _Scrubber:
    """The functions that clean text and exceptions; identity until installed."""

    __slots__ = ("error", "text")

    def __init__(self) -> None:
        self.text: Callable[[str], str] = _keep_text
        self.error: Callable[[BaseException], None] = _keep_error


_SCRUBBER: Final = _Scrubber()


def install_scrubber(
    *, text: Callable[[str], str], error: Callable[[BaseException], None]
) -> None:
    """Use ``text`` to clean log messages and ``error`` to clean exceptions."""
    _SCRUBBER.text = text
    _SCRUBBER.error = error


def scrub_error(error: BaseException) -> None:
    """Scrub a failed task's error and its chain in place, before anyone reads it."""
    _SCRUBBER.error(error)


@final
class ScrubFilter(logging.Filter):
    """Scrub every record of the logger it is on; it never drops one.

    The message is formatted once with its arguments and scrubbed, the
    exception of ``exc_info`` is scrubbed in place with its whole chain
    (so any formatter prints it clean), and so are ``exc_text`` and
    ``stack_info`` when set.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub ``record`` in place and keep it."""
        scrub = _SCRUBBER.text
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad %-arguments: logging reports it later
            return True
        record.msg, record.args = scrub(message), None
        if record.exc_info and record.exc_info[1] is not None:
            _SCRUBBER.error(record.exc_info[1])
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


_FILTER: Final = ScrubFilter()
_COVER_LOCK: Final = threading.Lock()


def cover(*names: str) -> None:
    """Put the scrubbing filter on the loggers ``names``, once each.

    A logger's filters see only the records logged on it, never those its
    children pass up, so each logger that may carry a secret is named.
    """
    with _COVER_LOCK:
        for name in names:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)


cover(ROOT, RUN_LOGGER.name, TASK_LOGGER.name, CONNECTOR_LOGGER.name)


# ---------------------------------------------------------------- what a run logs


def run_started(workflow: str, run_id: str) -> None:
    """Log that a run of ``workflow`` started."""
    RUN_LOGGER.info("Run %s of workflow %r started", run_id, workflow)


def run_finished(result: RunResult[Any]) -> None:
    """Log how a run ended: its status, its duration and its task counts."""
    if RUN_LOGGER.isEnabledFor(logging.INFO):
        counts = result.counts()
        RUN_LOGGER.info(
            "Run %s of workflow %r %s in %.3f s (%s)",
            result.run_id,
            result.workflow,
            result.status.value,
            (result.ended_at - result.started_at).total_seconds(),
            ", ".join(f"{count} {status}" for status, count in counts.items() if count)
            or "no tasks",
        )


def task_retried(
    workflow: str, task_id: str, *, attempt: int, delay: float, error: BaseException
) -> None:
    """Log that a task's attempt failed and will be tried again, and why."""
    if TASK_LOGGER.isEnabledFor(logging.INFO):
        TASK_LOGGER.info(
            "Task %r of workflow %r: attempt %d failed with %s: %s; retrying in %.3f s",
            task_id,
            workflow,
            attempt,
            type(error).__name__,
            error,
            delay,
        )


def task_failed(
    workflow: str, task_id: str, *, attempts: int, error: BaseException
) -> None:
    """Log that a task failed; its traceback only when DEBUG is on."""
    if TASK_LOGGER.isEnabledFor(logging.WARNING):
        TASK_LOGGER.warning(
            "Task %r of workflow %r failed after %d attempt(s): %s: %s",
            task_id,
            workflow,
            attempts,
            type(error).__name__,
            error,
            exc_info=error if TASK_LOGGER.isEnabledFor(logging.DEBUG) else None,
        )


def task_runs_again(workflow: str, task_id: str, run_id: str, why: str) -> None:
    """Log that a resume runs a recorded task again instead of serving it, and why."""
    TASK_LOGGER.info(
        "Task %r of workflow %r runs again on resuming run %s: %s since it was "
        "recorded",
        task_id,
        workflow,
        run_id,
        why,
    )


def cooling_down(connector: str, seconds: float) -> None:
    """Log that a connector holds its next requests back after a 429."""
    CONNECTOR_LOGGER.info(
        "Connector %r got 429 Too Many Requests; holding its next requests back %.3f s",
        connector,
        seconds,
    )
