"""``Connector.from_openapi``: a connector of an OpenAPI document's operations.

``load_document`` reads a document from a path (JSON or YAML), a URL or an
already parsed mapping; ``$ref``s resolve within it and into relative
files. ``read_operations`` turns each operation into what
``Connector.operation`` takes: a route (``METHOD /path/{param}``, path
placeholders renamed to the Python names of their parameters) and a
function with a real signature: path, query and header parameters
(``Annotated[..., Query(alias=...)]``, ``Header(alias=...)``), a JSON
request body as one ``body`` parameter (``Body()``) of a pydantic model,
and the first 2xx JSON response's type as the return annotation, so that
answers are validated. Operations are named after their ``operationId`` in
snake_case (``GetContact`` → ``get_contact``), or ``method_path`` without
one (``get_pets_pet_id``). OpenAPI 3.0 and 3.1.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, final
from urllib.parse import urljoin, urlparse
from urllib.request import url2pathname

import httpx
import yaml

from fiscus_dsl._connectors.openapi_types import SchemaTypes, optional, python_name
from fiscus_dsl._connectors.request import Body, Header, Query
from fiscus_dsl.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from fiscus_dsl._connectors.connector import Connector

METHODS: Final = ("get", "put", "post", "delete", "patch", "head", "options")
MODULE: Final = "fiscus_dsl.openapi"


@final
@dataclass(frozen=True, slots=True)
class Document:
    """A parsed OpenAPI document and where it came from (for relative ``$ref``s)."""

    content: Mapping[str, Any]
    origin: str | None

    def resolve(self, ref: str, where: str) -> tuple[Mapping[str, Any], str]:
        """Return the schema a ``$ref`` names, and its pointer.

        Raises:
            ConfigurationError: The reference names nothing, or a file that
                cannot be read.
        """
        location, _, pointer = ref.partition("#")
        document = self.content
        label = ref
        if location:
            if self.origin is None:
                msg = (
                    f"The $ref {ref!r} at {where} names another file, and the "
                    "document was given parsed: pass its path or URL instead"
                )
                raise ConfigurationError(msg, option="source")
            other = urljoin(self.origin, location)
            document, _ = _parsed(other)  # any JSON or YAML file, not a whole document
        node: Any = document
        for part in [p for p in pointer.split("/") if p]:
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or key not in node:
                msg = f"The $ref {label!r} at {where} names nothing in the document"
                raise ConfigurationError(msg, option="source")
            node = node[key]
        if not isinstance(node, dict):
            msg = f"The $ref {label!r} at {where} names a {type(node).__name__}"
            raise ConfigurationError(msg, option="source")
        if "$ref" in node:  # a reference to a reference
            return self.resolve(node["$ref"], label)
        return node, f"#{pointer}" if not location else label


def load_document(source: object) -> Document:
    """Read an OpenAPI document from a path, a URL or a parsed mapping.

    Raises:
        ConfigurationError: It cannot be read, or is not OpenAPI 3.
    """
    content, origin = _parsed(source)
    version = str(content.get("openapi", ""))
    if not version.startswith("3."):
        msg = (
            f"The document {origin or '(given parsed)'} is not OpenAPI 3 "
            f"(openapi: {version or 'missing'}); give an OpenAPI 3.0 or 3.1 document"
        )
        raise ConfigurationError(msg, option="source")
    return Document(content, origin)


def _parsed(source: object) -> tuple[dict[str, Any], str | None]:
    """Return a JSON or YAML mapping from a path, a URL or a mapping, and its origin."""
    if isinstance(source, dict):
        content: object = source
        origin = None
    else:
        text, origin = _read(source)
        try:
            content = (
                json.loads(text)
                if text.lstrip().startswith("{")
                else yaml.safe_load(text)
            )
        except (ValueError, yaml.YAMLError) as exc:
            msg = f"The OpenAPI document {origin} is neither JSON nor YAML: {exc}"
            raise ConfigurationError(msg, option="source") from None
    if not isinstance(content, dict):
        msg = (
            f"The OpenAPI file {origin} holds a {type(content).__name__}, not a mapping"
        )
        raise ConfigurationError(msg, option="source")
    return content, origin


def _read(source: object) -> tuple[str, str]:
    text = str(source)
    if text.startswith(("http://", "https://")):
        try:
            response = httpx.get(text, follow_redirects=True, timeout=30)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            msg = f"Cannot fetch the OpenAPI document {text}: {exc}"
            raise ConfigurationError(msg, option="source") from None
        return response.text, text
    path = (
        Path(url2pathname(urlparse(text).path))
        if text.startswith("file:")
        else Path(text)
    )
    if not path.is_file():
        msg = f"No OpenAPI document at {text}; give a path, a URL or a parsed dict"
        raise ConfigurationError(msg, option="source")
    return path.read_text(encoding="utf-8"), path.resolve().as_uri()


@final
@dataclass(frozen=True, slots=True)
class OperationDraft:
    """One operation of a document, ready for ``Connector.operation``."""

    name: str
    route: str
    function: Callable[..., object]


def read_operations(
    document: Document, *, connector: str, only: Sequence[str] | None
) -> tuple[list[OperationDraft], dict[str, object]]:
    """Return the document's operations (those named in ``only``) and its models.

    Raises:
        ConfigurationError: ``only`` names an operation the document lacks,
            or an operation uses what fiscus_dsl does not read.
    """
    types = SchemaTypes(document.resolve, module=f"{MODULE}.{python_name(connector)}")
    found: list[tuple[str, str, str, Mapping[str, Any], list[Any]]] = []
    for path, item in (document.content.get("paths") or {}).items():
        shared = list(item.get("parameters", []))
        for method in METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                name = _operation_name(operation, method, path)
                found.append((name, method, path, operation, shared))
    names = {entry[0] for entry in found}
    if only is not None:
        unknown = sorted(set(only) - names)
        if unknown:
            msg = (
                f"The OpenAPI document has no operation {unknown[0]!r}; its "
                f"operations are {sorted(names)}"
            )
            raise ConfigurationError(msg, option="operations")
    drafts = [
        _draft(document, types, name, method, path, operation, shared)
        for name, method, path, operation, shared in found
        if only is None or name in only
    ]
    return drafts, types.models


def _operation_name(operation: Mapping[str, Any], method: str, path: str) -> str:
    given = operation.get("operationId")
    if isinstance(given, str) and given:
        return python_name(given)
    return python_name(f"{method} {path}")


def _draft(
    document: Document,
    types: SchemaTypes,
    name: str,
    method: str,
    path: str,
    operation: Mapping[str, Any],
    shared: list[Any],
) -> OperationDraft:
    where = f"#/paths/{path.replace('~', '~0').replace('/', '~1')}/{method}"
    parameters: dict[tuple[str, str], Mapping[str, Any]] = {}
    for index, raw in enumerate([*shared, *operation.get("parameters", [])]):
        spec, _ = (
            document.resolve(raw["$ref"], f"{where}/parameters/{index}")
            if "$ref" in raw
            else (raw, where)
        )
        parameters[(spec["name"], spec["in"])] = spec  # the operation's own win
    signature: list[inspect.Parameter] = []
    route_path = path
    taken: set[str] = {"body"}  # a JSON body is the parameter named body
    for (wire, place), spec in parameters.items():
        python = _unique(python_name(wire), place, taken)
        required = bool(spec.get("required")) or place == "path"
        kind = types.type_of(
            spec.get("schema"), name + wire, f"{where}/parameters/{wire}"
        )
        if not required:
            kind = optional(kind)
        if place == "path":
            route_path = route_path.replace("{" + wire + "}", "{" + python + "}")
            annotation: object = kind
        elif place == "query":
            annotation = Annotated[kind, Query(alias=None if python == wire else wire)]
        elif place == "header":
            annotation = Annotated[kind, Header(alias=wire)]
        else:
            msg = (
                f"Operation {name!r} has a {place} parameter {wire!r} ({where}), "
                "which fiscus_dsl does not send; leave the operation out with "
                "operations=[...]"
            )
            raise ConfigurationError(msg, option="source")
        signature.append(_parameter(python, annotation, required=required))
    body = _body(document, types, name, operation, where)
    if body is not None:
        signature.append(body)
    returns = _returns(document, types, name, operation, where)
    ordered = sorted(signature, key=lambda p: p.default is not inspect.Parameter.empty)
    function = _function(name, ordered, returns, operation)
    return OperationDraft(name, f"{method.upper()} {route_path}", function)


def _unique(python: str, place: str, taken: set[str]) -> str:
    """Return ``python``, or ``python_{place}`` when two parameters share a name."""
    chosen = python if python not in taken else f"{python}_{place}"
    number = 2
    while chosen in taken:
        chosen, number = f"{python}_{place}{number}", number + 1
    taken.add(chosen)
    return chosen


def _parameter(name: str, annotation: object, *, required: bool) -> inspect.Parameter:
    """Return a keyword parameter; an optional one defaults to ``None``."""
    default = inspect.Parameter.empty if required else None
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def _body(
    document: Document,
    types: SchemaTypes,
    name: str,
    operation: Mapping[str, Any],
    where: str,
) -> inspect.Parameter | None:
    raw = operation.get("requestBody")
    if raw is None:
        return None
    spec, _ = document.resolve(raw["$ref"], where) if "$ref" in raw else (raw, where)
    content = spec.get("content") or {}
    json_type = next((key for key in content if "json" in key), None)
    if json_type is None:
        msg = (
            f"Operation {name!r} takes a {', '.join(content) or 'body'} request "
            f"body ({where}/requestBody); fiscus_dsl sends JSON bodies only: "
            "leave it out with operations=[...]"
        )
        raise ConfigurationError(msg, option="source")
    schema = content[json_type].get("schema")
    kind = types.type_of(schema, f"{name}_body", f"{where}/requestBody")
    if not spec.get("required"):
        kind = optional(kind)
    annotation = Annotated[kind, Body()]  # type: ignore[valid-type]  # a type made above
    return _parameter("body", annotation, required=bool(spec.get("required")))


def _returns(
    document: Document,
    types: SchemaTypes,
    name: str,
    operation: Mapping[str, Any],
    where: str,
) -> object:
    responses = operation.get("responses") or {}
    for status in sorted(str(code) for code in responses):
        if not status.startswith("2"):
            continue
        if status in ("204", "205"):  # no content, whatever the document says
            return None
        raw = responses.get(
            status, responses.get(int(status) if status.isdigit() else status)
        )
        if not isinstance(raw, dict):
            continue
        spec, _ = (
            document.resolve(raw["$ref"], where) if "$ref" in raw else (raw, where)
        )
        content = spec.get("content") or {}
        json_type = next((key for key in content if "json" in key), None)
        if json_type is None:
            return httpx.Response if content else None
        schema = content[json_type].get("schema")
        return types.type_of(schema, f"{name}_response", f"{where}/responses/{status}")
    return None


def _function(
    name: str,
    parameters: list[inspect.Parameter],
    returns: object,
    operation: Mapping[str, Any],
) -> Callable[..., object]:
    """Make the function an operation is declared with, of the document's signature."""

    def declared(**arguments: object) -> object:
        raise NotImplementedError  # an operation's body never runs

    declared.__name__ = declared.__qualname__ = name
    declared.__module__ = MODULE
    declared.__doc__ = operation.get("summary") or operation.get("description") or name
    declared.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]  # read by inspect.signature
    declared.__annotations__ = {
        **{parameter.name: parameter.annotation for parameter in parameters},
        "return": returns,
    }
    return declared


def named_server(
    document: Document, name: str | None, base_url: str | None, *, give: str
) -> tuple[str, str]:
    """Return the connector's name (the document's title) and base URL.

    Raises:
        ConfigurationError: The document names no server and no base URL
            is given; ``give`` says how to give one.
    """
    title = str((document.content.get("info") or {}).get("title") or "OpenAPI")
    chosen = name or title
    url = base_url or default_base_url(document)
    if url is None:
        msg = f"The OpenAPI document of {chosen!r} names no server; pass {give}"
        raise ConfigurationError(msg, option="base_url")
    return chosen, url


def default_base_url(document: Document) -> str | None:
    """Return the document's first server URL, its variables at their defaults."""
    servers = document.content.get("servers") or []
    if not servers:
        return None
    server = servers[0]
    url = str(server.get("url", ""))
    for variable, spec in (server.get("variables") or {}).items():
        url = url.replace("{" + variable + "}", str(spec.get("default", "")))
    if document.origin is not None and not url.startswith(("http://", "https://")):
        url = urljoin(document.origin, url)
    return url or None


def document_auth(document: Document, credentials: object) -> object:
    """Return the auth the document's security scheme and ``credentials`` make.

    ``credentials`` is an auth object (used as it is), a token (``Secret`` or
    str: a bearer token or an API key, as the scheme says), a ``(username,
    password)`` pair for HTTP Basic, or ``{"client_id": ..., "client_secret":
    ...}`` for OAuth2 client credentials (the token URL is the document's).

    Raises:
        ConfigurationError: The credentials do not fit the document's scheme.
    """
    if credentials is None or hasattr(credentials, "for_origin"):
        return credentials
    schemes = (document.content.get("components") or {}).get("securitySchemes") or {}
    for scheme in schemes.values():
        made = _scheme_auth(scheme, credentials)
        if made is not None:
            return made
    named = sorted(f"{key} ({scheme.get('type')})" for key, scheme in schemes.items())
    msg = (
        f"auth={type(credentials).__name__} does not fit the document's security "
        f"schemes {named or '(none)'}: give a token for bearer or apiKey, a "
        "(username, password) pair for basic, {'client_id', 'client_secret'} for "
        "OAuth2 client credentials, or an auth object such as BearerAuth(...)"
    )
    raise ConfigurationError(msg, option="auth")


def _scheme_auth(scheme: Mapping[str, Any], credentials: object) -> object | None:
    """Return the auth of one security scheme, if ``credentials`` fit it."""
    from fiscus_dsl._connectors.auth import ApiKeyAuth, BasicAuth, BearerAuth, Secret
    from fiscus_dsl._connectors.oauth2 import OAuth2ClientCredentials

    kind = scheme.get("type")
    http = str(scheme.get("scheme", "")).lower()
    token = isinstance(credentials, Secret | str)
    if kind == "http" and http == "bearer" and token:
        return BearerAuth(credentials)  # type: ignore[arg-type]  # a Secret or a str
    if kind == "http" and http == "basic" and isinstance(credentials, tuple):
        user, password = credentials
        return BasicAuth(str(user), password)
    if kind == "apiKey" and token and scheme.get("in") in ("header", "query"):
        place = {str(scheme["in"]): str(scheme["name"])}
        return ApiKeyAuth(credentials, **place)  # type: ignore[arg-type]  # header= or query=
    flow = (
        ((scheme.get("flows") or {}).get("clientCredentials") or {})
        if kind == "oauth2"
        else {}
    )
    if flow.get("tokenUrl") and isinstance(credentials, dict):
        return OAuth2ClientCredentials(
            flow["tokenUrl"],
            credentials["client_id"],
            credentials["client_secret"],
            scopes=list((flow.get("scopes") or {}).keys()),
        )
    return None


def connector_from_openapi(
    cls: type[Connector],
    source: object,
    name: str | None,
    base_url: str | None,
    auth: object,
    only: Sequence[str] | None,
    **options: Any,
) -> Connector:
    """Build ``Connector.from_openapi``'s connector; see its docstring."""
    document = load_document(source)
    chosen, url = named_server(
        document, name, base_url, give="base_url='https://api.example.com'"
    )
    connector = cls(chosen, url, auth=document_auth(document, auth), **options)  # type: ignore[arg-type]  # checked by the constructor
    drafts, models = read_operations(document, connector=chosen, only=only)
    for draft in drafts:
        connector.operation(draft.route, name=draft.name)(draft.function)
    connector.models = models
    return connector
