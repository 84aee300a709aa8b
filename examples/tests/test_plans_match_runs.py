"""Plans match runs: every example's dry-run plan lists what its run did.

Each example's workflows (and task lists) run once as the example runs them;
then ``wf.plan`` (``FiscusClient.plan`` for a task list) plans the same call
with the run's id and, as samples, the values the run's tasks returned.

For the HTTP examples, the requests the sandbox API received (recorded by an
ASGI layer in front of it, and told apart by run and task through their
``traceparent``: the CLIENT span it names is a child of its task's span) must
equal the planned ones field by field: method, full URL, query, headers (but
the trace context and those the HTTP client adds by itself; the credential
the plan masks must be there), JSON body and ``Idempotency-Key``. Every
attempt of a retried task is compared. For every example, each task the run
ran or skipped has a step of the same status, and a plain task's step has the
arguments its body was called with (recorded by a ``before_task`` hook).

A plan cannot know that a body will fail, so a task that failed in the run
gets its error as its sample: it fails in the plan too (a planned step that
"fails, as its sample says"), and every branch a failure decided
(``succeeded(...)``, ``failed(...)``, ``otherwise()``, ``custom_logic``,
``coalesce``) is the run's branch. The failed tasks' own requests and
inputs are compared like any other (the plan lists what they sent).
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

import httpx
from pydantic_core import to_jsonable_python

from examples import (
    fanout,
    fanout_api,
    onboarding,
    onboarding_api,
    resilience,
    resilience_api,
    scoring,
)
from examples import fiscus_guide_chained as chained
from examples import fiscus_guide_multiple_tasks as multiple
from fiscus_dsl import (
    FiscusClient,
    Hooks,
    Runner,
    RunStatus,
    TaskStatus,
    load_tasks,
    use_runner,
)
from fiscus_dsl._connectors.scrub import MASK
from fiscus_dsl._runtime.telemetry import RUN_ID, TASK_ID
from fiscus_dsl._sandbox import create_app, sandbox
from fiscus_dsl._sandbox.connectors import sandbox_connectors
from fiscus_dsl._sandbox.onboarding import build_onboarding
from fiscus_dsl.testing import SpanCapture

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    import pytest
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from fiscus_dsl import (
        FiscusResponse,
        Plan,
        PlannedRequest,
        PlanStep,
        RunResult,
        TaskContext,
    )

EXAMPLES: Final = Path(__file__).resolve().parent.parent

TRACE_CONTEXT: Final = frozenset({"traceparent", "tracestate"})
"""Headers a plan cannot know: they name the span of each attempt."""

CLIENT_HEADERS: Final = frozenset(
    {
        "user-agent",
        "accept",
        "accept-encoding",
        "connection",
        "host",
        "content-length",
        "content-type",
    }
)
"""Headers the HTTP client adds by itself; compared only where the plan lists them."""

PLAN_STATUS: Final = {
    TaskStatus.SUCCEEDED: "planned",
    # A plan cannot know that a body will fail: the failed task is a planned
    # step, whose request (or inputs) is what the run sent.
    TaskStatus.FAILED: "planned",
    TaskStatus.SKIPPED: "skipped",
}


# ---------------------------------------------------------------- recording


@dataclass
class Recorder:
    """What an example's runs did: the requests the sandbox got, the bodies' args.

    ``runner`` has the runner's own hooks plus one that records each task's
    arguments, and keeps its spans in memory (``SpanCapture``): requests are
    told apart by the spans their ``traceparent`` names.
    """

    hooks: Sequence[Hooks] = ()
    base_url: str = ""
    received: list[httpx.Request] = field(default_factory=list)
    args: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    spans: SpanCapture = field(init=False)

    def __post_init__(self) -> None:
        own = Hooks(before_task=self._before_task)
        self.spans = SpanCapture(Runner(hooks=[*self.hooks, own]))

    @property
    def runner(self) -> Runner:
        """Return the runner to run the examples' workflows on."""
        return self.spans.runner

    def _before_task(self, ctx: TaskContext) -> None:
        self.args[ctx.run_id, ctx.task_id] = dict(ctx.args)

    @contextlib.contextmanager
    def sandbox(self, app: ASGIApp | None = None) -> Iterator[str]:
        """Serve the sandbox API (or ``app``) as ``sandbox()`` does, recording it."""
        with sandbox(self.recording(app or create_app())) as base_url:
            self.base_url = base_url
            yield base_url

    def recording(self, app: ASGIApp) -> ASGIApp:
        """Wrap ``app``: record each HTTP request whole, then let ``app`` answer."""

        async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            messages: list[Message] = [await receive()]
            while messages[-1].get("more_body", False):
                messages.append(await receive())
            self.received.append(as_sent(scope, messages))
            pending = list(messages)

            async def replayed() -> Message:
                return pending.pop(0) if pending else await receive()

            await app(scope, replayed, send)

        return recorded

    def sent(self, run_id: str) -> dict[str, list[httpx.Request]]:
        """Return the requests of the run ``run_id`` by task id, as they arrived."""
        spans = {}
        for span in self.spans.spans:
            context = span.get_span_context()
            if context is not None:
                spans[context.span_id] = span
        by_task: dict[str, list[httpx.Request]] = defaultdict(list)
        for request in self.received:
            traceparent = request.headers.get("traceparent")
            if traceparent is None:
                continue  # not sent by a task: the examples' own look-ups
            client = spans.get(int(traceparent.split("-")[2], 16))
            parent = None if client is None else client.parent
            task = None if parent is None else spans.get(parent.span_id)
            attributes = {} if task is None else task.attributes or {}
            if attributes.get(RUN_ID) == run_id:
                by_task[str(attributes[TASK_ID])].append(request)
        return dict(by_task)

    def ran(
        self,
        run: RunResult[Any],
        plan_of: Callable[..., Plan],
    ) -> Ran:
        """Plan the run's call with its id and values; return both with what it did."""
        plan = plan_of(responses=samples(run), run_id=run.run_id)
        args = {
            task_id: called
            for (run_id, task_id), called in self.args.items()
            if run_id == run.run_id
        }
        return Ran(
            run=run,
            plan=plan,
            sent=self.sent(run.run_id),
            args=args,
        )


def as_sent(scope: Scope, messages: Sequence[Message]) -> httpx.Request:
    """Return the request an ASGI scope and its body messages describe, as sent."""
    headers = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in scope["headers"]
    ]
    host = next(value for name, value in headers if name == "host")
    query = scope["query_string"].decode("ascii")
    url = f"{scope['scheme']}://{host}{scope['raw_path'].decode('ascii')}"
    return httpx.Request(
        scope["method"],
        f"{url}?{query}" if query else url,
        headers=headers,
        content=b"".join(message.get("body", b"") for message in messages),
    )


def samples(run: RunResult[Any]) -> dict[str, object]:
    """Return what the run's tasks answered, by task id: a plan's samples.

    A task that succeeded gives its value; one that failed gives its error,
    so that the plan fails it too and takes the branch the run took. A
    skipped task gives none.
    """
    given: dict[str, object] = {}
    for task_id, outcome in run.tasks.items():
        if outcome.status is TaskStatus.SUCCEEDED:
            given[task_id] = outcome.value
        elif outcome.status is TaskStatus.FAILED and outcome.error is not None:
            given[task_id] = outcome.error
    return given


# ---------------------------------------------------------------- comparing


@dataclass(frozen=True, slots=True, kw_only=True)
class Ran:
    """One run of an example, what it did, and the plan of the same call.

    Attributes:
        run: The run.
        plan: Its plan: same inputs, its run id, its values as samples.
        sent: The requests the sandbox received from each task, in order.
        args: The arguments each task was called with, by task id.
    """

    run: RunResult[Any]
    plan: Plan
    sent: dict[str, list[httpx.Request]]
    args: dict[str, dict[str, Any]]


def assert_plan_matches(ran: Ran) -> int:
    """Assert that the plan lists what the run did; return the requests compared.

    Each task the run ran or skipped has a step of the same status, and no
    other step is planned. Each request a task sent, every attempt, equals
    its step's; a step planned to send a request was sent; a plain step's
    inputs are the arguments its body got. Parted steps need only be there.
    """
    __tracebackhide__ = True
    run, plan = ran.run, ran.plan
    steps = {step.task_id: step for step in plan.steps}
    ran_ids = [
        task_id
        for task_id, outcome in run.tasks.items()
        if task_id in ran.args or outcome.status is TaskStatus.SKIPPED
    ]
    problems: list[str] = []
    if list(steps) != ran_ids:
        problems.append(f"steps: the run ran {ran_ids}, the plan has {list(steps)}")
    compared = 0
    for task_id in ran_ids:
        step = steps.get(task_id)
        if step is None:
            continue
        status = run.tasks[task_id].status
        if step.status != PLAN_STATUS[status]:
            problems.append(
                f"{task_id}: {status.value} in the run, {step.status} in the plan "
                f"({step.reason or step.guard or 'no reason'})"
            )
        sent = ran.sent.get(task_id, [])
        for attempt, request in enumerate(sent, start=1):
            where = f"{task_id} (attempt {attempt} of {len(sent)})"
            problems += request_differences(where, request, step)
        compared += len(sent)
        if not sent and step.request is not None and step.status == "planned":
            planned = step.request
            problems.append(
                f"{task_id}: planned {planned.method} {planned.url}; not sent"
            )
        if step.request is None and task_id in ran.args:
            got = to_jsonable_python(ran.args[task_id])
            if got != step.inputs:
                problems.append(f"{task_id}: called with {got}, planned {step.inputs}")
    assert not problems, "The plan differs from the run:\n" + "\n".join(problems)
    return compared


def request_differences(where: str, sent: httpx.Request, step: PlanStep) -> list[str]:
    """Compare a request the API received with the step's, field by field."""
    planned = step.request
    if planned is None:
        return [f"{where}: sent {sent.method} {sent.url}; the plan sends nothing"]
    fields: dict[str, tuple[object, object]] = {
        "method": (sent.method, planned.method),
        "url": (str(sent.url), planned.url),
        "query": (
            sent.url.params.multi_items(),
            [(name, value) for name, value in planned.query],
        ),
        "headers": (
            sorted(shown_headers(sent, planned).items()),
            sorted((name.lower(), value) for name, value in planned.headers.items()),
        ),
        "body": (sent_json(sent), planned.body),
        "Idempotency-Key": (sent.headers.get("idempotency-key"), step.idempotency_key),
    }
    return [
        f"{where}: {name} sent {got!r}, planned {expected!r}"
        for name, (got, expected) in fields.items()
        if got != expected
    ]


def shown_headers(sent: httpx.Request, planned: PlannedRequest) -> dict[str, str]:
    """Return the headers of ``sent`` a plan lists, a credential masked as planned.

    The trace context is left out, and so are the headers the HTTP client adds
    by itself unless the plan lists them. A header the plan shows masked
    (``Bearer **********``) is shown so if what was sent has the same text
    around a credential.
    """
    listed = {name.lower(): value for name, value in planned.headers.items()}
    shown: dict[str, str] = {}
    for name, value in sent.headers.items():
        if name in TRACE_CONTEXT or (name in CLIENT_HEADERS and name not in listed):
            continue
        masked = listed.get(name, "")
        before, mask, after = masked.partition(MASK)
        if (
            mask
            and value.startswith(before)
            and value.endswith(after)
            and len(value) > len(before) + len(after)
            and MASK not in value
        ):
            value = masked
        shown[name] = value
    return shown


def sent_json(sent: httpx.Request) -> object:
    """Return the JSON body of a request, or ``None`` without one."""
    return json.loads(sent.content) if sent.content else None


# ---------------------------------------------------------------- the dict API


@dataclass
class RecordingClient:
    """A ``FiscusClient`` stand-in for the guide's code: it keeps the task list."""

    client: FiscusClient
    tasks: list[object] = field(default_factory=list)

    def execute(self, *, tasks: Sequence[object]) -> FiscusResponse:
        """Keep ``tasks`` and run them on the client."""
        self.tasks = list(tasks)
        return self.client.execute(tasks=tasks)


def run_guide(
    recorder: Recorder,
    client: FiscusClient,
    guide: Callable[[FiscusClient], FiscusResponse],
) -> Ran:
    """Run the guide's code on ``client`` as its ``main()`` does; plan its tasks."""
    recording = RecordingClient(client)
    response = guide(cast("FiscusClient", recording))  # guide() calls execute only
    assert response.run is not None
    return recorder.ran(response.run, partial(client.plan, tasks=recording.tasks))


# ---------------------------------------------------------------- plain tasks


def test_onboarding_plans_match_runs() -> None:
    """onboarding.py: both runs' steps, statuses and bodies' arguments are planned.

    John's run matches step for step. In Jane's, the fake CRM rejects the
    contact: given that failure as its sample, the plan takes the same
    branch (``page_ops``, not ``send_email``).
    """
    recorder = Recorder()
    with use_runner(recorder.runner):
        welcomed, rejected = onboarding.main()

    plan = onboarding.onboard.plan
    john = recorder.ran(
        welcomed, partial(plan, name="John Doe", email="john@example.com")
    )
    jane = recorder.ran(
        rejected,
        partial(plan, name="Jane Roe", email="jane-at-example.com"),
    )

    assert assert_plan_matches(john) == 0
    assert assert_plan_matches(jane) == 0
    assert rejected["create_contact"].status is TaskStatus.FAILED


def test_fanout_plans_match_runs() -> None:
    """fanout.py: the maps' instances and the sub-workflows' steps are planned.

    Both billing runs (three customers, and none) match step for step: the
    map over ``list_customers``'s sample plans one step per customer, and
    ``remind[1]``'s reminder is skipped on the sample balance of 0.
    """
    recorder = Recorder()
    with use_runner(recorder.runner):
        smb, empty = fanout.main()

    three = recorder.ran(smb, partial(fanout.billing_run.plan, segment="smb"))
    none = recorder.ran(empty, partial(fanout.billing_run.plan, segment="enterprise"))

    assert assert_plan_matches(three) == 0
    assert assert_plan_matches(none) == 0
    assert len(three.plan.steps) == 11
    assert three.plan.step("remind[1]/send_reminder").status == "skipped"


def test_resilience_plans_match_runs() -> None:
    """resilience.py: the retried, timed-out and failed tasks' steps are planned.

    ``fetch_rates`` (three attempts), ``fetch_news`` (timed out) and
    ``live_quote`` (failed) are planned steps with the arguments their bodies
    got. Given its failure as a sample, the plan takes the fallback
    (``cached_quote``) as the run did.
    """
    recorder = Recorder(hooks=[resilience.HOOKS])
    resilience.CALLS.clear()  # as main() does: the rates API fails twice again
    resilience.LOG.clear()
    result = recorder.runner.run(resilience.market_report, base="EUR", symbol="ACME")

    ran = recorder.ran(
        result,
        partial(resilience.market_report.plan, base="EUR", symbol="ACME"),
    )

    assert assert_plan_matches(ran) == 0
    assert result["fetch_rates"].attempts == resilience.FLAKY_FAILURES + 1
    failed = [result[task_id].status for task_id in ("fetch_news", "live_quote")]
    assert failed == [TaskStatus.FAILED] * 2


def test_scoring_plans_match_runs() -> None:
    """scoring.py: every ``score`` instance and the summary are planned as run.

    ``main()``'s first run (in this process, 200 records); the run on Dask
    workers is the same workflow and the plan ships nothing, so it is not
    run again here.
    """
    recorder = Recorder()
    result = recorder.runner.run(scoring.score_all, count=200)

    ran = recorder.ran(result, partial(scoring.score_all.plan, count=200))

    assert assert_plan_matches(ran) == 0
    assert len(ran.plan.steps) == 201


# ---------------------------------------------------------------- over HTTP


def test_onboarding_api_plans_match_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """onboarding_api.py: both runs' requests are the planned ones, field by field.

    ``main()`` runs unchanged, on a recorded sandbox. John's run sends 5
    requests (the mailbox check is retried past two 503s); the repeated
    signup sends 2 and gets a 409 for the contact, which parts the welcome
    branch from the plan's.
    """
    recorder = Recorder()
    monkeypatch.setattr(onboarding_api, "sandbox", recorder.sandbox)
    with use_runner(recorder.runner):
        outcome = onboarding_api.main()
    onboard = onboarding_api.build(recorder.base_url)  # the same, to plan
    plan = partial(onboard.plan, name="John Doe", email="john@example.com")

    welcomed = recorder.ran(outcome.welcomed, plan)
    refused = recorder.ran(outcome.refused, plan)

    assert assert_plan_matches(welcomed) == 5
    assert assert_plan_matches(refused) == 2
    assert len(welcomed.sent["verify_mailbox"]) == 3


def test_fanout_api_plans_match_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """fanout_api.py: the 40 imports and the 41 requests of the welcomes are planned.

    ``main()`` runs unchanged, on a recorded sandbox. ``import_contacts``
    maps ``create_contact`` over the zipped lists; ``welcome_everyone`` maps
    the ``welcome`` sub-workflow over ``list_contacts``'s sample, so each
    ``welcome[i]/send_email`` has the planned body and key.
    """
    recorder = Recorder()
    monkeypatch.setattr(fanout_api, "sandbox", recorder.sandbox)
    with use_runner(recorder.runner):
        outcome = fanout_api.main()
    flows = fanout_api.build(recorder.base_url)  # the same, to plan
    people = range(1, fanout_api.PEOPLE + 1)
    names = [f"Person {number}" for number in people]
    emails = [f"person{number}@example.com" for number in people]

    imported = recorder.ran(
        outcome.imported,
        partial(flows.import_contacts.plan, names=names, emails=emails),
    )
    welcomed = recorder.ran(outcome.welcomed, flows.welcome_everyone.plan)

    assert assert_plan_matches(imported) == 40
    assert assert_plan_matches(welcomed) == 41


def test_resilience_api_plans_match_runs() -> None:
    """resilience_api.py: every attempt of the three flaky calls is planned.

    Run as ``main()`` runs it (a runner with its hooks): ``fetch_rates`` sends
    3 attempts, ``fetch_news`` 2 and ``live_quote`` 3 (it fails), each equal
    to its planned request. Given its failure as a sample, the plan takes the
    run's branch for the quote (``cached_quote``, not ``price_of``).
    """
    recorder = Recorder(
        hooks=[
            Hooks(
                on_retry=resilience_api.on_retry, after_task=resilience_api.after_task
            )
        ]
    )
    resilience_api.LOG.clear()
    with recorder.sandbox() as base_url:
        market_report = resilience_api.build(base_url)
        result = recorder.runner.run(market_report, symbol="ACME")

    ran = recorder.ran(
        result,
        partial(market_report.plan, symbol="ACME"),
    )

    assert assert_plan_matches(ran) == 8
    assert result["live_quote"].status is TaskStatus.FAILED


def test_observability_plans_match_runs() -> None:
    """observability.py: the sandbox onboarding's 5 requests are the planned ones.

    Run as ``main()`` runs it, on a runner whose spans stay in memory rather
    than go to the console (its only difference).
    """
    recorder = Recorder()
    with recorder.sandbox() as base_url:
        onboard = build_onboarding(base_url)
        result = recorder.runner.run(
            onboard, name="Ada Lovelace", email="ada@example.com"
        )

    ran = recorder.ran(
        result, partial(onboard.plan, name="Ada Lovelace", email="ada@example.com")
    )

    assert result.status is RunStatus.SUCCEEDED
    assert assert_plan_matches(ran) == 5


def test_fiscus_guide_chained_plans_match_runs() -> None:
    """fiscus_guide_chained.py: the guide's task list is planned as it ran.

    The first run sends both requests; the second gets a 409 for the contact,
    so ``custom_logic`` makes the condition false; given the 409 as its
    sample, the plan skips ``send_email`` too.
    """
    recorder = Recorder()
    with use_runner(recorder.runner), recorder.sandbox() as base_url:
        api = sandbox_connectors(base_url)
        client = FiscusClient(connectors=[api.crm, api.gmail])
        created = run_guide(recorder, client, chained.guide)
        refused = run_guide(recorder, client, chained.guide)

    assert assert_plan_matches(created) == 2
    assert assert_plan_matches(refused) == 1


def test_fiscus_guide_multiple_tasks_plans_match_runs() -> None:
    """fiscus_guide_multiple_tasks.py: both runs' two requests are planned.

    On the example's delayed sandbox; the second run's contact gets a 409,
    and the email, which waits for nothing, is sent and planned all the same.
    """
    recorder = Recorder()
    delayed = multiple.metered(create_app(), multiple.Traffic())
    with use_runner(recorder.runner), recorder.sandbox(delayed) as base_url:
        api = sandbox_connectors(base_url)
        client = FiscusClient(connectors=[api.crm, api.gmail])
        created = run_guide(recorder, client, multiple.guide)
        refused = run_guide(recorder, client, multiple.guide)

    assert assert_plan_matches(created) == 2
    assert assert_plan_matches(refused) == 2
    assert refused.run["create_contact"].status is TaskStatus.FAILED


def test_onboarding_yaml_plans_match_runs() -> None:
    """onboarding.yaml: the task file's two requests are planned, templates filled.

    Run as ``fiscus tasks run examples/onboarding.yaml --sandbox`` runs it:
    ``load_tasks``, the sandbox's connectors and ``FiscusClient.execute``.
    """
    recorder = Recorder()
    tasks = load_tasks(EXAMPLES / "onboarding.yaml")
    with use_runner(recorder.runner), recorder.sandbox() as base_url:
        client = FiscusClient(connectors=sandbox_connectors(base_url).connectors)
        response = client.execute(tasks=tasks)
    assert response.run is not None

    ran = recorder.ran(response.run, partial(client.plan, tasks=tasks))

    assert response.success
    assert assert_plan_matches(ran) == 2
