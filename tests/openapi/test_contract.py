"""Calls obey the contract: from_openapi operations against Prism on their document.

Prism validates every request against the document (a request that
breaks it gets 400, 401 or 422, listed in ``sl-violations``) and answers a
valid one with the document's example, which the operation then validates
against its return annotation. A call that breaks the contract fails in
fiscus_dsl first, naming the operation and the parameter, and nothing is
sent.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Final

import pytest
from pydantic import BaseModel

from fiscus_dsl import ArgumentValidationError, Connector, Secret, Task

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


def connector(document: str, base_url: str) -> Connector:
    return Connector.from_openapi(
        SPECS / document,
        name=f"Contract{document.split('.')[0].title().replace('_', '')}",
        base_url=base_url,
        auth=TOKEN if document.startswith("tsg") else None,
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
