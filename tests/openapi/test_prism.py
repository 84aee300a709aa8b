"""The Prism harness: raw HTTP calls show that Prism validates requests.

With Prism serving petstore.yaml, a GET that meets the contract gets 200
and JSON, and one whose ``limit`` is not an integer gets 422 (the
document's ``default`` response, as a 422). With it serving SendGrid's
contacts document, a bearer token is what the security requirement asks
for: without it, or with another scheme, Prism answers the document's own
401; a body that breaks the contract gets the operation's 400, since the
document defines a 400 and no 422. Every refusal lists its reasons in the
``sl-violations`` header. These are the answers the ``from_openapi``
tests rely on.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

import httpx
import pytest

from .prism import violations

PETSTORE: Final = pytest.mark.parametrize("prism", ["petstore.yaml"], indirect=True)
CONTACTS: Final = pytest.mark.parametrize(
    "prism", ["tsg_mc_contacts_v3.json"], indirect=True
)
BEARER: Final = {"Authorization": "Bearer SG.not-a-real-key"}
COUNT: Final = "/v3/marketing/contacts/count"
#: The example of the contacts document's ErrorResponse schema, its 401 body.
ERROR_EXAMPLE: Final = {"errors": [{"field": "field_name", "message": "error message"}]}
SECURITY_VIOLATION: Final = {
    "location": ["request"],
    "severity": "Error",
    "code": 401,
    "message": "Invalid security scheme used",
}


@PETSTORE
def test_a_request_that_meets_the_contract_gets_200_json(prism: str) -> None:
    response = httpx.get(f"{prism}/pets", params={"limit": 2})

    assert response.status_code == HTTPStatus.OK
    assert response.headers["content-type"] == "application/json"
    assert violations(response.headers) == []
    pets = response.json()
    assert isinstance(pets, list)
    assert pets
    for pet in pets:
        assert isinstance(pet["id"], int)
        assert isinstance(pet["name"], str)


@PETSTORE
def test_a_query_that_breaks_the_contract_gets_422(prism: str) -> None:
    response = httpx.get(f"{prism}/pets", params={"limit": "notanumber"})

    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert violations(response.headers) == [
        {
            "location": ["request", "query", "limit"],
            "severity": "Error",
            "code": "type",
            "message": "Request query parameter limit must be integer",
        }
    ]
    # The body is the document's default response, an Error.
    assert set(response.json()) == {"code", "message"}


@CONTACTS
def test_a_bearer_token_meets_the_security_requirement(prism: str) -> None:
    response = httpx.get(f"{prism}{COUNT}", headers=BEARER)

    assert response.status_code == HTTPStatus.OK
    assert violations(response.headers) == []
    assert isinstance(response.json()["contact_count"], int)


@CONTACTS
def test_a_request_without_credentials_gets_the_documents_401(prism: str) -> None:
    response = httpx.get(f"{prism}{COUNT}")

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert violations(response.headers) == [SECURITY_VIOLATION]
    assert response.json() == ERROR_EXAMPLE
    # Prism generates a WWW-Authenticate only for a document without a 401.
    assert "www-authenticate" not in response.headers


@CONTACTS
def test_another_authorization_scheme_gets_401(prism: str) -> None:
    response = httpx.get(f"{prism}{COUNT}", headers={"Authorization": "Basic Zm9v"})

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert violations(response.headers) == [SECURITY_VIOLATION]


@CONTACTS
def test_a_body_that_breaks_the_contract_gets_the_documents_400(prism: str) -> None:
    response = httpx.put(
        f"{prism}/v3/marketing/contacts", headers=BEARER, json={"contacts": "none"}
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert violations(response.headers) == [
        {
            "location": ["request", "body", "contacts"],
            "severity": "Error",
            "code": "type",
            "message": "Request body property contacts must be array",
        }
    ]
