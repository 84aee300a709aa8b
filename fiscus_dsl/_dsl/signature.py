"""A callable's signature as tasks and workflows need it: bind, validate, call.

Binding happens while tracing (a call that does not bind is a
``TracingError``); validation checks each annotated argument with pydantic,
once for values known while tracing and again at run time for every value,
and never echoes the value. Validators are built once per callable, on first
use, so that annotations may name classes defined after the decorator ran.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any, final

from pydantic import (
    ConfigDict,
    PydanticSchemaGenerationError,
    PydanticUserError,
    TypeAdapter,
    ValidationError,
)

from fiscus_dsl.errors import ArgumentValidationError

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_SKIPPED_ANNOTATIONS: tuple[object, ...] = (inspect.Parameter.empty, Any, object)
_SIMPLE_KINDS = (
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    inspect.Parameter.KEYWORD_ONLY,
)


def _resolved_hints(function: Callable[..., object]) -> dict[str, object]:
    try:
        return typing.get_type_hints(function, include_extras=True)
    except (NameError, TypeError):  # some name does not resolve: keep the others
        pass
    hints: dict[str, object] = {}
    namespace = getattr(function, "__globals__", {})
    for name, annotation in inspect.get_annotations(function).items():
        if not isinstance(annotation, str):
            hints[name] = annotation
            continue
        try:  # what get_type_hints does, one annotation at a time
            hints[name] = eval(annotation, namespace)
        except Exception:
            continue
    return hints


_ARBITRARY = ConfigDict(arbitrary_types_allowed=True)


def _adapter(annotation: object) -> TypeAdapter[object] | None:
    """Build a validator, allowing arbitrary classes; ``None`` if pydantic cannot."""
    try:
        return TypeAdapter(annotation)  # type: ignore[arg-type]  # an annotation is a type form
    except PydanticSchemaGenerationError:
        pass
    try:  # a class pydantic does not know: check by isinstance
        return TypeAdapter(annotation, config=_ARBITRARY)  # type: ignore[arg-type]  # as above
    except (PydanticSchemaGenerationError, PydanticUserError):
        return None


@final
class CallSignature:
    """Binding, validation and calling for one task's or workflow's function."""

    __slots__ = (
        "_adapters",
        "_names",
        "_order",
        "_positional",
        "_required",
        "function",
        "is_simple",
        "name",
        "signature",
    )

    def __init__(self, function: Callable[..., object], name: str) -> None:
        self.function = function
        self.name = name
        self.signature = inspect.signature(function)
        parameters = self.signature.parameters.values()
        self._names = frozenset(self.signature.parameters)
        self._order = tuple(self.signature.parameters)
        self._positional = tuple(
            p.name
            for p in parameters
            if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        self._required = frozenset(
            p.name for p in parameters if p.default is inspect.Parameter.empty
        )
        self.is_simple = all(
            p.kind in _SIMPLE_KINDS for p in self.signature.parameters.values()
        )
        self._adapters: dict[str, TypeAdapter[object]] | None = None

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Return the parameter names in order."""
        return tuple(self.signature.parameters)

    def bind(
        self, args: tuple[object, ...], kwargs: Mapping[str, object]
    ) -> dict[str, object]:
        """Bind a call's arguments by name, or raise ``TypeError`` saying why not."""
        if self.is_simple:
            bound = self._bind_simple(args, kwargs)
            if bound is not None:
                return bound
        return dict(self.signature.bind(*args, **kwargs).arguments)

    def _bind_simple(
        self, args: tuple[object, ...], kwargs: Mapping[str, object]
    ) -> dict[str, object] | None:
        """Bind the common case fast; ``None`` lets ``inspect`` explain a failure."""
        positional = self._positional
        if len(args) > len(positional):
            return None
        bound = dict(zip(positional, args, strict=False))
        for name, value in kwargs.items():
            if name in bound or name not in self._names:
                return None
            bound[name] = value
        if not self._required.issubset(bound):
            return None
        if kwargs:  # signature order, so graphs do not depend on keyword order
            return {name: bound[name] for name in self._order if name in bound}
        return bound

    def adapters(self) -> dict[str, TypeAdapter[object]]:
        """Return a validator per annotated parameter, built on first use."""
        if self._adapters is None:
            hints = _resolved_hints(self.function)
            adapters: dict[str, TypeAdapter[object]] = {}
            for name, parameter in self.signature.parameters.items():
                annotation = hints.get(name, inspect.Parameter.empty)
                if annotation in _SKIPPED_ANNOTATIONS or parameter.kind in (
                    inspect.Parameter.VAR_POSITIONAL,
                    inspect.Parameter.VAR_KEYWORD,
                ):
                    continue
                adapter = _adapter(annotation)
                if adapter is not None:
                    adapters[name] = adapter
            self._adapters = adapters
        return self._adapters

    def validate(
        self,
        arguments: dict[str, object],
        *,
        workflow: str,
        task_id: str | None,
        only: Callable[[object], bool] | None = None,
    ) -> dict[str, object]:
        """Return the arguments validated (and coerced) against their annotations.

        ``only`` limits validation to the values it accepts (while tracing:
        those that are not futures).

        Raises:
            ArgumentValidationError: Naming each failing field, never the value.
        """
        adapters = self.adapters()
        if not adapters:
            return arguments
        errors: list[tuple[str, str]] = []
        validated = dict(arguments)
        for name, adapter in adapters.items():
            if name not in arguments or (
                only is not None and not only(arguments[name])
            ):
                continue
            try:
                validated[name] = adapter.validate_python(arguments[name])
            except ValidationError as exc:
                errors.extend(_describe(name, exc))
        if errors:
            raise ArgumentValidationError(
                workflow=workflow, task_id=task_id, errors=errors
            )
        return validated

    def call_parts(
        self, arguments: dict[str, object]
    ) -> tuple[tuple[object, ...], dict[str, object]]:
        """Split bound arguments into ``(args, kwargs)`` for calling the function."""
        if self.is_simple:
            return (), arguments
        bound = inspect.BoundArguments(self.signature, arguments)
        return bound.args, bound.kwargs


def _describe(name: str, exc: ValidationError) -> list[tuple[str, str]]:
    described = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in (name, *error["loc"]))
        described.append((location, error["msg"]))
    return described
