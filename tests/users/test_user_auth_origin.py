"""``UserAuth`` keeps each user's credential on the connector's origin, at every hop.

A connector over an ``httpx.MockTransport`` that answers for every origin
and records what it was sent: the user's key reaches the connector's
origin; a redirect to another origin loses it (header or query), and a
first request for another origin is refused before anything is sent.
"""

from __future__ import annotations

from typing import Final

import httpx
import pytest

from fiscus_dsl import (
    Connector,
    FiscusUser,
    TaskStatus,
    UnsafeURLError,
    UserAuth,
    default_runner,
    workflow,
)

BASE: Final = "https://api.example.test/v1"
OTHER: Final = "https://files.example.net"
KEY: Final = "user-key-CANARY-41c7"


class Recorder:
    """Redirect ``/hop`` to ``to``; answer everything else; keep every request."""

    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        if request.url.path.endswith("/hop"):
            return httpx.Response(302, headers={"Location": request.url.params["to"]})
        return httpx.Response(200, json={"host": request.url.host})

    def at(self, host: str) -> list[httpx.Request]:
        return [request for request in self.sent if request.url.host == host]


def _run(auth: UserAuth, to: str) -> tuple[Recorder, object]:
    recorder = Recorder()
    api = Connector("Files", BASE, auth=auth, transport=httpx.MockTransport(recorder))

    @api.task
    async def follow(client: httpx.AsyncClient, to: str) -> object:
        response = await client.get("/hop", params={"to": to}, follow_redirects=True)
        return response.json()

    @workflow
    def flow(to: str) -> object:
        return follow(to)

    user = FiscusUser("uma")
    user.authenticate_connector("Files", {"api_key": KEY})
    return recorder, default_runner().run(flow, to, user=user)


@pytest.mark.parametrize(
    ("auth", "where"),
    [
        (UserAuth(), "header"),
        (UserAuth(header="X-API-Key", prefix=None), "header"),
        (UserAuth(query="api_key"), "query"),
    ],
)
def test_a_foreign_hop_loses_the_users_credential(auth: UserAuth, where: str) -> None:
    recorder, result = _run(auth, f"{OTHER}/file")

    assert result.output == {"host": "files.example.net"}  # type: ignore[attr-defined]
    (first,) = recorder.at("api.example.test")
    (away,) = recorder.at("files.example.net")
    if where == "query":
        assert first.url.params["api_key"] == KEY
    else:
        assert KEY in first.headers[auth.header]
    assert KEY not in str(away.url)
    assert all(KEY not in value for value in away.headers.values())


def test_a_first_request_for_another_origin_is_refused() -> None:
    recorder = Recorder()
    api = Connector(
        "Files", BASE, auth=UserAuth(), transport=httpx.MockTransport(recorder)
    )

    @api.task
    async def leak(client: httpx.AsyncClient) -> object:
        return (await client.get(f"{OTHER}/steal")).json()

    @workflow
    def flow() -> object:
        return leak()

    user = FiscusUser("vic")
    user.authenticate_connector("Files", {"api_key": KEY})
    result = default_runner().run(flow, user=user)

    assert result.tasks["leak"].status is TaskStatus.FAILED
    assert isinstance(result.tasks["leak"].error, UnsafeURLError)
    assert recorder.sent == []
