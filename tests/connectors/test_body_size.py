"""Requests refused before sending: a JSON body over the limit, a non-ASCII header.

A value that repeats one large object (as a task file's aliases, or shared
references, can) must cost no more than the limit to measure: ``json_size``
stops counting past it, and the operation fails with a ``ConnectorError``
(``INVALID_REQUEST``, not retryable) and sends nothing.
"""

from __future__ import annotations

import json
from typing import Annotated, Final

import httpx
import pytest
from pydantic import BaseModel

from fiscus_dsl import (
    Body,
    Connector,
    ConnectorError,
    FiscusClient,
    FiscusErrorCode,
    Header,
    Runner,
    Secret,
)
from fiscus_dsl._connectors.body import DEFAULT_MAX_REQUEST_BYTES as MAX_BODY_BYTES
from fiscus_dsl._connectors.request import read_operation
from fiscus_dsl._connectors.values import json_size
from fiscus_dsl._dsl.signature import CallSignature

BASE: Final = "https://bulk.example.test/v1"
MEBIBYTE: Final = "x" * (1024 * 1024)


class Item(BaseModel):
    name: str
    tags: list[str]


def _bulk(sent: list[httpx.Request]) -> Connector:
    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"ok": True})

    bulk = Connector("Bulk", BASE, transport=httpx.MockTransport(answer))

    @bulk.operation("POST /items")
    def upload(items: Annotated[list[str], Body()]) -> dict[str, bool]:
        """Upload items."""
        raise NotImplementedError

    @bulk.operation("PUT /note")
    def note(text: str, extra: object = None) -> dict[str, bool]:
        """Store a note."""
        raise NotImplementedError

    return bulk


def test_a_body_over_the_limit_is_refused_unsent(runner: Runner) -> None:
    sent: list[httpx.Request] = []
    bulk = _bulk(sent)
    items = [MEBIBYTE] * 17  # one string, seventeen times: 17 MiB as JSON

    with pytest.raises(ConnectorError) as caught:
        bulk.operations["upload"](items)

    error = caught.value
    assert str(error) == (
        f"Operation 'upload' of connector 'Bulk': the request body is over "
        f"{MAX_BODY_BYTES:,} bytes of JSON (max_request_bytes); nothing was sent. "
        "Send the data in smaller requests, or raise the connector's "
        "max_request_bytes"
    )
    assert (error.code, error.retryable) == (FiscusErrorCode.INVALID_REQUEST, False)
    assert (error.connector, error.operation, error.method) == (
        "Bulk",
        "upload",
        "POST",
    )
    assert error.url == BASE
    assert sent == []


def test_a_body_within_the_limit_is_sent_whole(runner: Runner) -> None:
    sent: list[httpx.Request] = []
    bulk = _bulk(sent)

    assert bulk.operations["upload"]([MEBIBYTE] * 3) == {"ok": True}

    assert len(sent) == 1
    assert json.loads(sent[0].content) == [MEBIBYTE] * 3


def test_the_dict_api_fails_only_the_task_whose_body_is_too_big(runner: Runner) -> None:
    sent: list[httpx.Request] = []
    client = FiscusClient(connectors=[_bulk(sent)], runner=runner, retries=2)

    response = client.execute(
        tasks=[
            {"connector": "Bulk", "operation": "note", "params": {"text": "small"}},
            {
                "connector": "Bulk",
                "operation": "note",
                "id": "huge",
                "params": {"text": "big", "extra": {"rows": [MEBIBYTE] * 20}},
            },
        ]
    )

    assert not response.success
    assert isinstance(response.error, ConnectorError)
    assert response.error_code is FiscusErrorCode.INVALID_REQUEST
    assert response.run is not None
    assert response.run["huge"].attempts == 1  # not retried
    assert [json.loads(r.content) for r in sent] == [{"text": "small"}]


@pytest.mark.parametrize(
    "value",
    [
        {},
        [],
        "",
        {"a": [1, "é", None, True, 2.5], "b": {"c": []}},
        ["line\nbreak", 'quote"', "back\\slash", "\u2028", "\x7f", "\x01", "plain"],
        (1, 2),
        [10**30, -(10**17), 0, 1e300, -0.0, 0.1, True, False, None],
        {1: "int key", None: "null key"},
    ],
)
def test_json_size_counts_the_compact_json_exactly(value: object) -> None:
    compact = json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    assert json_size(value, 10_000) == len(compact.encode())


def test_json_size_counts_secrets_as_sent_and_models_by_field() -> None:
    assert json_size(Secret("s3cret"), 100) == len('"s3cret"')
    item = Item(name="a", tags=["b", "c"])
    assert json_size(item, 100) == len(item.model_dump_json())


def test_json_size_stops_counting_past_the_limit() -> None:
    repeated = [MEBIBYTE] * 1_000_000  # a terabyte as JSON; one string in memory

    assert MAX_BODY_BYTES < json_size(repeated, MAX_BODY_BYTES) < 2 * MAX_BODY_BYTES


def test_check_body_size_allows_exactly_the_limit() -> None:
    def upload(items: Annotated[list[str], Body()]) -> None:
        """Upload items."""

    operation = read_operation(
        CallSignature(upload, "upload"), "POST /items", connector="Bulk"
    )
    body = ["x" * 10]  # 14 bytes: ["xxxxxxxxxx"]

    operation.check_body_size(body, httpx.URL(BASE), limit=14)
    with pytest.raises(ConnectorError, match=r"over 13 bytes of JSON"):
        operation.check_body_size(body, httpx.URL(BASE), limit=13)


@pytest.mark.parametrize(
    "value",
    ["é", "snow ☃", "\udcff", "a\r\nX-Injected: 1", "nul\x00", "\x7f", " a", "a\t"],
)
def test_a_header_value_a_header_cannot_carry_is_refused_unsent(
    runner: Runner, value: str
) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    tagged = Connector("Tagged", BASE, transport=httpx.MockTransport(answer))

    @tagged.operation("GET /items")
    def items(tag: Annotated[str, Header(alias="X-Tag")]) -> dict[str, object]:
        """List items by tag."""
        raise NotImplementedError

    with pytest.raises(ConnectorError) as caught:
        items(value)

    assert str(caught.value).startswith(
        "Unsendable value: operation 'items' of connector 'Tagged' got header "
        "'X-Tag' (parameter 'tag') holding a control character (CR, LF, NUL...), a "
        "non-ASCII one or a space at either end, which a header cannot carry; "
        "nothing was sent, and it is not retried."
    )
    assert caught.value.code is FiscusErrorCode.INVALID_REQUEST
    assert not caught.value.retryable
    assert sent == []
    assert items("plain ascii\tand ~!") == {}
    assert items("") == {}
    assert [request.headers["X-Tag"] for request in sent] == ["plain ascii\tand ~!", ""]
