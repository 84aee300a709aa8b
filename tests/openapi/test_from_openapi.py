"""``Connector.from_openapi``: operations, signatures, types and auth from a document.

Calls go through respx here (the contract tests against Prism serving the
same documents are in ``test_contract.py``). The documents are the
published ones copied under ``specs/``.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Literal, get_args

import pytest
import respx
from pydantic import BaseModel

from fiscus_dsl import ArgumentValidationError, ConfigurationError, Connector, Secret

SPECS = Path(__file__).parent / "specs"
PETSTORE = SPECS / "petstore.yaml"
CONTACTS = SPECS / "tsg_mc_contacts_v3.json"
MAIL = SPECS / "tsg_mail_v3.json"
BASE = "https://pets.example.test/v1"


def petstore() -> Connector:
    return Connector.from_openapi(PETSTORE, name="OpenApiPets", base_url=BASE)


def test_operations_are_named_after_their_operation_id_in_snake_case() -> None:
    pets = petstore()

    assert list(pets.operations) == ["list_pets", "create_pets", "show_pet_by_id"]
    assert pets.show_pet_by_id is pets.operations["show_pet_by_id"]
    show = inspect.signature(pets.show_pet_by_id)
    assert list(show.parameters) == ["pet_id"]
    assert show.parameters["pet_id"].kind is inspect.Parameter.KEYWORD_ONLY
    pet = pets.models["Pet"]
    assert isinstance(pet, type)
    assert issubclass(pet, BaseModel)
    assert show.return_annotation is pet
    assert set(pet.model_fields) == {"id", "name", "tag"}


def test_a_call_sends_the_documented_request_and_validates_the_answer() -> None:
    pets = petstore()
    with respx.mock(base_url=BASE, assert_all_called=True) as api:
        listed = api.get("/pets", params={"limit": "2"}).respond(
            json=[{"id": 1, "name": "Rex"}]
        )
        shown = api.get("/pets/a%2Fb").respond(
            json={"id": 2, "name": "Tom", "tag": "cat"}
        )

        answer = pets.list_pets(limit=2)
        one = pets.show_pet_by_id(pet_id="a/b")

    assert listed.called
    assert shown.called
    assert [pet.name for pet in answer] == ["Rex"]
    assert one.tag == "cat"


def test_a_call_that_breaks_the_contract_fails_before_anything_is_sent() -> None:
    pets = petstore()
    with respx.mock(base_url=BASE, assert_all_called=False) as api:
        anything = api.route().respond(200, json=[])
        with pytest.raises(ArgumentValidationError) as raised:
            pets.list_pets(limit="many")  # the point: not an int

    assert not anything.called
    assert "limit" in str(raised.value)
    assert "list_pets" in str(raised.value)


def test_a_body_is_a_model_of_the_documented_schema() -> None:
    pets = petstore()
    pet = pets.models["Pet"]
    assert isinstance(pet, type)
    with respx.mock(base_url=BASE) as api:
        created = api.post("/pets").respond(201)
        pets.create_pets(body=pet(id=7, name="Rex"))

    # An optional field left unset is not sent (the schema's tag is no null).
    assert json.loads(created.calls.last.request.content) == {"id": 7, "name": "Rex"}


def test_the_sendgrid_contacts_document_builds_with_bearer_auth() -> None:
    contacts = Connector.from_openapi(CONTACTS, auth=Secret("SG.test-key"))

    assert len(contacts.operations) == 15
    assert contacts.base_url == "https://api.sendgrid.com"
    assert "SG.test-key" not in repr(contacts)
    assert type(contacts.auth).__name__ == "BearerAuth"
    search = inspect.signature(contacts.search_contact)
    assert list(search.parameters) == ["body"]


def test_operations_builds_only_those_named_and_refuses_unknown_ones() -> None:
    contacts = Connector.from_openapi(
        CONTACTS, auth="SG.k", operations=["get_contact", "list_contact_count"]
    )
    assert sorted(contacts.operations) == ["get_contact", "list_contact_count"]

    with pytest.raises(ConfigurationError, match="no operation 'get_contacts'"):
        Connector.from_openapi(CONTACTS, auth="SG.k", operations=["get_contacts"])


def write(tmp_path: Path, document: dict[str, Any], name: str = "api.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def document(paths: dict[str, Any], **components: Any) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Doc", "version": "1"},
        "servers": [{"url": "https://doc.example.test"}],
        "paths": paths,
        "components": components,
    }


def test_schema_kinds_become_python_types(tmp_path: Path) -> None:
    schemas = {
        "Base": {
            "type": "object",
            "properties": {"id": {"type": "string"}},
            "required": ["id"],
        },
        "Item": {
            "allOf": [
                {"$ref": "#/components/schemas/Base"},
                {
                    "type": "object",
                    "properties": {
                        "kind": {"enum": ["a", "b"]},
                        "note": {"type": ["string", "null"]},
                        "extra": {
                            "type": "object",
                            "additionalProperties": {"type": "integer"},
                        },
                        "either": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
                        "first-name": {"type": "string"},
                    },
                },
            ]
        },
    }
    path = write(
        tmp_path,
        document(
            {
                "/items/{itemId}": {
                    "get": {
                        "operationId": "getItem",
                        "parameters": [
                            {
                                "name": "itemId",
                                "in": "path",
                                "required": True,
                                "schema": {"type": "string"},
                            }
                        ],
                        "responses": {
                            "200": {
                                "content": {
                                    "application/json": {
                                        "schema": {"$ref": "#/components/schemas/Item"}
                                    }
                                }
                            }
                        },
                    }
                }
            },
            schemas=schemas,
        ),
    )

    api = Connector.from_openapi(path, name="Kinds")

    item = api.models["Item"]
    assert isinstance(item, type)
    assert issubclass(item, BaseModel)
    fields = item.model_fields
    assert fields["id"].is_required()
    assert get_args(fields["kind"].annotation)[0] == Literal["a", "b"]
    assert fields["first_name"].alias == "first-name"
    parsed = item.model_validate(
        {
            "id": "i1",
            "kind": "a",
            "note": None,
            "extra": {"x": 1},
            "either": 3,
            "first-name": "Ada",
        }
    )
    assert parsed.first_name == "Ada"  # type: ignore[attr-defined]  # a model made at run time
    assert inspect.signature(api.get_item).return_annotation is item


def test_a_relative_ref_reads_the_other_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"Pet": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "models.json",
    )
    path = write(
        tmp_path,
        document(
            {
                "/pets": {
                    "get": {
                        "operationId": "listPets",
                        "responses": {
                            "200": {
                                "content": {
                                    "application/json": {
                                        "schema": {
                                            "type": "array",
                                            "items": {"$ref": "models.json#/Pet"},
                                        }
                                    }
                                }
                            }
                        },
                    }
                }
            }
        ),
    )

    api = Connector.from_openapi(path, name="Refs")

    (pet,) = get_args(inspect.signature(api.list_pets).return_annotation)
    assert pet.__name__ == "Pet"
    assert set(pet.model_fields) == {"name"}


@pytest.mark.parametrize(
    ("operation", "place"),
    [
        (
            {
                "parameters": [
                    {"name": "s", "in": "cookie", "schema": {"type": "string"}}
                ]
            },
            "cookie parameter 's'",
        ),
        (
            {"requestBody": {"content": {"multipart/form-data": {"schema": {}}}}},
            "multipart/form-data request body",
        ),
        (
            {
                "responses": {
                    "200": {
                        "content": {
                            "application/json": {"schema": {"not": {"type": "string"}}}
                        }
                    }
                }
            },
            "uses 'not' at #/paths/~1x/post/responses/200",
        ),
    ],
)
def test_what_is_not_supported_is_an_error_naming_the_place(
    tmp_path: Path, operation: dict[str, Any], place: str
) -> None:
    path = write(
        tmp_path, document({"/x": {"post": {"operationId": "doIt", **operation}}})
    )

    with pytest.raises(ConfigurationError) as raised:
        Connector.from_openapi(path, name="Unsupported")

    assert place in str(raised.value)
    assert "operations=[...]" in str(raised.value)


def test_a_document_without_a_server_needs_a_base_url(tmp_path: Path) -> None:
    served = document({})
    del served["servers"]
    path = write(tmp_path, served)

    with pytest.raises(ConfigurationError, match="names no server"):
        Connector.from_openapi(path)
    given = Connector.from_openapi(path, base_url="https://x.example.test")
    assert str(given.base_url) == "https://x.example.test"


def test_not_openapi_3_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, {"swagger": "2.0", "paths": {}})

    with pytest.raises(ConfigurationError, match="not OpenAPI 3"):
        Connector.from_openapi(path)
    with pytest.raises(ConfigurationError, match="No OpenAPI document at"):
        Connector.from_openapi(tmp_path / "missing.yaml")


def test_auth_that_does_not_fit_the_scheme_is_refused() -> None:
    with pytest.raises(
        ConfigurationError, match="does not fit the document's security"
    ):
        Connector.from_openapi(CONTACTS, auth=("user", "password"))


def secured(tmp_path: Path, scheme: dict[str, Any]) -> Path:
    served = document(
        {"/things": {"get": {"operationId": "listThings", "responses": {"204": {}}}}},
        securitySchemes={"main": scheme},
    )
    return write(tmp_path, served, "secured.json")


@pytest.mark.parametrize(
    ("scheme", "credentials", "made", "sent"),
    [
        (
            {"type": "http", "scheme": "bearer"},
            "tok-1",
            "BearerAuth",
            ("authorization", "Bearer tok-1"),
        ),
        (
            {"type": "http", "scheme": "basic"},
            ("ada", "pw-2"),
            "BasicAuth",
            ("authorization", "Basic YWRhOnB3LTI="),
        ),
        (
            {"type": "apiKey", "in": "header", "name": "X-Key"},
            "key-3",
            "ApiKeyAuth",
            ("x-key", "key-3"),
        ),
    ],
)
def test_auth_follows_the_documents_security_scheme(
    tmp_path: Path,
    scheme: dict[str, Any],
    credentials: object,
    made: str,
    sent: tuple[str, str],
) -> None:
    api = Connector.from_openapi(
        secured(tmp_path, scheme), name=f"Secured{made}", auth=credentials
    )

    assert type(api.auth).__name__ == made
    with respx.mock(base_url="https://doc.example.test") as router:
        route = router.get("/things").respond(204)
        api.list_things()
    header, value = sent
    assert route.calls.last.request.headers[header] == value


def test_an_api_key_in_the_query_and_oauth2_client_credentials(tmp_path: Path) -> None:
    in_query = Connector.from_openapi(
        secured(tmp_path, {"type": "apiKey", "in": "query", "name": "key"}),
        name="QueryKey",
        auth="key-4",
    )
    oauth = Connector.from_openapi(
        secured(
            tmp_path,
            {
                "type": "oauth2",
                "flows": {
                    "clientCredentials": {
                        "tokenUrl": "https://doc.example.test/token",
                        "scopes": {"read": "Read"},
                    }
                },
            },
        ),
        name="OAuthDoc",
        auth={"client_id": "c1", "client_secret": "s1"},
    )

    assert type(in_query.auth).__name__ == "ApiKeyAuth"
    with respx.mock(base_url="https://doc.example.test") as router:
        route = router.get("/things").respond(204)
        in_query.list_things()
    assert route.calls.last.request.url.params["key"] == "key-4"
    assert type(oauth.auth).__name__ == "OAuth2ClientCredentials"
    assert "s1" not in repr(oauth)


def test_the_whole_sendgrid_v3_api_builds() -> None:
    sendgrid = Connector.from_openapi(
        SPECS / "sendgrid_v3.json", name="SendGridV3", auth="SG.k"
    )

    assert len(sendgrid.operations) == 334
    delete = inspect.signature(sendgrid.operations["delete_access_settings_whitelist"])
    assert (
        delete.return_annotation is None
    )  # a 204 has no content, whatever it declares


def test_a_document_is_read_from_a_url() -> None:
    text = PETSTORE.read_text()
    with respx.mock() as router:
        router.get("https://specs.example.test/petstore.yaml").respond(200, text=text)
        router.get("https://specs.example.test/missing.yaml").respond(404)

        pets = Connector.from_openapi(
            "https://specs.example.test/petstore.yaml", name="UrlPets"
        )
        with pytest.raises(
            ConfigurationError, match="Cannot fetch the OpenAPI document"
        ):
            Connector.from_openapi("https://specs.example.test/missing.yaml")

    assert list(pets.operations) == ["list_pets", "create_pets", "show_pet_by_id"]
