"""JSON Schemas of an OpenAPI document as Python types and pydantic models.

``SchemaTypes.type_of(schema, name)`` turns a schema into what an operation
annotates a parameter, a body or a return with: ``str``, ``int``,
``float``, ``bool``, ``list[T]``, ``dict[str, T]``, ``Literal[...]`` for an
enum or a ``const``, ``dict[str, T]`` for ``additionalProperties`` or
``patternProperties`` alone (keys not checked against the patterns),
``T | None`` for a nullable schema (3.0's ``nullable``
or 3.1's ``type: [T, "null"]``), a union for ``oneOf``/``anyOf``, and a
pydantic model for an object with properties (``allOf`` merges its parts
into one model). A ``$ref`` becomes one model per referenced schema, named
after it and made once. Property names that are not Python names are
aliases. A model allows extra keys unless ``additionalProperties: false``,
so that an API adding a field does not break its clients.

What is not supported (``not``, ``if``/``then``, a ``$ref`` cycle deeper
than a model can express) raises ``ConfigurationError`` naming the place in
the document (a JSON pointer).
"""

from __future__ import annotations

import keyword
import re
from typing import TYPE_CHECKING, Any, Literal, Union, final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    create_model,
    model_serializer,
)

from fiscus_dsl.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_SCALARS: dict[str, type] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
}
_UNSUPPORTED = ("not", "if", "then", "else", "dependentSchemas")
_WORD = re.compile(r"[A-Za-z0-9]+")


def python_name(text: str) -> str:
    """Return ``text`` as a snake_case Python name (``petId`` → ``pet_id``)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    name = "_".join(part.lower() for part in _WORD.findall(spaced)) or "value"
    if name[0].isdigit():
        name = f"n_{name}"
    return f"{name}_" if keyword.iskeyword(name) else name


def class_name(text: str) -> str:
    """Return ``text`` as a CamelCase class name (``pet-list`` → ``PetList``)."""
    words = _WORD.findall(re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text))
    name = "".join(word[:1].upper() + word[1:] for word in words) or "Model"
    return f"M{name}" if name[0].isdigit() else name


class OpenModel(BaseModel):
    """A document's object: extra keys kept; unset optional fields never sent.

    An optional property the caller did not set is left out of the JSON,
    not sent as ``null``: a schema that is not nullable would refuse it.
    """

    model_config = ConfigDict(
        extra="allow", populate_by_name=True, serialize_by_alias=True
    )

    @model_serializer(mode="wrap")
    def _without_unset(self, handler: SerializerFunctionWrapHandler) -> object:
        data = handler(self)
        if isinstance(data, dict):
            for name, field in type(self).model_fields.items():
                if name not in self.model_fields_set:
                    data.pop(field.alias or name, None)
        return data


class ClosedModel(OpenModel):
    """A document's object with ``additionalProperties: false``: extra keys refused."""

    model_config = ConfigDict(extra="forbid")


@final
class SchemaTypes:
    """Make Python types of a document's schemas; models are made once per ``$ref``.

    Args:
        resolve: Returns the schema a ``$ref`` points to, and its pointer.
        module: The ``__module__`` the models report.
    """

    def __init__(
        self,
        resolve: Callable[[str, str], tuple[Mapping[str, Any], str]],
        *,
        module: str,
    ) -> None:
        self._resolve = resolve
        self._module = module
        self._models: dict[str, object] = {}
        self._making: set[str] = set()

    @property
    def models(self) -> dict[str, object]:
        """Return the models made so far, by class name."""
        return {
            getattr(made, "__name__", key): made
            for key, made in self._models.items()
            if isinstance(made, type)
        }

    def type_of(
        self, schema: Mapping[str, Any] | None, name: str, where: str
    ) -> object:
        """Return the Python type of ``schema``; ``name`` names a model made for it."""
        if not schema:
            return Any
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self._referenced(ref, where)
        unsupported = [key for key in _UNSUPPORTED if key in schema]
        if unsupported:
            msg = (
                f"The OpenAPI document uses {unsupported[0]!r} at {where}, which "
                "fiscus_dsl does not read; leave the operation out with "
                "operations=[...], or declare it by hand"
            )
            raise ConfigurationError(msg, option="source")
        made = self._plain(schema, name, where)
        return optional(made) if _nullable(schema) and made is not Any else made

    # ------------------------------------------------------------ kinds

    def _referenced(self, ref: str, where: str) -> object:
        target, pointer = self._resolve(ref, where)
        if pointer in self._models:
            return self._models[pointer]
        if pointer in self._making:  # a cycle: the inner use stays loose
            return dict[str, Any]
        self._making.add(pointer)
        try:
            made = self.type_of(target, class_name(pointer.rsplit("/", 1)[-1]), pointer)
        finally:
            self._making.discard(pointer)
        self._models[pointer] = made
        return made

    def _plain(self, schema: Mapping[str, Any], name: str, where: str) -> object:
        if "const" in schema:
            return Literal[schema["const"]]
        if "enum" in schema:
            values = tuple(value for value in schema["enum"] if value is not None)
            return Literal[values] if values else Any
        if "allOf" in schema:
            return self._all_of(schema, name, where)
        options = schema.get("oneOf") or schema.get("anyOf")
        if options:
            kinds = [
                self.type_of(option, f"{name}Option{index}", f"{where}/oneOf/{index}")
                for index, option in enumerate(options)
            ]
            return kinds[0] if len(kinds) == 1 else Union[tuple(kinds)]  # noqa: UP007  (built at run time)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            kind = kinds[0] if len(kinds) == 1 else None
            if kind is None:
                return Any
        if kind == "array":
            item = self.type_of(schema.get("items"), f"{name}Item", f"{where}/items")
            return list[item]  # type: ignore[valid-type]  # a type made above
        if kind == "object" or "properties" in schema:
            return self._object(schema, name, where)
        if isinstance(kind, str) and kind in _SCALARS:
            return _SCALARS[kind]
        return Any

    def _all_of(self, schema: Mapping[str, Any], name: str, where: str) -> object:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for index, part in enumerate(schema["allOf"]):
            part_where = f"{where}/allOf/{index}"
            if "$ref" in part:
                part, part_where = self._resolve(part["$ref"], part_where)
            if "allOf" in part:
                nested = self._all_of(part, name, part_where)
                part = {"properties": getattr(nested, "__fiscus_schema__", {})}
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += list(part.get("required", []))
            if part.get("additionalProperties") is False:
                merged["additionalProperties"] = False
        merged["properties"].update(schema.get("properties", {}))
        merged["required"] += list(schema.get("required", []))
        return self._object(merged, name, where)

    def _object(self, schema: Mapping[str, Any], name: str, where: str) -> object:
        properties: Mapping[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties", True)
        patterns = schema.get("patternProperties")
        if not properties and isinstance(patterns, dict) and patterns:
            # Keys matching patterns: a dict of their values (keys unchecked).
            values = [
                self.type_of(sub, f"{name}Value", f"{where}/patternProperties/{key}")
                for key, sub in patterns.items()
            ]
            value = values[0] if len(values) == 1 else Union[tuple(values)]  # noqa: UP007  (built at run time)
            return dict[str, value]  # type: ignore[valid-type]  # a type made above
        if not properties:
            if isinstance(extra, dict):
                value = self.type_of(
                    extra, f"{name}Value", f"{where}/additionalProperties"
                )
                return dict[str, value]  # type: ignore[valid-type]  # a type made above
            return dict[str, Any]
        required = set(schema.get("required") or ())
        fields: dict[str, Any] = {}
        for key, sub in properties.items():
            kind = self.type_of(
                sub, name + class_name(key), f"{where}/properties/{key}"
            )
            field_name = python_name(key)
            alias = None if field_name == key else key
            if key in required:
                fields[field_name] = (kind, Field(alias=alias))
            else:
                fields[field_name] = (optional(kind), Field(default=None, alias=alias))
        base = ClosedModel if extra is False else OpenModel
        model: type[BaseModel] = create_model(
            class_name(name), __base__=base, __module__=self._module, **fields
        )
        model.__fiscus_schema__ = dict(properties)  # type: ignore[attr-defined]  # for allOf
        return model


def optional(kind: object) -> object:
    """Return ``kind | None`` of a type made at run time."""
    return Union[kind, None]  # noqa: UP007  (kind is a value here)


def _nullable(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return bool(schema.get("nullable")) or (isinstance(kind, list) and "null" in kind)
