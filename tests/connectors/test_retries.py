"""Retries of connector operations: which failures, which methods, how long to wait.

Connection errors and 429 are retried always; timeouts, broken answers,
408, 500, 502, 503 and 504 only when the request is idempotent (GET, HEAD,
PUT, DELETE, OPTIONS, or any request with an ``Idempotency-Key``); another
4xx never. A retry waits ``max(backoff, Retry-After)``, at most the
policy's ``max_delay``; the fake sleep records every wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING

import httpx
import pytest

from fiscus_dsl import (
    Connector,
    ConnectorError,
    HTTPStatusError,
    Retry,
    RunStatus,
    TaskStatus,
    workflow,
)
from fiscus_dsl._connectors.connector import DEFAULT_RETRY

from .conftest import BASE

if TYPE_CHECKING:
    import respx

    from fiscus_dsl import Runner, Task
    from fiscus_dsl._connectors.connector import IdempotencyKey
    from fiscus_dsl.testing import FakeSleep

NO_JITTER = Retry(attempts=3, backoff=0.5, max_delay=30.0, jitter=False)


def things(page: int = 1) -> None:
    """A signature to declare with different methods."""


def declare(
    method: str,
    *,
    key: IdempotencyKey = True,
    retry: Retry | None = NO_JITTER,
) -> Task[..., None]:
    shop = Connector("Shop", BASE)
    return shop.operation(f"{method} /things", idempotency_key=key, retry=retry)(things)


@dataclass(frozen=True)
class Kind:
    """A kind of request: its method, its key option and whether it is idempotent."""

    label: str
    method: str
    key: IdempotencyKey
    idempotent: bool


KINDS = [
    Kind("GET", "GET", key=True, idempotent=True),
    Kind("HEAD", "HEAD", key=True, idempotent=True),
    Kind("PUT", "PUT", key=True, idempotent=True),
    Kind("DELETE", "DELETE", key=True, idempotent=True),
    Kind("OPTIONS", "OPTIONS", key=True, idempotent=True),
    Kind("POST keyed", "POST", key=True, idempotent=True),
    Kind("PATCH keyed", "PATCH", key=True, idempotent=True),
    Kind("POST custom key", "POST", key=lambda args: "k-1", idempotent=True),
    Kind("POST no key", "POST", key=False, idempotent=False),
    Kind("PATCH no key", "PATCH", key=False, idempotent=False),
]

FAILURES: dict[str, httpx.Response | Exception] = {
    "ConnectError": httpx.ConnectError("refused"),
    "ConnectTimeout": httpx.ConnectTimeout("slow connect"),
    "PoolTimeout": httpx.PoolTimeout("no connection free"),
    "ReadTimeout": httpx.ReadTimeout("slow answer"),
    "ReadError": httpx.ReadError("reset"),
    "RemoteProtocolError": httpx.RemoteProtocolError("peer closed"),
    "429": httpx.Response(429, headers={"Retry-After": "0"}),
    **{
        str(status): httpx.Response(status)
        for status in (408, 500, 502, 503, 504, 400, 401, 403, 404, 409, 422)
    },
}
# The rule, as docs/connectors.md writes it.
RETRIED_ALWAYS = {"ConnectError", "ConnectTimeout", "PoolTimeout", "429"}
RETRIED_IF_IDEMPOTENT = {
    "ReadTimeout",
    "ReadError",
    "RemoteProtocolError",
    "408",
    "500",
    "502",
    "503",
    "504",
}


@pytest.mark.usefixtures("runner")
@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.label)
@pytest.mark.parametrize("failure", list(FAILURES))
def test_the_retry_table(api: respx.MockRouter, kind: Kind, failure: str) -> None:
    operation = declare(kind.method, key=kind.key)
    route = api.route(method=kind.method, path="/things").mock(
        side_effect=[FAILURES[failure], httpx.Response(204)]
    )
    retried = failure in RETRIED_ALWAYS or (
        failure in RETRIED_IF_IDEMPOTENT and kind.idempotent
    )

    if retried:
        assert operation() is None
        assert route.call_count == 2
    else:
        with pytest.raises(ConnectorError) as caught:
            operation()
        assert caught.value.retryable is False
        assert route.call_count == 1


# ---------------------------------------------------------------- the policy


def test_the_default_policy_is_three_attempts_half_a_second_at_most_30s() -> None:
    shop = Connector("Shop", BASE)

    assert shop.retry == Retry(attempts=3, backoff=0.5, max_delay=30.0)
    assert shop.retry == DEFAULT_RETRY
    assert shop.operation("GET /things")(things).options.retry == shop.retry


def test_an_operation_may_override_or_drop_the_connectors_policy() -> None:
    shop = Connector("Shop", BASE, retry=Retry(attempts=5))

    assert shop.operation("GET /a")(things).options.retry == Retry(attempts=5)
    assert shop.operation("GET /b", retry=None)(things).options.retry is None
    assert shop.operation("GET /c", retry=NO_JITTER)(things).options.retry is NO_JITTER
    assert (
        Connector("Bare", BASE, retry=None).operation("GET /d")(things).options.retry
        is None
    )


def test_attempts_are_bounded_and_the_last_error_fails_the_task(
    runner: Runner, api: respx.MockRouter, fake_sleep: FakeSleep
) -> None:
    operation = declare("GET")
    route = api.get("/things").respond(503, text="busy")

    @workflow
    def flow() -> None:
        operation()

    result = runner.run(flow)

    assert result.status is RunStatus.FAILED
    task = result.tasks["things"]
    assert (task.status, task.attempts) == (TaskStatus.FAILED, 3)
    assert isinstance(task.error, HTTPStatusError)
    assert task.error.status_code == 503
    assert route.call_count == 3
    assert fake_sleep.delays == [0.5, 1.0]


@pytest.mark.usefixtures("runner")
def test_a_task_without_retry_tries_once(api: respx.MockRouter) -> None:
    operation = declare("GET", retry=None)
    route = api.get("/things").respond(503)

    with pytest.raises(HTTPStatusError, match=r"^HTTP 503"):
        operation()

    assert route.call_count == 1


@pytest.mark.usefixtures("runner")
def test_the_backoff_doubles_up_to_max_delay(
    api: respx.MockRouter, fake_sleep: FakeSleep
) -> None:
    operation = declare(
        "GET", retry=Retry(attempts=5, backoff=1.0, max_delay=3.0, jitter=False)
    )
    api.get("/things").mock(
        side_effect=[httpx.Response(503)] * 4 + [httpx.Response(204)]
    )

    operation()

    assert fake_sleep.delays == [1.0, 2.0, 3.0, 3.0]


@pytest.mark.usefixtures("runner")
def test_the_default_jitter_waits_at_most_the_backoff_ceiling(
    api: respx.MockRouter, fake_sleep: FakeSleep
) -> None:
    operation = declare("GET", retry=DEFAULT_RETRY)
    api.get("/things").mock(
        side_effect=[httpx.Response(503), httpx.Response(503), httpx.Response(204)]
    )

    operation()

    first, second = fake_sleep.delays
    assert 0.0 <= first <= 0.5
    assert 0.0 <= second <= 1.0


# ---------------------------------------------------------------- Retry-After


@pytest.mark.usefixtures("runner")
@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds_sets_the_wait(
    api: respx.MockRouter, fake_sleep: FakeSleep, status: int
) -> None:
    operation = declare("GET", retry=DEFAULT_RETRY)
    api.get("/things").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "7"}),
            httpx.Response(status, headers={"Retry-After": " 0 "}),
            httpx.Response(204),
        ]
    )

    operation()

    assert fake_sleep.delays[0] == 7.0
    assert 0.0 <= fake_sleep.delays[1] <= 1.0, "0 leaves the jittered backoff"


@pytest.mark.usefixtures("runner")
def test_retry_after_as_an_http_date_sets_the_wait(
    api: respx.MockRouter, fake_sleep: FakeSleep
) -> None:
    operation = declare("GET")
    when = datetime.now(UTC) + timedelta(seconds=20)
    api.get("/things").mock(
        side_effect=[
            httpx.Response(
                503, headers={"Retry-After": format_datetime(when, usegmt=True)}
            ),
            httpx.Response(204),
        ]
    )

    operation()

    (delay,) = fake_sleep.delays
    assert 18.0 <= delay <= 20.0


@pytest.mark.usefixtures("runner")
def test_retry_after_as_a_date_without_zone_is_read_as_utc(
    api: respx.MockRouter, fake_sleep: FakeSleep
) -> None:
    operation = declare("GET")
    when = datetime.now(UTC) + timedelta(seconds=20)
    api.get("/things").mock(
        side_effect=[
            httpx.Response(
                503,
                headers={"Retry-After": when.strftime("%a, %d %b %Y %H:%M:%S -0000")},
            ),
            httpx.Response(204),
        ]
    )

    operation()

    (delay,) = fake_sleep.delays
    assert 18.0 <= delay <= 20.0


@pytest.mark.usefixtures("runner")
@pytest.mark.parametrize(
    ("retry", "clamped"),
    [(NO_JITTER, 30.0), (Retry(attempts=2, max_delay=5.0), 5.0)],
)
def test_retry_after_is_clamped_to_max_delay(
    api: respx.MockRouter, fake_sleep: FakeSleep, retry: Retry, clamped: float
) -> None:
    operation = declare("GET", retry=retry)
    api.get("/things").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "86400"}),
            httpx.Response(204),
        ]
    )

    operation()

    assert fake_sleep.delays == [clamped]


@pytest.mark.usefixtures("runner")
@pytest.mark.parametrize(
    "value",
    [
        "Wed, 21 Oct 2015 07:28:00 GMT",  # in the past
        "soon",
        "-5",
        "1.5",
        "",
    ],
)
def test_a_past_or_unreadable_retry_after_leaves_the_backoff(
    api: respx.MockRouter, fake_sleep: FakeSleep, value: str
) -> None:
    operation = declare("GET")
    api.get("/things").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": value}),
            httpx.Response(204),
        ]
    )

    operation()

    assert fake_sleep.delays == [0.5]


@pytest.mark.usefixtures("runner")
def test_a_retry_after_of_non_ascii_digits_is_ignored(
    api: respx.MockRouter, fake_sleep: FakeSleep
) -> None:
    operation = declare("GET")
    # "²" is a digit to str.isdigit(), but not a number to float().
    api.get("/things").mock(
        side_effect=[
            httpx.Response(503, headers=[(b"Retry-After", "²".encode("latin-1"))]),
            httpx.Response(204),
        ]
    )

    operation()

    assert fake_sleep.delays == [0.5]


@pytest.mark.usefixtures("runner")
def test_retry_after_on_a_status_that_is_not_retried_changes_nothing(
    api: respx.MockRouter, fake_sleep: FakeSleep
) -> None:
    operation = declare("POST", key=False)
    route = api.post("/things").respond(503, headers={"Retry-After": "1"})

    with pytest.raises(HTTPStatusError, match=r"^HTTP 503") as caught:
        operation()

    assert caught.value.retry_after == 1.0
    assert route.call_count == 1
    assert fake_sleep.delays == []
