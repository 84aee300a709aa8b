"""What a dry-run plan says: its steps, their requests, and its problems.

``Plan`` is what ``wf.plan(...)`` returns: for each step of the workflow,
in the order a run would reach it, the request a connector operation would
send (method, full URL, query, headers, JSON body, ``Idempotency-Key``) or
the inputs of a plain task, and whether the step is planned, conditional
(its guard needs a value the plan does not know), skipped (with why),
invalid (with the error a run would hit) or not run. Credentials show as
the mask; values the plan does not know as ``<task.field>`` references.
Each step names the steps it waits for (``depends_on``). ``to_text`` draws
the plan as a table for a terminal, ``to_mermaid`` as a flowchart with the
branch it takes highlighted; ``model_dump_json`` is the JSON form (its
schema is ``Plan.model_json_schema()``). It imports pydantic only.
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

StepStatus = Literal[
    "planned", "conditional", "skipped", "invalid", "refused", "not_run"
]


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

    def to_mermaid(self) -> str:
        """Return the plan as a Mermaid ``flowchart TD``, its branch highlighted.

        A node per step, labelled with its task id, ``METHOD url`` for a
        request and what decided its status (the guard, or why it is
        skipped, invalid or not run); a templated request (one per item of
        a list the plan does not know) is a subroutine box. An edge runs
        from each step of ``depends_on``. Planned steps are green and the
        edges between them thick: the branch the plan takes. Conditional
        steps are amber and dashed, and so are the edges into them; skipped
        and not-run steps are grey, invalid ones red.

        Examples:
            >>> plan = Plan(
            ...     workflow="wf",
            ...     run_id="r1",
            ...     inputs={},
            ...     steps=[PlanStep(task_id="a", task="a", status="planned")],
            ... )
            >>> print(plan.to_mermaid(), end="")
            flowchart TD
                %% Plan of workflow 'wf' (run id r1)
                n0["a"]
                classDef planned fill:#e6f4ea,...
                class n0 planned
        """
        keys = {step.task_id: f"n{number}" for number, step in enumerate(self.steps)}
        lines = ["flowchart TD", f"%% {_comment(self)}"]
        for step in self.steps:
            opening, closing = ("[[", "]]") if step.templated else ("[", "]")
            label = _mermaid_label(_node_lines(step))
            lines.append(f"{keys[step.task_id]}{opening}{label}{closing}")
        lines += _mermaid_edges(self.steps, keys)
        for status, style in _NODE_STYLES.items():
            members = [
                keys[step.task_id] for step in self.steps if step.status == status
            ]
            if members:
                lines.append(f"classDef {status} {style}")
                lines.append(f"class {','.join(members)} {status}")
        return "\n".join([lines[0], *(_INDENT + line for line in lines[1:])]) + "\n"

    def __str__(self) -> str:
        return self.to_text()


_MARKS = {
    "planned": "+",
    "conditional": "?",
    "skipped": "-",
    "invalid": "!",
    "refused": "x",
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
    if step.status == "refused":
        return f"refused: {step.reason}   [{shown}]"
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


# ---------------------------------------------------------------- Mermaid

_INDENT: Final = "    "
_LABEL_LIMIT: Final = 80
"""The most characters of a guard or a reason in a node's label."""
_NODE_STYLES: Final = {
    "planned": "fill:#e6f4ea,stroke:#1e8e3e,stroke-width:2px,color:#0d3d1a",
    "conditional": (
        "fill:#fff8e1,stroke:#f29900,stroke-width:2px,stroke-dasharray:5 5,"
        "color:#5c3c00"
    ),
    "skipped": "fill:#f1f3f4,stroke:#9aa0a6,color:#5f6368",
    "invalid": "fill:#fce8e6,stroke:#d93025,stroke-width:2px,color:#a50e0e",
    "refused": "fill:#f3e8fd,stroke:#8430ce,stroke-width:2px,color:#4a148c",
    "not_run": "fill:#ffffff,stroke:#9aa0a6,stroke-dasharray:2 2,color:#5f6368",
}
_EDGE_COLOURS: Final = {
    "skipped": "#9aa0a6",
    "not_run": "#9aa0a6",
    "invalid": "#d93025",
    "refused": "#8430ce",
}
# The entity codes of render.py's labels: what Mermaid would parse in a label,
# and line breaks, which would end it early.
_MERMAID_ESCAPES: Final = str.maketrans(
    {
        **dict.fromkeys(
            [*map(chr, range(32)), "\x7f", "\x85", "\u2028", "\u2029"], " "
        ),
        "#": "#35;",
        '"': "#quot;",
        "&": "#amp;",
        "<": "#lt;",
        ">": "#gt;",
        "`": "#96;",
        "|": "#124;",
    }
)


def _comment(plan: Plan) -> str:
    said = f"Plan of workflow {plan.workflow!r} (run id {plan.run_id})"
    problems = len(plan.problems)
    if problems:
        said += f": {problems} problem{'s' if problems > 1 else ''}"
    return said.translate(_MERMAID_ESCAPES)


def _node_lines(step: PlanStep) -> list[str]:
    """Return a node's label: its id, its request, and what decided its status."""
    lines = [f"{step.task_id} (one per item)" if step.templated else step.task_id]
    if step.request is not None:
        lines.append(f"{step.request.method} {step.request.url}")
    decided = {
        "planned": "guard true" if step.guard is not None else None,
        "conditional": "only if" if step.guard is not None else None,
        "skipped": "skipped",
        "invalid": "invalid",
        "refused": "refused",
        "not_run": "not run",
    }[step.status]
    shown = step.guard if step.status in ("planned", "conditional") else step.reason
    if decided is not None:
        lines.append(f"{decided}: {_cut(shown)}" if shown else decided)
    return lines


def _cut(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= _LABEL_LIMIT else text[: _LABEL_LIMIT - 3] + "..."


def _mermaid_label(lines: list[str]) -> str:
    """Quote a label, with entity codes for what Mermaid would parse."""
    return '"' + "<br/>".join(line.translate(_MERMAID_ESCAPES) for line in lines) + '"'


def _mermaid_edges(steps: list[PlanStep], keys: dict[str, str]) -> list[str]:
    """Draw an edge from each dependency, coloured like the step it leads to."""
    statuses = {step.task_id: step.status for step in steps}
    lines: list[str] = []
    coloured: dict[str, list[str]] = {}
    for step in steps:
        for dep in step.depends_on:
            if dep not in keys:  # a step the plan does not list: nothing to draw
                continue
            colour = _EDGE_COLOURS.get(step.status)
            if colour is not None:
                coloured.setdefault(colour, []).append(str(len(lines)))
            arrow = _arrow(statuses[dep], step.status)
            lines.append(f"{keys[dep]} {arrow} {keys[step.task_id]}")
    for colour, numbers in coloured.items():
        lines.append(f"linkStyle {','.join(numbers)} stroke:{colour}")
    return lines


def _arrow(tail: StepStatus, head: StepStatus) -> str:
    """Draw the branch the plan takes thick, and the edges into a conditional dashed."""
    if head == "conditional":
        return "-.->"
    if tail == head == "planned":
        return "==>"
    return "-->"
