"""The scheduler: run a traced graph on asyncio, each task as soon as it can start.

Every slot counts the dependencies it still waits for; when a slot settles,
its dependents count down, and those that reach zero are activated at once
(not level by level). Activation skips what cannot run (a needed value is
missing, or the guard is false or undecidable), and starts tasks up to
``max_concurrency``; the rest wait in a queue. A failed task with
``on_error="fail"`` stops the run: nothing new starts, tasks in flight
finish. The one broad ``except Exception`` of the package lives at the task
boundary here. Knows no HTTP.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from typing import TYPE_CHECKING, final

from opentelemetry import context as otel_context
from opentelemetry import trace

from fiscus_dsl._dsl.plan import PlanNode
from fiscus_dsl._graph.render import describe_condition
from fiscus_dsl._runtime import telemetry
from fiscus_dsl._runtime.dependencies import (
    inside,
    output_value,
    past_tense,
    value_dependencies,
)
from fiscus_dsl._runtime.executor import InProcessExecutor
from fiscus_dsl._runtime.fanout import map_instances, workflow_instances
from fiscus_dsl._runtime.hooks import merge_hooks
from fiscus_dsl._runtime.invoker import Invoker
from fiscus_dsl._runtime.journal import RESUMED
from fiscus_dsl._runtime.outcomes import (
    FAILED,
    SKIPPED,
    SUCCEEDED,
    Outcome,
    fails_run,
    failure,
)
from fiscus_dsl._runtime.resolve import Unavailable, decide, mapped_items, resolve
from fiscus_dsl._runtime.results import TaskStatus
from fiscus_dsl._runtime.slots import OUTPUT_ID, Scope, Slot
from fiscus_dsl._runtime.symbols import Undecided
from fiscus_dsl.errors import (
    ArgumentValidationError,
    GuardError,
    ProjectionError,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer

    from fiscus_dsl._dsl.hooks import Hooks
    from fiscus_dsl._dsl.plan import Plan
    from fiscus_dsl._dsl.task import TaskPlan
    from fiscus_dsl._runtime.executor import Executor
    from fiscus_dsl._runtime.journal import Journal
    from fiscus_dsl._types import Clock, Sleep

HANDOFF_LIMIT = 64
# The probe node that stands for a workflow's return value.
_OUTPUT_NODE = PlanNode(node_id=OUTPUT_ID, kind="task", name=OUTPUT_ID, args={})


@final
class Scheduler:
    """Execute one run of a plan; ``await scheduler.run()`` once."""

    def __init__(
        self,
        plan: Plan,
        *,
        run_id: str,
        inputs: dict[str, object],
        tracer: Tracer,
        executor: Executor,
        sleep: Sleep,
        clock: Clock,
        uniform: Callable[[float, float], float],
        max_concurrency: int | None,
        hooks: tuple[Hooks, ...],
        journal: Journal | None = None,
        planning: bool = False,
    ) -> None:
        self.run_id = run_id
        self.journal = journal
        #: A dry-run plan: no hooks, failures stop nothing, guards that need
        #: a value the plan does not know let their step through, marked.
        self.planning = planning
        #: In a plan, the guard text of each step it could not decide, by id.
        self.conditional: dict[str, str] = {}
        # No spans at all when telemetry is a no-op: the hot path stays lean.
        self.tracer = None if telemetry.is_noop(tracer) else tracer
        # The in-process executor's work is done inline, one coroutine less.
        self.invoker = Invoker(
            executor,
            sleep,
            uniform,
            run_id,
            self.tracer,
            inline=isinstance(executor, InProcessExecutor),
            planning=planning,
        )
        self.clock = clock
        self.limit = max_concurrency if max_concurrency is not None else 1 << 62
        self.root = Scope(
            plan,
            prefix="",
            inputs=inputs,
            owner=None,
            hooks=() if planning else merge_hooks(hooks, plan.hooks),
        )
        self.slots: list[Slot] = []
        self.running = 0
        self.queue: deque[Slot] = deque()
        self.work: deque[Slot] = deque()
        self.stopping = False
        self.failure: Slot | None = None
        self.tasks: dict[Slot, asyncio.Task[None]] = {}
        self.done: asyncio.Future[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.root_done = False
        self.open_scopes: list[Scope] = []
        self.handoff_open = False
        self.handoff: Slot | None = None

    # ------------------------------------------------------------ the run

    async def run(self, context: otel_context.Context | None) -> None:
        """Run every slot that can run, then return; results stay on the slots.

        ``context`` holds the run's workflow span, the parent of task spans.
        """
        self.loop = asyncio.get_running_loop()
        self.done = self.loop.create_future()
        root = self.root
        root.context = context
        try:
            self._instantiate(root)
            self._drain()
            self._check_done()
            await self.done
        except BaseException:
            # Cancelled (Ctrl-C, a timeout around the run): cancel what is in
            # flight and let it unwind, so every span it opened is ended.
            in_flight = list(self.tasks.values())
            for task in in_flight:
                task.cancel()
            if in_flight:
                await asyncio.wait(in_flight)
            raise

    def end_open_spans(self) -> None:
        """End the spans of sub-workflows the run left unfinished, with their status."""
        for scope in self.open_scopes:
            owner = scope.owner
            if scope.span is None or owner is None:
                continue
            failed = owner.status is FAILED
            telemetry.end_workflow_span(
                scope.span,
                status=FAILED.value if failed else TaskStatus.NOT_RUN.value,
                failure=str(owner.error) if failed else None,
            )
            scope.span = None

    def _check_done(self) -> None:
        done = self.done
        if (
            done is not None
            and not done.done()
            and (self.root_done or (self.stopping and self.running == 0))
        ):
            done.set_result(None)

    # ------------------------------------------------------------ graph instances

    def _instantiate(self, scope: Scope) -> None:
        nodes = scope.plan.nodes
        scope.remaining = len(nodes)
        plans: dict[int, TaskPlan] = {}
        for node in nodes:
            task = node.task
            plan = None
            if task is not None:
                plan = plans.get(id(task))
                if plan is None:
                    plan = plans[id(task)] = task.plan
            slot = Slot(scope.prefix + node.id, node, scope, plan)
            deps = [scope.slots[dep_id] for dep_id in node.deps]
            if deps:
                slot.deps = deps
                slot.waiting = len(deps)
                for dep in deps:
                    dependents = dep.dependents
                    if dependents is None:  # most slots feed one: no list
                        dep.dependents = slot
                    elif type(dependents) is Slot:
                        dep.dependents = [dependents, slot]
                    else:
                        dependents.append(slot)
            scope.slots[node.id] = slot
            self.slots.append(slot)
            if slot.waiting == 0:
                self.work.append(slot)
        if not nodes:
            self._scope_done(scope)

    def _drain(self) -> None:
        work = self.work
        while work and not self.stopping:
            self._activate(work.popleft())

    def _activate(self, slot: Slot) -> None:
        node = slot.node
        for dep in slot.deps:
            if dep.status is not SUCCEEDED:
                missing = self._missing_value(slot)
                if missing is not None:
                    self._conclude(slot, SKIPPED, None, missing)
                    return
                break
        if node.guard is not None and not self._guard_allows(slot):
            return
        if node.kind == "task":
            self._launch(slot)
        elif node.kind == "map":
            self._expand_map(slot)
        else:
            self._expand_workflow(slot)

    def _missing_value(self, slot: Slot) -> str | None:
        for dep in value_dependencies(slot):
            if dep.status is not SUCCEEDED:
                return f"needs the value of {dep.id!r}, which {past_tense(dep.status)}"
        return None

    def _guard_allows(self, slot: Slot) -> bool:
        guard = slot.node.guard
        assert guard is not None
        try:
            decided = decide(guard, slot)
        except (GuardError, ProjectionError) as exc:  # the guarded task fails
            self._conclude(slot, FAILED, exc, None)
            return False
        except Undecided:  # only in a plan: the step is planned, marked
            self.conditional[slot.id] = describe_condition(guard, redact=True)
            return True
        if decided is None:
            reason = (
                "its guard cannot be decided: it needs the value of a task "
                "that failed or was skipped"
            )
        elif not decided:
            reason = f"its guard is false: {describe_condition(guard, redact=True)}"
        else:
            return True
        self._conclude(slot, SKIPPED, None, reason)
        return False

    # ------------------------------------------------------------ tasks

    def _launch(self, slot: Slot) -> None:
        if self.journal is not None and self.journal.restore(slot):
            self._conclude(slot, SUCCEEDED, None, RESUMED)  # served, not run
            return
        if self.handoff_open:  # a task that just finished runs this one itself
            self.handoff_open = False
            self.handoff = slot
            return
        if self.running >= self.limit:
            self.queue.append(slot)
            return
        self.running += 1
        loop = self.loop
        assert loop is not None  # set when the run starts
        self.tasks[slot] = loop.create_task(self._run_task(slot))

    def _fill(self) -> None:
        queue = self.queue
        while queue and self.running < self.limit and not self.stopping:
            self._launch(queue.popleft())

    def _hand_over(self, handed: int) -> Slot | None:
        """Start what became ready; keep one task slot for the caller to run.

        Running the next ready slot in the asyncio task that just finished
        saves creating a task per link of a chain; every ``HANDOFF_LIMIT``
        links the slot goes to a new task instead, so other work gets turns.
        """
        self.handoff = None
        self.handoff_open = not self.stopping and handed < HANDOFF_LIMIT
        try:
            self._fill()
            self._drain()
        finally:
            self.handoff_open = False
        return self.handoff

    async def _run_task(self, first: Slot) -> None:
        slot: Slot | None = first
        handed = 0
        try:
            while slot is not None:
                if self.tracer is None:
                    slot.started_at = self.clock()
                    try:
                        outcome: Outcome = (
                            SUCCEEDED,
                            await self.invoker.invoke(slot, None),
                            None,
                            None,
                        )
                    except Exception as exc:  # the task boundary: see outcomes.failure
                        outcome = failure(slot, exc)
                    slot.ended_at = self.clock()
                else:  # inline, not a coroutine of its own: one frame per task
                    span, token = self._start_span(slot)
                    ended: Outcome | None = None
                    try:
                        ended = (
                            SUCCEEDED,
                            await self.invoker.invoke(slot, span),
                            None,
                            None,
                        )
                    except Exception as exc:  # the task boundary: see outcomes.failure
                        ended = failure(slot, exc)
                    finally:  # cancelled too: the span ends, the cancel goes on
                        self._end_span(slot, span, token, ended)
                    outcome = ended
                self._settle(slot, *outcome)
                slot = self._hand_over(handed)
                handed += 1
        finally:
            del self.tasks[first]
            self.running -= 1
            self._fill()
            self._drain()
            self._check_done()

    def _start_span(self, slot: Slot) -> tuple[Span, Token[Context]]:
        """Start a slot's task span and make it current until ``_end_span``."""
        span = self._task_span(slot, slot.name)
        # Current even when not recording (sampled out): what the task sends
        # must still carry this trace's context.
        token = otel_context.attach(trace.set_span_in_context(span, slot.scope.context))
        slot.started_at = self.clock()
        return span, token

    def _end_span(
        self,
        slot: Slot,
        span: Span,
        token: Token[Context],
        outcome: Outcome | None,
    ) -> None:
        """End a task span with the outcome (``None``: the task was cancelled)."""
        otel_context.detach(token)
        if outcome is None:
            error = sys.exc_info()[1]
            telemetry.end_task_span(
                span,
                status="cancelled",
                attempts=slot.attempts,
                error=error,
                reason=None,
            )
            return
        slot.ended_at = self.clock()
        status, _, error, reason = outcome
        telemetry.end_task_span(
            span,
            status=status.value,
            attempts=slot.attempts,
            error=error,
            reason=reason,
        )

    def _task_span(self, slot: Slot, name: str) -> Span:
        assert self.tracer is not None  # only called with a tracer
        return telemetry.start_task_span(
            self.tracer,
            slot.scope.context,
            name=name,
            workflow=slot.scope.workflow,
            run_id=self.run_id,
            task_id=slot.id,
        )

    # ------------------------------------------------------------ fan-out

    def _mapped_items(self, slot: Slot) -> list[dict[str, object]] | None:
        """Return each mapped instance's arguments, or ``None`` if the slot settled."""
        try:
            return mapped_items(slot)
        except Unavailable:  # pragma: no cover  (value dependencies were checked)
            self._conclude(slot, SKIPPED, None, "a mapped list is unavailable")
        except (ProjectionError, ArgumentValidationError) as exc:
            self._conclude(slot, FAILED, exc, None)
        return None

    def _expand_map(self, slot: Slot) -> None:
        invalid = slot.node.invalid
        if invalid is not None:  # a bound literal failed validation while tracing
            self._conclude(slot, FAILED, invalid, None)
            return
        items = self._mapped_items(slot)
        if items is None:
            return
        if not items:
            self._settle(slot, SUCCEEDED, [], None, None)
            return
        children = map_instances(slot, items)
        self.slots.extend(children)
        for child in children:
            self._launch(child)

    def _expand_workflow(self, slot: Slot) -> None:
        node = slot.node
        assert node.kind == "workflow"
        scope = slot.scope
        invalid = node.invalid
        if invalid is not None:
            self._conclude(slot, FAILED, invalid, None)
            return
        try:
            inputs = {name: resolve(spec, slot) for name, spec in node.args.items()}
        except ProjectionError as exc:
            self._conclude(slot, FAILED, exc, None)
            return
        items = None
        if node.mapped is not None:
            items = self._mapped_items(slot)
            if items is None:
                return
            if not items:
                self._settle(slot, SUCCEEDED, [], None, None)
                return
        for child in workflow_instances(slot, inputs, items):
            if self.tracer is not None:
                child.span = telemetry.start_workflow_span(
                    self.tracer, child.workflow, self.run_id, scope.context
                )
                child.context = trace.set_span_in_context(child.span, scope.context)
                self.open_scopes.append(child)
            self._instantiate(child)

    def _scope_done(self, scope: Scope) -> None:
        output = scope.plan.output
        owner = scope.owner
        if owner is None:
            self.root_done = True
            return
        error: BaseException | None = None
        reason: str | None = None
        failure = self.failure
        if failure is not None and inside(failure, scope):
            # a task inside failed the run: say so, as _finalize does
            error, reason = failure.error, f"{failure.id!r} failed inside it"
        else:
            try:
                scope.output = None if output is None else self.output_of(scope)
            except ProjectionError as exc:  # the sub-workflow's output found nothing
                error = exc
        if scope.span is not None:
            telemetry.end_workflow_span(
                scope.span,
                status=(SUCCEEDED if error is None else FAILED).value,
                failure=None if error is None else str(error),
            )
            scope.span = None
        owner.children_left -= 1
        if owner.status is not None:  # another instance's output already failed it
            return
        if error is not None:
            self._settle(owner, FAILED, None, error, reason)
        elif owner.children_left == 0:
            outputs = [child.output for child in owner.children]  # type: ignore[union-attr]  # workflow owners hold scopes
            value = (
                outputs
                if owner.node.kind == "workflow" and owner.node.mapped is not None
                else outputs[0]
            )
            self._settle(owner, SUCCEEDED, value, None, None)

    def output_of(self, scope: Scope) -> object:
        """Evaluate a scope's output; what depends on a missing value is ``None``."""
        spec = scope.plan.output
        if spec is None:
            return None
        return output_value(
            spec, Slot(f"{scope.prefix}output", _OUTPUT_NODE, scope, None)
        )

    # ------------------------------------------------------------ settling

    def _conclude(
        self,
        slot: Slot,
        status: TaskStatus,
        error: BaseException | None,
        reason: str | None,
    ) -> None:
        """Settle a slot that did not run now; a span still says why, when tracing."""
        self._settle(slot, status, slot.value, error, reason)
        if self.tracer is not None:
            self.span_settled(slot)

    def span_settled(self, slot: Slot) -> None:
        """Write the span of a slot that settled without running: status and why."""
        span = self._task_span(slot, slot.name)
        status = slot.status
        assert status is not None  # only settled slots get here
        telemetry.end_task_span(
            span,
            status=status.value,
            attempts=slot.attempts,
            error=slot.error,
            reason=slot.reason,
        )

    def _settle(
        self,
        slot: Slot,
        status: TaskStatus,
        value: object,
        error: BaseException | None,
        reason: str | None,
    ) -> None:
        slot.status = status
        slot.value = value
        slot.error = error
        slot.reason = reason
        # Recorded before a dependent can start; a store that failed stops
        # the run as a failed task does (the run's error is the store's).
        journal = self.journal
        recorded = journal is None or journal.settled(slot)
        if (
            status is FAILED
            and not self.stopping
            and fails_run(slot)
            and not self.planning
        ):
            self.stopping = True
            self.failure = slot
            self.queue.clear()
        if not recorded:
            self.stopping = True
            self.queue.clear()
        dependents = slot.dependents
        if dependents is not None:
            for dependent in (dependents,) if type(dependents) is Slot else dependents:
                dependent.waiting -= 1
                if dependent.waiting == 0:
                    self.work.append(dependent)
        owner = slot.owner
        if owner is not None:
            owner.children_left -= 1
            if owner.children_left == 0:
                self._finish_map(owner)
            return
        scope = slot.scope
        scope.remaining -= 1
        if scope.remaining == 0:
            self._scope_done(scope)

    def _finish_map(self, slot: Slot) -> None:
        children: list[Slot] = slot.children  # type: ignore[assignment]  # map owners hold slots
        failed = next((child for child in children if child.status is FAILED), None)
        if failed is not None:
            self._settle(
                slot, FAILED, None, failed.error, f"instance {failed.id!r} failed"
            )
            return
        self._settle(slot, SUCCEEDED, [child.value for child in children], None, None)
