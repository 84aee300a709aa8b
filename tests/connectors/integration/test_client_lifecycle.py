"""The connector's client lives as long as the runs that use it, and no longer.

Real sockets to the loopback server: when a run ends, the connector closes
the client it opened on that event loop and forgets it, leaving no
transport for the garbage collector to warn about; the next run there
opens a fresh one.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
import weakref
from typing import TYPE_CHECKING, Literal

import pytest
from pydantic import BaseModel

from fiscus_dsl import Connector, Runner, workflow

if TYPE_CHECKING:
    import httpx

    from fiscus_dsl.testing import FakeSleep

    from .conftest import LiveServer


class Contact(BaseModel):
    """What ``POST /contacts/{key}`` answers."""

    id: str
    name: str
    email: str


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_the_client_is_closed_and_forgotten_when_the_run_ends(
    live_server: LiveServer,
    key: str,
    fake_sleep: FakeSleep,
    transport: Literal["httpx", "aiohttp"],
) -> None:
    api = Connector("loopback", live_server.url, transport=transport)
    clients: list[httpx.AsyncClient] = []

    @api.operation("POST /contacts/{key}")
    def create_contact(key: str, name: str, email: str) -> Contact:
        raise NotImplementedError  # the connector sends the request

    @api.task
    async def search(client: httpx.AsyncClient, key: str, q: str) -> object:
        clients.append(client)
        response = await client.get(f"/echo/{key}", params={"q": q})
        return response.json()

    @workflow
    def flow(key: str) -> Contact:
        contact = create_contact(key, name="Ada", email="ada@example.com")
        search(key, q=contact.name)
        return contact

    runner = Runner(sleep=fake_sleep)
    loop = asyncio.get_running_loop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        first = await runner.arun(flow, key=key)
        assert loop not in api._states
        second = await runner.arun(flow, key=key)
        assert loop not in api._states

        assert len(clients) == 2
        assert clients[0] is not clients[1]
        assert all(client.is_closed for client in clients)
        # Once the test lets go, nothing keeps the clients (or their
        # sockets) alive, and collecting them finds nothing left open.
        gone = [weakref.ref(client) for client in clients]
        clients.clear()
        gc.collect()
        assert [ref() for ref in gone] == [None, None]

    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []
    assert first.success, first.error_message
    assert second.success, second.error_message
    assert first.output is not None
    assert first.output.name == "Ada"
    assert first["search"].value == {"key": key, "query": {"q": "Ada"}}
    seen = live_server.state.requests(key)
    assert [(s.method, s.path) for s in seen] == [
        ("POST", f"/contacts/{key}"),
        ("GET", f"/echo/{key}"),
    ] * 2
