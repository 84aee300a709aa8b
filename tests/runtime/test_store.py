"""The run store and resume: what is recorded, what a resume serves and re-runs.

Every test uses a real SQLite file under ``tmp_path``. Calls are counted
in lists (and, across processes, in a file), so a resume is shown to skip
the tasks that finished rather than assumed to.
"""

from __future__ import annotations

import asyncio
import math
import re
import sqlite3
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import respx
from pydantic import BaseModel, SecretStr

from fiscus_dsl import (
    Connector,
    Hooks,
    Lease,
    ResumeError,
    RunContext,
    Runner,
    RunRecord,
    RunStatus,
    SQLiteRunStore,
    TaskRecord,
    TaskStatus,
    set_default_runner,
    task,
    workflow,
)
from fiscus_dsl._connectors.connector import IDEMPOTENCY_NAMESPACE
from fiscus_dsl._runtime.store import SCHEMA_VERSION, to_json_text

from . import crash_flow

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fiscus_dsl.testing import FakeClock, FakeSleep, SpanCapture

RESUMED = "resumed from the run store"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteRunStore]:
    with SQLiteRunStore(tmp_path / "runs.sqlite3") as opened:
        yield opened


@pytest.fixture
def recording(
    store: SQLiteRunStore, fake_sleep: FakeSleep, fake_clock: FakeClock
) -> Runner:
    return Runner(store=store, sleep=fake_sleep, clock=fake_clock, max_concurrency=1)


# ---------------------------------------------------------------- a workflow


class Contact(BaseModel):
    id: int
    name: str
    created: datetime


called: list[str] = []
broken: set[str] = set()


def _call(name: str) -> None:
    called.append(name)
    if name in broken:
        raise RuntimeError(f"{name} is broken")


@pytest.fixture(autouse=True)
def _fresh_counters() -> Iterator[None]:
    called.clear()
    broken.clear()
    yield
    called.clear()
    broken.clear()


@task
def create(name: str) -> Contact:
    _call("create")
    return Contact(id=7, name=name, created=datetime(2024, 5, 1, tzinfo=UTC))


@task
def greet(contact: Contact) -> str:
    _call("greet")
    return f"Hello, {contact.name}"


@task
def audit(name: str) -> None:
    _call("audit")


@task
def send(greeting: str) -> int:
    _call("send")
    return len(greeting)


@workflow
def onboard(name: str) -> int:
    contact = create(name)
    greeting = greet(contact)
    audit(name)
    return send(greeting)


def _rows(path: str, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(query).fetchall()
    connection.close()
    return rows


# ---------------------------------------------------------------- recording


def test_a_run_is_recorded_with_inputs_tasks_and_status(
    store: SQLiteRunStore, recording: Runner
) -> None:
    result = recording.run(onboard, name="Ada")

    runs = _rows(store.path, "SELECT run_id, workflow, status, inputs FROM runs")
    tasks = _rows(
        store.path,
        "SELECT task_id, name, status, value, error_type, attempts FROM tasks "
        "ORDER BY task_id",
    )
    assert runs == [(result.run_id, "onboard", "succeeded", '{"name":"Ada"}')]
    assert tasks == [
        ("audit", "audit", "succeeded", "null", None, 1),
        (
            "create",
            "create",
            "succeeded",
            '{"id":7,"name":"Ada","created":"2024-05-01T00:00:00Z"}',
            None,
            1,
        ),
        ("greet", "greet", "succeeded", '"Hello, Ada"', None, 1),
        ("send", "send", "succeeded", "10", None, 1),
    ]


def test_the_file_is_in_wal_mode_with_a_versioned_schema(
    store: SQLiteRunStore,
) -> None:
    assert _rows(store.path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert _rows(store.path, "PRAGMA journal_mode") == [("wal",)]


def test_a_failed_task_is_recorded_with_its_error_type_and_message(
    store: SQLiteRunStore, recording: Runner
) -> None:
    broken.add("greet")

    result = recording.run(onboard, name="Ada")

    run = store.load_run(result.run_id)
    assert run is not None
    assert run.status == "failed"
    assert run.error_message == result.error_message
    assert run.ended_at == result.ended_at
    greet_record = run.tasks["greet"]
    assert (greet_record.status, greet_record.error_type) == (
        TaskStatus.FAILED,
        "RuntimeError",
    )
    assert greet_record.error_message == "greet is broken"
    assert not greet_record.resumable
    assert greet_record.value is None
    assert run.tasks["send"].status is TaskStatus.SKIPPED
    assert run.tasks["audit"].status is TaskStatus.NOT_RUN


def test_an_error_message_is_stored_cut_at_1000_characters(
    store: SQLiteRunStore, recording: Runner
) -> None:
    @task
    def loud() -> None:
        raise ValueError("x" * 5000)

    @workflow
    def shouting() -> None:
        loud()

    result = recording.run(shouting)

    run = store.load_run(result.run_id)
    assert run is not None
    assert run.tasks["loud"].error_message == "x" * 1000


def test_list_runs_is_newest_first_and_filters_by_workflow(
    store: SQLiteRunStore, recording: Runner
) -> None:
    @task
    def noop() -> None:
        return None

    @workflow
    def other() -> None:
        noop()

    first = recording.run(onboard, name="Ada")
    second = recording.run(other)
    third = recording.run(onboard, name="Bob")

    assert [run.run_id for run in store.list_runs()] == [
        third.run_id,
        second.run_id,
        first.run_id,
    ]
    listed = store.list_runs(workflow="onboard")
    assert [run.run_id for run in listed] == [third.run_id, first.run_id]
    assert listed[0].inputs == {"name": "Bob"}
    assert listed[0].tasks == {}


def test_load_run_of_an_unknown_id_is_none(store: SQLiteRunStore) -> None:
    assert store.load_run("nope") is None


def test_a_store_reopens_its_file_and_keeps_its_runs(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    path = tmp_path / "runs.sqlite3"
    with SQLiteRunStore(path) as first_store:
        result = Runner(store=first_store, clock=fake_clock).run(onboard, name="Ada")

    with SQLiteRunStore(str(path)) as again:
        assert [run.run_id for run in again.list_runs()] == [result.run_id]
        assert repr(again) == f"SQLiteRunStore({str(path)!r})"


def test_a_file_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()

    with pytest.raises(
        ResumeError,
        match=r"^Run store '.*future\.sqlite3' has schema version "
        rf"{SCHEMA_VERSION + 1}, newer than the "
        rf"{SCHEMA_VERSION} this fiscus_dsl reads; upgrade fiscus_dsl, or use "
        r"another file$",
    ) as caught:
        SQLiteRunStore(path)

    assert (caught.value.run_id, caught.value.workflow, caught.value.task_id) == (
        None,
        None,
        None,
    )


def test_a_direct_task_call_is_not_recorded(
    store: SQLiteRunStore, recording: Runner
) -> None:
    previous = set_default_runner(recording)
    try:
        assert send("hi") == 2
    finally:
        set_default_runner(previous)

    assert store.list_runs() == []


def test_a_run_failed_by_its_before_workflow_hook_is_recorded(
    store: SQLiteRunStore, fake_clock: FakeClock
) -> None:
    def refuse(run: RunContext) -> None:
        raise RuntimeError("closed")

    runner = Runner(store=store, clock=fake_clock, hooks=Hooks(before_workflow=refuse))

    result = runner.run(onboard, name="Ada")

    run = store.load_run(result.run_id)
    assert run is not None
    assert (run.status, run.error_message) == ("failed", result.error_message)
    assert run.tasks == {}
    assert called == []


# ---------------------------------------------------------------- what is stored


class Opaque:
    """A value pydantic cannot make JSON."""


@pytest.mark.parametrize(
    "value",
    [Opaque(), math.nan, SecretStr("sk_live_example"), {"token": SecretStr("x")}],
    ids=["not-json", "nan", "secret", "nested-secret"],
)
def test_a_value_that_cannot_be_json_or_holds_a_secret_is_not_stored(
    value: object,
) -> None:
    assert to_json_text(value) is None


def test_records_decode_their_json() -> None:
    record = RunRecord(
        run_id="r",
        workflow="w",
        status="running",
        inputs_json=None,
        started_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    task_record = TaskRecord(
        task_id="t", name="t", status=TaskStatus.SUCCEEDED, value_json="[1, 2]"
    )

    assert record.inputs is None
    assert task_record.value == [1, 2]
    assert task_record.resumable


def test_a_task_returning_a_secret_is_recorded_as_not_resumable(
    store: SQLiteRunStore, recording: Runner
) -> None:
    @task
    def token() -> SecretStr:
        called.append("token")
        return SecretStr("sk_live_example")

    @workflow
    def minting() -> SecretStr:
        return token()

    result = recording.run(minting)
    assert result.success

    run = store.load_run(result.run_id)
    assert run is not None
    assert run.tasks["token"].value_json is None
    assert "sk_live_example" not in Path(store.path).read_bytes().decode("latin-1")
    assert recording.resume(minting, result.run_id).success
    assert called == ["token", "token"]


# ---------------------------------------------------------------- resume


def test_a_failed_run_resumed_after_the_fix_runs_only_failed_and_not_run_tasks(
    recording: Runner,
) -> None:
    broken.add("greet")
    first = recording.run(onboard, name="Ada")
    assert first.statuses() == {
        "create": TaskStatus.SUCCEEDED,
        "greet": TaskStatus.FAILED,
        "send": TaskStatus.SKIPPED,
        "audit": TaskStatus.NOT_RUN,
    }
    broken.clear()
    called.clear()

    resumed = recording.resume(onboard, first.run_id)

    assert sorted(called) == ["audit", "greet", "send"]
    assert resumed.run_id == first.run_id
    assert resumed.status is RunStatus.SUCCEEDED
    assert resumed.output == len("Hello, Ada")
    created = resumed["create"]
    assert (created.status, created.attempts, created.reason) == (
        TaskStatus.SUCCEEDED,
        1,
        RESUMED,
    )
    assert created.started_at == first["create"].started_at
    assert resumed["greet"].reason is None


def test_a_resumed_value_comes_back_as_its_pydantic_model(recording: Runner) -> None:
    broken.add("greet")
    first = recording.run(onboard, name="Ada")
    broken.clear()

    resumed = recording.resume(onboard, first.run_id)

    contact = resumed["create"].value
    assert isinstance(contact, Contact)
    assert contact == first["create"].value
    assert contact.created == datetime(2024, 5, 1, tzinfo=UTC)


def test_a_resume_records_the_run_again_as_it_ends(
    store: SQLiteRunStore, recording: Runner
) -> None:
    broken.add("greet")
    first = recording.run(onboard, name="Ada")
    broken.clear()

    recording.resume(onboard, first.run_id)

    run = store.load_run(first.run_id)
    assert run is not None
    assert (run.status, run.error_message) == ("succeeded", None)
    assert run.started_at == first.started_at
    assert {task.task_id: task.status for task in run.tasks.values()} == dict.fromkeys(
        ("create", "greet", "audit", "send"), TaskStatus.SUCCEEDED
    )


def test_resuming_a_succeeded_run_calls_nothing(recording: Runner) -> None:
    first = recording.run(onboard, name="Ada")
    called.clear()

    resumed = recording.resume(onboard, first.run_id)

    assert called == []
    assert resumed.output == first.output
    assert {result.reason for result in resumed.tasks.values()} == {RESUMED}


async def test_aresume_resumes_from_async_code(recording: Runner) -> None:
    broken.add("send")
    first = await recording.arun(onboard, name="Ada")
    broken.clear()
    called.clear()

    resumed = await recording.aresume(onboard, first.run_id)

    assert sorted(called) == ["audit", "send"]
    assert resumed.success


async def test_wf_resume_and_aresume_use_the_default_runner(
    recording: Runner,
) -> None:
    previous = set_default_runner(recording)
    try:
        broken.add("send")
        first = await onboard.arun(name="Ada")
        broken.clear()
        called.clear()
        resumed = await onboard.aresume(first.run_id)
        again = await asyncio.to_thread(onboard.resume, first.run_id)
    finally:
        set_default_runner(previous)

    assert sorted(called) == ["audit", "send"]
    assert resumed.success
    assert again.output == resumed.output


def test_a_value_that_was_not_json_re_runs_on_resume(recording: Runner) -> None:
    @task
    def opaque() -> Opaque:
        called.append("opaque")
        return Opaque()

    @task
    def fails(value: Opaque) -> int:
        _call("fails")
        return 1

    @workflow
    def flow() -> int:
        return fails(opaque())

    broken.add("fails")
    first = recording.run(flow)
    broken.clear()

    recording.resume(flow, first.run_id)

    assert called == ["opaque", "fails", "opaque", "fails"]


def test_a_value_its_annotation_no_longer_validates_re_runs(
    recording: Runner,
) -> None:
    @task
    def count() -> int:
        called.append("count")
        return 1

    @workflow
    def flow() -> int:
        return count()

    first = recording.run(flow)

    # The code changed since the run: the same task now returns a Contact.
    @task(name="count")
    def count_now() -> Contact:
        called.append("count")
        return Contact(id=1, name="Ada", created=datetime(2024, 5, 1, tzinfo=UTC))

    @workflow(name="flow")
    def flow_now() -> Contact:
        return count_now()

    resumed = recording.resume(flow_now, first.run_id)

    assert called == ["count", "count"]
    assert resumed["count"].reason is None


def test_a_return_annotation_that_does_not_resolve_re_runs(
    recording: Runner,
) -> None:
    @task
    def count() -> int:
        called.append("count")
        return 1

    @workflow
    def flow() -> int:
        return count()

    first = recording.run(flow)

    # The code changed since the run: the return annotation names nothing.
    @task(name="count")
    def count_now() -> NoSuchName:  # type: ignore[name-defined]  # noqa: F821  # on purpose
        called.append("count")
        return 1

    @workflow(name="flow")
    def flow_now() -> int:
        return count_now()  # type: ignore[no-any-return]  # the annotation is broken

    recording.resume(flow_now, first.run_id)

    assert called == ["count", "count"]


def test_a_return_type_pydantic_cannot_validate_re_runs(recording: Runner) -> None:
    @task
    def shaped() -> Opaque:
        called.append("shaped")
        return {"shape": 1}  # type: ignore[return-value]  # JSON, under a type pydantic lacks

    @workflow
    def flow() -> Opaque:
        return shaped()

    first = recording.run(flow)
    recording.resume(flow, first.run_id)

    assert called == ["shaped", "shaped"]


def test_an_unannotated_task_is_served_as_its_json(recording: Runner) -> None:
    @task
    def plain():  # type: ignore[no-untyped-def]  # no return annotation on purpose
        called.append("plain")
        return {"a": [1, 2]}

    @workflow
    def flow() -> object:
        return plain()

    first = recording.run(flow)
    resumed = recording.resume(flow, first.run_id)

    assert called == ["plain"]
    assert resumed.output == {"a": [1, 2]}


def test_mapped_instances_and_sub_workflow_tasks_are_served(
    recording: Runner,
) -> None:
    @task
    def items() -> list[int]:
        called.append("items")
        return [1, 2, 3]

    @task
    def square(x: int) -> int:
        _call(f"square{x}")
        return x * x

    @workflow
    def inner(x: int) -> int:
        return square(x)

    @workflow
    def outer() -> list[int]:
        squares = square.map(x=items())
        inner.map(x=squares)
        return squares

    broken.add("square9")
    first = recording.run(outer)
    assert first["inner[2]/square"].status is TaskStatus.FAILED
    broken.clear()
    called.clear()

    resumed = recording.resume(outer, first.run_id)

    assert called == ["square9"]
    assert resumed.output == [1, 4, 9]
    assert resumed["square[1]"].reason == RESUMED
    assert resumed["inner[0]/square"].reason == RESUMED
    assert resumed["square"].reason is None


def test_a_resumed_task_has_a_span_with_the_reason(
    store: SQLiteRunStore, fake_clock: FakeClock, span_capture: SpanCapture
) -> None:
    runner = Runner(
        store=store, clock=fake_clock, tracer_provider=span_capture.provider
    )
    broken.add("send")
    first = runner.run(onboard, name="Ada")
    broken.clear()
    span_capture.clear()

    runner.resume(onboard, first.run_id)

    spans = {span.name: span for span in span_capture.spans}
    assert dict(spans["task create"].attributes or {}) == {
        "fiscus.workflow.name": "onboard",
        "fiscus.run.id": first.run_id,
        "fiscus.task.id": "create",
        "fiscus.task.name": "create",
        "fiscus.task.status": "succeeded",
        "fiscus.task.attempt": 1,
        "fiscus.task.reason": RESUMED,
    }
    assert "fiscus.task.reason" not in (spans["task send"].attributes or {})


# ---------------------------------------------------------------- resume errors


def test_resume_of_an_unknown_run_id_raises(recording: Runner) -> None:
    with pytest.raises(
        ResumeError,
        match=r"^Run 'nope' of workflow 'onboard' is not in SQLiteRunStore\(.*\); "
        r"resume a run id of store\.list_runs\(\), or start a new run with "
        r"wf\.run\(\.\.\.\)$",
    ) as caught:
        recording.resume(onboard, "nope")

    assert (caught.value.run_id, caught.value.workflow, caught.value.task_id) == (
        "nope",
        "onboard",
        None,
    )


def test_resume_without_a_store_raises(runner: Runner) -> None:
    with pytest.raises(
        ResumeError,
        match=r"^Run 'r1' of workflow 'onboard' cannot be resumed: the runner has no "
        r"run store; record runs with Runner\(store=SQLiteRunStore\(path\)\) and "
        r"resume with that runner$",
    ) as caught:
        runner.resume(onboard, "r1")

    assert (caught.value.run_id, caught.value.workflow) == ("r1", "onboard")


def test_resume_with_another_workflow_raises(recording: Runner) -> None:
    @workflow
    def other(name: str) -> int:
        return send(name)

    first = recording.run(onboard, name="Ada")

    with pytest.raises(
        ResumeError,
        match=rf"^Run '{first.run_id}' is a run of workflow 'onboard', not 'other'; "
        r"resume it with workflow 'onboard'$",
    ) as caught:
        recording.resume(other, first.run_id)

    assert (caught.value.run_id, caught.value.workflow) == (first.run_id, "other")


def test_resume_of_a_run_whose_inputs_were_not_stored_raises(
    recording: Runner,
) -> None:
    @workflow
    def takes(value: Opaque) -> None:
        audit("x")

    first = recording.run(takes, value=Opaque())

    with pytest.raises(
        ResumeError,
        match=rf"^Run '{first.run_id}' of workflow 'takes' cannot be resumed: its "
        r"inputs could not be stored as JSON; start a new run with wf\.run\(\.\.\.\)$",
    ) as caught:
        recording.resume(takes, first.run_id)

    assert caught.value.task_id is None


@pytest.mark.parametrize(
    "task_id",
    ["create", "ghost/create", "create[0]"],
    ids=["task", "sub-workflow", "map-instance"],
)
def test_resume_after_the_workflow_changed_raises_naming_the_task(
    store: SQLiteRunStore, recording: Runner, task_id: str
) -> None:
    @workflow
    def onboard_changed(name: str) -> int:
        return send(name)

    run_id = uuid.uuid4().hex
    lease = Lease(run_id, "elsewhere:1:feed")
    store.start_run(
        RunRecord(
            run_id=run_id,
            workflow="onboard_changed",
            status="running",
            inputs_json='{"name": "Ada"}',
            started_at=datetime(2024, 1, 1, tzinfo=UTC),
        ),
        lease,
    )
    store.finish_run(
        lease,
        status="failed",
        ended_at=datetime(2024, 1, 1, tzinfo=UTC),
        error_message="boom",
        tasks=[TaskRecord(task_id=task_id, name="create", status=TaskStatus.SUCCEEDED)],
    )

    with pytest.raises(
        ResumeError,
        match=rf"^Workflow 'onboard_changed' has no task '{re.escape(task_id)}', "
        rf"which run '{run_id}' recorded: the workflow changed since that run\. "
        r"Resume with the workflow as it was; or force it \(runner\.resume\(wf, "
        r"run_id, force=True\), fiscus runs resume --force\) to serve the tasks "
        r"that still match and run the rest; or start a new run$",
    ) as caught:
        recording.resume(onboard_changed, run_id)

    assert (caught.value.run_id, caught.value.task_id) == (run_id, task_id)
    assert called == []

    forced = recording.resume(onboard_changed, run_id, force=True)

    assert forced.success
    assert forced.tasks["send"].reason is None  # it ran: nothing recorded matched
    assert called == ["send"]


# ---------------------------------------------------------------- kill and keys


def test_a_killed_run_resumes_without_calling_the_tasks_that_finished(
    tmp_path: Path,
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    (marks / "armed").touch()
    path = tmp_path / "runs.sqlite3"
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import crash_flow; "
        "crash_flow.main(sys.argv[2], sys.argv[3])"
    )
    folder = str(Path(crash_flow.__file__).parent)

    killed = subprocess.run(
        [sys.executable, "-c", code, folder, str(path), str(marks)],
        check=False,
        capture_output=True,
        timeout=60,
    )

    assert killed.returncode == 137, killed.stderr.decode()
    assert crash_flow.calls(str(marks)) == ["first", "second", "explode"]
    (marks / "armed").unlink()
    with SQLiteRunStore(path) as store:
        (run,) = store.list_runs()
        # Its process died: the run shows as interrupted at once, and resumes.
        assert run.status == "interrupted"
        resumed = Runner(store=store).resume(crash_flow.crashing, run.run_id)

    assert crash_flow.calls(str(marks)) == [
        "first",
        "second",
        "explode",
        "explode",
        "last",
    ]
    assert resumed.run_id == run.run_id
    assert resumed.output == 21


BASE = "https://crm.example.com/v1"
crm = Connector("CRM", BASE)


@crm.operation("POST /contacts")
def post_contact(name: str) -> dict[str, int]:
    """Create a contact."""
    raise NotImplementedError


@workflow
def keyed(name: str) -> dict[str, int]:
    return post_contact(name)


def test_a_resumed_post_sends_the_same_idempotency_key(recording: Runner) -> None:
    with respx.mock(
        base_url=BASE, assert_all_called=True, assert_all_mocked=True
    ) as api:
        route = api.post("/contacts").mock(
            side_effect=[httpx.Response(400), httpx.Response(201, json={"id": 1})]
        )
        first = recording.run(keyed, name="Ada")
        resumed = recording.resume(keyed, first.run_id)

    assert (first.status, resumed.status) == (RunStatus.FAILED, RunStatus.SUCCEEDED)
    keys = [call.request.headers["Idempotency-Key"] for call in route.calls]
    expected = f'"{uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{first.run_id}/post_contact")}"'
    assert keys == [expected, expected]


# ---------------------------------------------------------------- migrations

_VERSION_1 = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL,
    status TEXT NOT NULL, inputs TEXT, started_at TEXT NOT NULL, ended_at TEXT,
    error_message TEXT);
CREATE TABLE tasks (run_id TEXT NOT NULL REFERENCES runs (run_id),
    task_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, value TEXT,
    error_type TEXT, error_message TEXT, attempts INTEGER NOT NULL,
    started_at TEXT, ended_at TEXT, PRIMARY KEY (run_id, task_id));
INSERT INTO runs VALUES ('old', 'onboard', 'running', '{"name": "Ada"}',
    '2025-01-01T00:00:00+00:00', NULL, NULL);
INSERT INTO tasks VALUES ('old', 'create', 'create', 'succeeded',
    '{"id": 7, "name": "Ada", "created": "2024-05-01T00:00:00Z"}', NULL, NULL, 1,
    '2025-01-01T00:00:01+00:00', '2025-01-01T00:00:02+00:00');
PRAGMA user_version = 1;
"""


def test_a_file_of_schema_version_1_is_migrated_and_its_runs_resume(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.executescript(_VERSION_1)
    connection.close()

    with SQLiteRunStore(path) as store:
        (old,) = store.list_runs()
        record = store.load_run("old")
        resumed = Runner(store=store).resume(onboard, "old")

    assert _rows(str(path), "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    # A running run of version 1 has no lease: its owner is long gone.
    assert (old.status, old.task_count) == ("interrupted", 1)
    assert record is not None
    task_record = record.tasks["create"]
    assert (task_record.value, task_record.attempts) == (
        {"id": 7, "name": "Ada", "created": "2024-05-01T00:00:00Z"},
        1,
    )
    assert task_record.started_at == datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert (task_record.inputs_digest, task_record.code_version) == (None, None)
    assert resumed.success
    assert resumed["create"].reason == RESUMED  # served on its id, as before
    assert "create" not in called


def test_processes_opening_a_new_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    opened: list[SQLiteRunStore] = []
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            opened.append(SQLiteRunStore(path))
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in opened:
        store.close()

    assert errors == []
    assert len(opened) == 6
    assert _rows(str(path), "PRAGMA user_version") == [(SCHEMA_VERSION,)]
