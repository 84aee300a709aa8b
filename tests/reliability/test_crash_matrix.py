"""The crash matrix: a chain of 20 POSTs SIGKILLed at every step, then resumed.

``crash_matrix_flow.ledger`` runs in a child of a fork server
(``crash_matrix_flow.serve_forks``) with a run store, against a ledger API
in this process (``idempotent_server.py``) that applies each
``Idempotency-Key`` once. Each cycle kills the child with SIGKILL, then
resumes its run here with a fresh ``Runner`` on the same store. The kill
points, per step N of 20:

- ``before-send``: the child kills itself from the ``before_task`` hook of
  step N; the server never sees step N from it.
- ``after-apply``: the server kills the child right after applying step N,
  before answering, and waits for its connection to close (the kernel
  closes it once every thread of the child has exited); the child never
  gets the answer, so step N is applied and not recorded.
- ``after-record``: the child holds in the ``before_task`` hook of the task
  after step N; the test polls the store until it shows step N, then the
  fork server kills the child; steps 1 to N are recorded, N + 1 is unsent.

Then ``FISCUS_CRASH_RANDOM`` (50 by default) kills at random moments: a
seeded delay after the child said its run started, drawn up to the median
length of three uninterrupted runs (the fork server sends the SIGKILL).
Each cycle checks that the kill was where it claims to be, then, after the
resume: no task recorded before the kill was sent again or lost its value
(0 results lost), each step was applied once (0 effects twice, 0 missing),
each step came with one key, the one derived from the run id and task id,
no key came with two bodies, and the output is an uninterrupted run's.
The store is a parameter (``store_spec``). The figures are printed
(``pytest -s``) and quoted in docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import pytest

from fiscus_dsl import Runner, RunStatus, RunStore
from fiscus_dsl._connectors.connector import IDEMPOTENCY_NAMESPACE

from . import crash_matrix_flow as flow_module
from .crash_matrix_flow import STEPS, Entry, build, open_store, task_id
from .idempotent_server import IdempotentServer, serve_ledger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from fiscus_dsl import RunResult, Workflow

RANDOM_KILLS: Final = int(os.environ.get("FISCUS_CRASH_RANDOM", "50"))
SEED: Final = 20_260_611
EVENT_TIMEOUT: Final = 30.0
POLL_TIMEOUT: Final = 10.0
#: The reason a resumed run gives a task it served from the store.
RESUMED: Final = "resumed from the run store"
KILLED: Final = -signal.SIGKILL
FORK_SERVER: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); import crash_matrix_flow; "
    "crash_matrix_flow.serve_forks(sys.argv[2])"
)
POINTS: Final = ("before-send", "after-apply", "after-record")
STEP_NUMBERS: Final = range(1, STEPS + 1)
FLOW_FOLDER: Final = str(Path(flow_module.__file__).parent)


class Forks:
    """The fork server's process, and the messages it and its children write."""

    def __init__(self, url: str, log: IO[bytes]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", FORK_SERVER, FLOW_FOLDER, url],
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


@dataclass(frozen=True, slots=True)
class Kill:
    """Where a cycle kills its child: a point and a step, or a delay."""

    label: str
    point: str
    step: int = 0
    delay: float = 0.0


@dataclass(slots=True)
class Totals:
    """The matrix's counts over its cycles."""

    cycles: int = 0
    killed: int = 0
    ended_first: int = 0
    off_point: list[str] = field(default_factory=list)
    recorded: int = 0
    served: int = 0
    replayed: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    twice: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    two_keys: list[str] = field(default_factory=list)
    wrong_output: list[str] = field(default_factory=list)
    recorded_at_kill: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Matrix:
    """What every cycle shares: the server, the fork server, stores, the output."""

    server: IdempotentServer
    forks: Forks
    flow: Workflow[[str], list[Entry]]
    reference: list[Entry]
    store_spec: Callable[[str], dict[str, str]]
    totals: Totals = field(default_factory=Totals)


@pytest.fixture(scope="module")
def server() -> Iterator[IdempotentServer]:
    yield from serve_ledger()


@pytest.fixture(scope="module")
def forks(
    server: IdempotentServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Forks]:
    log_path = tmp_path_factory.mktemp("forks") / "stderr.log"
    with log_path.open("wb") as log:
        running = Forks(server.url, log)
        try:
            yield running
        finally:
            running.close()


@pytest.fixture(scope="module")
def flow(server: IdempotentServer) -> Workflow[[str], list[Entry]]:
    return build(server.url)


@pytest.fixture(scope="module")
def reference(flow: Workflow[[str], list[Entry]]) -> list[Entry]:
    """Return the output of an uninterrupted run, in this process."""
    result = Runner(store=None).run(flow, "reference")
    output = result.output
    assert result.status is RunStatus.SUCCEEDED
    assert output is not None
    assert len(output) == STEPS
    return output


@pytest.fixture(params=["sqlite"])
def store_spec(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[str], dict[str, str]]:
    """Return what names a cycle's store, for the child and for this process."""
    kind: str = request.param

    def spec(label: str) -> dict[str, str]:
        return {"kind": kind, "target": str(tmp_path / f"{label}.sqlite3")}

    return spec


@pytest.fixture
def matrix(
    server: IdempotentServer,
    forks: Forks,
    flow: Workflow[[str], list[Entry]],
    reference: list[Entry],
    store_spec: Callable[[str], dict[str, str]],
) -> Matrix:
    return Matrix(server, forks, flow, reference, store_spec)


def _key(run_id: str, step: int) -> str:
    return f'"{uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{run_id}/{task_id(step)}")}"'


def _wait_recorded(store: RunStore, run_id: str, wanted: str) -> None:
    until = time.monotonic() + POLL_TIMEOUT
    while time.monotonic() < until:
        run = store.load_run(run_id)
        if run is not None and wanted in run.tasks:
            return
        time.sleep(0.001)
    msg = f"The store never showed task {wanted!r} of run {run_id!r}"
    raise AssertionError(msg)


def _order(matrix: Matrix, kill: Kill) -> dict[str, Any]:
    order: dict[str, Any] = {"store": matrix.store_spec(kill.label)}
    order["label"] = kill.label
    if kill.point == "before-send":
        order["die_before"] = task_id(kill.step)
    elif kill.point == "after-record":
        order["hold_before"] = (
            task_id(kill.step + 1) if kill.step < STEPS else "receipt"
        )
    elif kill.point == "after-apply":
        matrix.server.arm_kill(kill.label, kill.step)
    return order


def _kill(matrix: Matrix, kill: Kill, run_id: str, kills_before: int) -> int:
    """Let the cycle's child be killed where ``kill`` says; return its exit code."""
    forks = matrix.forks
    if kill.point == "after-record":
        forks.expect("held")
        store = open_store(matrix.store_spec(kill.label))
        try:
            _wait_recorded(store, run_id, task_id(kill.step))
        finally:
            _close(store)
        forks.send({"then": "kill"})
    elif kill.point == "random":
        time.sleep(kill.delay)
        forks.send({"then": "kill"})
    else:  # the child kills itself, or the server kills it
        forks.send({"then": "wait"})
    code: int = forks.expect("exited")["code"]
    if kill.point == "after-apply":
        _wait_confirmed(matrix.server, kills_before)
    return code


def _wait_confirmed(server: IdempotentServer, kills_before: int) -> None:
    """Wait for the server's handler to see the killed worker's socket close."""
    until = time.monotonic() + POLL_TIMEOUT
    while server.tally.kills == kills_before and time.monotonic() < until:
        time.sleep(0.001)


def _close(store: RunStore) -> None:
    close = getattr(store, "close", None)
    if close is not None:
        close()


def _check_point(
    matrix: Matrix, kill: Kill, recorded: set[int], kills_before: int
) -> bool:
    """Tell whether the state at the kill is the one its point names."""
    tally, step = matrix.server.tally, (kill.label, kill.step)
    if kill.point == "before-send":
        return tally.requests[step] == 0 and recorded <= set(range(1, kill.step))
    if kill.point == "after-apply":
        confirmed = tally.kills_confirmed == kills_before + 1
        return confirmed and tally.applied[step] == 1 and kill.step not in recorded
    if kill.point == "after-record":
        unsent = tally.requests[(kill.label, kill.step + 1)] == 0
        return unsent and recorded == set(range(1, kill.step + 1))
    return True


def cycle(matrix: Matrix, kill: Kill) -> None:
    """Run, kill, check the point, resume, and count what went wrong."""
    totals, server = matrix.totals, matrix.server
    kills_before = server.tally.kills_confirmed
    matrix.forks.start(_order(matrix, kill))
    run_id: str = matrix.forks.expect("run")["run_id"]
    code = _kill(matrix, kill, run_id, kills_before)
    totals.cycles += 1
    totals.killed += code == KILLED
    totals.ended_first += matrix.forks.saw("done")
    store = open_store(matrix.store_spec(kill.label))
    try:
        before = store.load_run(run_id)
        assert before is not None
        recorded = {
            step
            for step in STEP_NUMBERS
            if task_id(step) in before.tasks and before.tasks[task_id(step)].resumable
        }
        with server.lock:
            if not _check_point(matrix, kill, recorded, kills_before):
                totals.off_point.append(f"{kill}: recorded {sorted(recorded)}")
            sent = dict(server.tally.requests)
        resumed = Runner(store=store).resume(matrix.flow, run_id)
    finally:
        _close(store)
    _count(matrix, kill, recorded, sent, resumed)


def _count(
    matrix: Matrix,
    kill: Kill,
    recorded: set[int],
    sent: dict[tuple[str, int], int],
    resumed: RunResult[list[Entry]],
) -> None:
    totals, tally = matrix.totals, matrix.server.tally
    totals.recorded += len(recorded)
    totals.recorded_at_kill.append(len(recorded))
    name = f"{kill.label} ({kill.point} {kill.step or f'{kill.delay:.3f}s'})"
    with matrix.server.lock:
        for step in STEP_NUMBERS:
            logical = (kill.label, step)
            where = f"{name} step {step}"
            result = resumed[task_id(step)]
            if step in recorded:
                again = tally.requests[logical] != sent.get(logical, 0)
                if again or result.reason != RESUMED:
                    totals.lost.append(where)
                totals.served += result.reason == RESUMED
            if tally.applied[logical] > 1:
                totals.twice.append(where)
            if tally.applied[logical] == 0:
                totals.missing.append(where)
            if tally.keys[logical] != {_key(resumed.run_id, step)}:
                totals.two_keys.append(where)
            totals.replayed[kill.point] += tally.replayed[logical]
    if resumed.status is not RunStatus.SUCCEEDED or resumed.output != matrix.reference:
        totals.wrong_output.append(name)


def _assert_clean(matrix: Matrix, expected_cycles: int) -> None:
    totals = matrix.totals
    assert totals.cycles == expected_cycles
    assert totals.off_point == []
    assert totals.lost == []
    assert totals.twice == []
    assert totals.missing == []
    assert totals.two_keys == []
    assert totals.wrong_output == []
    assert matrix.server.two_bodies() == 0
    assert matrix.server.tally.broken_links == 0
    assert matrix.server.tally.unkeyed == 0


def _report(title: str, matrix: Matrix, seconds: float) -> None:
    totals = matrix.totals
    spread = Counter(totals.recorded_at_kill)
    print(  # noqa: T201  (the figures docs/reliability.md quotes; shown by pytest -s)
        f"\n{title}: {totals.cycles} kill/resume cycles in {seconds:.1f} s",
        f"ended by SIGKILL {totals.killed}, runs that had ended before the kill "
        f"{totals.ended_first}",
        f"POSTs recorded before the kill {totals.recorded}, served from the "
        f"store on resume {totals.served}",
        f"answers replayed by key on resume {dict(totals.replayed)}",
        f"off point {len(totals.off_point)}, results lost {len(totals.lost)}, "
        f"effects twice {len(totals.twice)}, effects missing "
        f"{len(totals.missing)}, steps with two keys {len(totals.two_keys)}, "
        f"keys with two bodies {matrix.server.two_bodies()}, wrong outputs "
        f"{len(totals.wrong_output)}",
        f"POSTs recorded at the kill: {dict(sorted(spread.items()))}",
        sep="\n  ",
    )


def test_a_kill_at_every_exact_point_resumes_with_each_effect_once(
    matrix: Matrix,
) -> None:
    started = time.perf_counter()
    for point in POINTS:
        for step in range(1, STEPS + 1):
            cycle(matrix, Kill(f"exact-{point}-{step}", point, step=step))
    seconds = time.perf_counter() - started

    _report("exact points", matrix, seconds)
    _assert_clean(matrix, len(POINTS) * STEPS)
    assert matrix.totals.killed == len(POINTS) * STEPS
    # Each after-apply kill left an applied, unrecorded step: its key replays.
    assert matrix.totals.replayed["after-apply"] >= STEPS


def _run_time(matrix: Matrix) -> float:
    """Return the median length of three uninterrupted runs in children."""
    return statistics.median(_one_run_time(matrix, f"timing-{n}") for n in range(3))


def _one_run_time(matrix: Matrix, label: str) -> float:
    """Time one uninterrupted run in a child, from its start to its end."""
    matrix.forks.start({"store": matrix.store_spec(label), "label": label})
    matrix.forks.expect("run")
    started = time.perf_counter()
    matrix.forks.send({"then": "wait"})
    assert matrix.forks.expect("done")["status"] == "succeeded"
    seconds = time.perf_counter() - started
    assert matrix.forks.expect("exited")["code"] == 0
    return seconds


def test_kills_at_random_moments_resume_with_each_effect_once(
    matrix: Matrix,
) -> None:
    draw = random.Random(SEED)
    length = _run_time(matrix)
    started = time.perf_counter()
    for number in range(RANDOM_KILLS):
        delay = draw.uniform(0.0, length)
        cycle(matrix, Kill(f"random-{number}", "random", delay=delay))
    seconds = time.perf_counter() - started

    _report(f"random moments (run length {length * 1000:.0f} ms)", matrix, seconds)
    _assert_clean(matrix, RANDOM_KILLS)
