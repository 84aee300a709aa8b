"""The crash matrix's workflow, and the fork server that runs it to be killed.

``build(url)`` makes ``ledger``: 20 POST tasks on one connector, a chain in
which each task sends the id the previous one got back, then a plain task,
``receipt``, that returns the 20 entries. Its output is the same for every
run that applies each step once, in order.

``serve_forks(url)`` is the subprocess entry point (``python -c "import
crash_matrix_flow; crash_matrix_flow.serve_forks(url)"``); ``Forks``
starts it and talks to it. It imports fiscus_dsl and this module once and
starts no thread; then, for each order it reads on stdin (one JSON line),
it forks a child that runs one ``ledger`` run with
``Runner(store=SQLiteRunStore(path))`` (or a ``PostgresRunStore``), says
``forked`` with the child's pid, reads what to do next (``wait``, or
``kill``: SIGKILL the child now) and says ``exited`` with its exit code
once it has reaped it, so its pid cannot be taken by another process
before then. A fork costs milliseconds where a fresh interpreter costs
half a second of imports. The child says ``run`` with its run id from a
``before_workflow`` hook (the run is recorded by then); an order's
``die_before`` task id makes the child SIGKILL itself from that task's
``before_task`` hook, before its request is built, and ``hold_before``
makes that hook say ``held`` and wait to be killed, so that the test can
kill it once the store shows what it waits for. Messages are JSON lines
on stdout, each written in one ``os.write``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, NoReturn

from pydantic import BaseModel

from fiscus_dsl import Connector, Hooks, Runner, SQLiteRunStore, task, workflow
from fiscus_dsl._connectors.transports import tls_context

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from fiscus_dsl import RunContext, RunStore, TaskContext, Workflow

STEPS: Final = 20
PID_HEADER: Final = "X-Worker-Pid"
#: How long the test waits for a message of the fork server or a child.
EVENT_TIMEOUT: Final = 30.0
FORK_SERVER: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); import crash_matrix_flow; "
    "crash_matrix_flow.serve_forks(sys.argv[2])"
)
#: How long a held child waits to be killed before it goes on.
HOLD_SECONDS: Final = 60.0
#: What a connector's default transport imports on its first request.
DEFAULT_TRANSPORT: Final = "fiscus_dsl._connectors.aio"
POSTGRES_STORE: Final = "fiscus_dsl._runtime.postgres_store"


class Entry(BaseModel):
    """One ledger entry, as the server applied it."""

    id: str
    step: int
    seq: int
    trail: str


def task_id(step: int) -> str:
    """Return the task id of POST ``step`` (1 to 20) in ``ledger``."""
    return "append" if step == 1 else f"append#{step}"


@task
def receipt(entries: list[Entry]) -> list[Entry]:
    """Return the entries, checked to form one chain in order."""
    for number, entry in enumerate(entries, start=1):
        if entry.step != number:
            msg = f"Entry {entry.id!r} is step {entry.step}, expected {number}"
            raise ValueError(msg)
    return entries


def build(url: str, *, pid: int | None = None) -> Workflow[[str], list[Entry]]:
    """Return ``ledger`` on a connector to ``url``.

    Args:
        url: The ledger server's base URL.
        pid: Sent in the ``X-Worker-Pid`` header, for the server to kill
            this process when a kill is armed; ``None`` sends no header.
    """
    headers = {} if pid is None else {PID_HEADER: str(pid)}
    ledger_api = Connector("Ledger", url, headers=headers)

    @ledger_api.operation("POST /entries")
    def append(label: str, step: int, after: str) -> Entry:
        """Append the entry ``step`` after the entry ``after``."""
        raise NotImplementedError

    @workflow
    def ledger(label: str) -> list[Entry]:
        entries: list[Entry] = []  # futures while tracing, typed as values
        after = ""
        for step in range(1, STEPS + 1):
            entry = append(label, step, after)
            entries.append(entry)
            after = entry.id
        return receipt(entries)

    return ledger


def open_store(spec: dict[str, str]) -> RunStore:
    """Open the store an order names.

    ``{"kind": "sqlite", "target": path}`` or ``{"kind": "postgresql",
    "target": url}``; psycopg, an extra, is imported only for the second.
    """
    kind, target = spec["kind"], spec["target"]
    if kind == "sqlite":
        return SQLiteRunStore(target)
    if kind == "postgresql":
        from fiscus_dsl import PostgresRunStore  # psycopg is an extra

        return PostgresRunStore(target)
    msg = f"No store of kind {kind!r}"
    raise ValueError(msg)


def say(event: str, **fields: object) -> None:
    """Write one message to stdout in a single write (children share the pipe)."""
    os.write(1, (json.dumps({"event": event, **fields}) + "\n").encode())


def _announce(run: RunContext) -> None:
    say("run", run_id=run.run_id, pid=os.getpid())


def _stops(
    die_before: str | None, hold_before: str | None
) -> Callable[[TaskContext], Coroutine[Any, Any, None]]:
    async def before_task(ctx: TaskContext) -> None:
        if ctx.task_id == die_before:
            os.kill(os.getpid(), signal.SIGKILL)
        if ctx.task_id in (die_before, hold_before):
            say("held", task_id=ctx.task_id)
            await asyncio.sleep(HOLD_SECONDS)

    return before_task


def run_order(url: str, order: dict[str, Any]) -> None:
    """Run ``ledger`` once as an order says, with its store and stops."""
    flow = build(url, pid=os.getpid())
    hooks = Hooks(
        before_workflow=_announce,
        before_task=_stops(order.get("die_before"), order.get("hold_before")),
    )
    store = open_store(order["store"])
    try:
        result = Runner(store=store, hooks=hooks).run(flow, label=order["label"])
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
    say("done", status=result.status.value)


def _child(url: str, order: dict[str, Any]) -> NoReturn:
    code = 0
    try:
        run_order(url, order)
    except BaseException:  # the child's end: say why on stderr, never return
        traceback.print_exc()
        code = 1
    finally:
        sys.stderr.flush()
        os._exit(code)


def serve_forks(url: str) -> None:
    """Fork a child per order read on stdin (see the module docstring)."""
    # What a connector's first request loads, once here rather than per child:
    # the default transport's modules and the TLS context (26 ms of CA bundle).
    build(url)
    importlib.import_module(DEFAULT_TRANSPORT)
    tls_context()
    with contextlib.suppress(ModuleNotFoundError):  # psycopg is an extra
        importlib.import_module(POSTGRES_STORE)
    if threading.active_count() != 1:
        msg = "The fork server must not start threads before it forks"
        raise RuntimeError(msg)
    while line := sys.stdin.readline():
        order = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(url, order)
        say("forked", pid=pid)
        then = json.loads(sys.stdin.readline())["then"]
        if then == "kill":
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        say("exited", pid=pid, code=os.waitstatus_to_exitcode(status))


class Forks:
    """The fork server's process, and the messages it and its children write."""

    def __init__(self, url: str, log: IO[bytes]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", FORK_SERVER, str(Path(__file__).parent), url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,  # its children share its group: one killpg
        )
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._early: list[dict[str, Any]] = []
        self._reader = threading.Thread(
            target=self._read, name="fork-server", daemon=True
        )
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._events.put(json.loads(line))

    def send(self, message: dict[str, Any]) -> None:
        """Write one order or instruction to the fork server."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def start(self, order: dict[str, Any]) -> None:
        """Send an order; what the last child said and was not read is dropped."""
        self._early.clear()
        self.send(order)
        self.expect("forked")

    def saw(self, event: str) -> bool:
        """Tell whether a message of kind ``event`` came and was not read yet."""
        return any(early["event"] == event for early in self._early)

    def expect(self, event: str) -> dict[str, Any]:
        """Return the next message of kind ``event``, keeping others for later."""
        for index, early in enumerate(self._early):
            if early["event"] == event:
                return self._early.pop(index)
        while True:
            message = self._events.get(timeout=EVENT_TIMEOUT)
            if message["event"] == event:
                return message
            self._early.append(message)

    def close(self) -> None:
        """Stop the fork server and anything it left running."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        finally:
            with contextlib.suppress(ProcessLookupError):  # nothing left
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            self._reader.join(10)
            if self.process.stdout is not None:
                self.process.stdout.close()
