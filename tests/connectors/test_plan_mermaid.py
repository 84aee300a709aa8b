"""``Plan.to_mermaid()``: the plan's steps as a flowchart, its branch highlighted.

A node per step (its task id, ``METHOD url``, what decided its status), an
edge per ``depends_on``; planned steps and the edges between them form the
branch the plan takes (green, thick), conditional steps and the edges into
them are dashed, skipped and not-run steps grey, invalid ones red.
"""

from __future__ import annotations

from fiscus_dsl import Plan, PlannedRequest, PlanStep

from .conftest import BASE
from .test_plan_dependencies import count_found
from .test_planning import SAMPLE, onboard

PLANNED = "fill:#e6f4ea,stroke:#1e8e3e,stroke-width:2px,color:#0d3d1a"
CONDITIONAL = (
    "fill:#fff8e1,stroke:#f29900,stroke-width:2px,stroke-dasharray:5 5,color:#5c3c00"
)
SKIPPED = "fill:#f1f3f4,stroke:#9aa0a6,color:#5f6368"
INVALID = "fill:#fce8e6,stroke:#d93025,stroke-width:2px,color:#a50e0e"


def test_conditional_steps_and_the_edges_into_them_are_dashed() -> None:
    plan = onboard.plan(name="Ada", email="ada@example.com", run_id="r1")

    assert plan.to_mermaid().splitlines() == [
        "flowchart TD",
        "    %% Plan of workflow 'onboard' (run id r1)",
        f'    n0["create_contact<br/>POST {BASE}/contacts"]',
        f'    n1["list_notes<br/>GET {BASE}/contacts/#lt;create_contact.id#gt;'
        '/notes?limit=10"]',
        "    n2[\"welcome_subject<br/>only if: create_contact.status == 'active'\"]",
        f'    n3["send_email<br/>POST {BASE}/messages'
        "<br/>only if: create_contact.status == 'active'\"]",
        "    n0 ==> n1",
        "    n0 -.-> n2",
        "    n0 -.-> n3",
        "    n2 -.-> n3",
        f"    classDef planned {PLANNED}",
        "    class n0,n1 planned",
        f"    classDef conditional {CONDITIONAL}",
        "    class n2,n3 conditional",
    ]


def test_the_branch_a_guard_decided_on_a_sample_is_thick_and_the_other_grey() -> None:
    plan = onboard.plan(
        name="Ada",
        email="ada@example.com",
        run_id="r1",
        responses={"create_contact": {**SAMPLE, "status": "gone"}},
    )

    lines = plan.to_mermaid().splitlines()

    assert lines[4].startswith(
        '    n2["welcome_subject<br/>skipped: its guard is false'
    )
    assert lines[6:15] == [
        "    n0 ==> n1",
        "    n0 --> n2",
        "    n0 --> n3",
        "    n2 --> n3",
        "    linkStyle 1,2,3 stroke:#9aa0a6",
        f"    classDef planned {PLANNED}",
        "    class n0,n1 planned",
        f"    classDef skipped {SKIPPED}",
        "    class n2,n3 skipped",
    ]


def test_a_templated_request_is_a_subroutine_box() -> None:
    plan = count_found.plan(q="ada", run_id="r1")

    assert (
        f'    n2[["list_notes[0] (one per item)<br/>GET {BASE}/contacts/'
        '#lt;search[*]#gt;/notes?limit=10"]]'
    ) in plan.to_mermaid().splitlines()


def test_an_invalid_step_is_red_and_labels_are_escaped() -> None:
    request = PlannedRequest(method="GET", url='https://x.test/a?b=1&c="|"')
    plan = Plan(
        workflow="wf",
        run_id="r#1",
        inputs={},
        steps=[
            PlanStep(task_id="a", task="a", status="planned", request=request),
            PlanStep(
                task_id="b",
                task="b",
                status="invalid",
                depends_on=["a", "gone"],  # an id the plan does not list: no edge
                reason="ValueError: bad\nline" + " and worse" * 10,
            ),
        ],
        problems=["b: ValueError: bad line"],
    )

    assert plan.to_mermaid().splitlines() == [
        "flowchart TD",
        "    %% Plan of workflow 'wf' (run id r#35;1): 1 problem",
        '    n0["a<br/>GET https://x.test/a?b=1#amp;c=#quot;#124;#quot;"]',
        '    n1["b<br/>invalid: ValueError: bad line and worse and worse and worse '
        'and worse and worse and wo..."]',  # one line, cut at 80 characters
        "    n0 --> n1",
        "    linkStyle 0 stroke:#d93025",
        f"    classDef planned {PLANNED}",
        "    class n0 planned",
        f"    classDef invalid {INVALID}",
        "    class n1 invalid",
    ]


def test_a_plan_without_steps_is_an_empty_flowchart() -> None:
    plan = Plan(workflow="wf", run_id="r1", inputs={}, steps=[])

    assert (
        plan.to_mermaid() == "flowchart TD\n    %% Plan of workflow 'wf' (run id r1)\n"
    )
