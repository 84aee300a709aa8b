"""A request's deadline measures the server, not the connector's own queue.

2,000 requests at once against the live loopback server (50 ms each) under
a 1 s deadline: the requests waiting for a connection, a slot or the CPU
are not on the clock yet, so none of them times out, however long the
whole fan-out takes on a busy machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import pytest
from pydantic import BaseModel

from fiscus_dsl import Connector, Runner, workflow

if TYPE_CHECKING:
    from fiscus_dsl.testing import FakeSleep

    from .conftest import LiveServer

REQUESTS: Final = 2000
HOLD: Final = 0.05
DEADLINE: Final = 1.0


class Item(BaseModel):
    item: int


@pytest.mark.parametrize("max_concurrency", [None, 200])
def test_two_thousand_requests_under_a_one_second_deadline_never_time_out(
    live_server: LiveServer,
    key: str,
    fake_sleep: FakeSleep,
    max_concurrency: int | None,
) -> None:
    api = Connector(
        "loopback",
        live_server.url,
        timeout=DEADLINE,
        max_concurrency=max_concurrency,
        retry=None,  # a timeout would fail its task at once
    )

    @api.operation("GET /items/{key}/{item}")
    def get_item(key: str, item: int, hold: float) -> Item:
        raise NotImplementedError  # the connector sends the request

    @workflow
    def flow(key: str) -> list[Item]:
        return get_item.partial(key=key, hold=HOLD).map(item=list(range(REQUESTS)))

    result = Runner(max_concurrency=None, sleep=fake_sleep).run(flow, key=key)

    failed = [task.error for task in result.tasks.values() if task.error is not None]
    assert failed == []
    assert result.output == [Item(item=n) for n in range(REQUESTS)]
    assert len(live_server.state.requests(key)) == REQUESTS
