"""Workflows run by separate processes, for the lease tests (``test_leases.py``).

``python lease_flow.py ACTION STORE_URL MARKS ...`` opens the store the URL
names (``sqlite:///PATH`` or ``postgresql://...``) and prints one JSON line:

- ``run [LEASE [HOST]]`` runs ``gated``: ``first`` returns this process's
  pid; ``hold`` touches ``MARKS/holding-PID``, then waits for
  ``MARKS/release`` (so the test decides when it ends, or kills it while it
  holds the run). ``HOST`` makes the lease's owner name another host, as a
  process of another machine would.
- ``resume RUN_ID`` resumes a ``gated`` run and prints its status and
  output, or ``{"locked": OWNER}`` when another live process holds it.
- ``own INDEX RUNS`` waits for ``MARKS/go``, runs ``owned`` RUNS times
  with its last task failing, then resumes each of its runs: the runs of
  several such processes share one store.

Every task call appends ``NAME KEY PID`` to ``MARKS/calls.txt``, so calls
count across processes.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from fiscus_dsl import RunLocked, Runner, SQLiteRunStore, task, workflow

if TYPE_CHECKING:
    from fiscus_dsl import PostgresRunStore

WAIT_SECONDS = 60.0


def note(marks: str, name: str, key: object = "-") -> None:
    """Append one task call to the calls file."""
    with (Path(marks) / "calls.txt").open("a", encoding="utf-8") as calls:
        calls.write(f"{name} {key} {os.getpid()}\n")


def calls(marks: str) -> list[tuple[str, str, int]]:
    """Return the task calls so far, across processes: ``(name, key, pid)``."""
    path = Path(marks) / "calls.txt"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(name, key, int(pid)) for name, key, pid in map(str.split, lines)]


def wait_for(path: Path) -> None:
    """Wait until ``path`` exists (the test creates it)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.01)


@task
def first(marks: str) -> int:
    note(marks, "first")
    return os.getpid()


@task
def hold(marks: str, pid: int) -> list[int]:
    note(marks, "hold")
    (Path(marks) / f"holding-{os.getpid()}").touch()
    wait_for(Path(marks) / "release")
    return [pid, os.getpid()]


@workflow
def gated(marks: str) -> list[int]:
    return hold(marks, first(marks))


@task
def begin(marks: str, key: str) -> int:
    note(marks, "begin", key)
    return os.getpid()


@task
def end(marks: str, key: str, pid: int) -> list[int]:
    note(marks, "end", key)
    if (Path(marks) / f"fail-{key.partition('.')[0]}").exists():
        msg = "failing as the test asked"
        raise RuntimeError(msg)
    return [pid, os.getpid()]


@workflow
def owned(marks: str, key: str) -> list[int]:
    return end(marks, key, begin(marks, key))


def open_store(url: str, lease_seconds: float) -> SQLiteRunStore | PostgresRunStore:
    """Open the store a URL names, with the lease length given."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        return SQLiteRunStore(path, lease_seconds=lease_seconds)
    from fiscus_dsl import PostgresRunStore  # psycopg only where it is used

    return PostgresRunStore(url, lease_seconds=lease_seconds)


def own(
    store: SQLiteRunStore | PostgresRunStore, marks: str, index: str, runs: int
) -> list[object]:
    """Run ``owned`` ``runs`` times, failing, then resume each run after the fix."""
    fail = Path(marks) / f"fail-{index}"
    fail.touch()
    wait_for(Path(marks) / "go")
    runner = Runner(store=store)
    failed = [runner.run(owned, marks=marks, key=f"{index}.{n}") for n in range(runs)]
    fail.unlink()
    resumed = [runner.resume(owned, result.run_id) for result in failed]
    return [
        {
            "run_id": result.run_id,
            "status": result.status.value,
            "output": result.output,
        }
        for result in resumed
    ]


def main(arguments: list[str]) -> None:
    """Do what the module docstring says; print one JSON line."""
    action, url, marks, *rest = arguments
    if action == "run" and len(rest) > 1:
        host = rest[1]
        socket.gethostname = lambda: host  # its owner names another host
    lease = float(rest[0]) if action == "run" and rest else 30.0
    store = open_store(url, lease)
    try:
        if action == "run":
            result = Runner(store=store).run(gated, marks=marks)
            out: object = {"status": result.status.value, "output": result.output}
        elif action == "resume":
            try:
                result = Runner(store=store).resume(gated, rest[0])
            except RunLocked as exc:
                out = {"locked": exc.owner}
            else:
                out = {"status": result.status.value, "output": result.output}
        else:
            out = own(store, marks, rest[0], int(rest[1]))
    finally:
        store.close()
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
