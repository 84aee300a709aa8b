"""Task files: ``load_tasks`` end to end, every expression form, and hostile files.

The Fiscus guide's chained example runs from a YAML and a JSON file through
``FiscusClient.execute(tasks=load_tasks(path))`` on respx-mocked connectors
(every request must be mocked). The outcome tests (``succeeded``, ``failed``,
``skipped``) are checked the same way, since they read the context the
dict API keeps. The other expression forms are checked on the compiled
condition with a context. The hostile corpus in ``hostile/`` (and the huge
and deep files made at test time) must each be refused with a
``TaskDefinitionError`` naming the index and field, while an audit hook
sees no process, import, exec or socket event and respx sees no request.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pytest
import respx
import yaml
from pydantic import BaseModel

from fiscus_dsl import (
    ConfigurationError,
    Connector,
    FiscusClient,
    FiscusResponse,
    TaskDefinitionError,
)
from fiscus_dsl._dict_api.files import (
    MAX_EXPANDED_BYTES,
    MAX_NODES,
    load_tasks,
    load_tasks_text,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

CRM: Final = "https://crm.example.test/v1"
GMAIL: Final = "https://gmail.example.test/v1"
HOSTILE: Final = Path(__file__).parent / "hostile"
CONTACT: Final = {"id": "c1", "name": "John Doe", "email": "john@example.com"}

# ---------------------------------------------------------------- an audit hook

# Events that mean code ran, a module was imported or the network was used.
FORBIDDEN_EVENTS: Final = (
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "subprocess.",
    "exec",
    "compile",
    "import",
    "pickle.",
    "marshal.",
    "ctypes.",
    "socket.",
    "urllib.",
    "webbrowser.",
)


class Audit:
    """An audit hook (installed once: hooks cannot be removed) that records."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] | None = None

    def __call__(self, event: str, args: tuple[object, ...]) -> None:
        if self.events is not None and event.startswith(FORBIDDEN_EVENTS):
            self.events.append((event, repr(args[:1])[:80]))


AUDIT: Final = Audit()
sys.addaudithook(AUDIT)


@contextmanager
def audited() -> Iterator[list[tuple[str, str]]]:
    """Record the forbidden audit events raised inside the block."""
    events: list[tuple[str, str]] = []
    AUDIT.events = events
    try:
        yield events
    finally:
        AUDIT.events = None


# ---------------------------------------------------------------- connectors


def connectors() -> tuple[Connector, Connector]:
    """The guide's CRM and mail connectors, plus an alert operation."""
    crm = Connector("CRMSystem", base_url=CRM)
    gmail = Connector("Gmail", base_url=GMAIL)

    @crm.operation("POST /contacts")
    def create_contact(name: str, email: str) -> dict[str, object]:
        """Create a contact in the CRM."""
        raise NotImplementedError

    @gmail.operation("POST /messages")
    def send_email(to: str, subject: str, body: str) -> dict[str, object]:
        """Send an email."""
        raise NotImplementedError

    @gmail.operation("POST /alerts")
    def alert(reason: str) -> dict[str, object]:
        """Tell the operators."""
        raise NotImplementedError

    return crm, gmail


@pytest.fixture
def client() -> FiscusClient:
    return FiscusClient(connectors=connectors(), retries=0)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """Mock both APIs; any request that is not mocked fails the test."""
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        router.post(f"{CRM}/contacts", name="contacts").respond(201, json=CONTACT)
        router.post(f"{GMAIL}/messages", name="messages").respond(200, json={})
        router.post(f"{GMAIL}/alerts", name="alerts").respond(200, json={})
        yield router


def sent(api: respx.MockRouter, route: str) -> list[object]:
    """Return the JSON bodies sent to a route."""
    return [json.loads(call.request.content) for call in api.routes[route].calls]


def write(tmp_path: Path, name: str, document: object) -> Path:
    path = tmp_path / name
    text = json.dumps(document) if name.endswith(".json") else str(document)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- the guide's example

CHAINED_YAML: Final = """\
# The Fiscus guide's chained example: welcome the contact once it exists.
tasks:
  - connector: CRMSystem
    operation: create_contact
    params: {name: John Doe, email: john@example.com}
    custom_logic: contact_created
  - connector: Gmail
    operation: send_email
    params:
      to: "{{create_contact.email}}"
      subject: Welcome, John!
      body: Glad to have you on board.
    conditions:
      if: {succeeded: create_contact}
"""
CHAINED: Final = {
    "tasks": [
        {
            "connector": "CRMSystem",
            "operation": "create_contact",
            "params": {"name": "John Doe", "email": "john@example.com"},
            "custom_logic": "contact_created",
        },
        {
            "connector": "Gmail",
            "operation": "send_email",
            "params": {
                "to": "{{create_contact.email}}",
                "subject": "Welcome, John!",
                "body": "Glad to have you on board.",
            },
            "conditions": {"if": {"succeeded": "create_contact"}},
        },
    ]
}


def contact_created(response: FiscusResponse) -> bool:
    return response.success


REGISTRY: Final = {"contact_created": contact_created}


def chained_file(tmp_path: Path, file_format: str) -> Path:
    if file_format == "yaml":
        return write(tmp_path, "onboarding.yaml", CHAINED_YAML)
    return write(tmp_path, "onboarding.json", CHAINED)


@pytest.mark.parametrize("file_format", ["yaml", "json"])
def test_chained_example_file_sends_the_email_once_the_contact_exists(
    file_format: str, tmp_path: Path, client: FiscusClient, api: respx.MockRouter
) -> None:
    path = chained_file(tmp_path, file_format)

    response = client.execute(tasks=load_tasks(path, registry=REGISTRY))

    assert response.success
    assert [result.skipped for result in response.results or []] == [False, False]
    assert sent(api, "contacts") == [{"name": "John Doe", "email": "john@example.com"}]
    assert sent(api, "messages") == [
        {
            "to": "john@example.com",
            "subject": "Welcome, John!",
            "body": "Glad to have you on board.",
        }
    ]
    assert response.context["create_contact"] is True


@pytest.mark.parametrize("file_format", ["yaml", "json"])
def test_chained_example_file_skips_the_email_when_the_contact_fails(
    file_format: str, tmp_path: Path, client: FiscusClient, api: respx.MockRouter
) -> None:
    api.routes["contacts"].respond(500, json={"error": "down"})
    path = chained_file(tmp_path, file_format)

    response = client.execute(tasks=load_tasks(path, registry=REGISTRY))

    assert not response.success
    assert [result.skipped for result in response.results or []] == [False, True]
    assert api.routes["contacts"].call_count == 1
    assert not api.routes["messages"].called
    assert response.context == {"create_contact": False}


def test_yaml_and_json_files_load_to_the_same_tasks(tmp_path: Path) -> None:
    from_yaml = load_tasks(chained_file(tmp_path, "yaml"), registry=REGISTRY)
    from_json = load_tasks(chained_file(tmp_path, "json"), registry=REGISTRY)

    for tasks in (from_yaml, from_json):
        condition = tasks[1].pop("conditions")
        assert isinstance(condition, dict)
        assert callable(condition["if"])
    assert from_yaml == from_json
    assert from_yaml[0]["custom_logic"] is contact_created


def test_params_templates_are_left_for_the_run_to_fill(tmp_path: Path) -> None:
    tasks = load_tasks(chained_file(tmp_path, "yaml"), registry=REGISTRY)

    assert tasks[1]["params"] == {
        "to": "{{create_contact.email}}",
        "subject": "Welcome, John!",
        "body": "Glad to have you on board.",
    }


def test_a_list_document_and_a_yml_extension_load_too(tmp_path: Path) -> None:
    path = write(tmp_path, "Tasks.YML", "- {connector: CRMSystem, operation: x}\n")

    assert load_tasks(path) == [
        {"connector": "CRMSystem", "operation": "x", "params": {}}
    ]


def test_a_json_file_may_start_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "tasks.json"
    path.write_bytes(b'\xef\xbb\xbf[{"connector": "CRMSystem", "operation": "x"}]')

    assert load_tasks(path)[0]["operation"] == "x"


# ---------------------------------------------------------------- outcomes, end to end

OUTCOMES_YAML: Final = """\
- connector: CRMSystem
  operation: create_contact
  params: {name: John Doe, email: john@example.com}
- id: welcome
  connector: Gmail
  operation: send_email
  params: {to: john@example.com, subject: Welcome, body: Hello}
  conditions: {if: {succeeded: create_contact}}
- id: on_failure
  connector: Gmail
  operation: alert
  params: {reason: contact failed}
  conditions: {if: {failed: create_contact}}
- id: on_skip
  connector: Gmail
  operation: alert
  params: {reason: welcome skipped}
  conditions:
    if:
      and:
        - {skipped: welcome}
        - {not: {failed: welcome}}
        - {not: {succeeded: welcome}}
"""


def test_failed_and_skipped_run_their_tasks_after_a_failure(
    client: FiscusClient, api: respx.MockRouter
) -> None:
    api.routes["contacts"].respond(500)

    response = client.execute(tasks=load_tasks_text(OUTCOMES_YAML, format="yaml"))

    assert [result.skipped for result in response.results or []] == [
        False,
        True,
        False,
        False,
    ]
    assert sent(api, "alerts") == [
        {"reason": "contact failed"},
        {"reason": "welcome skipped"},
    ]


def test_failed_and_skipped_are_false_after_a_success(
    client: FiscusClient, api: respx.MockRouter
) -> None:
    response = client.execute(tasks=load_tasks_text(OUTCOMES_YAML, format="yaml"))

    assert response.success
    assert [result.skipped for result in response.results or []] == [
        False,
        False,
        True,
        True,
    ]
    assert not api.routes["alerts"].called


def test_succeeded_needs_only_presence_without_custom_logic(
    client: FiscusClient, api: respx.MockRouter
) -> None:
    api.routes["contacts"].respond(201, json={})  # falsy, but the task succeeded

    response = client.execute(tasks=load_tasks_text(OUTCOMES_YAML, format="yaml"))

    assert response.context["create_contact"] == {}
    assert api.routes["messages"].call_count == 1
    assert not api.routes["alerts"].called


def test_succeeded_with_custom_logic_needs_a_truthy_value(
    client: FiscusClient, api: respx.MockRouter
) -> None:
    def is_active(response: FiscusResponse) -> object:
        return response.get_field("status") == "active"

    text = OUTCOMES_YAML.replace(
        "  params: {name: John Doe, email: john@example.com}\n",
        "  params: {name: John Doe, email: john@example.com}\n"
        "  custom_logic: is_active\n",
        1,
    )

    response = client.execute(
        tasks=load_tasks_text(text, format="yaml", registry={"is_active": is_active})
    )

    assert response.context["create_contact"] is False
    assert not api.routes["messages"].called
    assert sent(api, "alerts") == [
        {"reason": "contact failed"},
        {"reason": "welcome skipped"},
    ]


def test_skipped_covers_a_task_whose_params_need_a_failed_task(
    client: FiscusClient, api: respx.MockRouter
) -> None:
    api.routes["contacts"].respond(500)
    text = """\
- {connector: CRMSystem, operation: create_contact, params: {name: J, email: j@x}}
- connector: Gmail
  operation: send_email
  params:
    to: "{{create_contact.email}}"
    subject: Welcome
    body: [1, {nested: "{{create_contact.name}}"}]
- connector: Gmail
  operation: alert
  params: {reason: no welcome}
  conditions: {if: {skipped: send_email}}
"""

    response = client.execute(tasks=load_tasks_text(text, format="yaml"))

    assert [result.skipped for result in response.results or []] == [False, True, False]
    assert sent(api, "alerts") == [{"reason": "no welcome"}]


def test_skipped_covers_a_task_whose_condition_raised(
    client: FiscusClient, api: respx.MockRouter
) -> None:
    api.routes["contacts"].respond(500)
    text = """\
- {connector: CRMSystem, operation: create_contact, params: {name: J, email: j@x}}
- connector: Gmail
  operation: send_email
  params: {to: j@x, subject: Welcome, body: Hello}
  conditions: {if: {eq: ["{{create_contact.id}}", c1]}}
- connector: Gmail
  operation: alert
  params: {reason: no welcome}
  conditions: {if: {skipped: send_email}}
"""

    response = client.execute(tasks=load_tasks_text(text, format="yaml"))

    welcome = (response.results or [])[1]
    assert welcome.skipped
    assert "needs task 'create_contact', which did not succeed" in str(
        welcome.error_message
    )
    assert sent(api, "alerts") == [{"reason": "no welcome"}]


def test_condition_templates_read_what_custom_logic_returned(
    client: FiscusClient, api: respx.MockRouter
) -> None:
    def summary(response: FiscusResponse) -> dict[str, object]:
        return {"ok": response.success, "who": response.get_field("email")}

    text = """\
- connector: CRMSystem
  operation: create_contact
  params: {name: John Doe, email: john@example.com}
  custom_logic: summary
- connector: Gmail
  operation: send_email
  params: {to: "{{create_contact.email}}", subject: Hi, body: Hello}
  conditions:
    if:
      and:
        - {eq: ["{{create_contact.ok}}", true]}
        - {eq: ["{{create_contact.who}}", john@example.com]}
"""

    tasks = load_tasks_text(text, format="yaml", registry={"summary": summary})
    response = client.execute(tasks=tasks)

    assert response.success
    assert sent(api, "messages") == [
        {"to": "john@example.com", "subject": "Hi", "body": "Hello"}
    ]


def test_registered_callbacks_and_predicates_are_called(
    client: FiscusClient, api: respx.MockRouter
) -> None:
    seen: list[object] = []

    def on_success(info: dict[str, object]) -> None:
        seen.append(info["message"])

    def is_new(context: Mapping[str, object]) -> bool:
        seen.append(dict(context))
        return "create_contact" in context

    text = """\
- connector: CRMSystem
  operation: create_contact
  params: {name: John Doe, email: john@example.com}
  callbacks: {fiscus_on_success: note}
- connector: Gmail
  operation: send_email
  params: {to: john@example.com, subject: Hi, body: Hello}
  conditions: {if: {fn: is_new}}
"""
    registry: dict[str, Callable[..., object]] = {"note": on_success, "is_new": is_new}

    response = client.execute(
        tasks=load_tasks_text(text, format="yaml", registry=registry)
    )

    assert response.success
    assert seen == ["CRMSystem.create_contact succeeded", {"create_contact": CONTACT}]
    assert api.routes["messages"].call_count == 1


def test_registry_functions_are_passed_through_unchanged() -> None:
    def logic(response: FiscusResponse) -> object:
        return response.result

    def log(info: dict[str, object]) -> None:
        return None

    text = """\
- connector: CRMSystem
  operation: create_contact
  custom_logic: logic
  callbacks: {fiscus_on_log: log, fiscus_on_error: log}
"""
    registry: dict[str, Callable[..., object]] = {"logic": logic, "log": log}

    (task,) = load_tasks_text(text, format="yaml", registry=registry)

    assert task["custom_logic"] is logic
    assert task["callbacks"] == {"fiscus_on_log": log, "fiscus_on_error": log}


def test_depends_on_and_ids_pass_through(tmp_path: Path) -> None:
    document = [
        {"connector": "CRMSystem", "operation": "create_contact", "id": "first"},
        {"connector": "CRMSystem", "operation": "create_contact", "id": "second"},
        {"connector": "Gmail", "operation": "send_email", "depends_on": "first"},
        {"connector": "Gmail", "operation": "alert", "depends_on": ["first", "second"]},
    ]

    tasks = load_tasks(write(tmp_path, "tasks.json", document))

    assert [task.get("id") for task in tasks] == ["first", "second", None, None]
    assert [task.get("depends_on") for task in tasks] == [
        None,
        None,
        "first",
        ["first", "second"],
    ]


# ---------------------------------------------------------------- expression forms


class Contact(BaseModel):
    email: str


def condition(
    expression: object, **registry: Callable[..., object]
) -> Callable[..., object]:
    """Compile ``expression`` as the condition of a task after ``contact``."""
    document = [
        {"connector": "CRMSystem", "operation": "create_contact", "id": "contact"},
        {
            "connector": "Gmail",
            "operation": "send_email",
            "conditions": {"if": expression},
        },
    ]
    tasks = load_tasks_text(json.dumps(document), format="json", registry=registry)
    conditions = tasks[1]["conditions"]
    assert isinstance(conditions, dict)
    function = conditions["if"]
    assert callable(function)
    return function  # type: ignore[no-any-return]  # checked callable


VALUE: Final = {
    "status": "active",
    "score": 7,
    "tags": ["vip", "trial"],
    "name": "Ann",
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"succeeded": "contact"}, True),
        ({"failed": "contact"}, False),
        ({"skipped": "contact"}, False),
        ({"succeeded": "create_contact"}, True),
        ({"eq": ["{{contact.status}}", "active"]}, True),
        ({"eq": ["{{ contact.status }}", "inactive"]}, False),
        ({"ne": ["{{contact.status}}", "active"]}, False),
        ({"lt": ["{{contact.score}}", 8]}, True),
        ({"le": ["{{contact.score}}", 7]}, True),
        ({"gt": ["{{contact.score}}", 7]}, False),
        ({"ge": [7, "{{contact.score}}"]}, True),
        ({"eq": ["{{contact.tags[1]}}", "trial"]}, True),
        ({"eq": ["Hi {{contact.name}} ({{contact.score}})!", "Hi Ann (7)!"]}, True),
        ({"eq": ["{{contact}}", VALUE]}, True),
        ({"eq": [None, None]}, True),
        ({"in": ["{{contact.status}}", ["active", "trial"]]}, True),
        ({"in": ["gone", ["active", "{{contact.status}}"]]}, False),
        ({"in": ["vip", "{{contact.tags}}"]}, True),
        ({"and": [{"succeeded": "contact"}, {"gt": ["{{contact.score}}", 5]}]}, True),
        ({"and": [{"succeeded": "contact"}, {"failed": "contact"}]}, False),
        ({"or": [{"failed": "contact"}, {"eq": [1, 1]}]}, True),
        ({"or": [{"failed": "contact"}, {"eq": [1, 2]}]}, False),
        ({"not": {"eq": ["{{contact.status}}", "active"]}}, False),
        ({"not": {"not": {"succeeded": "contact"}}}, True),
    ],
)
def test_expression_forms_evaluate_on_the_context(
    expression: object, expected: bool
) -> None:
    assert (
        condition(expression)({"contact": VALUE, "create_contact": VALUE}) is expected
    )


def test_outcomes_of_a_task_absent_from_the_context() -> None:
    assert condition({"failed": "contact"})({}) is True
    assert condition({"succeeded": "contact"})({}) is False
    assert condition({"skipped": "contact"})({}) is False


def test_templates_read_the_fields_of_a_pydantic_result() -> None:
    check = condition({"eq": ["{{contact.email}}", "ann@example.com"]})

    assert check({"contact": Contact(email="ann@example.com")}) is True


def test_fn_calls_the_registered_predicate_with_a_copy_of_the_context() -> None:
    calls: list[dict[str, object]] = []

    def vip(context: dict[str, object]) -> object:
        calls.append(context)
        context["tampered"] = True
        return "vip" in str(context.get("contact"))

    context: dict[str, object] = {"contact": VALUE}

    assert condition({"fn": "vip"}, vip=vip)(context) is True
    assert calls == [{"contact": VALUE, "tampered": True}]
    assert context == {"contact": VALUE}


@pytest.mark.parametrize(
    ("expression", "context", "error", "match"),
    [
        ({"eq": ["{{contact.status}}", 1]}, {}, LookupError, "which did not succeed"),
        (
            {"eq": ["{{contact.missing}}", 1]},
            {"contact": VALUE},
            LookupError,
            r"\{\{contact.missing\}\} found nothing at 'missing' in a mapping",
        ),
        (
            {"eq": ["{{contact.tags[5]}}", 1]},
            {"contact": VALUE},
            LookupError,
            "found nothing at 5 in a list",
        ),
        (
            {"eq": ["{{contact.status.length}}", 1]},
            {"contact": VALUE},
            LookupError,
            "found nothing at 'length' in a string",
        ),
        (
            {"in": [1, "{{contact.score}}"]},
            {"contact": VALUE},
            TypeError,
            "'in' needs a list to look in, got an integer",
        ),
        ({"lt": ["{{contact.status}}", 1]}, {"contact": VALUE}, TypeError, "<"),
    ],
)
def test_a_condition_that_cannot_be_decided_raises(
    expression: object, context: dict[str, object], error: type[Exception], match: str
) -> None:
    # The dict API records the error and skips the guarded task.
    with pytest.raises(error, match=match):
        condition(expression)(context)


def test_a_condition_shows_its_expression() -> None:
    check = condition({"and": [{"succeeded": "contact"}, {"in": [1, [1, 2]]}]})

    assert repr(check) == (
        '<task file condition {"and":[{"succeeded":"contact"},{"in":[1,[1,2]]}]}>'
    )


# ---------------------------------------------------------------- the hostile corpus


HOSTILE_CASES: Final[list[tuple[str, int | None, str, str]]] = [
    (
        "python_object_apply.yaml",
        None,
        "file",
        r"not valid YAML \(line 5\): could not determine a constructor for the tag "
        r"'tag:yaml\.org,2002:python/object/apply:os\.system'; write plain YAML$",
    ),
    (
        "python_object_new.yaml",
        None,
        "file",
        r"\(line 9\): .*python/object/new:subprocess\.Popen'",
    ),
    ("python_name.yaml", None, "file", r"\(line 5\): .*python/name:os\.system'"),
    (
        "import_in_condition.yaml",
        1,
        "conditions.if.fn",
        r"^Task 1 in file '.*import_in_condition\.yaml': field 'conditions\.if\.fn' "
        r"names '__import__', which is not registered; the registered names "
        r"are \[\]",
    ),
    (
        "dotted_custom_logic.yaml",
        0,
        "custom_logic",
        r"names 'os\.system', which is not registered",
    ),
    (
        "eval_in_condition.yaml",
        1,
        "conditions.if.eq.0",
        r"has '\{\{' but no template",
    ),
    (
        "dunder_keys.yaml",
        0,
        "__class__",
        r"field '__class__' is not allowed here; a task's keys are \['callbacks'",
    ),
    (
        "dunder_param.yaml",
        0,
        "params.__class__",
        r"field 'params\.__class__' is invalid: String should match pattern",
    ),
    (
        "dunder_template.yaml",
        1,
        "params.body",
        r"whose path has a name starting with '_'",
    ),
    ("unknown_key.yaml", 0, "shell", r"field 'shell' is not allowed here"),
    (
        "unknown_expression.yaml",
        1,
        "conditions.if",
        r"field 'conditions\.if' is not one expression; write conditions as",
    ),
    (
        "billion_laughs.yaml",
        None,
        "file",
        rf"holds more than {MAX_NODES:,} values, counting what each alias repeats",
    ),
    ("merge_key_bomb.yaml", None, "file", rf"holds more than {MAX_NODES:,} values"),
    (
        "recursive_alias.yaml",
        None,
        "file",
        r"has the alias '\*task' \(line 5\), which is undefined or inside",
    ),
    (
        "wrong_types.yaml",
        0,
        "connector",
        r"field 'connector' is invalid: Input should be a valid string; give a name",
    ),
    (
        "not_a_list.yaml",
        None,
        "connector",
        r": field 'connector' is not a key of a task file; write \{'tasks'",
    ),
    ("empty.yaml", None, "tasks", r"has no tasks; write a list of tasks"),
    (
        "multiple_documents.yaml",
        None,
        "file",
        r"not valid YAML \(line 2\): but found another document",
    ),
    ("nan.json", None, "file", r"not valid JSON: NaN is not a JSON number"),
    (
        "duplicate_key.json",
        None,
        "file",
        r"the key 'connector' appears twice in one object",
    ),
]


@pytest.mark.parametrize(("name", "index", "field", "match"), HOSTILE_CASES)
def test_a_hostile_file_is_refused_with_nothing_run_or_sent(
    name: str,
    index: int | None,
    field: str,
    match: str,
    client: FiscusClient,
    api: respx.MockRouter,
) -> None:
    with audited() as events, pytest.raises(TaskDefinitionError, match=match) as caught:
        client.execute(tasks=load_tasks(HOSTILE / name))

    assert (caught.value.index, caught.value.field) == (index, field)
    assert events == []
    assert not api.calls


def test_the_audit_hook_records_code_being_compiled_and_run() -> None:
    with audited() as events:
        exec(compile("1", "<hostile>", "eval"))  # proves the hook sees code run

    assert [event for event, _ in events] == ["compile", "exec"]


def test_the_hostile_corpus_is_all_tested() -> None:
    names = {path.name for path in HOSTILE.iterdir()}

    assert names == {name for name, *_ in HOSTILE_CASES}


def huge_json(tmp_path: Path) -> Path:
    """Write 1.7 MB of valid tasks: over the 1 MB default."""
    task = {"connector": "CRMSystem", "operation": "create_contact"}
    return write(tmp_path, "huge.json", [task] * 30_000)


def deep_json(tmp_path: Path) -> Path:
    """Write a JSON list nested 10,000 deep: deeper than json.loads recurses."""
    path = tmp_path / "deep.json"
    path.write_text("[" * 10_000 + "]" * 10_000, encoding="utf-8")
    return path


def deep_yaml(tmp_path: Path) -> Path:
    """Write a YAML flow list nested 10,000 deep."""
    return write(tmp_path, "deep.yaml", "[" * 10_000 + "]" * 10_000)


def text_bomb(aliases: int, length: int = 60_000) -> str:
    """Return YAML whose one long string is repeated by ``aliases`` aliases."""
    repeats = "".join([", *text"] * aliases)
    return (
        "tasks:\n"
        "  - connector: CRMSystem\n"
        "    operation: create_contact\n"
        f"    params: {{name: [&text {'x' * length}{repeats}], email: e@example.com}}\n"
    )


def text_bomb_yaml(tmp_path: Path) -> Path:
    """Write 200 KB of YAML that expands to 1.2 GB of text through its aliases."""
    return write(tmp_path, "text_bomb.yaml", text_bomb(20_000))


def deep_alias_yaml(tmp_path: Path) -> Path:
    """Write YAML 20 deep whose alias, itself 20 deep, nests it 40 deep."""
    deep = "[" * 20 + "1" + "]" * 20
    return write(
        tmp_path, "deep_alias.yaml", f"a: &a {deep}\nb: {'[' * 19}*a{']' * 19}"
    )


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (huge_json, r"^File '.*huge\.json' is over max_bytes=1,000,000; split the"),
        (deep_json, r"^File '.*deep\.json' is nested too deeply; flatten it$"),
        (deep_yaml, r"^File '.*deep\.yaml' is nested deeper than max_depth=32"),
        (
            text_bomb_yaml,
            r"^File '.*text_bomb\.yaml' expands to more than 10,000,000 bytes of "
            r"text, counting what each alias repeats; write the tasks out plainly "
            r"or raise max_bytes$",
        ),
        (
            deep_alias_yaml,
            r"^File '.*deep_alias\.yaml' is nested deeper than max_depth=32",
        ),
    ],
)
def test_a_huge_or_deep_file_is_refused_with_nothing_run_or_sent(
    make: Callable[[Path], Path],
    match: str,
    tmp_path: Path,
    client: FiscusClient,
    api: respx.MockRouter,
) -> None:
    path = make(tmp_path)

    with audited() as events, pytest.raises(TaskDefinitionError, match=match) as caught:
        client.execute(tasks=load_tasks(path))

    assert (caught.value.index, caught.value.field) == (None, "file")
    assert events == []
    assert not api.calls


@pytest.mark.parametrize("name", ["huge.json", "huge.yaml"])
def test_a_huge_file_is_refused_before_parsing(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_parse(*args: object, **kwargs: object) -> object:
        raise AssertionError("parsed")

    for module, function in ((json, "loads"), (yaml, "parse"), (yaml, "safe_load")):
        monkeypatch.setattr(module, function, no_parse)
    path = huge_json(tmp_path).rename(tmp_path / name)  # JSON is YAML too

    with pytest.raises(TaskDefinitionError, match="is over max_bytes=1,000,000"):
        load_tasks(path)


def test_a_nested_json_file_names_the_task_and_field_too_deep() -> None:
    params = {"body": {"a": [[[[[[{"b": 1}]]]]]]}}
    text = json.dumps(
        {"tasks": [{"connector": "c", "operation": "o", "params": params}]}
    )

    with pytest.raises(TaskDefinitionError, match="deeper than max_depth=6") as caught:
        load_tasks_text(text, format="json", max_depth=6)

    assert (caught.value.index, caught.value.field) == (0, "params.body.a.0")


def test_a_yaml_file_may_expand_to_the_text_limit_and_no_further() -> None:
    limit = MAX_EXPANDED_BYTES
    # The anchored string once, then 165 aliases: 166 copies of 60,000 bytes,
    # plus the other scalars, stays under 10,000,000; 167 copies do not.
    tasks = load_tasks_text(text_bomb(165), format="yaml")
    params = tasks[0]["params"]
    assert isinstance(params, dict)
    assert len(params["name"]) == 166

    with pytest.raises(TaskDefinitionError, match=f"more than {limit:,} bytes"):
        load_tasks_text(text_bomb(166), format="yaml")


def test_a_larger_max_bytes_raises_the_expansion_limit_with_it() -> None:
    tasks = load_tasks_text(text_bomb(200), format="yaml", max_bytes=20_000_000)

    params = tasks[0]["params"]
    assert isinstance(params, dict)
    assert len(params["name"]) == 201


def deep_alias(lists: int) -> str:
    """Return a task whose param nests ``lists`` lists around an alias 10 deep."""
    deep = "[" * 10 + "1" + "]" * 10
    around = "[" * lists + "*a" + "]" * lists
    return (
        "tasks:\n"
        "  - connector: c\n"
        "    operation: o\n"
        f"    params: {{q: &a {deep}, p: {around}}}\n"
    )


def test_an_alias_counts_its_depth_where_it_is_repeated() -> None:
    # The root, the task list, the task and params are 4 deep: 4 + 18 + 10 = 32.
    tasks = load_tasks_text(deep_alias(18), format="yaml")
    assert tasks[0]["operation"] == "o"

    with pytest.raises(TaskDefinitionError, match="deeper than max_depth=32") as caught:
        load_tasks_text(deep_alias(19), format="yaml")
    assert (caught.value.index, caught.value.field) == (None, "file")


def test_a_long_yaml_problem_keeps_its_line_when_cut() -> None:
    text = "tasks: []\nx: !!python/object/apply:" + "x" * 300 + " []\n"

    with pytest.raises(TaskDefinitionError) as caught:
        load_tasks_text(text, format="yaml")

    message = str(caught.value)
    assert message.startswith(
        "The given YAML text is not valid YAML (line 2): could not determine a "
        "constructor for the tag 'tag:yaml.org,2002:python/object/apply:xxx"
    )
    assert message.endswith("x…; write plain YAML")


def test_a_json_file_of_too_many_values_is_refused() -> None:
    text = json.dumps({"tasks": [0] * MAX_NODES})

    with pytest.raises(TaskDefinitionError, match="holds more than 100,000 values"):
        load_tasks_text(text, format="json")


# ---------------------------------------------------------------- file errors


def test_an_unknown_extension_is_refused_without_reading(tmp_path: Path) -> None:
    with pytest.raises(
        TaskDefinitionError,
        match=r"has the extension '\.txt'; name it \.yaml, \.yml or \.json",
    ) as caught:
        load_tasks(tmp_path / "missing.txt")

    assert (caught.value.index, caught.value.field) == (None, "file")


def test_a_missing_file_raises_the_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_tasks(tmp_path / "missing.yaml")


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("- {connector: Café}".encode("latin-1"))

    with pytest.raises(TaskDefinitionError, match=r"is not UTF-8 text \(byte 17\)"):
        load_tasks(path)


@pytest.mark.parametrize("text", ["x" * 11, "é" * 6])
def test_text_over_max_bytes_is_refused(text: str) -> None:
    with pytest.raises(
        TaskDefinitionError, match="given YAML text is over max_bytes=10"
    ):
        load_tasks_text(text, format="yaml", max_bytes=10)


def test_an_unknown_text_format_is_refused() -> None:
    with pytest.raises(TaskDefinitionError, match="has an unknown format") as caught:
        load_tasks_text("[]", format="toml")  # type: ignore[arg-type]  # on purpose

    assert (caught.value.index, caught.value.field) == (None, "format")


@pytest.mark.parametrize("limit", ["max_bytes", "max_depth", "max_tasks"])
def test_limits_must_be_positive(limit: str) -> None:
    with pytest.raises(ConfigurationError, match="must each be at least 1"):
        load_tasks_text("[]", format="json", **{limit: 0})  # type: ignore[arg-type]  # kwargs


def test_a_registry_entry_that_is_not_a_function_is_refused() -> None:
    with pytest.raises(
        TaskDefinitionError, match="The registry maps 'x' to a int; map names to"
    ) as caught:
        load_tasks_text("[]", format="json", registry={"x": 1})  # type: ignore[dict-item]  # on purpose

    assert (caught.value.index, caught.value.field) == (None, "registry")


@pytest.mark.parametrize(
    ("text", "file_format", "index", "field", "match"),
    [
        (
            "- [a\n",
            "yaml",
            None,
            "file",
            r"not valid YAML \(line 2\): expected ',' or ']'",
        ),
        ("- a\x00\n", "yaml", None, "file", "unacceptable character #x0000"),
        ("- " + "1" * 5000, "yaml", None, "file", "not valid YAML: Exceeds the limit"),
        ("- *nowhere\n", "yaml", None, "file", r"alias '\*nowhere' \(line 1\)"),
        ("? [a]\n: b\n", "yaml", None, "file", r"\(line 1\): found unhashable key"),
        (
            "[{",
            "json",
            None,
            "file",
            r"not valid JSON: Expecting .* \(line 1, column 3\)",
        ),
        (
            "[" + "1" * 5000 + "]",
            "json",
            None,
            "file",
            "not valid JSON: Exceeds the limit",
        ),
        ("hello", "yaml", None, "tasks", "holds a string; write a list of tasks"),
        ('{"tasks": []}', "json", None, "tasks", "has no tasks"),
        (
            '{"tasks": [], "v": 1}',
            "json",
            None,
            "v",
            "field 'v' is not a key of a task",
        ),
        ("{1: a}", "yaml", None, "tasks", "has a key that is an integer, not text"),
        ("- ~: a", "yaml", 0, "task", "has a key that is null, not text"),
        (
            "- connector: .nan",
            "yaml",
            0,
            "connector",
            "is a number a task file cannot hold",
        ),
        (
            "tasks:\n- {connector: c, operation: o, params: {day: 2024-01-01}}",
            "yaml",
            0,
            "params.day",
            "is a date a task file cannot hold: JSON values only, .*; quote dates",
        ),
        (
            json.dumps([{"connector": "x" * 70_000}]),
            "json",
            0,
            "connector",
            "is a string a task file cannot hold",
        ),
        (
            '["create_contact"]',
            "json",
            0,
            "task",
            "field 'task' must be a mapping; a task's keys",
        ),
        (
            '[{"connector": "c"}]',
            "json",
            0,
            "operation",
            "'operation' is required; give a name",
        ),
        (
            '[{"connector": ""}]',
            "json",
            0,
            "connector",
            "at least 1 character; give a name",
        ),
        (
            '[{"connector": "c", "operation": "o", "depends_on": [1]}]',
            "json",
            0,
            "depends_on",
            "is invalid: .*; depends_on is a task id or a list of task ids",
        ),
        (
            '[{"connector": "c", "operation": "o", "callbacks": {"on_done": "x"}}]',
            "json",
            0,
            "callbacks.on_done",
            "Input should be 'fiscus_on_success', .*; callbacks map",
        ),
        (
            json.dumps(
                [
                    {
                        "connector": "c",
                        "operation": "o",
                        "conditions": {"if": {"eq": [1, 1]}, "else": 1},
                    }
                ]
            ),
            "json",
            0,
            "conditions.else",
            "is not allowed here; write conditions as",
        ),
        (
            '[{"connector": "c", "operation": "o", "conditions": {}}]',
            "json",
            0,
            "conditions.if",
            "is required; write conditions as",
        ),
    ],
)
def test_a_bad_document_names_the_task_and_field(
    text: str, file_format: str, index: int | None, field: str, match: str
) -> None:
    with pytest.raises(TaskDefinitionError, match=match) as caught:
        load_tasks_text(text, format=file_format)  # type: ignore[arg-type]  # a str

    assert (caught.value.index, caught.value.field) == (index, field)


def test_more_tasks_than_max_tasks_are_refused() -> None:
    text = json.dumps([{"connector": "c", "operation": "o"}] * 3)

    with pytest.raises(
        TaskDefinitionError, match="has 3 tasks, over max_tasks=2"
    ) as caught:
        load_tasks_text(text, format="json", max_tasks=2)

    assert (caught.value.index, caught.value.field) == (None, "tasks")


# ---------------------------------------------------------------- names and expressions

TWO: Final = "- {connector: CRMSystem, operation: create_contact}\n"


@pytest.mark.parametrize(
    ("task", "field", "match"),
    [
        (
            "{connector: G, operation: o, conditions: {if: {succeeded: nobody}}}",
            "conditions.if.succeeded",
            r"names 'nobody', which is no task's id or operation; the tasks before "
            r"go by \['create_contact'\]",
        ),
        (
            "{connector: G, operation: o, id: me, conditions: {if: {failed: me}}}",
            "conditions.if.failed",
            "names 'me', which is task 1; a task can only name the tasks before it",
        ),
        (
            "{connector: G, operation: o, depends_on: [create_contact, later]}",
            "depends_on",
            "names 'later', which is task 2",
        ),
        (
            "{connector: G, operation: o, params: {to: '{{nobody.email}}'}}",
            "params.to",
            "names 'nobody', which is no task's id",
        ),
        (
            "{connector: G, operation: o, conditions: {if: {eq: ['{{x._y}}', 1]}}}",
            "conditions.if.eq.0",
            r"has the template '\{\{x._y\}\}', whose path has a name starting",
        ),
        (
            "{connector: G, operation: o, conditions: {if: {in: [1, 2]}}}",
            "conditions.if.in.1",
            r"must be a list, or a '\{\{task.field\}\}' template of one",
        ),
        (
            "{connector: G, operation: o, conditions: {if: {in: [1, 'a {{x}}']}}}",
            "conditions.if.in.1",
            "must be a list",
        ),
        (
            "{connector: G, operation: o, conditions: {if: {succeeded: null}}}",
            "conditions.if.succeeded",
            "is null; give it a value",
        ),
        (
            "{connector: G, operation: o, conditions: {if: {eq: null}}}",
            "conditions.if.eq",
            "is null",
        ),
        (
            "{connector: G, operation: o, conditions: {if: {or: null}}}",
            "conditions.if.or",
            "is null",
        ),
        (
            "{connector: G, operation: o, conditions: {if: {and: []}}}",
            "conditions.if.and",
            "List should have at least 1 item",
        ),
        (
            "{connector: G, operation: o, conditions: {if: {eq: [1]}}}",
            "conditions.if.eq",
            "lacks an item; write conditions",
        ),
        (
            "{connector: G, operation: o, conditions: {if: {ne: [1, 2, 3]}}}",
            "conditions.if.ne",
            "Tuple should have at most 2 items",
        ),
        (
            "{connector: G, operation: o, conditions: {if: {not: {and: [{eq: 1}]}}}}",
            "conditions.if.not.and.0.eq",
            "is invalid",
        ),
        (
            "{connector: G, operation: o, conditions: {if: {eq: [1, 2], ne: [1, 2]}}}",
            "conditions.if",
            "is not one expression",
        ),
        (
            "{connector: G, operation: o, callbacks: {fiscus_on_log: nowhere}}",
            "callbacks.fiscus_on_log",
            r"names 'nowhere', which is not registered; the registered names are "
            r"\['known'\]; pass registry=",
        ),
    ],
)
def test_a_bad_name_or_expression_names_the_task_and_field(
    task: str, field: str, match: str
) -> None:
    text = f"{TWO}- {task}\n- {{connector: G, operation: o2, id: later}}\n"

    with pytest.raises(TaskDefinitionError, match=match) as caught:
        load_tasks_text(text, format="yaml", registry={"known": print})

    assert (caught.value.index, caught.value.field) == (1, field)


def test_a_name_shared_by_two_tasks_is_ambiguous() -> None:
    text = TWO * 2 + "- {connector: G, operation: o, depends_on: create_contact}\n"

    with pytest.raises(
        TaskDefinitionError,
        match=r"'create_contact', which is the name of tasks \[0, 1\]; give them ids",
    ) as caught:
        load_tasks_text(text, format="yaml")

    assert (caught.value.index, caught.value.field) == (2, "depends_on")


def test_a_repeated_id_is_refused() -> None:
    text = (
        "- {connector: c, operation: a, id: x}\n- {connector: c, operation: b, id: x}\n"
    )

    with pytest.raises(
        TaskDefinitionError, match="'x' is taken; ids must be unique"
    ) as caught:
        load_tasks_text(text, format="yaml")

    assert (caught.value.index, caught.value.field) == (1, "id")


def test_yaml_anchors_aliases_and_merge_keys_are_plain_data() -> None:
    text = """\
- &first {connector: CRMSystem, operation: create_contact, id: first}
- <<: *first
  id: second
  params: {name: &name John Doe, email: john@example.com, alias: *name}
"""

    tasks = load_tasks_text(text, format="yaml")

    assert tasks[1] == {
        "connector": "CRMSystem",
        "operation": "create_contact",
        "id": "second",
        "params": {
            "name": "John Doe",
            "email": "john@example.com",
            "alias": "John Doe",
        },
    }


SKIP_ON_ERROR_YAML = """
- connector: CRMSystem
  operation: create_contact
  params: {name: John Doe, email: john@example.com}
  on_error: skip
- id: on_failure
  connector: Gmail
  operation: alert
  params: {reason: contact failed}
  conditions: {if: {failed: create_contact}}
- id: on_skip
  connector: Gmail
  operation: alert
  params: {reason: contact skipped}
  conditions: {if: {skipped: create_contact}}
"""


def test_outcomes_are_what_the_run_recorded(
    client: FiscusClient, api: respx.MockRouter
) -> None:
    """A failure that on_error turns into a skip reads as skipped, not failed."""
    api.routes["contacts"].respond(500)

    response = client.execute(tasks=load_tasks_text(SKIP_ON_ERROR_YAML, format="yaml"))

    first = (response.results or [])[0]
    assert (first.status, first.success) == ("skipped", True)
    assert sent(api, "alerts") == [{"reason": "contact skipped"}]
