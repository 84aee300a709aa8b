"""What a dry-run plan says: its steps, their requests, and its problems.

``Plan`` is what ``wf.plan(...)`` returns: for each step of the workflow,
in the order a run would reach it, the request a connector operation would
send (method, full URL, query, headers, JSON body, ``Idempotency-Key``) or
the inputs of a plain task, and whether the step is planned, conditional
(its guard needs a value the plan does not know), skipped (with why),
invalid (with the error a run would hit) or not run. Credentials show as
the mask; values the plan does not know as ``<task.field>`` references.
``to_text`` draws it as a table for a terminal; ``model_dump_json`` is the
JSON form (its schema is ``Plan.model_json_schema()``).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

StepStatus = Literal["planned", "conditional", "skipped", "invalid", "not_run"]


class PlannedRequest(BaseModel):
    """The HTTP request a connector operation would send."""

    model_config = ConfigDict(frozen=True)

    method: str = Field(description="The HTTP method.")
    url: str = Field(description="The full URL, query included, as it would be sent.")
    query: list[tuple[str, str]] = Field(
        default_factory=list, description="The query parameters, in order."
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="The headers fiscus_dsl sets (credentials masked), "
        "without those the HTTP client adds (User-Agent, Accept-Encoding).",
    )
    body: Any = Field(default=None, description="The JSON body, if any.")


class PlanStep(BaseModel):
    """One step of a plan: a request, or a plain task's call."""

    model_config = ConfigDict(frozen=True)

    task_id: str = Field(description="The task's id in the run, e.g. 'fetch[2]'.")
    task: str = Field(description="The task's name.")
    depends_on: list[str] = Field(
        default_factory=list,
        description="The task ids of the steps it waits for: those whose values, "
        "outcomes or guard operands it reads (a map's instances, a "
        "sub-workflow's last steps).",
    )
    status: StepStatus = Field(description="What a run with these responses would do.")
    connector: str | None = Field(
        default=None, description="The operation's connector."
    )
    request: PlannedRequest | None = Field(
        default=None, description="The request of a connector operation."
    )
    inputs: dict[str, Any] | None = Field(
        default=None, description="The arguments of a plain task's call."
    )
    idempotency_key: str | None = Field(
        default=None, description="The key a run with the plan's run_id would send."
    )
    guard: str | None = Field(
        default=None,
        description="The guard the step runs under: the one a conditional step's "
        "plan cannot decide, or the one that skipped it.",
    )
    reason: str | None = Field(
        default=None, description="Why it is skipped, invalid or not run."
    )
    templated: bool = Field(
        default=False,
        description="One request for every item of a list the plan does not know.",
    )
    value: Any = Field(
        default=None,
        description="Its value in the plan: the sample response, or a <reference>.",
    )


class Plan(BaseModel):
    """A dry-run plan of a workflow: what a run would send, and what would stop it.

    Attributes:
        workflow: The workflow's name.
        run_id: The run id the keys are computed for.
        inputs: The inputs, as given.
        steps: Every step, in the order a run would reach it.
        problems: What a run would fail on, one line each.
        output: The workflow's output in the plan.
    """

    model_config = ConfigDict(frozen=True)

    workflow: str
    run_id: str
    inputs: dict[str, Any]
    steps: list[PlanStep]
    problems: list[str] = Field(default_factory=list)
    output: Any = None

    @property
    def requests(self) -> list[PlanStep]:
        """Return the steps that would send a request (planned or conditional)."""
        return [
            step
            for step in self.steps
            if step.request is not None and step.status in ("planned", "conditional")
        ]

    def step(self, task_id: str) -> PlanStep:
        """Return the step of ``task_id``.

        Raises:
            KeyError: The plan has no such step.
        """
        for step in self.steps:
            if step.task_id == task_id:
                return step
        raise KeyError(task_id)

    def to_text(self) -> str:
        """Return the plan as a table for a terminal, one line per step."""
        lines = [f"Plan of workflow {self.workflow!r} (run id {self.run_id})", ""]
        width = max((len(step.task_id) for step in self.steps), default=4)
        for step in self.steps:
            lines.append(
                f"{_mark(step.status)} {step.task_id:<{width}}  {_summary(step)}"
            )
            lines.extend(_details(step))
        counts: dict[str, int] = {}
        for step in self.steps:
            counts[step.status] = counts.get(step.status, 0) + 1
        said = ", ".join(
            f"{count} {status.replace('_', ' ')}" for status, count in counts.items()
        )
        lines += ["", f"{len(self.requests)} request(s) to send; {said}"]
        if self.problems:
            lines += ["", "Problems a run would hit:"]
            lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


_MARKS = {
    "planned": "+",
    "conditional": "?",
    "skipped": "-",
    "invalid": "!",
    "not_run": ".",
}


def _mark(status: str) -> str:
    return _MARKS.get(status, " ")


def _summary(step: PlanStep) -> str:
    request = step.request
    if request is not None:
        shown = f"{request.method} {request.url}"
        if step.templated:
            shown += "   (one per item)"
    else:
        args = ", ".join(f"{k}={_short(v)}" for k, v in (step.inputs or {}).items())
        shown = f"{step.task}({args})"
    if step.status == "skipped":
        return f"skipped: {step.reason}   [{shown}]"
    if step.status == "not_run":
        return f"not run: {step.reason}"
    return shown


def _details(step: PlanStep) -> list[str]:
    out: list[str] = []
    if step.guard is not None and step.status in ("planned", "conditional"):
        decided = "guard true" if step.status == "planned" else "only if"
        out.append(f"      {decided}: {step.guard}")
    if step.status == "invalid":
        out.append(f"      invalid: {step.reason}")
    request = step.request
    if request is not None and step.status in ("planned", "conditional"):
        out += [f"      {name}: {value}" for name, value in request.headers.items()]
        if request.body is not None:
            out.append(f"      body: {json.dumps(request.body, sort_keys=True)}")
    return out


def _short(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
