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
The store is a parameter (``store_spec``): SQLite, and PostgreSQL (the
``postgres_database`` fixture; skipped without a server).

Two more tests stop a PostgreSQL server of their own (``pg_ctl stop -m
fast``) in the middle of a run, after step 7 is recorded: for longer than
the store waits for a connection (the run fails with ``RunStoreError``; a
resume after the restart finishes it), and for less (the run waits and
goes on). The figures are printed (``pytest -s``) and quoted in
docs/reliability.md.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import postgres_server
import pytest

from fiscus_dsl import (
    Hooks,
    PostgresRunStore,
    Runner,
    RunStatus,
    RunStore,
    RunStoreError,
)
from fiscus_dsl._connectors.connector import IDEMPOTENCY_NAMESPACE

from .crash_matrix_flow import STEPS, Entry, Forks, build, open_store, task_id
from .idempotent_server import IdempotentServer, serve_ledger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from fiscus_dsl import RunResult, TaskContext, Workflow

RANDOM_KILLS: Final = int(os.environ.get("FISCUS_CRASH_RANDOM", "50"))
SEED: Final = 20_260_611
POLL_TIMEOUT: Final = 10.0
#: The reason a resumed run gives a task it served from the store.
RESUMED: Final = "resumed from the run store"
KILLED: Final = -signal.SIGKILL
POINTS: Final = ("before-send", "after-apply", "after-record")
STEP_NUMBERS: Final = range(1, STEPS + 1)


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
    #: Starts each label: the server's ledgers are shared by the tests.
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def label(self, name: str) -> str:
        return f"{self.tag}-{name}"


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


@pytest.fixture(params=["sqlite", "postgresql"])
def store_spec(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[str], dict[str, str]]:
    """Return what names a cycle's store, for the child and for this process.

    SQLite: a file per cycle. PostgreSQL: the test's own database (the
    ``postgres_database`` fixture; skipped without a server), shared by
    the cycles, whose runs differ by id.
    """
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_database")
        return lambda label: {"kind": "postgresql", "target": url}
    return lambda label: {"kind": "sqlite", "target": str(tmp_path / f"{label}.db")}


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
        confirmed = tally.kills == kills_before + 1 == tally.kills_confirmed
        return confirmed and tally.applied[step] == 1 and kill.step not in recorded
    if kill.point == "after-record":
        unsent = tally.requests[(kill.label, kill.step + 1)] == 0
        return unsent and recorded == set(range(1, kill.step + 1))
    return True


def cycle(matrix: Matrix, kill: Kill) -> None:
    """Run, kill, check the point, resume, and count what went wrong."""
    totals, server = matrix.totals, matrix.server
    kills_before = server.tally.kills
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
            cycle(matrix, Kill(matrix.label(f"{point}-{step}"), point, step=step))
    seconds = time.perf_counter() - started

    _report("exact points", matrix, seconds)
    _assert_clean(matrix, len(POINTS) * STEPS)
    assert matrix.totals.killed == len(POINTS) * STEPS
    # Each after-apply kill left an applied, unrecorded step: its key replays.
    assert matrix.totals.replayed["after-apply"] >= STEPS


def _run_time(matrix: Matrix) -> float:
    """Return the median length of three uninterrupted runs in children."""
    return statistics.median(
        _one_run_time(matrix, matrix.label(f"timing-{n}")) for n in range(3)
    )


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
        cycle(matrix, Kill(matrix.label(f"random-{number}"), "random", delay=delay))
    seconds = time.perf_counter() - started

    _report(f"random moments (run length {length * 1000:.0f} ms)", matrix, seconds)
    _assert_clean(matrix, RANDOM_KILLS)


# ------------------------------------------------- a PostgreSQL server stops
#
# The session's ``postgres_url`` is a URL with no handle to stop its server
# (and may be a server of the CI's), so these tests start a cluster of their
# own with tests/postgres_server.py and stop and restart it with pg_ctl.
# The runs are in this process: a ``before_task`` hook stops the server
# once the store shows step STOP_AFTER, before step STOP_AFTER + 1 is sent.

STOP_AFTER: Final = 7
#: How long the store waits for a connection in the test whose outage outlasts it.
SHORT_TIMEOUT: Final = 2.0
#: How long the server stays down in the test whose run waits it out.
SHORT_OUTAGE: Final = 1.0


@dataclass(frozen=True, slots=True)
class Outage:
    """A cluster of the test's own, which it may stop and restart."""

    cluster: postgres_server.Cluster

    def pg_ctl(self, *arguments: str) -> None:
        cluster = self.cluster
        command = [str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.folder / "data")]
        command += arguments
        if cluster.run_as is not None:  # as root, as the server's user
            command = ["runuser", "-u", cluster.run_as, "--", *command]
        done = subprocess.run(
            command, cwd=cluster.folder, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            log = (cluster.folder / "log").read_text(errors="replace")[-2000:]
            msg = f"pg_ctl {arguments} failed: {done.stdout}{done.stderr}\n{log}"
            raise RuntimeError(msg)

    def stop(self) -> None:
        """Stop the server: a fast shutdown, which ends every connection."""
        self.pg_ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        """Start it again, on its port (``restart`` reads postmaster.opts)."""
        self.pg_ctl("-l", str(self.cluster.folder / "log"), "-w", "-t", "60", "restart")


@pytest.fixture(scope="module")
def outage() -> Iterator[Outage]:
    bin_dir = postgres_server.find_bin_dir()
    if bin_dir is None:
        pytest.skip(postgres_server.SKIP_REASON)
    folder = Path(tempfile.mkdtemp(prefix="fiscus-outage-"))
    cluster = postgres_server.start_cluster(folder, bin_dir)
    try:
        yield Outage(cluster)
    finally:
        cluster.stop()


def _stopping_hook(
    outage: Outage, url: str, *, then: Callable[[], None] | None = None
) -> Hooks:
    """Return hooks that stop the server at its step, then call ``then``."""

    def before_task(ctx: TaskContext) -> None:
        if ctx.task_id != task_id(STOP_AFTER + 1):
            return
        with PostgresRunStore(url) as store:
            _wait_recorded(store, ctx.run_id, task_id(STOP_AFTER))
        outage.stop()
        if then is not None:
            then()

    return Hooks(before_task=before_task)


def _effects(server: IdempotentServer, label: str) -> tuple[list[int], int]:
    """Return the effects applied per step, and the answers replayed by key."""
    with server.lock:
        applied = [server.tally.applied[(label, step)] for step in STEP_NUMBERS]
        replayed = sum(server.tally.replayed[(label, step)] for step in STEP_NUMBERS)
    return applied, replayed


def test_a_postgres_outage_longer_than_the_store_waits_fails_the_run_and_resumes(
    server: IdempotentServer,
    flow: Workflow[[str], list[Entry]],
    reference: list[Entry],
    outage: Outage,
) -> None:
    url = postgres_server.fresh_database(outage.cluster.url)
    label = f"{uuid.uuid4().hex[:8]}-outage"
    hooks = _stopping_hook(outage, url)
    try:
        with PostgresRunStore(url, timeout=SHORT_TIMEOUT) as store:
            failed = Runner(store=store, hooks=hooks).run(flow, label)
    finally:
        outage.start()

    # The run failed with the store's error, naming the store; no hang.
    assert failed.status is RunStatus.FAILED
    assert isinstance(failed.error, RunStoreError)
    assert failed.error.store == repr(store)
    assert "check that the server is up" in str(failed.error)
    finished = [step for step in STEP_NUMBERS if failed[task_id(step)].value]
    with PostgresRunStore(url) as store:
        before = store.load_run(failed.run_id)
        assert before is not None
        assert before.status == "interrupted"
        # Nothing recorded before the stop is lost.
        recorded = [s for s in STEP_NUMBERS if task_id(s) in before.tasks]
        assert recorded == list(range(1, STOP_AFTER + 1))
        resumed = Runner(store=store).resume(flow, failed.run_id)

    applied, replayed = _effects(server, label)
    assert resumed.status is RunStatus.SUCCEEDED
    assert resumed.output == reference
    assert applied == [1] * STEPS
    served = [s for s in STEP_NUMBERS if resumed[task_id(s)].reason == RESUMED]
    assert served == recorded
    # The steps that ran during the outage were sent again with their keys.
    assert replayed == len(finished) - STOP_AFTER
    assert server.two_bodies() == 0
    postgres_server.drop_database(outage.cluster.url, url)
    print(  # noqa: T201  (the figures docs/reliability.md quotes; shown by pytest -s)
        f"\nPostgreSQL stopped after step {STOP_AFTER}: the run failed with "
        f"RunStoreError after {len(finished)} steps finished; recorded "
        f"{len(recorded)}, served on resume {len(served)}, replayed by key "
        f"{replayed}, effects per step {set(applied)}"
    )


def test_a_postgres_outage_shorter_than_the_store_waits_is_waited_out(
    server: IdempotentServer,
    flow: Workflow[[str], list[Entry]],
    reference: list[Entry],
    outage: Outage,
) -> None:
    url = postgres_server.fresh_database(outage.cluster.url)
    label = f"{uuid.uuid4().hex[:8]}-blip"
    restart = threading.Timer(SHORT_OUTAGE, outage.start)
    hooks = _stopping_hook(outage, url, then=restart.start)
    started = time.perf_counter()
    try:
        with PostgresRunStore(url) as store:  # waits up to 10 s for a connection
            result = Runner(store=store, hooks=hooks).run(flow, label)
            seconds = time.perf_counter() - started
            recorded = store.load_run(result.run_id)
    finally:
        restart.join()

    applied, replayed = _effects(server, label)
    assert result.status is RunStatus.SUCCEEDED, result.error_message
    assert result.output == reference
    assert recorded is not None
    assert recorded.status == "succeeded"
    assert set(recorded.tasks) == {*map(task_id, STEP_NUMBERS), "receipt"}
    assert (applied, replayed) == ([1] * STEPS, 0)
    postgres_server.drop_database(outage.cluster.url, url)
    print(  # noqa: T201  (the figures docs/reliability.md quotes; shown by pytest -s)
        f"\nPostgreSQL down {SHORT_OUTAGE:g} s after step {STOP_AFTER}: the run "
        f"waited and succeeded in {seconds:.1f} s, every task recorded"
    )
