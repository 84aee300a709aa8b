"""The canary scan: a secret planted in each credential form shows in no output.

For each form (header and query API keys, a bearer token, Basic auth, a
URL's userinfo, an OAuth2 client secret sent with Basic and with body
client auth, an OAuth2 access token, a session cookie) a fresh canary is
planted, and a workflow runs against a real API on 127.0.0.1 that echoes
every request it gets into its error bodies and its token responses. The
run's calls fail every way the scan knows: 400, 503 retried, 429 with a
cool-down, a response that fails validation, ``raise_for_status()`` in a
hand-written task, and an error quoting the echo with a chained cause.

Then every output is read whole, and the canary (its unique part, and the
base64 of the Basic credentials that carry it) must be in none: the
``RunResult`` (repr, JSON, each task, each error's traceback with its
chain), the errors of tasks called outside a workflow, the dict API's
``FiscusResponse``, the graphs, every span (as JSON), the SQLite run store
(a dump, and the bytes of its files), the log records of every logger at
DEBUG (httpx's, httpcore's and fiscus_dsl's, tracebacks included), the
warnings, and ``fiscus run``'s output, as a table and as JSON. A control
checks that the server did receive the canary each time.
"""

from __future__ import annotations

import base64
import logging
import sqlite3
import sys
import traceback
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote_plus

import pytest
from typer.testing import CliRunner

from fiscus_dsl import FiscusClient, Runner, RunResult, SQLiteRunStore
from fiscus_dsl._cli import app
from fiscus_dsl._sandbox import sandbox
from fiscus_dsl.testing import FakeSleep, SpanCapture

from .canary_flows import (
    CLIENT_ID,
    ENV_FORM,
    ENV_TRANSPORT,
    ENV_URL,
    ENV_VALUE,
    FORMS,
    TRANSPORTS,
    USER,
    EchoState,
    build_app,
    build_flow,
    plant,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from fiscus_dsl import Connector

_HERE: Final = Path(__file__).parent
_CLI_ENV: Final[dict[str, str | None]] = {
    "COLUMNS": "120",
    "NO_COLOR": "1",
    "FORCE_COLOR": None,
    "TTY_COMPATIBLE": None,
    "TTY_INTERACTIVE": None,
}
_CLI_FILE: Final = """\
import sys

sys.path.insert(0, {here!r})
from canary_flows import flow_from_env

canary_flow = flow_from_env()
"""


class _Records(logging.Handler):
    """Every record of every logger, formatted with its traceback and stack."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("uvicorn"):  # the test server's own, not ours
            return
        self.names.add(record.name)
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def echo_api() -> Iterator[tuple[str, EchoState]]:
    """Serve the echo API on 127.0.0.1 for the module."""
    state = EchoState()
    with sandbox(build_app(state)) as base_url:
        yield base_url, state


@pytest.fixture
def records() -> Iterator[_Records]:
    """Collect the records of every logger at DEBUG while the test runs."""
    handler = _Records()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _forbidden(form: str, canary: str) -> list[str]:
    """Return the texts that give the canary away: itself, and its Basic tokens.

    The last one is the form the API receives (the control looks for it).
    """
    texts = [canary.removeprefix("canary-")]  # the unique part: a cut shows it too
    if form in ("basic_auth", "url_userinfo"):
        texts.append(_b64(f"{USER}:{canary}"))
    if form == "oauth2_secret_basic":
        texts.append(_b64(f"{quote_plus(CLIENT_ID)}:{quote_plus(canary)}"))
    return texts


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def _traceback(error: BaseException | None) -> str:
    if error is None:
        return ""
    return "".join(traceback.format_exception(error))  # the whole chain


def _result_texts(label: str, result: RunResult[Any]) -> dict[str, str]:
    texts = {
        f"{label}: repr": repr(result),
        f"{label}: JSON": result.model_dump_json(),
        f"{label}: error_message": str(result.error_message),
        f"{label}: traceback": _traceback(result.error),
        f"{label}: graph JSON": result.graph.model_dump_json(),
        f"{label}: graph Mermaid": result.graph.to_mermaid(),
        f"{label}: graph DOT": result.graph.to_dot(),
    }
    for task_id, task in result.tasks.items():
        texts[f"{label}: task {task_id}"] = repr(task) + task.model_dump_json()
        texts[f"{label}: traceback of {task_id}"] = _traceback(task.error)
    return texts


def _raised(connectors: list[Connector]) -> dict[str, str]:
    """Call the failing tasks outside a workflow; return their tracebacks."""
    operations = connectors[0].operations
    calls: dict[str, Callable[[], object]] = {
        "fail(400)": lambda: operations["fail"](400),
        "mistyped()": lambda: operations["mistyped"](),
        "raise_for_status(400)": lambda: operations["raise_for_status"](400),
        "quote_the_echo()": lambda: operations["quote_the_echo"](),
    }
    texts: dict[str, str] = {}
    for name, call in calls.items():
        with pytest.raises(Exception) as caught:  # noqa: PT011  (each kind: see the chain)
            call()
        texts[f"raised by {name}"] = repr(caught.value) + _traceback(caught.value)
    return texts


def _dict_api(connectors: list[Connector], runner: Runner) -> dict[str, str]:
    """Run the failing calls through the dict API; return what it answers."""
    name = connectors[0].name
    tasks = [
        {"connector": name, "operation": "fail", "params": {"status": 400}},
        {"connector": name, "operation": "mistyped"},
        {"connector": name, "operation": "quote_the_echo"},
    ]
    response = FiscusClient(connectors=connectors, runner=runner).execute(tasks=tasks)
    assert not response.success
    texts = {"dict API: response": repr(response) + response.to_json()}
    for index, item in enumerate(response.results or []):
        texts[f"dict API: result {index}"] = repr(item) + item.to_json()
    return texts


def _store_texts(directory: Path) -> dict[str, str]:
    """Dump the run store, and read the bytes of its files (journal included)."""
    with sqlite3.connect(directory / "runs.db") as connection:
        dump = "\n".join(connection.iterdump())
    texts = {"store: dump": dump}
    for file in directory.iterdir():
        texts[f"store: file {file.name}"] = file.read_bytes().decode("latin-1")
    return texts


def _cli(
    form: str, canary: str, base_url: str, directory: Path, transport: str
) -> dict[str, str]:
    """Run the scan's workflow with ``fiscus run``, as a table and as JSON."""
    file = directory / "canary_cli.py"
    file.write_text(_CLI_FILE.format(here=str(_HERE)))
    env = {
        **_CLI_ENV,
        ENV_FORM: form,
        ENV_VALUE: canary,
        ENV_URL: base_url,
        ENV_TRANSPORT: transport,
    }
    path, modules = list(sys.path), set(sys.modules)
    texts: dict[str, str] = {}
    try:
        for extra in ([], ["--json"]):
            ran = CliRunner().invoke(
                app, ["run", f"{file}:canary_flow", *extra], env=env
            )
            assert ran.exit_code == 0, ran.output  # on_error="continue"
            assert "failed" in ran.output
            texts[f"fiscus run {' '.join(extra)}"] = ran.stdout + ran.stderr
    finally:
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            del sys.modules[name]
    return texts


def _leaks(texts: dict[str, str], forbidden: list[str]) -> list[str]:
    return [
        f"{where}: ...{text[max(0, at - 60) : at + 60]}..."
        for where, text in texts.items()
        for secret in forbidden
        if (at := text.find(secret)) >= 0
    ]


@pytest.mark.parametrize("transport", TRANSPORTS, ids=["default", "httpx"])
@pytest.mark.parametrize("form", FORMS)
def test_a_canary_shows_in_no_output(
    form: str,
    transport: str,
    echo_api: tuple[str, EchoState],
    records: _Records,
    tmp_path: Path,
) -> None:
    base_url, state = echo_api
    canary = f"canary-{uuid.uuid4().hex}"
    state.token = canary if form == "oauth2_access_token" else f"at-{uuid.uuid4()}"
    connectors = plant(form, canary, base_url, transport)
    capture = SpanCapture()
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    runner = Runner(
        tracer_provider=capture.provider,
        sleep=FakeSleep(),
        store=SQLiteRunStore(store_dir / "runs.db"),
    )
    seen_before = len(state.seen)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = runner.run(build_flow(connectors))
        texts = _result_texts("run", result)
        texts |= _raised(connectors)
        texts |= _dict_api(connectors, runner)
        texts |= _cli(form, canary, base_url, tmp_path, transport)
    texts |= _store_texts(store_dir)
    texts["spans"] = "\n".join(
        span.to_json() for span in capture.exporter.get_finished_spans()
    )
    texts["logs"] = "\n".join(records.lines)
    texts["warnings"] = "\n".join(str(warning.message) for warning in caught)
    capture.close()

    forbidden = _forbidden(form, canary)
    assert _leaks(texts, forbidden) == []
    # The control: the API got the canary, and every output was written.
    sent = state.seen[seen_before:]
    assert any(forbidden[-1] in request for request in sent)
    assert result.counts()["failed"] >= 6
    assert "HTTP Request: GET" in texts["logs"]
    stack = {"httpx", "httpcore.http11"} if transport == "httpx" else {"httpx"}
    assert stack | {"fiscus_dsl.task", "fiscus_dsl.run"} <= records.names
    assert "fiscus_dsl.connector" in records.names  # the 429's cool-down
    assert "Traceback (most recent call last)" in texts["logs"]
    assert (
        "The above exception was the direct cause"
        in texts["run: traceback of raise_for_status"]
    )
    assert (
        "During handling of the above exception"
        in texts["run: traceback of quote_the_echo"]
    )
    assert result.run_id in texts["store: dump"]
    assert texts["spans"].count('"kind": "SpanKind.CLIENT"') >= 7
