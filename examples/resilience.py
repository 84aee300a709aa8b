"""Resilience: retries, a timeout, ``on_error="continue"``, ``coalesce`` and hooks.

A market report needs exchange rates (a flaky API, retried with backoff),
news (a slow API with a timeout; the report does without it) and a quote
(a primary source that fails, joined with a cached fallback by
``coalesce``). Hooks on the runner log every step. Backoffs are tiny, so
it runs in a blink::

    python examples/resilience.py
"""

from __future__ import annotations

import time
from typing import Final

from fiscus_dsl import (
    Hooks,
    Retry,
    RunContext,
    Runner,
    RunResult,
    TaskContext,
    coalesce,
    failed,
    task,
    when,
    workflow,
)

FLAKY_FAILURES: Final = 2
"""How many times the rates API fails before it answers."""

SLOW_NEWS: Final = 0.2
"""Seconds the news API takes: longer than ``fetch_news``'s timeout."""

CALLS: dict[str, int] = {}
"""How many times each fake API was called."""

LOG: list[str] = []
"""What the hooks saw, in order."""


def _count(name: str) -> int:
    CALLS[name] = CALLS.get(name, 0) + 1
    return CALLS[name]


@task(retry=Retry(attempts=4, backoff=0.01, max_delay=0.05))
def fetch_rates(base: str) -> dict[str, float]:
    """Fetch exchange rates; the fake API drops the first two connections."""
    if _count("fetch_rates") <= FLAKY_FAILURES:
        msg = "connection reset by peer"
        raise ConnectionError(msg)
    return {"USD": 1.08, "GBP": 0.85} if base == "EUR" else {}


@task(timeout=0.05, on_error="continue")
def fetch_news(topic: str) -> list[str]:
    """Fetch headlines; the fake API is too slow, so the timeout fails the task.

    A sync task runs in a worker thread, which a timeout cannot kill: the
    task fails at 0.05 s and the run goes on, but ``run()`` returns only
    once the thread is done. An ``async def`` task is cancelled outright.
    """
    _count("fetch_news")
    time.sleep(SLOW_NEWS)
    return [f"{topic} rallies"]


@task(on_error="continue")
def live_quote(symbol: str) -> float:
    """Fetch a live quote; the fake exchange is down."""
    _count("live_quote")
    msg = f"exchange unavailable for {symbol}"
    raise RuntimeError(msg)


@task
def cached_quote(symbol: str) -> float:
    """Return yesterday's closing price."""
    _count("cached_quote")
    return 101.5


@task
def build_report(
    rates: dict[str, float], price: float, headlines: list[str]
) -> dict[str, object]:
    """Put the report together."""
    return {"rates": rates, "price": price, "headlines": headlines}


@workflow
def market_report(base: str, symbol: str) -> dict[str, object]:
    """Build a report from three unreliable sources."""
    rates = fetch_rates(base)
    news = fetch_news(symbol)
    quote = live_quote(symbol)
    with when(failed(quote)):
        fallback = cached_quote(symbol)
    return build_report(
        rates,
        price=coalesce(quote, fallback),  # the first that succeeded
        headlines=coalesce(news, []),  # a plain value always counts
    )


def before_workflow(run: RunContext) -> None:
    """Log the start of a run."""
    LOG.append(f"start {run.workflow} {dict(run.inputs)}")


def after_workflow(run: RunContext, result: RunResult[object]) -> None:
    """Log the end of a run."""
    LOG.append(f"end {run.workflow}: {result.status}")


def before_task(ctx: TaskContext) -> None:
    """Log each task before its first attempt."""
    LOG.append(f"before {ctx.task_id}")


def on_retry(ctx: TaskContext, error: BaseException, delay: float) -> None:
    """Log each retry: which attempt failed, why, and how long the wait is."""
    LOG.append(
        f"retry {ctx.task_id} after attempt {ctx.attempt}: {error!r}, "
        f"waiting {delay * 1000:.0f} ms"
    )


def after_task(ctx: TaskContext, value: object) -> None:
    """Log each success; returning None keeps the value."""
    LOG.append(f"after {ctx.task_id} (attempts: {ctx.attempt})")


HOOKS: Final = Hooks(
    before_workflow=before_workflow,
    after_workflow=after_workflow,
    before_task=before_task,
    on_retry=on_retry,
    after_task=after_task,
)


def main() -> RunResult[dict[str, object]]:
    """Run the report on a runner with logging hooks; print what happened."""
    CALLS.clear()
    LOG.clear()
    runner = Runner(hooks=HOOKS)
    result = runner.run(market_report, base="EUR", symbol="ACME")

    print("What the hooks saw:")
    for line in LOG:
        print(f"  {line}")
    print("\nOutcomes:")
    for task_id, outcome in result.tasks.items():
        why = outcome.error or outcome.reason or ""
        print(
            f"  {task_id:<14} {outcome.status:<10} attempts={outcome.attempts}  {why}"
        )
    print(f"\nCalls per API: {CALLS}")
    print(f"Run {result.status}; output: {result.output}")
    return result


if __name__ == "__main__":
    main()
