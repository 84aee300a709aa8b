"""JSON Schemas of an OpenAPI document as Python source, for generated modules.

``SourceTypes.type_of(schema, name, where)`` returns the annotation, as
source text, that ``openapi_types.SchemaTypes.type_of`` makes at run time
for the same schema: ``str``, ``list[Pet]``, ``dict[str, int]``,
``Literal["a", "b"]``, ``A | B``, ``T | None``, or the class name of a
model. It names models as ``SchemaTypes`` does (a ``$ref`` after the last
part of its pointer, an inline object after the operation: ``{op}_body``,
``{op}_response``, ``...Item``) and gathers the schema of each one, with
every ``$ref`` inside rewritten to ``#/components/schemas/{Name}``, in
``schemas``: a self-contained ``components/schemas`` section that a model
generator turns into classes of exactly those names. It imports no model
generator and runs nothing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final, final

from fiscus_dsl._connectors.openapi_types import class_name

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fiscus_dsl._connectors.openapi import Document

_SCALARS: Final = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
}
RESERVED: Final = frozenset(
    {
        "Annotated",
        "Any",
        "ApiKeyAuth",
        "BaseModel",
        "BasicAuth",
        "BearerAuth",
        "Body",
        "ConfigDict",
        "Connector",
        "Field",
        "Header",
        "Literal",
        "OAuth2ClientCredentials",
        "Query",
        "RootModel",
        "Secret",
    }
)
"""Names the generated module imports; a model of such a name gets ``Model`` added."""

COMPONENTS: Final = "#/components/schemas/"
_EXTRA_FORMATS: Final = frozenset({"email", "idn-email"})
"""Formats whose pydantic types need another package (email-validator): left out."""


def is_model(schema: Mapping[str, Any]) -> bool:
    """Return whether ``SchemaTypes`` makes a pydantic model of ``schema``."""
    if "const" in schema or "enum" in schema:
        return False
    if "allOf" in schema:
        return True
    if schema.get("oneOf") or schema.get("anyOf"):
        return False
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if kind == "array":
        return False
    return (kind == "object" or "properties" in schema) and bool(
        schema.get("properties")
    )


@final
class SourceTypes:
    """Write the annotations of a document's schemas; gather the models' schemas.

    Args:
        document: The document whose ``$ref``s resolve.
    """

    def __init__(self, document: Document) -> None:
        self._document = document
        self.schemas: dict[str, Any] = {}
        self._names: dict[str, str] = {}
        self._making: set[str] = set()

    def type_of(self, schema: Mapping[str, Any] | None, name: str, where: str) -> str:
        """Return the annotation of ``schema``; ``name`` names a model made for it."""
        if not schema:
            return "Any"
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self._referenced(ref, where)
        made = self._plain(schema, name, where)
        kind = schema.get("type")
        nullable = bool(schema.get("nullable")) or (
            isinstance(kind, list) and "null" in kind
        )
        return optional(made) if nullable else made

    def _referenced(self, ref: str, where: str) -> str:
        target, pointer = self._document.resolve(ref, where)
        if is_model(target):
            return self._component(ref, where)
        if pointer in self._making:  # a cycle: the inner use stays loose
            return "dict[str, Any]"
        self._making.add(pointer)
        try:
            return self.type_of(target, class_name(pointer.rsplit("/", 1)[-1]), pointer)
        finally:
            self._making.discard(pointer)

    def _plain(self, schema: Mapping[str, Any], name: str, where: str) -> str:
        if "const" in schema:
            return f"Literal[{json.dumps(schema['const'])}]"
        if "enum" in schema:
            values = [
                json.dumps(value) for value in schema["enum"] if value is not None
            ]
            return f"Literal[{', '.join(values)}]" if values else "Any"
        if is_model(schema):
            return self._model(schema, name, where)
        options = schema.get("oneOf") or schema.get("anyOf")
        if options:
            kinds = [
                self.type_of(option, f"{name}Option{index}", f"{where}/oneOf/{index}")
                for index, option in enumerate(options)
            ]
            return union(kinds)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            kind = kinds[0] if len(kinds) == 1 else None
        if kind == "array":
            item = self.type_of(schema.get("items"), f"{name}Item", f"{where}/items")
            return f"list[{item}]"
        if kind == "object" or "properties" in schema:
            return self._dict(schema, name, where)
        return _SCALARS.get(kind, "Any") if isinstance(kind, str) else "Any"

    def _dict(self, schema: Mapping[str, Any], name: str, where: str) -> str:
        """Return ``dict[str, T]`` of an object without properties."""
        patterns = schema.get("patternProperties")
        if isinstance(patterns, dict) and patterns:
            values = [
                self.type_of(sub, f"{name}Value", f"{where}/patternProperties/{key}")
                for key, sub in patterns.items()
            ]
            return f"dict[str, {union(values)}]"
        extra = schema.get("additionalProperties", True)
        if isinstance(extra, dict):
            value = self.type_of(extra, f"{name}Value", f"{where}/additionalProperties")
            return f"dict[str, {value}]"
        return "dict[str, Any]"

    # ------------------------------------------------------------ models

    def _model(self, schema: Mapping[str, Any], name: str, where: str) -> str:
        """Return the class name of an inline model; gather its schema."""
        made = self._unique(class_name(name))
        self.schemas[made] = {}  # taken before its parts are read
        self.schemas[made] = self._bundled(schema, where)
        return made

    def _component(self, ref: str, where: str) -> str:
        """Return the class name of a referenced schema; gather it once."""
        target, pointer = self._document.resolve(ref, where)
        known = self._names.get(pointer)
        if known is not None:
            return known
        made = self._unique(class_name(pointer.rsplit("/", 1)[-1]))
        self._names[pointer] = made
        self.schemas[made] = {}  # taken before its parts are read (cycles)
        self.schemas[made] = self._bundled(target, pointer)
        return made

    def _bundled(self, node: object, where: str) -> Any:
        """Return a copy of ``node`` whose ``$ref``s name gathered components."""
        if isinstance(node, list):
            return [self._bundled(item, where) for item in node]
        if not isinstance(node, dict):
            return node
        copied = {
            key: self._bundled(value, f"{where}/{key}")
            for key, value in node.items()
            if key != "$ref" and not (key == "format" and value in _EXTRA_FORMATS)
        }
        ref = node.get("$ref")
        if isinstance(ref, str):
            copied["$ref"] = COMPONENTS + self._component(ref, where)
        return copied

    def _unique(self, name: str) -> str:
        if name in RESERVED:
            name = f"{name}Model"
        made, count = name, 1
        while made in self.schemas:
            count += 1
            made = f"{name}{count}"
        return made


def union(kinds: list[str]) -> str:
    """Return ``A | B`` of annotations, each once, ``Any`` absorbing the rest."""
    if "Any" in kinds:
        return "Any"
    unique = list(dict.fromkeys(part for kind in kinds for part in _members(kind)))
    return " | ".join(unique)


def _members(kind: str) -> list[str]:
    """Split ``A | dict[str, B | C]`` at its top-level bars only."""
    parts, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(kind):
        if char == '"' and kind[index - 1 : index] != "\\":
            quoted = not quoted
        elif not quoted and char in "[]":
            depth += 1 if char == "[" else -1
        elif not quoted and depth == 0 and kind.startswith(" | ", index):
            parts.append(kind[start:index])
            start = index + 3
    return [*parts, kind[start:]]


def optional(kind: str) -> str:
    """Return ``kind | None`` (``Any`` and what already allows ``None`` unchanged)."""
    return union([kind, "None"])
