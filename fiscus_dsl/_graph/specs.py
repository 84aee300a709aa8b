"""The parts of a graph's nodes: arguments, guards, policies and operations.

Frozen pydantic models for what a node says about one call: each argument
(a literal, a reference to another task's value with a projection path, a
workflow input, or a container of those), the guard it runs under, its
retry, timeout and on_error policy, and the connector operation it sends,
if any; plus the traversals that list the nodes an argument or a guard
refers to. ``model`` builds nodes and the graph from these, and ``render``
draws them; this module imports neither, nor asyncio or opentelemetry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, TypeVar, final

from pydantic import BaseModel, ConfigDict, Field, field_serializer, model_validator

from fiscus_dsl._graph.jsonable import to_jsonable
from fiscus_dsl._types import NodeId

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fiscus_dsl._graph.model import Node

ModelT = TypeVar("ModelT", bound=BaseModel)

_FROZEN = ConfigDict(frozen=True, extra="forbid")


@final
class Step(BaseModel):
    """One projection step: ``.name`` (``attr``) or ``[key]`` (``item``)."""

    model_config = _FROZEN
    kind: Literal["attr", "item"]
    key: str | int

    def __str__(self) -> str:
        return f".{self.key}" if self.kind == "attr" else f"[{self.key!r}]"


_FIELDS_SETS: dict[type[BaseModel], set[str]] = {}
# BaseModel's own slots, set through their descriptors: the fastest way in.
_SET_FIELDS_SET = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_SET_EXTRA = BaseModel.__dict__["__pydantic_extra__"].__set__
_SET_PRIVATE = BaseModel.__dict__["__pydantic_private__"].__set__


def construct_trusted(cls: type[ModelT], fields: dict[str, Any]) -> ModelT:
    """Build a model from fields the package made itself, skipping validation.

    For the tracer's and runner's hot paths: ``fields`` must name every
    field of ``cls`` with a value of its type.
    """
    model = object.__new__(cls)
    object.__setattr__(model, "__dict__", fields)
    # One fields-set per class: these models are frozen, so nothing adds to it
    # (model_copy copies it first), and a shared set is one object fewer per
    # model for the garbage collector to track.
    fields_set = _FIELDS_SETS.get(cls)
    if fields_set is None:
        fields_set = _FIELDS_SETS[cls] = set(cls.model_fields)
    _SET_FIELDS_SET(model, fields_set)
    _SET_EXTRA(model, None)
    _SET_PRIVATE(model, None)
    return model


def format_path(path: tuple[Step, ...]) -> str:
    """Render a projection path as written in Python: ``.contact["id"]``."""
    return "".join(str(step) for step in path)


# ---------------------------------------------------------------- arguments


@final
class ValueArg(BaseModel):
    """A literal value known while tracing."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    kind: Literal["value"] = "value"
    value: Any

    @field_serializer("value")
    def _json_value(self, value: Any) -> Any:
        return to_jsonable(value)


@final
class RefArg(BaseModel):
    """The value of another task of the same graph, projected by ``path``."""

    model_config = _FROZEN
    kind: Literal["ref"] = "ref"
    node: NodeId
    path: tuple[Step, ...] = ()


@final
class InputArg(BaseModel):
    """A workflow input that was not known while tracing (a placeholder)."""

    model_config = _FROZEN
    kind: Literal["input"] = "input"
    name: str
    path: tuple[Step, ...] = ()


@final
class ListArg(BaseModel):
    """A list or tuple holding futures."""

    model_config = _FROZEN
    kind: Literal["list"] = "list"
    items: tuple[ArgSpec, ...]
    is_tuple: bool = False


@final
class DictArg(BaseModel):
    """A dict holding futures; keys are literal."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    kind: Literal["dict"] = "dict"
    keys: tuple[Any, ...]
    values: tuple[ArgSpec, ...]

    @field_serializer("keys")
    def _json_keys(self, keys: tuple[Any, ...]) -> Any:
        return to_jsonable(keys)


@final
class CoalesceArg(BaseModel):
    """The first option whose task succeeded (``coalesce(a, b, ...)``)."""

    model_config = _FROZEN
    kind: Literal["coalesce"] = "coalesce"
    options: tuple[ArgSpec, ...]


@final
class OutcomeArg(BaseModel):
    """How another task ended (``outcome(f)``): its status, value and error.

    Unlike a reference, it never goes missing: a failed or skipped task has
    an outcome too, so the consumer runs whatever happened.
    """

    model_config = _FROZEN
    kind: Literal["outcome"] = "outcome"
    node: NodeId
    path: tuple[Step, ...] = ()


ArgSpec: TypeAlias = Annotated[
    ValueArg | RefArg | InputArg | ListArg | DictArg | CoalesceArg | OutcomeArg,
    Field(discriminator="kind"),
]

# ---------------------------------------------------------------- conditions


@final
class ConstCondition(BaseModel):
    """A guard already decided while tracing (``when(True)``)."""

    model_config = _FROZEN
    kind: Literal["const"] = "const"
    value: bool


CompareOp: TypeAlias = Literal["eq", "ne", "lt", "le", "gt", "ge", "in"]


@final
class CompareCondition(BaseModel):
    """``left <op> right``, decided when both values are known."""

    model_config = _FROZEN
    kind: Literal["compare"] = "compare"
    op: CompareOp
    left: ArgSpec
    right: ArgSpec


@final
class OutcomeCondition(BaseModel):
    """``succeeded(f)``, ``failed(f)`` or ``skipped(f)``: always decidable."""

    model_config = _FROZEN
    kind: Literal["outcome"] = "outcome"
    test: Literal["succeeded", "failed", "skipped"]
    node: NodeId


@final
class NotCondition(BaseModel):
    """The negation of a condition (``~c``, and ``otherwise()``)."""

    model_config = _FROZEN
    kind: Literal["not"] = "not"
    operand: Condition


@final
class AndCondition(BaseModel):
    """All operands hold (``c & d``, and nested ``when`` blocks)."""

    model_config = _FROZEN
    kind: Literal["and"] = "and"
    operands: tuple[Condition, ...]


@final
class OrCondition(BaseModel):
    """Any operand holds (``c | d``)."""

    model_config = _FROZEN
    kind: Literal["or"] = "or"
    operands: tuple[Condition, ...]


@final
class PredicateCondition(BaseModel):
    """``when(predicate, *futures)``: a plain function of the resolved values.

    ``key`` names the callable in the tracer's predicate table.
    """

    model_config = _FROZEN
    kind: Literal["predicate"] = "predicate"
    name: str
    key: str
    args: tuple[ArgSpec, ...]


Condition: TypeAlias = Annotated[
    ConstCondition
    | CompareCondition
    | OutcomeCondition
    | NotCondition
    | AndCondition
    | OrCondition
    | PredicateCondition,
    Field(discriminator="kind"),
]

# ---------------------------------------------------------------- policies


@final
class RetrySpec(BaseModel):
    """What a task's ``Retry`` policy says, as data."""

    model_config = _FROZEN
    attempts: int
    backoff: float
    max_delay: float
    jitter: bool
    retry_on: str


@final
class Policy(BaseModel):
    """How a task runs: retries, per-attempt timeout, and what a failure does."""

    model_config = _FROZEN
    retry: RetrySpec | None = None
    timeout: float | None = None
    on_error: Literal["fail", "continue"] = "fail"


DEFAULT_POLICY: Policy = Policy()


@final
class OperationRef(BaseModel):
    """The HTTP API a task calls, for a task of a ``Connector``.

    An operation (``@connector.operation("POST /contacts")``) has all three
    fields; a hand-written ``@connector.task``, which may send any request
    with the connector's client, has ``connector`` only.

    Attributes:
        connector: The connector's name (``"CRMSystem"``).
        method: The HTTP method of an operation (``"POST"``), else ``None``.
        url: The URL template of an operation: the connector's base URL
            without its userinfo, joined with the route's path, placeholders
            kept (``"https://crm.example.com/v1/contacts/{contact_id}"``);
            else ``None``. Never a credential.
    """

    model_config = _FROZEN
    connector: str
    method: str | None = None
    url: str | None = None

    @model_validator(mode="after")
    def _check_pair(self) -> OperationRef:
        if (self.method is None) != (self.url is None):
            msg = (
                f"The operation of connector {self.connector!r} has "
                f"method={self.method!r} and url={self.url!r}; give both (an "
                "operation) or neither (a hand-written connector task)"
            )
            raise ValueError(msg)
        return self


# ---------------------------------------------------------------- traversal


def arg_refs(arg: ArgSpec) -> Iterator[NodeId]:
    """Yield the ids of the nodes ``arg`` waits for (values and outcomes)."""
    if isinstance(arg, RefArg | OutcomeArg):
        yield arg.node
    elif isinstance(arg, ListArg | CoalesceArg):
        for item in arg.items if isinstance(arg, ListArg) else arg.options:
            yield from arg_refs(item)
    elif isinstance(arg, DictArg):
        for value in arg.values:
            yield from arg_refs(value)


def value_refs(arg: ArgSpec) -> Iterator[NodeId]:
    """Yield the ids whose values ``arg`` cannot do without (not coalesce options)."""
    if isinstance(arg, RefArg):
        yield arg.node
    elif isinstance(arg, ListArg):
        for item in arg.items:
            yield from value_refs(item)
    elif isinstance(arg, DictArg):
        for value in arg.values:
            yield from value_refs(value)


def condition_refs(cond: Condition) -> Iterator[NodeId]:
    """Yield the ids of every node a condition looks at, value or outcome."""
    if isinstance(cond, OutcomeCondition):
        yield cond.node
    elif isinstance(cond, CompareCondition):
        yield from arg_refs(cond.left)
        yield from arg_refs(cond.right)
    elif isinstance(cond, NotCondition):
        yield from condition_refs(cond.operand)
    elif isinstance(cond, AndCondition | OrCondition):
        for operand in cond.operands:
            yield from condition_refs(operand)
    elif isinstance(cond, PredicateCondition):
        for arg in cond.args:
            yield from arg_refs(arg)


def predicate_keys(cond: Condition) -> Iterator[str]:
    """Yield the keys of every ``when(predicate, ...)`` inside a condition."""
    if isinstance(cond, PredicateCondition):
        yield cond.key
    elif isinstance(cond, NotCondition):
        yield from predicate_keys(cond.operand)
    elif isinstance(cond, AndCondition | OrCondition):
        for operand in cond.operands:
            yield from predicate_keys(operand)


def node_args(node: Node) -> Iterator[ArgSpec]:
    """Yield every argument spec of a node, mapped ones included."""
    yield from node.args.values()
    mapped = None if node.kind == "task" else node.mapped
    if mapped:
        yield from mapped.values()


def node_dependencies(node: Node) -> dict[NodeId, None]:
    """Return the ids a node waits for, in first-seen order, without repeats."""
    deps: dict[NodeId, None] = {}
    for arg in node_args(node):
        deps.update(dict.fromkeys(arg_refs(arg)))
    if node.guard is not None:
        deps.update(dict.fromkeys(condition_refs(node.guard)))
    return deps


ListArg.model_rebuild()
DictArg.model_rebuild()
CoalesceArg.model_rebuild()
CompareCondition.model_rebuild()
NotCondition.model_rebuild()
AndCondition.model_rebuild()
OrCondition.model_rebuild()
PredicateCondition.model_rebuild()
