"""A callable's signature as tasks and workflows need it: analyse, bind, validate, call.

``CallSignature`` is the one analysis of a task's or workflow's function:
parameter kinds, defaults, resolved annotations (``Annotated`` metadata
kept, so the connector layer reads its ``Query``/``Header``/``Body``
markers from here), and the validators built from them. Annotations are
resolved when the decorator runs; one that names a class defined further
down is resolved again at the first use, and one that still does not
resolve then is a ``SignatureError`` naming the function and the parameter,
never a silent change of how the argument is treated.

Binding happens while tracing: a call that does not bind is reported with
every problem it has (``binding.py``), not only the first. Validation
checks each annotated argument with pydantic, once for values known while
tracing and again at run time, and never echoes the value. Runs nothing;
imports no connector.
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Annotated, Any, Final, Union, final, get_args, get_origin

from pydantic import (
    ConfigDict,
    PydanticSchemaGenerationError,
    PydanticUserError,
    TypeAdapter,
    ValidationError,
)

from fiscus_dsl._dsl.binding import binding_problems
from fiscus_dsl.errors import ArgumentValidationError, SignatureError

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_SKIPPED_ANNOTATIONS: tuple[object, ...] = (inspect.Parameter.empty, Any, object)
#: Annotations whose exact class validates as itself, without pydantic.
_EXACT: Final = frozenset({int, str, float, bool, bytes})
_SIMPLE_KINDS = (
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    inspect.Parameter.KEYWORD_ONLY,
)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
#: What evaluating an annotation's text raises when it names nothing usable.
_UNRESOLVED: Final = (NameError, AttributeError, TypeError, SyntaxError)
RETURN: Final = "return"

Unresolved = dict[str, tuple[object, Exception]]


# ---------------------------------------------------------------- annotations


def _defining_frame(function: Callable[..., object]) -> types.FrameType | None:
    """Return the frame running the function that defines ``function``, if nested.

    A task declared inside a function may name that function's local
    classes; their names resolve in its frame, as pydantic resolves them.
    """
    qualname = getattr(function, "__qualname__", "")
    if ".<locals>." not in qualname:
        return None
    parent = qualname.rsplit(".<locals>.", 1)[0]
    code = getattr(function, "__code__", None)
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_code.co_qualname == parent and (
            code is None or frame.f_code.co_filename == code.co_filename
        ):
            return frame
        frame = frame.f_back
    return None


def resolve_annotations(
    function: Callable[..., object], localns: Mapping[str, object] | None
) -> tuple[dict[str, object], Unresolved]:
    """Resolve a function's annotations, ``Annotated`` extras kept.

    Returns the resolved ones and, for each that did not resolve, its text
    and the error, so that the caller can name the parameter.
    """
    raw = getattr(function, "__annotations__", None)
    if not isinstance(raw, dict) or not raw:
        return {}, {}
    unwrapped = inspect.unwrap(function)  # its module's names, as get_type_hints
    globalns: dict[str, Any] = getattr(unwrapped, "__globals__", {})
    locals_ = None if localns is None else dict(localns)
    try:
        hints = _type_hints(raw, globalns, locals_)
    except _UNRESOLVED:  # find which: resolve them one at a time below
        pass
    else:
        return hints, {}
    resolved: dict[str, object] = {}
    unresolved: Unresolved = {}
    for name, annotation in raw.items():
        try:
            resolved.update(_type_hints({name: annotation}, globalns, locals_))
        except _UNRESOLVED as exc:
            unresolved[name] = (annotation, exc)
    return resolved, unresolved


def _type_hints(
    annotations: dict[str, object],
    globalns: dict[str, Any],
    localns: dict[str, Any] | None,
) -> dict[str, object]:
    """Evaluate annotations exactly as ``typing.get_type_hints`` does a function's."""
    holder = types.SimpleNamespace(__annotations__=annotations)
    return typing.get_type_hints(holder, globalns, localns, include_extras=True)


def _where(function: Callable[..., object]) -> tuple[str, str]:
    """Return ``(file name, "file.py:LINE")`` of a function's ``def``."""
    code = getattr(inspect.unwrap(function), "__code__", None)
    if code is None:
        return "its module", "unknown location"
    file = code.co_filename.rsplit("/", 1)[-1]
    return file, f"{file}:{code.co_firstlineno}"


def unresolved_error(
    function: Callable[..., object], name: str, parameter: str, unresolved: Unresolved
) -> SignatureError:
    """Build the error for an annotation that does not resolve at first use."""
    annotation, exc = unresolved[parameter]
    text = annotation if isinstance(annotation, str) else repr(annotation)
    which = "the return annotation" if parameter == RETURN else "the annotation"
    of = "" if parameter == RETURN else f" of parameter {parameter!r}"
    file, where = _where(function)
    msg = (
        f"Cannot resolve {which} {text!r}{of} of {name!r} ({where}): "
        f"{type(exc).__name__}: {exc}; define or import that name at module level "
        f"in {file} (an import under `if TYPE_CHECKING:` is not enough: fiscus_dsl "
        "reads annotations when the function is first called), or fix the annotation"
    )
    return SignatureError(msg, task=name, parameter=parameter)


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


# ---------------------------------------------------------------- the signature


@final
class CallSignature:
    """The analysis of one task's or workflow's function: bind, validate, call.

    Attributes:
        function: The function analysed.
        name: The task's or workflow's name, for messages.
        signature: Its ``inspect.Signature``.
        is_simple: No positional-only or variadic parameters.
    """

    __slots__ = (
        "_adapters",
        "_exact",
        "_exact_only",
        "_fills_required",
        "_frame",
        "_hints",
        "_names",
        "_order",
        "_positional",
        "_required",
        "_unresolved",
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
        #: A call giving every positional parameter gives every required one.
        self._fills_required = self._required <= frozenset(self._positional)
        self.is_simple = all(
            p.kind in _SIMPLE_KINDS for p in self.signature.parameters.values()
        )
        self._adapters: dict[str, TypeAdapter[object]] | None = None
        self._exact: dict[str, type] = {}
        #: When every annotated parameter is one of _EXACT: (name, class) pairs.
        self._exact_only: tuple[tuple[str, type], ...] | None = None
        self._frame = _defining_frame(function)
        self._hints: dict[str, object] = {}
        self._unresolved: Unresolved = {}
        self._resolve()

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Return the parameter names in order."""
        return self._order

    # ------------------------------------------------------------ annotations

    def _resolve(self) -> None:
        frame = self._frame
        self._hints, self._unresolved = resolve_annotations(
            self.function, None if frame is None else frame.f_locals
        )
        if not self._unresolved:
            self._frame = None  # keep no frame alive once everything resolved

    @property
    def is_resolved(self) -> bool:
        """Tell whether every annotation resolved (else: at first use, or never)."""
        return not self._unresolved

    def hints(self) -> Mapping[str, object]:
        """Return each parameter's resolved annotation, ``Annotated`` extras kept.

        Resolved when the decorator ran; annotations that did not resolve
        then are tried again at each use until they do.

        Raises:
            SignatureError: A parameter's annotation does not resolve.
        """
        if self._unresolved:
            self._resolve()  # names defined since the decorator ran may resolve now
            for name in self._order:
                if name in self._unresolved:
                    raise unresolved_error(
                        self.function, self.name, name, self._unresolved
                    )
        return self._hints

    def return_hint(self) -> object:
        """Return the resolved return annotation (``Signature.empty`` if none).

        Raises:
            SignatureError: It, or a parameter's annotation, does not resolve.
        """
        hints = self.hints()
        if RETURN in self._unresolved:
            raise unresolved_error(self.function, self.name, RETURN, self._unresolved)
        return hints.get(RETURN, inspect.Signature.empty)

    def metadata(self, name: str) -> tuple[object, ...]:
        """Return the ``Annotated[...]`` metadata of a parameter (its markers).

        ``Annotated[str, Header()] | None`` counts as well as
        ``Annotated[str | None, Header()]``: a marker is never lost to the
        way an optional parameter is written.

        Raises:
            SignatureError: An annotation does not resolve.
        """
        return _metadata(self.hints().get(name))

    def adapters(self) -> dict[str, TypeAdapter[object]]:
        """Return a validator per annotated parameter, built on first use.

        Raises:
            SignatureError: An annotation does not resolve.
        """
        if self._adapters is None:
            hints = self.hints()
            adapters: dict[str, TypeAdapter[object]] = {}
            for name, parameter in self.signature.parameters.items():
                annotation = hints.get(name, inspect.Parameter.empty)
                if annotation in _SKIPPED_ANNOTATIONS or parameter.kind in _VARIADIC:
                    continue
                adapter = _adapter(annotation)
                if adapter is not None:
                    adapters[name] = adapter
                if isinstance(annotation, type) and annotation in _EXACT:
                    self._exact[name] = annotation
            if adapters and set(adapters) == set(self._exact):
                self._exact_only = tuple(self._exact.items())
            self._adapters = adapters
        return self._adapters

    # ------------------------------------------------------------ binding

    def bind(
        self, args: tuple[object, ...], kwargs: Mapping[str, object]
    ) -> dict[str, object] | None:
        """Bind a call's arguments by name; ``None`` if they do not bind.

        ``problems(args, kwargs)`` then says every reason why.
        """
        if self.is_simple:  # None from the fast path means a problem exists
            return self._bind_simple(args, kwargs)
        try:
            return dict(self.signature.bind(*args, **kwargs).arguments)
        except TypeError:  # inspect names one problem; problems() names them all
            return None

    def problems(
        self,
        args: tuple[object, ...],
        kwargs: Mapping[str, object],
        *,
        partial: bool = False,
    ) -> tuple[str, ...]:
        """Return every reason a call does not bind; empty if it binds."""
        return binding_problems(self.signature, args, kwargs, partial=partial)

    def _bind_simple(
        self, args: tuple[object, ...], kwargs: Mapping[str, object]
    ) -> dict[str, object] | None:
        """Bind the common case fast; ``None`` lets ``problems`` explain a failure."""
        positional = self._positional
        if not kwargs and len(args) == len(positional) and self._fills_required:
            if len(args) == 1:  # every parameter given, the commonest case first
                return {positional[0]: args[0]}
            return dict(zip(positional, args, strict=True))
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

    # ------------------------------------------------------------ validation

    def _all_exact(self, arguments: dict[str, object]) -> bool:
        """Tell whether every annotation is a builtin class and every value is one."""
        exact_only = self._exact_only
        if exact_only is None:
            return False
        for name, kind in exact_only:
            if name in arguments and type(arguments[name]) is not kind:
                return False
        return True

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
            SignatureError: An annotation does not resolve.
        """
        adapters = self.adapters()
        if not adapters:
            return arguments
        if self._all_exact(arguments):
            return arguments
        errors: list[tuple[str, str]] = []
        validated = None
        exact = self._exact
        for name, adapter in adapters.items():
            if name not in arguments:
                continue
            value = arguments[name]
            # An int for an int (a str for a str, ...) validates as itself.
            if type(value) is exact.get(name) or (only is not None and not only(value)):
                continue
            try:
                checked = adapter.validate_python(value)
            except ValidationError as exc:
                errors.extend(_describe(name, exc))
                continue
            if checked is not value:
                if validated is None:
                    validated = dict(arguments)
                validated[name] = checked
        if errors:
            raise ArgumentValidationError(
                workflow=workflow, task_id=task_id, errors=errors
            )
        return arguments if validated is None else validated

    def call_parts(
        self, arguments: dict[str, object]
    ) -> tuple[tuple[object, ...], dict[str, object]]:
        """Split bound arguments into ``(args, kwargs)`` for calling the function."""
        if self.is_simple:
            return (), arguments
        bound = inspect.BoundArguments(self.signature, arguments)
        return bound.args, bound.kwargs


def _metadata(annotation: object) -> tuple[object, ...]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return get_args(annotation)[1:]
    if origin is Union or origin is types.UnionType:
        return tuple(extra for arg in get_args(annotation) for extra in _metadata(arg))
    return ()


def _describe(name: str, exc: ValidationError) -> list[tuple[str, str]]:
    described = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in (name, *error["loc"]))
        described.append((location, error["msg"]))
    return described
