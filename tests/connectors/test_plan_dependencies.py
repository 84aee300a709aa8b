"""The dependency edges of a dry-run plan: ``PlanStep.depends_on``.

Each step lists the task ids of the listed steps it waits for, as the
run's slots did: a value, an outcome or a guard operand. A dependency on a
map stands for its instances, one on a sub-workflow for its last steps,
and one on an empty map for what the map waited for; a map's instances and
a sub-workflow's first steps wait for what their owner waited for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fiscus_dsl import task, workflow

from .test_planning import create_contact, list_notes, onboard, search

if TYPE_CHECKING:
    from fiscus_dsl import Plan


@task
def count(notes: list[list[str]]) -> int:
    return len(notes)


@workflow
def notes_and_more(contact_id: str) -> list[str]:
    first = list_notes(contact_id)
    return list_notes(contact_id, limit=count([first]))


@workflow
def create_then_notes(name: str) -> int:
    contact = create_contact(name, f"{name}@example.com")
    notes = notes_and_more(contact.id)
    return count([notes])


@workflow
def count_found(q: str) -> int:
    return count(list_notes.map(contact_id=search(q)))


def depends_on(plan: Plan) -> dict[str, list[str]]:
    return {step.task_id: step.depends_on for step in plan.steps}


def test_a_step_depends_on_the_values_and_guard_operands_it_reads() -> None:
    plan = onboard.plan(name="Ada", email="ada@example.com")

    assert depends_on(plan) == {
        "create_contact": [],
        "list_notes": ["create_contact"],
        "welcome_subject": ["create_contact"],  # its guard reads the contact
        "send_email": ["create_contact", "welcome_subject"],
    }


def test_a_map_s_instances_wait_for_its_list_and_stand_for_it() -> None:
    plan = count_found.plan(q="ada", responses={"search": ["a", "b"]})

    assert depends_on(plan) == {
        "search": [],
        "list_notes[0]": ["search"],
        "list_notes[1]": ["search"],
        "count": ["list_notes[0]", "list_notes[1]"],
    }


def test_a_dependency_on_an_empty_map_is_one_on_what_it_waited_for() -> None:
    plan = count_found.plan(q="ada", responses={"search": []})

    assert depends_on(plan) == {"search": [], "count": ["search"]}


def test_a_sub_workflow_s_first_steps_wait_for_its_inputs() -> None:
    plan = create_then_notes.plan(name="ada")

    assert depends_on(plan) == {
        "create_contact": [],
        "notes_and_more/list_notes": ["create_contact"],
        "notes_and_more/count": ["notes_and_more/list_notes"],
        "notes_and_more/list_notes#2": ["notes_and_more/count"],
        "count": ["notes_and_more/list_notes#2"],  # its last step stands for it
    }
