"""``fiscus connectors generate``: a document's connector as a module to commit.

Each document of ``specs/`` is generated into the test's directory and
imported by its path; its operations must be those ``Connector.from_openapi``
builds (names, routes, parameters), calls go through respx, and the module
passes ``mypy --strict`` on its own (the slow test).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import respx
from typer.testing import CliRunner

from fiscus_dsl import ConfigurationError, Connector
from fiscus_dsl._cli import app
from fiscus_dsl._connectors.openapi import load_document, read_operations
from fiscus_dsl._connectors.openapi_codegen import generate_module

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType

SPECS = Path(__file__).parent / "specs"
DOCUMENTS = ["petstore.yaml", "tsg_mc_contacts_v3.json", "tsg_mail_v3.json"]
PETS = "https://pets.example.test/v1"
SENDGRID = "https://api.sendgrid.com"


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[Any]:
    """Return a function writing a document's module into tmp_path and importing it."""
    names: list[str] = []

    def make(document: str, **options: Any) -> ModuleType:
        path = tmp_path / f"{Path(document).stem}.py"
        path.write_text(generate_module(SPECS / document, **options))
        name = f"generated_{Path(document).stem}_{len(names)}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # pydantic resolves the models' annotations here
        names.append(name)
        spec.loader.exec_module(module)
        return module

    yield make
    for name in names:
        sys.modules.pop(name, None)


def declared_routes(module: ModuleType) -> dict[str, str]:
    """Return each function's route, as its decorator in the module's source says."""
    tree = ast.parse(Path(str(module.__file__)).read_text())
    routes = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            (decorator,) = node.decorator_list
            assert isinstance(decorator, ast.Call)
            (route,) = decorator.args
            assert isinstance(route, ast.Constant)
            assert isinstance(route.value, str)
            routes[node.name] = route.value
    return routes


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_module_declares_the_operations_from_openapi_builds(
    generated: Any, document: str
) -> None:
    module = generated(document)
    built = Connector.from_openapi(
        SPECS / document, auth=None if document == "petstore.yaml" else "SG.k"
    )
    drafts, _ = read_operations(
        load_document(SPECS / document), connector="x", only=None
    )

    connector = next(
        value for value in vars(module).values() if isinstance(value, Connector)
    )
    assert list(connector.operations) == list(built.operations)
    assert declared_routes(module) == {draft.name: draft.route for draft in drafts}
    for name, task in built.operations.items():
        ours = inspect.signature(connector.operations[name]).parameters
        theirs = inspect.signature(task).parameters
        assert list(ours) == list(theirs), name
        assert [p.default for p in ours.values()] == [
            p.default for p in theirs.values()
        ], name
    assert str(connector.base_url) == str(built.base_url)


def test_a_petstore_call_sends_the_request_and_parses_the_generated_model(
    generated: Any,
) -> None:
    pets = generated("petstore.yaml", name="Pets", base_url=PETS)
    with respx.mock(base_url=PETS, assert_all_called=True) as api:
        listed = api.get("/pets", params={"limit": "2"}).respond(
            json=[{"id": 1, "name": "Rex"}]
        )
        created = api.post("/pets").respond(201)
        shown = api.get("/pets/7").respond(json={"id": 7, "name": "Tom"})

        answer = pets.list_pets(limit=2)
        pets.create_pets(body=pets.Pet(id=7, name="Tom", tag="cat"))
        one = pets.show_pet_by_id(pet_id="7")

    assert listed.called
    assert shown.called
    assert [type(pet) for pet in answer] == [pets.Pet]
    assert answer[0].name == "Rex"
    assert isinstance(one, pets.Pet)
    assert json.loads(created.calls.last.request.content) == {
        "id": 7,
        "name": "Tom",
        "tag": "cat",
    }


def test_a_sendgrid_call_sends_the_body_and_the_secret_from_the_environment(
    generated: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.from-env")
    contacts = generated("tsg_mc_contacts_v3.json", name="SendGrid")
    with respx.mock(base_url=SENDGRID, assert_all_called=True) as api:
        searched = api.post("/v3/marketing/contacts/search").respond(
            json={"result": [], "contact_count": 0, "_metadata": {"self": "x"}}
        )

        answer = contacts.search_contact(
            body=contacts.SearchContactBody(query="email LIKE 'a%'")
        )

    request = searched.calls.last.request
    assert request.headers["Authorization"] == "Bearer SG.from-env"
    assert json.loads(request.content) == {"query": "email LIKE 'a%'"}
    assert isinstance(answer, contacts.SearchContactResponse)
    assert answer.field_metadata is not None
    assert answer.field_metadata.self == "x"


def test_a_header_parameter_is_sent_under_its_wire_name(
    generated: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.k")
    mail = generated("tsg_mail_v3.json", name="SendGrid", operations=["get_mail_batch"])
    with respx.mock(base_url=SENDGRID, assert_all_called=True) as api:
        batch = api.get("/v3/mail/batch/b1").respond(json={"batch_id": "b1"})

        answer = mail.get_mail_batch(batch_id="b1", on_behalf_of="sub")

    assert batch.calls.last.request.headers["on-behalf-of"] == "sub"
    assert isinstance(answer, mail.MailBatchResponse)
    assert answer.batch_id == "b1"
    assert list(mail.send_grid.operations) == ["get_mail_batch"]


@pytest.mark.slow
@pytest.mark.parametrize("document", ["petstore.yaml", "tsg_mc_contacts_v3.json"])
def test_the_module_passes_mypy_strict_alone(tmp_path: Path, document: str) -> None:
    path = tmp_path / "connector.py"
    path.write_text(generate_module(SPECS / document))

    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stdout + done.stderr


def test_the_module_is_formatted(tmp_path: Path) -> None:
    path = tmp_path / "connector.py"
    path.write_text(generate_module(SPECS / "tsg_mail_v3.json"))

    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--isolated", "--check", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr


def test_the_command_writes_the_module(tmp_path: Path) -> None:
    target = tmp_path / "pets.py"

    result = CliRunner().invoke(
        app,
        [
            "connectors",
            "generate",
            str(SPECS / "petstore.yaml"),
            "-o",
            str(target),
            "--name",
            "Pets",
            "--base-url",
            PETS,
            "--operations",
            "list_pets, show_pet_by_id",
        ],
    )

    assert result.exit_code == 0, result.output
    assert result.output == f"Wrote {target}: 2 operations\n"
    source = target.read_text()
    assert f'pets = Connector("Pets", "{PETS}")' in source
    assert "def show_pet_by_id(*, pet_id: str) -> Pet:" in source
    assert "create_pets" not in source


def test_the_command_prints_the_module_without_an_output_file() -> None:
    result = CliRunner().invoke(
        app, ["connectors", "generate", str(SPECS / "tsg_mail_v3.json")]
    )

    assert result.exit_code == 0, result.output
    assert "auth=BearerAuth(Secret.from_env(" in result.output
    assert "security scheme 'BearerAuth' (http, bearer)" in result.output


def test_the_command_refuses_an_unknown_operation_as_bad_usage() -> None:
    result = CliRunner().invoke(
        app,
        [
            "connectors",
            "generate",
            str(SPECS / "petstore.yaml"),
            "--operations",
            "list_pet",
        ],
    )

    assert result.exit_code == 2
    assert "no operation 'list_pet'" in result.stderr


def test_a_document_without_a_server_needs_a_base_url(tmp_path: Path) -> None:
    path = tmp_path / "api.json"
    path.write_text(
        json.dumps({"openapi": "3.1.0", "info": {"title": "T"}, "paths": {}})
    )

    with pytest.raises(ConfigurationError, match="names no server") as raised:
        generate_module(path)

    assert raised.value.option == "base_url"
    assert 'Connector("T", "https://t.example.test")' in generate_module(
        path, base_url="https://t.example.test"
    )
