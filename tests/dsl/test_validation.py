"""Workflow inputs and argument validation: bind errors, types, no echoed values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from pydantic import BaseModel

from fiscus_dsl import (
    ArgumentValidationError,
    SignatureError,
    TracingError,
    WorkflowInputError,
    task,
    workflow,
)
from fiscus_dsl._dsl.signature import CallSignature
from fiscus_dsl._graph.model import InputArg, TaskNode, ValueArg

if TYPE_CHECKING:
    from fiscus_dsl._dsl.plan import Plan
from .conftest import first_body_line

SECRET = "sk_live_51HxQ9T7bAdVaLuE"


def invalid_of(plan: Plan) -> dict[str, ArgumentValidationError]:
    """Return the validation errors tracing found, by step id."""
    return {node.id: node.invalid for node in plan.nodes if node.invalid is not None}


@task
def charge(amount: int, tags: list[str]) -> int:
    return amount


@task
def audit(note: object, extra: Any, untyped, *more: int, **rest: int) -> None:  # type: ignore[no-untyped-def]  # an unannotated parameter on purpose
    return None


@task
def store(item: Later) -> None:
    return None


class Later(BaseModel):
    """Defined after the task that names it: annotations resolve on first use."""

    size: int


@workflow
def billing(amount: int, items: list[int] | None = None) -> int:
    return charge(amount, ["vip"])


def _node(node: object) -> TaskNode:
    assert isinstance(node, TaskNode)
    return node


# ---------------------------------------------------------------- binding inputs


def test_run_with_a_missing_input_raises_workflow_input_error() -> None:
    def misuse() -> None:
        billing.run()  # type: ignore[call-arg]  # deliberately missing amount

    with pytest.raises(
        WorkflowInputError,
        match=r"^Workflow 'billing' was started with inputs that do not bind to "
        r"billing\(amount: 'int', items: 'list\[int\] \| None' = None\) -> 'int' "
        r"\(missing 'amount'\) \(test_validation\.py:\d+\); "
        r"pass every input the workflow declares, by name$",
    ) as info:
        misuse()

    line = first_body_line(misuse)
    assert info.value.workflow == "billing"
    assert info.value.location == f"test_validation.py:{line}"
    assert info.value.problems == ("missing 'amount'",)
    assert isinstance(info.value, TracingError)


def test_run_with_an_unknown_input_raises_workflow_input_error() -> None:
    with pytest.raises(
        WorkflowInputError,
        match=r"^Workflow 'billing' was started with inputs that do not bind to .*"
        r"\(unknown keyword 'coupon'\)",
    ) as info:
        billing.run(amount=1, coupon="FREE")  # type: ignore[call-arg]  # deliberately unknown

    assert info.value.workflow == "billing"
    assert info.value.problems == ("unknown keyword 'coupon'",)


def test_inputs_that_do_not_bind_are_listed_all_at_once() -> None:
    with pytest.raises(
        WorkflowInputError,
        match=r"\(3 positional arguments given, but it takes 2; 'amount' given "
        r"twice, by position and by keyword; unknown keyword 'itmes' \(did you "
        r"mean 'items'\?\)\)",
    ) as info:
        billing.run(1, [2], 3, amount=1, itmes=[3])  # type: ignore[call-arg, misc]  # deliberately wrong

    assert info.value.problems == (
        "3 positional arguments given, but it takes 2",
        "'amount' given twice, by position and by keyword",
        "unknown keyword 'itmes' (did you mean 'items'?)",
    )


def test_call_with_a_missing_input_raises_workflow_input_error() -> None:
    with pytest.raises(WorkflowInputError, match=r"\(missing 'amount'\)") as info:
        billing()  # type: ignore[call-arg]  # deliberately missing amount

    assert info.value.workflow == "billing"


def test_graph_with_an_unknown_input_raises_workflow_input_error() -> None:
    with pytest.raises(
        WorkflowInputError,
        match=r"\(unknown keyword 'coupon'\)",
    ) as info:
        billing.graph(coupon="FREE")

    assert info.value.workflow == "billing"


def test_graph_with_a_missing_input_uses_a_placeholder() -> None:
    graph = billing.graph()

    assert graph.inputs == ("amount",)
    assert _node(graph.node("charge")).args["amount"] == InputArg(name="amount")


# ---------------------------------------------------------------- input types


def test_run_with_an_input_of_the_wrong_type_raises_without_the_value() -> None:
    with pytest.raises(
        ArgumentValidationError,
        match=r"^Workflow 'billing' got an invalid input \('amount': Input should "
        r"be a valid integer, unable to parse string as an integer\); pass values "
        r"of the annotated types$",
    ) as info:
        billing.run(amount=SECRET)  # type: ignore[arg-type]  # deliberately a str

    error = info.value
    assert error.workflow == "billing"
    assert error.task_id is None
    assert error.fields == ("amount",)
    assert SECRET not in str(error)
    assert SECRET not in repr(error.errors)
    assert error.__cause__ is None
    assert error.__context__ is None


def test_graph_with_an_input_of_the_wrong_type_names_the_nested_field() -> None:
    with pytest.raises(
        ArgumentValidationError,
        match=r"^Workflow 'billing' got an invalid input \('items\.1': ",
    ) as info:
        billing.graph(amount=1, items=[1, SECRET])

    error = info.value
    assert error.workflow == "billing"
    assert error.task_id is None
    assert error.fields == ("items.1",)
    assert SECRET not in str(error)
    assert SECRET not in repr(error.errors)


def test_inputs_are_coerced_to_their_annotations() -> None:
    graph = billing.graph(amount="12")

    assert _node(graph.node("charge")).args["amount"] == ValueArg(value=12)


# ---------------------------------------------------------------- task arguments


def test_literal_argument_of_the_wrong_type_is_recorded_as_invalid() -> None:
    @workflow
    def pay() -> int:
        return charge(SECRET, tags=[7, "ok"])  # type: ignore[arg-type, list-item]  # deliberately wrong types

    traced = pay.compile((), {})

    error = invalid_of(traced)["charge"]
    assert isinstance(error, ArgumentValidationError)
    assert error.workflow == "pay"
    assert error.task_id == "charge"
    assert error.fields == ("amount", "tags.0")
    assert str(error).startswith(
        "Task 'charge' in workflow 'pay' got an invalid argument ('amount': "
    )
    assert str(error).endswith(
        "; pass a value of the annotated type, or change the annotation"
    )
    assert SECRET not in str(error)
    assert SECRET not in repr(error.errors)
    assert traced.graph().node("charge").id == "charge"


def test_invalid_literal_is_recorded_under_its_numbered_id() -> None:
    @workflow
    def pay() -> None:
        charge(1, ["a"])
        charge("many", ["a"])  # type: ignore[arg-type]  # deliberately a str

    traced = pay.compile((), {})

    assert list(invalid_of(traced)) == ["charge#2"]
    assert invalid_of(traced)["charge#2"].fields == ("amount",)


def test_valid_literals_record_nothing() -> None:
    traced = billing.compile((), {"amount": 5})

    assert invalid_of(traced) == {}


def test_future_arguments_are_not_validated_while_tracing() -> None:
    @task
    def label() -> str:
        return "not a number"

    @workflow
    def pay() -> int:
        return charge(label(), tags=[label()])  # type: ignore[arg-type]  # a str future on purpose

    traced = pay.compile((), {})

    assert invalid_of(traced) == {}


def test_bound_literal_of_a_map_is_validated_while_tracing() -> None:
    @workflow
    def pay() -> list[int]:
        return charge.partial(tags=SECRET).map(amount=[1, 2])

    traced = pay.compile((), {})

    error = invalid_of(traced)["charge"]
    assert error.task_id == "charge"
    assert error.fields == ("tags",)
    assert SECRET not in str(error)


def test_invalid_literal_of_a_sub_workflow_is_recorded_as_invalid() -> None:
    @workflow
    def parent() -> int:
        return billing(amount=SECRET)  # type: ignore[arg-type]  # deliberately a str

    traced = parent.compile((), {})

    error = invalid_of(traced)["billing"]
    assert error.workflow == "parent"
    assert error.task_id == "billing"
    assert error.fields == ("amount",)
    assert SECRET not in str(error)


def test_unannotated_any_object_and_variadic_parameters_are_not_validated() -> None:
    @workflow
    def flow() -> None:
        audit(object(), object(), object(), 1, 2, key=3)

    assert invalid_of(flow.compile((), {})) == {}
    assert audit.call_signature.adapters() == {}


def test_annotation_defined_after_the_task_is_resolved_on_first_use() -> None:
    @workflow
    def flow() -> None:
        store({"size": SECRET})  # type: ignore[arg-type]  # deliberately a dict with a str

    error = invalid_of(flow.compile((), {}))["store"]

    assert error.fields == ("item.size",)
    assert SECRET not in str(error)


def test_an_annotation_that_does_not_resolve_fails_the_first_use_naming_it() -> None:
    def function(known: int, unknown: object) -> None:
        return None

    function.__annotations__ = {"known": int, "unknown": "NoSuchType"}
    signature = CallSignature(function, "function")  # declaring it is fine

    assert not signature.is_resolved
    with pytest.raises(
        SignatureError,
        match=r"^Cannot resolve the annotation 'NoSuchType' of parameter 'unknown' "
        r"of 'function' \(test_validation\.py:\d+\): NameError: name 'NoSuchType' "
        r"is not defined; define or import that name at module level in "
        r"test_validation\.py \(an import under `if TYPE_CHECKING:` is not enough",
    ) as info:
        signature.validate({"known": 1, "unknown": 2}, workflow="flow", task_id="f")

    assert info.value.task == "function"
    assert info.value.parameter == "unknown"
    assert isinstance(info.value, TypeError)


def test_a_task_with_an_unresolvable_annotation_fails_when_traced() -> None:
    @task
    def put(amount: int, item: NoSuchItem) -> None:  # type: ignore[name-defined]  # noqa: F821  # on purpose
        return None

    @workflow
    def flow() -> None:
        put(1, None)

    with pytest.raises(SignatureError, match=r"'NoSuchItem' of parameter 'item'"):
        flow.graph()


def test_a_workflow_input_with_an_unresolvable_annotation_fails_the_run() -> None:
    @workflow
    def flow(order: NoSuchOrder) -> None:  # type: ignore[name-defined]  # noqa: F821  # on purpose
        return None

    with pytest.raises(SignatureError, match=r"of parameter 'order' of 'flow'") as info:
        flow.run(order=1)

    assert (info.value.task, info.value.parameter) == ("flow", "order")


def test_a_local_class_defined_after_the_task_resolves_at_first_use() -> None:
    @task
    def put(item: DefinedBelow) -> None:
        return None

    class DefinedBelow(BaseModel):
        size: int

    @workflow
    def flow() -> None:
        put({"size": SECRET})  # type: ignore[arg-type]  # deliberately a dict with a str

    assert not put.call_signature.is_resolved  # defined after the decorator
    error = invalid_of(flow.compile((), {}))["put"]

    assert error.fields == ("item.size",)
    assert put.call_signature.is_resolved


def test_a_local_class_defined_before_the_task_is_resolved() -> None:
    class Local(BaseModel):
        size: int

    @task
    def put(amount: int, item: Local) -> None:
        return None

    @workflow
    def flow() -> None:
        put(SECRET, Local(size=1))  # type: ignore[arg-type]  # deliberately a str

    assert invalid_of(flow.compile((), {}))["put"].fields == ("amount",)


# ---------------------------------------------------------------- signatures


def test_call_signature_splits_arguments_for_a_variadic_function() -> None:
    signature = audit.call_signature

    args, kwargs = signature.call_parts(
        {"note": 1, "extra": 2, "untyped": 3, "more": (4, 5), "rest": {"k": 6}}
    )

    assert not signature.is_simple
    assert args == (1, 2, 3, 4, 5)
    assert kwargs == {"k": 6}


def test_call_signature_passes_simple_arguments_by_name() -> None:
    signature = charge.call_signature

    assert signature.is_simple
    assert signature.call_parts({"amount": 1, "tags": []}) == (
        (),
        {"amount": 1, "tags": []},
    )


def test_an_unresolvable_annotation_of_a_callable_object_names_no_line() -> None:
    class Scorer:
        def __call__(self, item: object) -> int:
            return 1

    scorer = Scorer()
    scorer.__annotations__ = {"item": "NoSuchItem"}  # on purpose

    signature = CallSignature(scorer, "scorer")

    with pytest.raises(SignatureError, match=r"of 'scorer' \(unknown location\)"):
        signature.adapters()
