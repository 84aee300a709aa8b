"""Calls obey the contract: from_openapi operations against Prism on their document.

Prism validates every request against the document (a request that
breaks it gets 400, 401 or 422, listed in ``sl-violations``) and answers a
valid one with the document's example, which the operation then validates
against its return annotation. A call that breaks the contract fails in
fiscus_dsl first, naming the operation and the parameter, and nothing is
sent.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import json
import sys
from pathlib import Path
from typing import Any, Final

import pytest
from pydantic import BaseModel

from fiscus_dsl import ArgumentValidationError, Connector, Secret, Task, TracingError
from fiscus_dsl._connectors.openapi import METHODS, Document, load_document
from fiscus_dsl._connectors.openapi_codegen import generate_module
from fiscus_dsl._connectors.openapi_types import python_name

SPECS: Final = Path(__file__).parent / "specs"
TOKEN: Final = Secret("SG.contract-test-key")

#: (document, operation, arguments): calls that meet the contract.
VALID: Final[list[tuple[str, str, dict[str, Any]]]] = [
    ("petstore.yaml", "list_pets", {"limit": 2}),
    ("petstore.yaml", "list_pets", {}),
    ("petstore.yaml", "show_pet_by_id", {"pet_id": "7"}),
    ("petstore.yaml", "create_pets", {"body": {"id": 7, "name": "Rex"}}),
    ("tsg_mc_contacts_v3.json", "list_contact", {}),
    ("tsg_mc_contacts_v3.json", "list_contact_count", {}),
    ("tsg_mc_contacts_v3.json", "get_contact", {"id": "c1"}),
    ("tsg_mc_contacts_v3.json", "get_export_contact", {"id": "e1"}),
    ("tsg_mc_contacts_v3.json", "get_import_contact", {"id": "i1"}),
    ("tsg_mc_contacts_v3.json", "list_export_contact", {}),
    ("tsg_mc_contacts_v3.json", "delete_contact", {"ids": "c1,c2"}),
    (
        "tsg_mc_contacts_v3.json",
        "update_contact",
        {"body": {"contacts": [{"email": "ada@example.com"}]}},
    ),
    (
        "tsg_mc_contacts_v3.json",
        "search_contact",
        {"body": {"query": "email LIKE 'a%'"}},
    ),
    ("tsg_mc_contacts_v3.json", "list_batched_contact", {"body": {"ids": ["c1"]}}),
    (
        "tsg_mc_contacts_v3.json",
        "list_contact_by_email",
        {"body": {"emails": ["ada@example.com"]}},
    ),
    ("tsg_mail_v3.json", "create_mail_batch", {}),
    ("tsg_mail_v3.json", "get_mail_batch", {"batch_id": "b1", "on_behalf_of": "sub"}),
]

#: (document, operation, arguments, parameter): calls that break the contract.
INVALID: Final[list[tuple[str, str, dict[str, Any], str]]] = [
    ("petstore.yaml", "list_pets", {"limit": "many"}, "limit"),
    ("petstore.yaml", "create_pets", {"body": {"id": "seven", "name": "Rex"}}, "body"),
    (
        "tsg_mc_contacts_v3.json",
        "get_contact_by_identifiers",
        {"identifier_type": "fax"},
        "identifier_type",
    ),
    (
        "tsg_mc_contacts_v3.json",
        "list_batched_contact",
        {"body": {"ids": "c1"}},
        "body",
    ),
]


@functools.cache  # one connector per document and server: the v3 one has 334 tasks
def connector(document: str, base_url: str) -> Connector:
    return Connector.from_openapi(
        SPECS / document,
        name=f"Contract{document.split('.')[0].title().replace('_', '')}",
        base_url=base_url,
        auth=None if document == "petstore.yaml" else TOKEN,
    )


@pytest.mark.parametrize(
    ("prism", "operation", "arguments"),
    [pytest.param(d, o, a, id=f"{d}:{o}") for d, o, a in VALID],
    indirect=["prism"],
)
def test_a_call_that_meets_the_contract_gets_the_validated_answer(
    prism: str, operation: str, arguments: dict[str, Any]
) -> None:
    document = next(d for d, o, _ in VALID if o == operation)
    task: Task[..., Any] = connector(document, prism).operations[operation]

    answer = task(**arguments)

    returns = inspect.signature(task).return_annotation
    if isinstance(returns, type) and issubclass(returns, BaseModel):
        assert isinstance(answer, returns)
    elif returns is None:
        assert answer is None


@pytest.mark.parametrize(
    ("prism", "operation", "arguments", "parameter"),
    [pytest.param(d, o, a, p, id=f"{d}:{o}") for d, o, a, p in INVALID],
    indirect=["prism"],
)
def test_a_call_that_breaks_the_contract_fails_before_it_is_sent(
    prism: str, operation: str, arguments: dict[str, Any], parameter: str
) -> None:
    document = next(d for d, o, _, _ in INVALID if o == operation)
    task: Task[..., Any] = connector(document, prism).operations[operation]

    with pytest.raises(ArgumentValidationError) as raised:
        task(**arguments)

    assert operation in str(raised.value)
    assert parameter in str(raised.value)


#: Bodies for the operations whose document gives no example body.
BODIES: Final[dict[str, dict[str, Any]]] = {
    "create_pets": {"id": 7, "name": "Rex"},
    "update_contact": {"contacts": [{"email": "ada@example.com"}]},
    "import_contact": {"file_type": "csv", "field_mappings": ["e1"]},
}


def every_operation() -> list[Any]:
    """Return each operation of the three documents, with its documented arguments."""
    calls = []
    for document in ("petstore.yaml", "tsg_mc_contacts_v3.json", "tsg_mail_v3.json"):
        read = load_document(SPECS / document)
        for item in read.content["paths"].values():
            for method in METHODS:
                operation = item.get(method)
                if isinstance(operation, dict):
                    name = python_name(operation.get("operationId") or method)
                    arguments = documented_arguments(read, item, operation)
                    if name in BODIES:
                        arguments["body"] = BODIES[name]
                    calls.append(
                        pytest.param(document, name, arguments, id=f"{document}:{name}")
                    )
    return calls


def documented_arguments(
    read: Document, item: dict[str, Any], operation: dict[str, Any]
) -> dict[str, Any]:
    """Return the required parameters and the body, from the document's examples."""
    arguments: dict[str, Any] = {}
    for raw in [*item.get("parameters", []), *operation.get("parameters", [])]:
        spec = read.resolve(raw["$ref"], "test")[0] if "$ref" in raw else raw
        if spec["in"] == "path" or spec.get("required"):
            arguments[python_name(spec["name"])] = spec.get(
                "example", example(read, spec.get("schema"))
            )
    body = operation.get("requestBody")
    if body is not None:
        body = read.resolve(body["$ref"], "test")[0] if "$ref" in body else body
        content = body.get("content", {}).get("application/json", {})
        schema = content.get("schema") or {}
        schema = read.resolve(schema["$ref"], "test")[0] if "$ref" in schema else schema
        named = [value.get("value") for value in content.get("examples", {}).values()]
        arguments["body"] = schema.get(
            "example", content.get("example", named[0] if named else {})
        )
    return arguments


def example(read: Document, schema: dict[str, Any] | None) -> object:
    """Return a value of ``schema``: its example, its first enum, or one of its type."""
    schema = schema or {}
    if "$ref" in schema:
        schema = dict(read.resolve(schema["$ref"], "test")[0])
    if "example" in schema:
        return schema["example"]
    if "enum" in schema:
        return schema["enum"][0]
    return {"integer": 1, "number": 1.5, "boolean": True}.get(
        schema.get("type", ""), "x1"
    )


EVERY: Final = every_operation()


@pytest.mark.parametrize(("prism", "operation", "arguments"), EVERY, indirect=["prism"])
def test_every_operation_of_the_documents_meets_its_contract(
    prism: str, operation: str, arguments: dict[str, Any]
) -> None:
    """Each operation, called with its document's examples, gets a validated answer."""
    document = next(p.values[0] for p in EVERY if p.values[1] == operation)
    task: Task[..., Any] = connector(document, prism).operations[operation]

    answer = task(**arguments)

    returns = inspect.signature(task).return_annotation
    if isinstance(returns, type) and issubclass(returns, BaseModel):
        assert isinstance(answer, returns)


def test_every_sendgrid_operation_is_covered() -> None:
    sendgrid = [p for p in EVERY if str(p.values[0]).startswith("tsg")]
    assert len(sendgrid) == 18  # every operation of both SendGrid documents
    methods = {
        method
        for document in ("tsg_mc_contacts_v3.json", "tsg_mail_v3.json")
        for item in load_document(SPECS / document).content["paths"].values()
        for method in item
        if method in METHODS
    }
    assert methods == {"get", "post", "put", "delete"}


@pytest.mark.parametrize("prism", ["petstore.yaml"], indirect=True)
def test_the_generated_module_meets_the_contract_too(
    prism: str, tmp_path: Path
) -> None:
    """The generated form's calls, bodies included, are the ones Prism accepts."""
    path = tmp_path / "contract_pets.py"
    path.write_text(
        generate_module(SPECS / "petstore.yaml", name="GenPets", base_url=prism)
    )
    spec = importlib.util.spec_from_file_location("contract_pets", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["contract_pets"] = module  # pydantic resolves annotations here
    try:
        spec.loader.exec_module(module)
        module.create_pets(
            body=module.Pet(id=7, name="Rex")
        )  # no tag: not sent as null
        pets = module.list_pets(limit=2)
        with pytest.raises(ArgumentValidationError, match="limit"):
            module.list_pets(limit="many")
    finally:
        sys.modules.pop("contract_pets", None)

    assert all(isinstance(pet, module.Pet) for pet in pets)


@pytest.mark.parametrize("prism", ["tsg_mc_contacts_v3.json"], indirect=True)
def test_a_missing_required_parameter_fails_before_it_is_sent(prism: str) -> None:
    contacts = connector("tsg_mc_contacts_v3.json", prism)

    with pytest.raises(TracingError) as raised:  # the call does not bind
        contacts.get_contact()

    assert "get_contact" in str(raised.value)
    assert "missing 'id'" in str(raised.value)


SENDGRID_V3: Final = "sendgrid_v3.json"
#: The operations of the whole SendGrid v3 document checked against Prism.
CHECKED: Final[list[str]] = json.loads((SPECS / "sendgrid_v3_checked.json").read_text())


def sendgrid_v3_calls() -> list[Any]:
    """Return each checked operation of the SendGrid v3 document, with its arguments."""
    read = load_document(SPECS / SENDGRID_V3)
    calls = []
    for item in read.content["paths"].values():
        for method in METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            name = python_name(operation.get("operationId") or method)
            if name in CHECKED:
                arguments = documented_arguments(read, item, operation)
                calls.append(pytest.param(SENDGRID_V3, name, arguments, id=name))
    return calls


V3_CALLS: Final = sendgrid_v3_calls()


@pytest.mark.parametrize(
    ("prism", "operation", "arguments"), V3_CALLS, indirect=["prism"]
)
def test_the_sendgrid_v3_operations_meet_their_contract(
    prism: str, operation: str, arguments: dict[str, Any]
) -> None:
    """Each checked operation of the whole SendGrid v3 API gets a validated answer."""
    task: Task[..., Any] = connector(SENDGRID_V3, prism).operations[operation]

    answer = task(**arguments)

    returns = inspect.signature(task).return_annotation
    if isinstance(returns, type) and issubclass(returns, BaseModel):
        assert isinstance(answer, returns)


def test_the_checked_sendgrid_v3_operations_cover_every_method_and_place() -> None:
    read = load_document(SPECS / SENDGRID_V3)
    methods: set[str] = set()
    places: set[str] = set()
    for item in read.content["paths"].values():
        for method in METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            if python_name(operation.get("operationId") or method) not in CHECKED:
                continue
            methods.add(method)
            for raw in [*item.get("parameters", []), *operation.get("parameters", [])]:
                places.add(
                    (read.resolve(raw["$ref"], "t")[0] if "$ref" in raw else raw)["in"]
                )
            if "requestBody" in operation:
                places.add("body")

    assert len(V3_CALLS) == len(CHECKED) >= 30
    assert methods == {"get", "post", "put", "patch", "delete"}
    assert places == {"path", "query", "header", "body"}
