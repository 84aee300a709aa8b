"""``FiscusClient`` takes every option of the Fiscus SDK's client.

Each test names, in its docstring, the documented behaviour of Fiscus's
``FiscusClient(api_key, user_id=None, logging_level=None, log_to_file=False,
log_file_path=None, enable_audit_logging=False, connection_type=...,
response_format=..., retries=3, backoff_factor=0.5, context_loader=None,
context_saver=None, initialization_mode=..., initialization_async=False,
llm=None, memory=None, **kwargs)`` and of ``execute(...,
connection_type=None, response_format=None, user=None)`` that it checks,
and what fiscus_dsl makes of it: options of Fiscus's servers warn once
each, the others act in this process. Tasks run on the fake CRM and mail
API of ``fake_api`` (nothing leaves the process).
"""

from __future__ import annotations

import collections
import json
import logging
from typing import TYPE_CHECKING, Any

import pytest

from fiscus_dsl import (
    ConfigurationError,
    FiscusClient,
    FiscusErrorCode,
    FiscusResponse,
    FiscusWarning,
    OptionTypeError,
    Runner,
    TaskDefinitionError,
)
from fiscus_dsl._dict_api.enums import (
    FiscusConnectionType,
    FiscusExecutionType,
    FiscusInitType,
    FiscusLogLevel,
    FiscusResponseType,
    FiscusRestType,
)
from fiscus_dsl._runtime.end_user import current_end_user
from fiscus_dsl._users.user import FiscusUser

from .fake_api import CRM_TOKEN, FakeApi, connectors

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import httpx


JOHN = {"name": "John Doe", "email": "john@example.com"}
EMAIL = {"to": "john@example.com", "subject": "Welcome, John!", "body": "Hi"}
API_KEY = "fiscus_production_0123456789abcdef_PARITY"


class Member:
    """An end user as the runtime sees one: an id and a policy check."""

    def __init__(self, user_id: str) -> None:
        self._user_id = user_id

    @property
    def user_id(self) -> str:
        return self._user_id

    def authorize(self, connector: str, operation: str | None) -> None:
        return None


class Witness:
    """A gate for the fake API that records whom each request was sent for."""

    def __init__(self) -> None:
        self.users: list[object] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.users.append(current_end_user())


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """Return the ``fiscus_dsl`` logger, with its level and handlers put back after."""
    root = logging.getLogger("fiscus_dsl")
    level, handlers = root.level, list(root.handlers)
    yield root
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def crm_task(operation: str, **fields: object) -> dict[str, object]:
    connector = "Gmail" if operation == "send_email" else "CRMSystem"
    return {"connector": connector, "operation": operation, **fields}


# ---------------------------------------------------------------- the enums


def test_the_enums_have_the_fiscus_values() -> None:
    """Fiscus ``enums.py``: string values, and FiscusLogLevel.to_logging_level()."""
    assert [m.value for m in FiscusResponseType] == ["text", "json"]
    assert [m.value for m in FiscusConnectionType] == ["rest", "websocket"]
    assert [m.value for m in FiscusInitType] == ["lazy", "eager"]
    assert [m.value for m in FiscusExecutionType] == ["parallel", "sequential"]
    assert [m.value for m in FiscusRestType] == ["get", "post", "put", "delete"]
    assert {m.value: m.to_logging_level() for m in FiscusLogLevel} == {
        "Trace": 5,
        "Debug": logging.DEBUG,
        "Info": logging.INFO,
        "Warning": logging.WARNING,
        "Error": logging.ERROR,
        "Fatal": logging.CRITICAL,
    }
    assert FiscusResponseType("text") == "text"


# ---------------------------------------------------------------- server-only options


def test_an_api_key_warns_once_and_is_not_kept(api: FakeApi) -> None:
    """Fiscus: ``FiscusClient(api_key=...)``; here there is no server to send it to."""
    with pytest.warns(FiscusWarning, match=r"got api_key=, which authent") as caught:
        client = FiscusClient(connectors(api), api_key=API_KEY)

    assert len(caught) == 1
    assert caught[0].filename == __file__  # the warning points at this line
    assert API_KEY not in repr(client)
    assert API_KEY not in repr(vars(client))


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("connection_type", FiscusConnectionType.REST),
        ("initialization_mode", FiscusInitType.EAGER),
        ("initialization_async", True),
        ("llm", object()),
        ("memory", {"kind": "vector"}),
    ],
)
def test_each_server_option_warns_exactly_once(
    api: FakeApi, option: str, value: object
) -> None:
    """Fiscus: connection_type, initialization_mode/async, llm and memory."""
    options: dict[str, Any] = {option: value}
    with pytest.warns(FiscusWarning) as caught:
        client = FiscusClient(connectors(api), **options)

    assert [str(w.message).split(",")[0] for w in caught] == [
        f"FiscusClient got {option}="
    ]
    assert client.connectors  # the client works as without it


def test_every_server_option_given_warns_once_each(api: FakeApi) -> None:
    """Fiscus: the whole constructor of the Fiscus guide, server options included."""
    with pytest.warns(FiscusWarning) as caught:
        FiscusClient(
            connectors(api),
            api_key=API_KEY,
            connection_type=FiscusConnectionType.WEBSOCKET,
            initialization_mode=FiscusInitType.LAZY,
            initialization_async=False,
            llm="gpt",
            memory="vector",
        )

    named = sorted(str(w.message).split("=")[0].split()[-1] for w in caught)
    assert named == sorted(
        [
            "api_key",
            "connection_type",
            "initialization_mode",
            "initialization_async",
            "llm",
            "memory",
        ]
    )


def test_an_unknown_option_is_a_type_error_naming_each(api: FakeApi) -> None:
    """Fiscus: ``**kwargs`` took anything; here an unknown option is refused."""
    with pytest.raises(TypeError, match=r"unknown options: api_secret, timeout; it"):
        FiscusClient(connectors(api), timeout=3, api_secret="x")


def test_text_given_as_the_connectors_is_refused(api: FakeApi) -> None:
    """Fiscus: ``FiscusClient(api_key)`` was positional; here connectors come first."""
    with pytest.raises(OptionTypeError, match=r"takes its connectors first") as info:
        FiscusClient(API_KEY)  # type: ignore[arg-type]  # the point of the test

    assert info.value.option == "connectors"
    assert API_KEY not in str(info.value)


async def test_initialize_exists_and_is_not_needed(
    api: FakeApi, runner: Runner
) -> None:
    """Fiscus: ``initialize()`` and ``await initialize_async()``: nothing to do."""
    client = FiscusClient(connectors(api), runner=runner)

    client.initialize()
    await client.initialize_async()

    assert api.requests == []
    assert (await client.execute_async("CRMSystem", "list_contacts")).success


def test_execute_warns_of_connection_type_and_custom_options(
    api: FakeApi, runner: Runner
) -> None:
    """Fiscus: ``execute(..., custom_options=None, connection_type=None)``."""
    client = FiscusClient(connectors(api), runner=runner)

    with pytest.warns(FiscusWarning) as caught:
        response = client.execute(
            "CRMSystem",
            "create_contact",
            JOHN,
            connection_type="rest",
            custom_options={"priority": "high"},
        )

    assert [str(w.message).split("=")[0] for w in caught] == [
        "execute got connection_type",
        "execute got custom_options",
    ]
    assert {w.filename for w in caught} == {__file__}
    assert response.success


# ---------------------------------------------------------------- logging


@pytest.mark.parametrize(
    ("level", "number"),
    [
        (FiscusLogLevel.DEBUG, logging.DEBUG),
        (FiscusLogLevel.TRACE, 5),
        (FiscusLogLevel.FATAL, logging.CRITICAL),
        ("Warning", logging.WARNING),
        ("error", logging.ERROR),
        ("CRITICAL", logging.CRITICAL),
        (logging.INFO, logging.INFO),
    ],
)
def test_logging_level_sets_the_fiscus_dsl_logger(
    logger: logging.Logger, level: object, number: int
) -> None:
    """Fiscus: ``logging_level=FiscusLogLevel.DEBUG`` sets the SDK's log level."""
    FiscusClient(logging_level=level)  # type: ignore[arg-type]  # str and int too

    assert logger.level == number


@pytest.mark.parametrize("level", ["loud", -1, True, 2.5])
def test_a_bad_logging_level_is_refused(logger: logging.Logger, level: object) -> None:
    """Fiscus: ``logging_level`` is a FiscusLogLevel; other values are refused here."""
    before = logger.level

    with pytest.raises(OptionTypeError, match=r"logging_level=") as info:
        FiscusClient(logging_level=level)  # type: ignore[arg-type]  # the point

    assert info.value.option == "logging_level"
    assert logger.level == before


def test_log_to_file_writes_the_runs_log_scrubbed(
    logger: logging.Logger, runner: Runner, tmp_path: Path
) -> None:
    """Fiscus: ``log_to_file=True, log_file_path=...`` writes the log to a file."""
    api = FakeApi(echo_auth=True, failures=1, failure_status=401)
    path = tmp_path / "fiscus.log"
    client = FiscusClient(
        connectors(api),
        logging_level=FiscusLogLevel.INFO,
        log_to_file=True,
        log_file_path=path,
        retries=0,
        runner=runner,
    )

    response = client.execute("CRMSystem", "create_contact", JOHN)

    assert response.error_code is FiscusErrorCode.AUTH_FAILURE
    assert client.log_handler is not None
    client.log_handler.flush()
    text = path.read_text(encoding="utf-8")
    assert "workflow 'fiscus_tasks' started" in text
    assert "WARNING fiscus_dsl.task" in text  # the failed task
    assert "create_contact" in text
    assert CRM_TOKEN not in text


def test_a_second_client_shares_the_log_file_handler(
    logger: logging.Logger, tmp_path: Path
) -> None:
    """Fiscus: each client configures logging; one file gets one handler here."""
    path = tmp_path / "fiscus.log"
    first = FiscusClient(log_to_file=True, log_file_path=path)
    second = FiscusClient(log_file_path=str(path))

    assert first.log_handler is second.log_handler
    files = [h for h in logger.handlers if isinstance(h, logging.FileHandler)]
    assert len(files) == 1
    assert FiscusClient().log_handler is None


def test_audit_logging_is_kept_for_the_users(api: FakeApi) -> None:
    """Fiscus: ``enable_audit_logging=True`` turns on the audit trail."""
    assert FiscusClient(enable_audit_logging=True).audit_logging is True
    assert FiscusClient().audit_logging is False
    with pytest.raises(OptionTypeError, match=r"enable_audit_logging='yes'"):
        FiscusClient(enable_audit_logging="yes")  # type: ignore[arg-type]  # the point


# ---------------------------------------------------------------- users


def test_a_user_id_gives_the_client_a_user(api: FakeApi, runner: Runner) -> None:
    """Fiscus: with ``user_id``, ``client.user`` is a FiscusUser calls act for."""
    witness = Witness()
    client = FiscusClient(
        connectors(FakeApi(gate=witness)), user_id="user_123", runner=runner
    )

    response = client.execute("CRMSystem", "create_contact", JOHN)

    assert isinstance(client.user, FiscusUser)
    assert client.user.user_id == "user_123"
    assert response.success
    assert witness.users == [client.user]
    assert current_end_user() is None  # only inside the call


def test_execute_acts_for_the_user_it_is_given(runner: Runner) -> None:
    """Fiscus: stateful mode passes ``user=`` to each ``execute``."""
    witness = Witness()
    client = FiscusClient(
        connectors(FakeApi(gate=witness)), user_id="default", runner=runner
    )
    alice = Member("alice")

    response = client.execute(
        tasks=[crm_task("create_contact", params=JOHN), crm_task("list_contacts")],
        user=alice,
    )

    assert response.success
    assert witness.users == [alice, alice]


async def test_execute_async_acts_for_the_user_it_is_given(runner: Runner) -> None:
    """Fiscus: ``await execute_async(..., user=user)`` (same signature as execute)."""
    witness = Witness()
    client = FiscusClient(connectors(FakeApi(gate=witness)), runner=runner)
    bob = Member("bob")

    response = await client.execute_async("CRMSystem", "list_contacts", user=bob)

    assert response.success
    assert witness.users == [bob]


def test_a_user_that_is_not_an_end_user_is_refused(api: FakeApi) -> None:
    """Fiscus: "A FiscusUser instance must be provided" (``user=``)."""
    client = FiscusClient(connectors(api))

    with pytest.raises(TaskDefinitionError, match=r"got user=str, not an end user"):
        client.execute("CRMSystem", "list_contacts", user="alice")  # type: ignore[arg-type]  # the point

    assert api.requests == []


def test_execute_without_tasks_or_an_operation_is_a_value_error(api: FakeApi) -> None:
    """Fiscus: pass tasks or both connector and operation, else ``ValueError``."""
    client = FiscusClient(connectors(api))

    with pytest.raises(ValueError, match=r"^Pass tasks=\[...\], or both") as info:
        client.execute(connector_name="Gmail")

    assert isinstance(info.value, TaskDefinitionError)
    assert (info.value.index, info.value.field) == (None, "tasks")


# ---------------------------------------------------------------- response_format


def test_text_format_gives_one_operations_result_as_json_text(
    api: FakeApi, runner: Runner
) -> None:
    """Fiscus: ``response_format=FiscusResponseType.TEXT`` answers text."""
    client = FiscusClient(connectors(api), runner=runner)

    response = client.execute(
        "CRMSystem",
        "create_contact",
        JOHN,
        response_format=FiscusResponseType.TEXT,
    )

    assert isinstance(response.result, str)
    assert json.loads(response.result) == {"id": "c1", **JOHN}
    assert response.results is not None
    assert response.results[0].result == response.result
    assert response.data == response.result
    assert response.operation == "create_contact"


def test_text_format_for_a_task_list(api: FakeApi, runner: Runner) -> None:
    """Fiscus: ``response_format`` applies to a batch: each task and the whole."""
    seen: list[object] = []

    def remember(response: FiscusResponse) -> bool:
        seen.append(response.result)
        return True

    client = FiscusClient(
        connectors(api), response_format="text", retries=0, runner=runner
    )
    tasks = [
        crm_task(
            "create_contact",
            params=JOHN,
            custom_logic=remember,
        ),
        crm_task("get_contact", params={"contact_id": "c9"}),
        crm_task("send_email", params=EMAIL, conditions={"if": lambda ctx: False}),
    ]

    response = client.execute(tasks=tasks)

    created, missing, skipped = response.results or []
    assert isinstance(created.result, str)
    assert json.loads(created.result)["id"] == "c1"
    assert missing.result is None  # no result: none to turn into text
    assert skipped.result == "{}"
    assert isinstance(response.result, str)
    assert json.loads(response.result) == [{"id": "c1", **JOHN}, None, {}]
    assert seen == [api.contacts["c1"]]  # custom_logic saw the data itself
    assert response.context["create_contact"] is True


def test_a_call_can_ask_for_json_over_a_text_client(
    api: FakeApi, runner: Runner
) -> None:
    """Fiscus: ``execute(response_format=...)`` overrides the client's default."""
    client = FiscusClient(
        connectors(api), response_format=FiscusResponseType.TEXT, runner=runner
    )

    response = client.execute("CRMSystem", "list_contacts", response_format="json")

    assert response.result == []


def test_text_format_decodes_bytes_and_keeps_text(runner: Runner) -> None:
    """Fiscus: TEXT results are text: bytes decoded, a str as it is."""
    crm, _ = connectors(FakeApi())

    @crm.task
    async def export(client: httpx.AsyncClient) -> bytes:
        return "café;c1\n".encode()

    @crm.task
    async def status(client: httpx.AsyncClient) -> str:
        return "ok"

    client = FiscusClient([crm], response_format=FiscusResponseType.TEXT, runner=runner)

    response = client.execute(
        tasks=[crm_task("export"), crm_task("status")],
    )

    assert [r.result for r in response.results or []] == ["café;c1\n", "ok"]
    assert response.result == json.dumps(["café;c1\n", "ok"])


def test_a_bad_response_format_is_refused(api: FakeApi) -> None:
    """Fiscus: ``response_format`` is a FiscusResponseType."""
    with pytest.raises(OptionTypeError, match=r"response_format='xml'"):
        FiscusClient(connectors(api), response_format="xml")
    client = FiscusClient(connectors(api))
    with pytest.raises(OptionTypeError, match=r"response_format=3"):
        client.execute("CRMSystem", "list_contacts", response_format=3)  # type: ignore[arg-type]  # the point
    assert api.requests == []


# ---------------------------------------------------------------- custom_logic


def test_custom_logic_receives_the_tasks_fiscus_response(
    api: FakeApi, runner: Runner
) -> None:
    """Fiscus: ``custom_logic`` receives that task's ``FiscusResponse``."""
    got: list[Any] = []
    client = FiscusClient(connectors(api), retries=0, runner=runner)

    client.execute(
        tasks=[
            crm_task("create_contact", params=JOHN, custom_logic=got.append),
            crm_task(
                "get_contact", params={"contact_id": "c9"}, custom_logic=got.append
            ),
        ]
    )

    created, missing = got
    assert all(type(each) is FiscusResponse for each in got)
    assert created.success
    assert created.get_value("email") == JOHN["email"]
    assert created.data == {"id": "c1", **JOHN}  # the typed result, as plain data
    assert len(created.message_id) == 32
    assert not missing.success
    assert missing.has_error
    assert missing.error_details["status_code"] == 404
    assert missing["error"]["code"] == 1003


# ---------------------------------------------------------------- context


def test_context_loader_and_saver_wrap_each_call(api: FakeApi, runner: Runner) -> None:
    """Fiscus: ``context_loader`` loads a user's context; ``context_saver`` saves it."""
    saved: list[tuple[str | None, dict[str, object]]] = []
    loaded: list[str | None] = []

    def load(user_id: str | None) -> dict[str, object]:
        loaded.append(user_id)
        return {"plan": "pro", "create_contact": "stale"}

    client = FiscusClient(
        connectors(api),
        context_loader=load,
        context_saver=lambda user_id, context: saved.append((user_id, context)),
        runner=runner,
    )

    response = client.execute(
        tasks=[crm_task("create_contact", params=JOHN, custom_logic=lambda r: "new")],
        user=Member("alice"),
    )

    assert loaded == ["alice"]
    assert response.context == {"plan": "pro", "create_contact": "new"}
    assert saved == [("alice", {"plan": "pro", "create_contact": "new"})]


def test_the_fiscus_forms_of_loader_and_saver_take_no_user(
    api: FakeApi, runner: Runner
) -> None:
    """Fiscus's client: ``context_loader()`` and ``context_saver(context)``."""
    saved: list[dict[str, object]] = []
    client = FiscusClient(
        connectors(api),
        context_loader=lambda: {"tier": 2},
        context_saver=saved.append,
        runner=runner,
    )

    client.execute("CRMSystem", "list_contacts")

    assert saved == [{"tier": 2, "list_contacts": []}]


def test_conditions_see_the_loaded_context(api: FakeApi, runner: Runner) -> None:
    """Fiscus: conditions read the context; the loaded keys are in it."""
    client = FiscusClient(
        connectors(api),
        context_loader=lambda user_id: {"welcome": False},
        runner=runner,
    )

    response = client.execute(
        tasks=[
            crm_task(
                "send_email",
                params=EMAIL,
                conditions={"if": lambda ctx: ctx["welcome"]},
            )
        ]
    )

    assert response.results is not None
    assert response.results[0].skipped
    assert api.outbox == []


def test_a_loader_that_returns_no_dict_is_refused(api: FakeApi) -> None:
    """Fiscus: ``context_loader`` returns the context, a dict."""
    client = FiscusClient(
        connectors(api),
        context_loader=lambda user_id: ["x"],  # type: ignore[arg-type,return-value]  # the point
    )

    with pytest.raises(ConfigurationError, match=r"context_loader returned list"):
        client.execute("CRMSystem", "list_contacts")

    assert api.requests == []


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("context_loader", {"plan": "pro"}, r"pass a function, loader\(user_id\)"),
        ("context_saver", lambda a, b, c: None, r"takes neither form"),
    ],
)
def test_context_functions_of_the_wrong_shape_are_refused(
    option: str, value: object, message: str
) -> None:
    """Fiscus: ``context_loader``/``context_saver`` are callables."""
    options: dict[str, Any] = {option: value}
    with pytest.raises(OptionTypeError, match=message) as info:
        FiscusClient(**options)

    assert info.value.option == option


def test_the_tasks_entries_win_over_the_loaded_context(
    api: FakeApi, runner: Runner
) -> None:
    """Fiscus: a task's outcome is in the context under its operation's name."""
    client = FiscusClient(
        connectors(api),
        context_loader=lambda user_id: {"create_contact": False, "plan": "pro"},
        runner=runner,
    )

    response = client.execute(
        tasks=[
            crm_task("create_contact", params=JOHN, custom_logic=lambda r: r.success),
            crm_task(
                "send_email",
                params=EMAIL,
                conditions={"if": lambda ctx: ctx["create_contact"]},
            ),
        ]
    )

    assert response.success
    assert len(api.outbox) == 1  # the condition saw True, not the loaded False
    assert response.context == {
        "create_contact": True,
        "plan": "pro",
        "send_email": api.outbox[0],
    }


def test_a_plan_acts_for_the_user_with_the_loaded_context(api: FakeApi) -> None:
    """Fiscus: conditions and the context, planned for a user; nothing is saved."""
    loaded: list[str | None] = []
    saved: list[object] = []

    def load(user_id: str | None) -> dict[str, object]:
        loaded.append(user_id)
        return {"welcome": False}

    client = FiscusClient(
        connectors(api), context_loader=load, context_saver=saved.append
    )

    plan = client.plan(
        tasks=[
            crm_task(
                "send_email", params=EMAIL, conditions={"if": lambda c: c["welcome"]}
            )
        ],
        user=Member("carol"),
    )

    assert loaded == ["carol"]
    assert plan.step("send_email").status == "skipped"
    assert (api.requests, saved) == ([], [])


def test_a_loader_without_a_signature_is_called_with_the_user_id(
    api: FakeApi, runner: Runner
) -> None:
    """Fiscus: ``context_loader``; a builtin's form is unreadable: it gets the id."""
    client = FiscusClient(
        connectors(api), context_loader=collections.defaultdict, runner=runner
    )

    response = client.execute("CRMSystem", "list_contacts")  # defaultdict(None)

    assert response.context == {"list_contacts": []}


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"user_id": ""}, "user_id"),
        ({"user_id": 42}, "user_id"),
        ({"log_file_path": 3}, "log_file_path"),
        ({"log_to_file": "yes"}, "log_to_file"),
        ({"retries": "3"}, "retries"),
    ],
)
def test_options_of_the_wrong_type_are_refused(
    logger: logging.Logger, options: dict[str, Any], option: str
) -> None:
    """Fiscus: ``user_id: str``, ``log_file_path: str``, ``log_to_file: bool``."""
    with pytest.raises(OptionTypeError, match=rf"got {option}=") as info:
        FiscusClient(**options)

    assert info.value.option == option
    assert not [h for h in logger.handlers if isinstance(h, logging.FileHandler)]
