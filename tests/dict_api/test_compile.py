"""Reading task dicts and compiling them onto one graph.

``read_tasks`` checks every dict before anything runs: a bad one is a
``TaskDefinitionError`` naming the index and the field. ``Execution``
compiles the list into one workflow: a task with conditions, or with
params computed from the context, waits for every task before it; one
whose params refer to earlier results, or with ``depends_on``, waits for
those; the others are independent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import pytest

from fiscus_dsl import Connector, FiscusClient, Retry, TaskDefinitionError
from fiscus_dsl import task as fiscus_task
from fiscus_dsl._dict_api.compile import Execution, resolve_operations
from fiscus_dsl._dict_api.spec import TASK_KEYS, TaskSpec, read_tasks, template_path
from fiscus_dsl._graph.model import ListArg, OutcomeArg, TaskNode, ValueArg

from .fake_api import Contact, FakeApi, connectors, task

if TYPE_CHECKING:
    from fiscus_dsl._graph.model import WorkflowGraph


MAIL = {"to": "a@x", "subject": "s", "body": "b"}
JOHN = {"name": "John Doe", "email": "john@example.com"}


# ---------------------------------------------------------------- read_tasks


def test_read_tasks_normalizes_a_task_dict() -> None:
    def on_success(info: dict[str, object]) -> None: ...

    def logic(response: object) -> bool:
        return True

    def condition(ctx: object) -> bool:
        return True

    source = task(
        "send_email",
        params=MAIL,
        callbacks={"fiscus_on_success": on_success},
        custom_logic=logic,
        conditions={"if": condition},
        id="welcome",
    )

    (spec,) = read_tasks([source])

    assert spec.index == 0
    assert (spec.connector, spec.operation, spec.params) == (
        "Gmail",
        "send_email",
        MAIL,
    )
    assert spec.callbacks == {"fiscus_on_success": on_success}
    assert (spec.custom_logic, spec.condition) == (logic, condition)
    assert (spec.id, spec.key, spec.depends_on) == ("welcome", "welcome", ())
    assert spec.source is source


def test_params_default_to_an_empty_dict() -> None:
    first, second = read_tasks(
        [task("list_contacts"), task("list_contacts", params=None)]
    )

    assert first.params == {}
    assert second.params == {}
    assert first.key == "list_contacts"


def test_depends_on_takes_one_name_or_a_list() -> None:
    specs = read_tasks(
        [
            task("create_contact", params=JOHN),
            task("list_contacts", id="all", depends_on="create_contact"),
            task("send_email", params=MAIL, depends_on=("create_contact", "all")),
        ]
    )

    assert [spec.depends_on for spec in specs] == [
        (),
        ("create_contact",),
        ("create_contact", "all"),
    ]


def test_references_are_found_in_nested_params() -> None:
    (_, _, spec) = read_tasks(
        [
            task("create_contact", id="a", params=JOHN),
            task("create_contact", id="b", params=JOHN),
            task(
                "send_email",
                params={
                    "to": "{{a.email}}",
                    "subject": {"x": ["{{ b.name }} and {{a.id}}", 3]},
                    "body": ("{{b.contacts[0].id}}",),
                },
            ),
        ]
    )

    assert spec.references() == ["a", "b", "a", "b"]


def test_callable_params_have_no_references() -> None:
    (spec,) = read_tasks([task("send_email", params=lambda ctx: MAIL)])

    assert spec.references() == []


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("", []),
        (".id", ["id"]),
        (".contacts[0].emails[12]", ["contacts", 0, "emails", 12]),
        ("[3]", [3]),
    ],
)
def test_template_path_splits_keys_and_indexes(text: str, path: list[object]) -> None:
    assert template_path(text) == path


@pytest.mark.parametrize(
    "tasks", ["create_contact", b"tasks", {"connector": "CRMSystem"}, 3]
)
def test_tasks_must_be_a_list(tasks: object) -> None:
    with pytest.raises(
        TaskDefinitionError,
        match=rf"^tasks must be a list of task dicts, got "
        rf"{type(tasks).__name__}$",
    ) as caught:
        read_tasks(tasks)

    assert (caught.value.index, caught.value.field) == (None, "tasks")


BAD_TASKS: list[tuple[Any, str, str]] = [
    ("send_email", "task", r"must be a dict, got str"),
    (task("send_email", when=True), "when", r"is not a task key; use \['callbacks'"),
    (
        {"operation": "send_email"},
        "connector",
        r"is required and must be a name, got None",
    ),
    (task("", params=MAIL), "operation", r"is required and must be a name, got ''"),
    ({"connector": 7, "operation": "x"}, "connector", r"got 7"),
    (task("send_email", params="to=a"), "params", r"must be a dict or a function of"),
    (task("send_email", callbacks=print), "callbacks", r"must be a dict of \["),
    (
        task("send_email", callbacks={"fiscus_on_retry": print}),
        "callbacks",
        r"has 'fiscus_on_retry'; the callbacks are \['fiscus_on_success', ",
    ),
    (
        task("send_email", callbacks={"fiscus_on_log": "log"}),
        "callbacks",
        r"'fiscus_on_log' must be a function taking the info dict",
    ),
    (task("send_email", custom_logic=True), "custom_logic", r"got bool"),
    (task("send_email", conditions=lambda ctx: True), "conditions", r"must be \{'if'"),
    (
        task("send_email", conditions={"if": bool, "else": bool}),
        "conditions",
        r"must be \{'if': function of the context\}",
    ),
    (
        task("send_email", conditions={"if": "ctx['a']"}),
        "conditions",
        r"'if' must be a function of the context, e\.g\. lambda ctx: \.\.\.",
    ),
    (task("send_email", id=""), "id", r"must be a name, got ''"),
    (task("send_email", id=4), "id", r"must be a name, got 4"),
    (task("send_email", depends_on=[1]), "depends_on", r"must be a task id or a list"),
    (task("send_email", depends_on={"a": 1}), "depends_on", r"must be a task id or"),
]


@pytest.mark.parametrize(("bad", "field", "problem"), BAD_TASKS)
def test_a_malformed_task_names_its_index_and_field(
    bad: object, field: str, problem: str
) -> None:
    with pytest.raises(
        TaskDefinitionError, match=rf"^Task 1: field '{field}' .*{problem}"
    ) as caught:
        read_tasks([task("send_email", params=MAIL), bad])

    assert (caught.value.index, caught.value.field) == (1, field)


def test_ids_must_be_unique() -> None:
    with pytest.raises(
        TaskDefinitionError,
        match=r"^Task 0: field 'id' 'x' is used by two tasks; ids must be unique$",
    ) as caught:
        read_tasks([task("send_email", id="x"), task("list_contacts", id="x")])

    assert (caught.value.index, caught.value.field) == (0, "id")


@pytest.mark.parametrize(
    ("later", "field"),
    [
        (task("send_email", depends_on="nobody"), "depends_on"),
        (task("send_email", depends_on="send_email"), "depends_on"),
        (task("send_email", params={"to": "{{nobody.email}}"}), "params"),
        (task("send_email", params={"to": "{{later.email}}"}), "params"),
    ],
    ids=["unknown", "itself", "unknown template", "later template"],
)
def test_references_must_name_an_earlier_task(
    later: dict[str, object], field: str
) -> None:
    with pytest.raises(
        TaskDefinitionError,
        match=rf"^Task 1: field '{field}' refers to '\w+', not an earlier task's id "
        r"or operation$",
    ) as caught:
        read_tasks(
            [
                task("create_contact", params=JOHN),
                later,
                task("get_contact", id="later"),
            ]
        )

    assert (caught.value.index, caught.value.field) == (1, field)


# ---------------------------------------------------------------- the graph


def compiled(tasks: list[dict[str, object]], *, retry: Retry | None) -> WorkflowGraph:
    crm, gmail = connectors(FakeApi())
    specs = read_tasks(tasks)
    operations = resolve_operations(specs, [crm, gmail])
    execution = Execution(specs, operations, retry=retry, callbacks={})
    return execution.compile().graph()


def waits(graph: WorkflowGraph) -> dict[str, list[str]]:
    """Return each node's id and the ids of the nodes it takes the outcomes of."""
    found: dict[str, list[str]] = {}
    for node in graph.nodes:
        outcomes = node.args["outcomes"]
        if isinstance(outcomes, ValueArg):  # no outcome: a plain empty list
            assert outcomes.value == []
            found[node.id] = []
            continue
        assert isinstance(outcomes, ListArg)
        items = outcomes.items
        found[node.id] = [item.node for item in items if isinstance(item, OutcomeArg)]
        assert len(found[node.id]) == len(items)
    return found


def only_task(graph: WorkflowGraph) -> TaskNode:
    (node,) = graph.nodes
    assert isinstance(node, TaskNode)
    return node


def test_a_task_waits_for_the_tasks_it_names() -> None:
    graph = compiled(
        [
            task("create_contact", params=JOHN),
            task("list_contacts", id="all"),
            task("get_contact", params={"contact_id": "{{create_contact.id}}"}),
            task("send_email", params=MAIL, depends_on=["all"]),
            task("send_email", params=MAIL),
        ],
        retry=None,
    )

    assert waits(graph) == {
        "create_contact": [],
        "all": [],
        "get_contact": ["create_contact"],
        "send_email": ["all"],
        "send_email#2": [],
    }


def test_conditions_and_context_params_wait_for_every_earlier_task() -> None:
    graph = compiled(
        [
            task("create_contact", params=JOHN),
            task("list_contacts"),
            task("send_email", params=MAIL, conditions={"if": bool}),
            task("send_email", params=lambda ctx: MAIL),
            task("send_email", params={**MAIL, "to": lambda ctx: "a@x"}),
            task("send_email", params={**MAIL, "body": [lambda ctx: "b"]}),
        ],
        retry=None,
    )

    every = ["create_contact", "list_contacts"]
    assert waits(graph) == {
        "create_contact": [],
        "list_contacts": [],
        "send_email": every,
        "send_email#2": [*every, "send_email"],
        "send_email#3": [*every, "send_email", "send_email#2"],
        "send_email#4": [*every, "send_email", "send_email#2", "send_email#3"],
    }
    guarded = graph.nodes[2]
    assert guarded.guard is not None
    assert [node.guard for node in graph.nodes[3:]] == [None, None, None]


def test_every_task_continues_on_error_with_the_call_retry() -> None:
    retry = Retry(attempts=4, backoff=0.5, jitter=False)

    graph = compiled([task("send_email", params=MAIL)], retry=retry)

    node = only_task(graph)
    assert node.policy.on_error == "continue"
    assert node.policy.retry is not None
    assert (node.policy.retry.attempts, node.policy.retry.jitter) == (4, False)


def test_without_a_call_retry_the_operation_keeps_its_own() -> None:
    graph = compiled([task("send_email", params=MAIL)], retry=None)

    node = only_task(graph)
    assert node.policy.retry is not None
    assert node.policy.retry.attempts == 3  # the connector's default


def test_a_task_dict_node_carries_the_operation_it_calls() -> None:
    graph = compiled([task("send_email", params=MAIL)], retry=None)

    operation = only_task(graph).operation
    assert operation is not None
    assert operation.model_dump() == {
        "connector": "Gmail",
        "method": "POST",
        "url": "https://gmail.example.test/v1/messages",
    }


def test_resolve_operations_takes_the_first_connector_with_the_operation() -> None:
    crm, gmail = connectors(FakeApi())
    shadow = Connector("Gmail", "https://shadow.example.test")

    @shadow.operation("POST /drafts")
    def save_draft(body: str) -> dict[str, str]:
        """Save a draft."""
        raise NotImplementedError

    specs = read_tasks(
        [
            task("send_email", params=MAIL),
            {"connector": "Gmail", "operation": "save_draft"},
        ]
    )

    found = resolve_operations(specs, [crm, gmail, shadow])

    assert found == [gmail.operations["send_email"], save_draft]


def test_an_execution_runs_any_task_sync_or_async() -> None:
    @fiscus_task
    def shout(text: str) -> str:
        return text.upper()

    @fiscus_task
    async def whisper(text: str) -> str:
        return text.lower()

    specs = read_tasks(
        [
            {"connector": "Local", "operation": "shout", "params": {"text": "hi"}},
            {"connector": "Local", "operation": "whisper", "params": {"text": "HO"}},
        ]
    )
    execution = Execution(specs, [shout, whisper], retry=None, callbacks={})

    result = execution.compile().run()

    assert [outcome.value for outcome in result.tasks.values()] == ["HI", "ho"]


# ---------------------------------------------------------------- template abuse


@pytest.mark.parametrize(
    ("params", "shown"),
    [
        (
            {**MAIL, "body": "x {{create_contact.__class__.__init__.__globals__}}"},
            "'{{create_contact.__class__.__init__.__g…'",
        ),
        ({**MAIL, "subject": "{{create_contact._secret}}"}, None),
        ({**MAIL, "body": {"parts": ["{{ create_contact.items[0]._id }}"]}}, None),
        ({**MAIL, "to": ("a", "{{create_contact.__dict__}}")}, None),
    ],
    ids=["globals in text", "private field", "nested in a dict", "in a tuple"],
)
def test_a_template_reading_a_name_starting_with_underscore_is_refused(
    params: dict[str, object], shown: str | None
) -> None:
    api = FakeApi()
    client = FiscusClient(connectors=connectors(api))

    with pytest.raises(
        TaskDefinitionError,
        match=r"^Task 1: field 'params' has the template '\{\{\s*create_contact\..*', "
        r"whose path has a name starting with '_'; use the fields of the task's "
        r"result$",
    ) as caught:
        client.execute(
            tasks=[
                task("create_contact", params=JOHN),
                task("send_email", params=params),
            ]
        )

    assert (caught.value.index, caught.value.field) == (1, "params")
    if shown is not None:
        assert f" has the template {shown}, " in str(caught.value)
    assert api.requests == []


def test_a_run_never_reads_a_result_attribute_starting_with_underscore() -> None:
    sent: list[str] = []

    @fiscus_task
    def make() -> Contact:
        return Contact(id="c1", name="Ann", email="ann@example.com")

    @fiscus_task
    def send(text: str) -> str:
        sent.append(text)
        return text

    template = "{{make.__class__.__init__.__globals__}}"
    # Built by hand: read_tasks refuses this template, and the run must too.
    specs = [
        TaskSpec(index=0, connector="Local", operation="make"),
        TaskSpec(
            index=1,
            connector="Local",
            operation="send",
            params={"text": f"x {template}"},
        ),
    ]
    execution = Execution(specs, [make, send], retry=None, callbacks={})

    result = execution.compile().run()

    error = result.tasks["send"].error
    assert isinstance(error, TaskDefinitionError)
    assert (error.index, error.field) == (1, "params")
    assert str(error) == (
        f"Task 1: field 'params': {template} found nothing at '__class__' in the "
        "result of 'make'; a template reads keys and indexes of data (dicts, lists, "
        "model fields)"
    )
    assert error.__cause__ is None
    assert sent == []


def test_a_run_reads_a_public_result_attribute() -> None:
    @fiscus_task
    def make() -> Contact:
        return Contact(id="c1", name="Ann", email="ann@example.com")

    @fiscus_task
    def send(text: str) -> str:
        return text

    specs = read_tasks(
        [
            {"connector": "Local", "operation": "make"},
            {
                "connector": "Local",
                "operation": "send",
                "params": {"text": "to {{make.email}}"},
            },
        ]
    )
    execution = Execution(specs, [make, send], retry=None, callbacks={})

    result = execution.compile().run()

    assert result.tasks["send"].value == "to ann@example.com"


# ---------------------------------------------------------------- short echoes

CUT: Final = "k" * 39 + "…"


@pytest.mark.parametrize(
    ("tasks", "index", "field", "message"),
    [
        (
            [{"connector": ["k" * 1000], "operation": "o"}],
            0,
            "connector",
            "Task 0: field 'connector' is required and must be a name, got "
            "['kkkkkkkkkkkkkkkkk...kkkkkkkkkkkkkkkkkk'] (list)",
        ),
        (
            [{"connector": "c", "operation": "o", "id": 10**5000}],
            0,
            "id",
            "Task 0: field 'id' must be a name, got <too long to show> (int)",
        ),
        (
            [{"connector": "c", "operation": "o", "k" * 1000: 1}],
            0,
            "k" * 1000,
            f"Task 0: field '{CUT}' is not a task key; use {sorted(TASK_KEYS)}",
        ),
        (
            [task("send_email", id="k" * 1000), task("send_email", id="k" * 1000)],
            0,
            "id",
            f"Task 0: field 'id' '{CUT}' is used by two tasks; ids must be unique",
        ),
        (
            [task("send_email", depends_on="k" * 1000)],
            0,
            "depends_on",
            f"Task 0: field 'depends_on' refers to '{CUT}', not an earlier task's "
            "id or operation",
        ),
        (
            [task("send_email", callbacks={"k" * 1000: print})],
            0,
            "callbacks",
            f"Task 0: field 'callbacks' has '{CUT}'; the callbacks are "
            "['fiscus_on_success', 'fiscus_on_error', 'fiscus_on_log', "
            "'fiscus_on_auth', 'fiscus_on_stream', 'fiscus_pre']",
        ),
    ],
    ids=["list", "huge int", "unknown key", "id", "depends_on", "callback"],
)
def test_a_message_shows_only_an_excerpt_of_a_bad_value(
    tasks: list[object], index: int, field: str, message: str
) -> None:
    with pytest.raises(TaskDefinitionError) as caught:
        read_tasks(tasks)

    assert str(caught.value) == message
    assert (caught.value.index, caught.value.field) == (index, field)


def test_task_keys_of_mixed_types_name_the_first_unknown_key_as_text() -> None:
    bad: dict[object, object] = {"connector": "c", "operation": "o", 1: 2, "zz": 3}

    with pytest.raises(
        TaskDefinitionError, match=r"^Task 0: field '1' is not a task key; use \["
    ) as caught:
        read_tasks([bad])

    assert (caught.value.index, caught.value.field) == (0, "1")
