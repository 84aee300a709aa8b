"""``fiscus connectors generate`` on small inline documents: auth, schemas, tools.

Each test writes an OpenAPI 3.1 document (3.0 where it says so) into the
test's directory, generates its module there, checks the source written
and imports it; calls go through respx.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import TYPE_CHECKING, Any, Final

import httpx
import pytest
import respx

from fiscus_dsl import ConfigurationError
from fiscus_dsl._connectors import openapi_codegen
from fiscus_dsl._connectors.openapi_codegen import generate_module

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from types import ModuleType

    Generated = Callable[[dict[str, Any]], tuple[str, ModuleType]]

URL = "https://shop.example.test"
THING = "#/components/schemas/Thing"


def document(
    paths: dict[str, Any],
    *,
    schemas: dict[str, Any] | None = None,
    schemes: dict[str, Any] | None = None,
    version: str = "3.1.0",
) -> dict[str, Any]:
    """Return a document of the Shop API with a server, paths and components."""
    components: dict[str, Any] = {}
    if schemas:
        components["schemas"] = schemas
    if schemes:
        components["securitySchemes"] = schemes
    return {
        "openapi": version,
        "info": {"title": "Shop", "version": "1"},
        "servers": [{"url": URL}],
        "paths": paths,
        "components": components,
    }


def answering(schema: dict[str, Any]) -> dict[str, Any]:
    """Return paths with one ``get_thing`` answering ``schema`` as JSON."""
    content = {"application/json": {"schema": schema}}
    return {
        "/thing": {
            "get": {
                "operationId": "get_thing",
                "responses": {"200": {"description": "ok", "content": content}},
            }
        }
    }


@pytest.fixture
def written(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    """Return a function writing a document as JSON into tmp_path."""

    def write(content: dict[str, Any]) -> Path:
        path = tmp_path / "shop.json"
        path.write_text(json.dumps(content))
        return path

    return write


@pytest.fixture
def generated(
    tmp_path: Path, written: Callable[[dict[str, Any]], Path]
) -> Iterator[Generated]:
    """Return a function generating a document's module, importing it by path."""
    names: list[str] = []

    def make(content: dict[str, Any]) -> tuple[str, ModuleType]:
        source = generate_module(written(content))
        name = f"generated_shop_{len(names)}"
        path = tmp_path / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # pydantic resolves the models' annotations here
        names.append(name)
        spec.loader.exec_module(module)
        return source, module

    yield make
    for name in names:
        sys.modules.pop(name, None)


# ---------------------------------------------------------------- auth


@pytest.mark.parametrize(
    ("scheme", "auth", "comment"),
    [
        (
            {"type": "http", "scheme": "basic"},
            'auth=BasicAuth("shop-user", Secret.from_env("SHOP_PASSWORD", defer=True))',
            "# auth: the document's security scheme 'main' (http, basic)",
        ),
        (
            {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            'auth=ApiKeyAuth(Secret.from_env("SHOP_API_KEY", defer=True), '
            'header="X-Api-Key")',
            "# auth: the document's security scheme 'main' (apiKey, header)",
        ),
        (
            {"type": "apiKey", "in": "query", "name": "key"},
            'auth=ApiKeyAuth(Secret.from_env("SHOP_API_KEY", defer=True), query="key")',
            "# auth: the document's security scheme 'main' (apiKey, query)",
        ),
    ],
    ids=["basic", "api-key-header", "api-key-query"],
)
def test_the_connector_reads_its_secret_from_the_environment_when_first_sent(
    generated: Generated, scheme: dict[str, Any], auth: str, comment: str
) -> None:
    content = document(answering({"type": "string"}), schemes={"main": scheme})

    source, module = generated(content)

    assert auth in source
    assert f"{comment}; the secret is read when first sent\n" in source
    assert module.shop.operations["get_thing"] is module.get_thing


OAUTH2: Final = {
    "type": "oauth2",
    "flows": {
        "clientCredentials": {
            "tokenUrl": f"{URL}/token",
            "scopes": {"read": "Read", "write": "Write"},
        }
    },
}


def test_an_oauth2_connector_reads_its_client_secret_from_the_environment(
    generated: Generated, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_CLIENT_SECRET", "s3cret")
    content = document(answering({"type": "string"}), schemes={"main": OAUTH2})

    source, module = generated(content)

    assert (
        "# auth: the document's security scheme 'main' (oauth2, client credentials);"
        " the secret is read when first sent\n"
    ) in source
    assert (
        f'auth=OAuth2ClientCredentials(\n        "{URL}/token",\n'
        '        "shop-client-id",\n'
        '        Secret.from_env("SHOP_CLIENT_SECRET", defer=True),\n'
        '        scopes=["read", "write"],\n    ),'
    ) in source
    assert module.shop.operations["get_thing"] is module.get_thing


def test_an_oauth2_module_imports_without_its_client_secret(
    generated: Generated, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOP_CLIENT_SECRET", raising=False)
    content = document(answering({"type": "string"}), schemes={"main": OAUTH2})

    _, module = generated(content)  # the secret is read when a token is fetched

    assert list(module.shop.operations) == ["get_thing"]
    assert module.shop.auth._endpoint.client_secret.missing == "SHOP_CLIENT_SECRET"


def test_a_scheme_it_cannot_read_is_named_in_a_comment_and_gives_no_auth(
    generated: Generated,
) -> None:
    schemes = {
        "oidc": {"type": "openIdConnect", "openIdConnectUrl": f"{URL}/.well-known"},
        "cookie": {"type": "apiKey", "in": "cookie", "name": "sid"},
    }

    source, module = generated(document(answering({"type": "string"}), schemes=schemes))

    assert "# auth: none of ['cookie', 'oidc'] is read; give auth=\n" in source
    assert 'shop = Connector("Shop", "https://shop.example.test")\n' in source
    assert "Secret" not in source
    assert list(module.shop.operations) == ["get_thing"]


# ---------------------------------------------------------------- models


def test_component_models_keep_unions_maps_enums_and_a_cycle(
    generated: Generated,
) -> None:
    node = "#/components/schemas/Node"
    schemas = {
        "Thing": {
            "type": "object",
            "properties": {
                "kind": {"enum": ["a", "b", None]},
                "value": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                "other": {"anyOf": [{"type": "boolean"}, {"$ref": node}]},
                "tags": {
                    "type": "object",
                    "patternProperties": {"^x-": {"type": "integer"}},
                },
                "extra": {"type": "object", "additionalProperties": {"type": "string"}},
                "maybe": {"type": ["string", "null"]},
            },
        },
        "Node": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": node}},
            },
        },
    }

    source, module = generated(document(answering({"$ref": THING}), schemas=schemas))

    assert "    children: list[Node] | None = None\n" in source
    assert '    kind: Literal["a", "b"] | None = None\n' in source
    assert "    value: str | int | None = None\n" in source
    assert "    other: bool | Node | None = None\n" in source
    assert "    extra: dict[str, str] | None = None\n" in source
    assert "    maybe: str | None = None\n" in source
    assert "def get_thing() -> Thing:" in source
    thing = module.Thing.model_validate(
        {
            "kind": "a",
            "value": 3,
            "other": {"name": "root", "children": [{"name": "leaf"}]},
            "tags": {"x-a": 1},
            "extra": {"k": "v"},
            "maybe": None,
        }
    )
    assert thing.other.children[0].name == "leaf"
    assert thing.tags == {"x-a": 1}
    assert thing.maybe is None


def test_a_closed_object_model_refuses_extra_properties(generated: Generated) -> None:
    schemas = {
        "Thing": {
            "type": "object",
            "properties": {"closed": {"type": "object", "additionalProperties": False}},
        }
    }

    _, module = generated(document(answering({"$ref": THING}), schemas=schemas))

    assert module.Thing.model_validate({"closed": {}}).closed == {}
    with pytest.raises(ValueError, match="closed"):
        module.Thing.model_validate({"closed": {"a": 1}})


@pytest.mark.parametrize(
    ("schema", "annotation", "sample"),
    [
        ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, "str | int", 7),
        ({"anyOf": [{"type": "boolean"}, {}]}, "Any", [1]),
        (
            {"type": "object", "patternProperties": {"^a": {"type": "integer"}}},
            "dict[str, int]",
            {"ab": 1},
        ),
        (
            {"type": "object", "additionalProperties": {"type": "string"}},
            "dict[str, str]",
            {"k": "v"},
        ),
        (
            {"type": "object", "additionalProperties": False},
            "dict[str, Any]",
            {},
        ),
        ({"enum": ["a", "b", None]}, 'Literal["a", "b"]', "b"),
        ({"enum": [None]}, "Any", None),
        ({"const": "on"}, 'Literal["on"]', "on"),
        ({"type": ["string", "null"]}, "str | None", None),
        ({"type": ["string", "integer"]}, "Any", 1),
        (
            {"type": "array", "items": {"type": "integer"}},
            "list[int]",
            [1, 2],
        ),
    ],
    ids=[
        "one-of",
        "any-of-with-any",
        "pattern-properties",
        "additional-properties",
        "additional-properties-false",
        "enum",
        "enum-of-null",
        "const",
        "type-with-null",
        "two-types",
        "array",
    ],
)
def test_an_inline_answer_is_annotated_and_validated(
    generated: Generated, schema: dict[str, Any], annotation: str, sample: object
) -> None:
    source, module = generated(document(answering(schema)))

    assert f"def get_thing() -> {annotation}:" in source
    with respx.mock(base_url=URL, assert_all_called=True) as api:
        api.get("/thing").respond(json=sample)
        assert module.get_thing() == sample


def test_a_nullable_answer_of_openapi_3_0_may_be_null(generated: Generated) -> None:
    content = document(answering({"type": "string", "nullable": True}), version="3.0.3")

    source, module = generated(content)

    assert "def get_thing() -> str | None:" in source
    with respx.mock(base_url=URL, assert_all_called=True) as api:
        api.get("/thing").respond(json=None)
        assert module.get_thing() is None


def test_a_cycle_of_arrays_stays_loose_inside(generated: Generated) -> None:
    schemas = {
        "Tree": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}}
    }

    source, module = generated(
        document(answering({"$ref": "#/components/schemas/Tree"}), schemas=schemas)
    )

    assert "def get_thing() -> list[dict[str, Any]]:" in source
    with respx.mock(base_url=URL, assert_all_called=True) as api:
        api.get("/thing").respond(json=[{"a": 1}])
        assert module.get_thing() == [{"a": 1}]


def test_inline_models_of_all_of_and_nullable_objects_are_classes(
    generated: Generated,
) -> None:
    schema = {
        "type": "array",
        "items": {
            "allOf": [
                {"type": ["object", "null"], "properties": {"id": {"type": "integer"}}}
            ]
        },
    }

    source, module = generated(document(answering(schema)))

    assert "def get_thing() -> list[GetThingResponseItem]:" in source
    with respx.mock(base_url=URL, assert_all_called=True) as api:
        api.get("/thing").respond(json=[{"id": 1}])
        (item,) = module.get_thing()
    assert isinstance(item, module.GetThingResponseItem)


def test_models_named_as_an_import_or_twice_are_renamed(generated: Generated) -> None:
    schemas = {
        "Query": {"type": "object", "properties": {"q": {"type": "string"}}},
        "GetThingResponse": {"type": "object", "properties": {"a": {"type": "string"}}},
    }
    reply = {
        "type": "object",
        "properties": {
            "query": {"$ref": "#/components/schemas/Query"},
            "other": {"$ref": "#/components/schemas/GetThingResponse"},
        },
    }

    source, module = generated(document(answering(reply), schemas=schemas))

    assert "class QueryModel(OpenAPIModel):" in source
    assert "def get_thing() -> GetThingResponse:" in source
    assert "    other: GetThingResponse2 | None = None\n" in source
    answer = module.GetThingResponse.model_validate(
        {"query": {"q": "x"}, "other": {"a": "y"}}
    )
    assert isinstance(answer.query, module.QueryModel)
    assert isinstance(answer.other, module.GetThingResponse2)


# ---------------------------------------------------------------- operations


def test_parameters_keep_their_wire_names_and_a_text_answer_is_the_response(
    generated: Generated,
) -> None:
    parameters = [
        {"name": "X-Request-Id", "in": "header", "required": True, "schema": {}},
        {"name": "page-size", "in": "query", "schema": {"type": "integer"}},
        {"name": "class", "in": "query", "schema": {"type": "string"}},
    ]
    text = {"text/csv": {"schema": {"type": "string"}}}
    paths = {
        "/items": {
            "get": {
                "parameters": parameters,
                "responses": {"200": {"description": "ok", "content": text}},
            }
        }
    }

    source, module = generated(document(paths))

    assert (
        "def get_items(\n    *,\n"
        '    x_request_id: Annotated[Any, Header(alias="X-Request-Id")],\n'
        '    page_size: Annotated[int | None, Query(alias="page-size")] = None,\n'
        '    class_: Annotated[str | None, Query(alias="class")] = None,\n'
        ") -> httpx.Response:"
    ) in source
    with respx.mock(base_url=URL, assert_all_called=True) as api:
        route = api.get("/items").respond(text="a,b\n")
        answer = module.get_items(x_request_id="r1", page_size=2, class_="c")
    request = route.calls.last.request
    assert request.headers["X-Request-Id"] == "r1"
    assert dict(request.url.params) == {"page-size": "2", "class": "c"}
    assert isinstance(answer, httpx.Response)
    assert answer.text == "a,b\n"


def test_answers_without_content_or_success_return_none(generated: Generated) -> None:
    paths = {
        "/ping": {
            "post": {"responses": {"204": {"description": "done"}}},
            "delete": {"responses": {"404": {"description": "gone"}}},
        }
    }

    source, module = generated(document(paths))

    assert "def post_ping() -> None:" in source
    assert "def delete_ping() -> None:" in source
    assert list(module.shop.operations) == ["post_ping", "delete_ping"]


def test_a_connector_named_as_an_operation_takes_a_suffix(
    generated: Generated,
) -> None:
    content = document(answering({"type": "string"}))
    content["info"]["title"] = "get_thing"

    source, module = generated(content)

    assert 'get_thing_connector = Connector("get_thing",' in source
    assert list(module.get_thing_connector.operations) == ["get_thing"]


# ---------------------------------------------------------------- tools


def test_models_need_datamodel_code_generator(
    written: Callable[[dict[str, Any]], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    find_spec = importlib.util.find_spec

    def hidden(name: str, package: str | None = None) -> Any:
        return None if name == openapi_codegen.GENERATOR else find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", hidden)
    path = written(document(answering({"type": "object", "properties": {"a": {}}})))

    with pytest.raises(
        ConfigurationError, match="not installed; pip install"
    ) as raised:
        generate_module(path)

    assert raised.value.option == "source"


def test_a_document_without_models_needs_no_model_generator(
    written: Callable[[dict[str, Any]], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openapi_codegen, "GENERATOR", "no_such_generator")

    source = generate_module(written(document(answering({"type": "string"}))))

    assert "def get_thing() -> str:" in source


def test_a_tool_that_fails_names_itself_and_its_exit_status(
    written: Callable[[dict[str, Any]], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # json.tool exists but refuses datamodel-code-generator's options (exit 2)
    monkeypatch.setattr(openapi_codegen, "GENERATOR", "json.tool")
    path = written(document(answering({"type": "object", "properties": {"a": {}}})))

    with pytest.raises(
        ConfigurationError, match=r"^datamodel-codegen failed \(exit 2\)"
    ) as raised:
        generate_module(path)

    assert raised.value.option == "source"


def test_a_model_the_generator_renames_is_refused(
    written: Callable[[dict[str, Any]], Path],
) -> None:
    schemas = {"OpenAPIModel": {"type": "object", "properties": {"a": {}}}}
    path = written(
        document(
            answering({"$ref": "#/components/schemas/OpenAPIModel"}), schemas=schemas
        )
    )

    with pytest.raises(
        ConfigurationError, match=r"named the models \['OpenAPIModel'\] otherwise"
    ) as raised:
        generate_module(path)

    assert raised.value.option == "source"
