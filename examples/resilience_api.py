"""Resilience over HTTP: retries, Retry-After, ``on_error="continue"``, otherwise.

A market report calls three unreliable endpoints of the sandbox API (the
flaky endpoint, which answers 503 a set number of times per key before it
answers 200), served on 127.0.0.1 for the length of ``main()``::

    python examples/resilience_api.py

- ``fetch_rates`` gets two 503s with ``Retry-After: 0``; a GET is
  idempotent, so the connector retries it, and attempt 3 succeeds.
- ``fetch_news`` gets one 503 with ``Retry-After: 1``; its backoff is 10 ms,
  but a retry waits ``max(backoff, Retry-After)``: one second.
- ``live_quote`` fails more often than it may retry, so it fails; it has
  ``on_error="continue"``, so the run goes on, and ``otherwise()`` takes the
  cached quote instead. ``coalesce`` joins the two branches.

Hooks on the runner log every retry with its wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel

from fiscus_dsl import (
    BearerAuth,
    Connector,
    Hooks,
    Retry,
    Runner,
    RunResult,
    Secret,
    TaskContext,
    Workflow,
    coalesce,
    otherwise,
    succeeded,
    task,
    when,
    workflow,
)
from fiscus_dsl._sandbox import FLAKY_TOKEN, sandbox

CACHED_PRICE: Final = 101.5
"""Yesterday's closing price, the fallback quote."""

LOG: list[str] = []
"""What the hooks saw, in order."""


class Answer(BaseModel):
    """The flaky endpoint's answer: how many calls of the key it took."""

    key: str
    calls: int
    status: str


def build(base_url: str) -> Workflow[..., dict[str, object]]:
    """Declare the flaky connector of the API at ``base_url``; return the workflow."""
    flaky = Connector(
        "Flaky",
        f"{base_url}/flaky/v1",
        auth=BearerAuth(Secret(FLAKY_TOKEN)),
        retry=Retry(attempts=3, backoff=0.01, max_delay=5),
    )

    @flaky.operation("GET /{key}")
    def fetch_rates(key: str, failures: int = 2) -> Answer:
        """Fetch exchange rates: 503, 503, then 200."""
        raise NotImplementedError  # an operation's body never runs

    @flaky.operation("GET /{key}")
    def fetch_news(key: str, failures: int = 1, retry_after: int = 1) -> Answer:
        """Fetch headlines: one 503 that asks for a second's wait, then 200."""
        raise NotImplementedError  # an operation's body never runs

    @flaky.operation("GET /{key}", on_error="continue")
    def live_quote(key: str, failures: int = 10) -> Answer:
        """Fetch a live quote: the exchange stays down longer than we retry."""
        raise NotImplementedError  # an operation's body never runs

    @task
    def price_of(quote: Answer) -> float:
        """Read the price of a live quote."""
        return 100.0 + quote.calls

    @task
    def cached_quote(symbol: str) -> float:
        """Return yesterday's closing price."""
        return CACHED_PRICE

    @task
    def build_report(rates: Answer, news: Answer, price: float) -> dict[str, object]:
        """Put the report together."""
        return {"rates_calls": rates.calls, "news_calls": news.calls, "price": price}

    @workflow
    def market_report(symbol: str) -> dict[str, object]:
        """Build a report from three unreliable endpoints."""
        rates = fetch_rates(key="rates")  # each key counts its own calls
        news = fetch_news(key="news")
        quote = live_quote(key="quote")
        with when(succeeded(quote)):
            live = price_of(quote)
        with otherwise():
            cached = cached_quote(symbol)
        return build_report(rates, news, price=coalesce(live, cached))

    return market_report


def on_retry(ctx: TaskContext, error: BaseException, delay: float) -> None:
    """Log each retry: which attempt failed, and how long the wait is."""
    status = getattr(error, "status_code", None)
    LOG.append(
        f"retry {ctx.task_id} after attempt {ctx.attempt} ({status}), "
        f"waiting {delay:.2f} s"
    )


def after_task(ctx: TaskContext, value: object) -> None:
    """Log each success with the attempt that made it."""
    LOG.append(f"{ctx.task_id} succeeded on attempt {ctx.attempt}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What ``main()`` did: the run and the hooks' log."""

    result: RunResult[dict[str, object]]
    log: list[str]


def main() -> Outcome:
    """Serve the sandbox, build the report on a logging runner; print what happened."""
    LOG.clear()
    runner = Runner(hooks=Hooks(on_retry=on_retry, after_task=after_task))
    with sandbox() as base_url:
        market_report = build(base_url)
        result = runner.run(market_report, symbol="ACME")
    print("What the hooks saw:")
    for line in LOG:
        print(f"  {line}")
    print("\nOutcomes:")
    for task_id, outcome in result.tasks.items():
        why = outcome.error or outcome.reason or ""
        print(
            f"  {task_id:<13} {outcome.status:<10} attempts={outcome.attempts}  {why}"
        )
    print(f"\nRun {result.status}; output: {result.output}")
    return Outcome(result=result, log=[*LOG])


if __name__ == "__main__":
    main()
