"""Operations: from a signature to a request, and from the response to a value.

Path values are quoted whole, the URL must stay under the connector's base
URL, the other arguments go to the query or a JSON body (``Query()``,
``Header()`` and ``Body()`` say otherwise), and the return annotation
validates the answer. HTTP is mocked with respx; nothing leaves the process.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import httpx
import pytest
import respx
from pydantic import BaseModel, Field

from fiscus_dsl import (
    ArgumentValidationError,
    Body,
    ConfigurationError,
    Connector,
    FiscusErrorCode,
    Header,
    Query,
    ResponseValidationError,
    Retry,
    Secret,
    SignatureError,
    UnsafeURLError,
)

from .conftest import BASE

if TYPE_CHECKING:
    from fiscus_dsl import Runner

# A value that looks like a live credential; it must never reach a message.
CANARY = "sk_live_operations_CANARY_8f7e6d5c"


class Contact(BaseModel):
    id: int
    name: str
    email: str


class Login(BaseModel):
    user: str
    password: Secret
    remember_me: bool = Field(default=False, alias="rememberMe")


crm = Connector("CRM", BASE)


@crm.operation("GET /contacts/{contact_id}")
def get_contact(contact_id: str) -> Contact:
    """Fetch one contact."""
    raise NotImplementedError


@crm.operation("GET /contacts")
def list_contacts(
    page: int = 1,
    q: str | None = None,
    tags: list[str | None] | None = None,
    active: bool = True,
) -> list[Contact]:
    """List contacts."""
    raise NotImplementedError


@crm.operation("POST /contacts")
def create_contact(
    name: str, email: str, note: str | None = None, source: str = "api"
) -> Contact:
    """Create a contact."""
    raise NotImplementedError


@crm.operation("POST /contacts/{contact_id}/notes")
def add_note(
    contact_id: int,
    text: str,
    notify: Annotated[bool, Query()] = False,
    dry_run: Annotated[bool, Query(alias="dry-run")] = False,
    trace: Annotated[str | None, Header(alias="X-Trace-Id")] = None,
    request_id: Annotated[str | None, Header()] = None,
) -> dict[str, str]:
    """Add a note to a contact."""
    raise NotImplementedError


@crm.operation("PUT /contacts/{contact_id}")
def replace_contact(
    contact_id: int,
    contact: Annotated[Contact | None, Body()],
    version: Annotated[int, Query()] = 1,
) -> Contact:
    """Replace a contact."""
    raise NotImplementedError


@crm.operation("DELETE /contacts/{contact_id}")
def delete_contact(contact_id: int) -> None:
    """Delete a contact."""


@crm.operation("GET /export")
def export() -> httpx.Response:
    """Export everything, raw."""
    raise NotImplementedError


@crm.operation("GET /stats")
def stats() -> dict[str, int]:
    """Counts by kind."""
    raise NotImplementedError


@crm.operation("GET /anything")
def anything() -> object:
    """Whatever the API says."""


@crm.operation("POST /contacts/bulk")
def tag_contacts(
    ids: list[int],
    tags: tuple[Secret, ...] = (),
    limit: Annotated[int, Field(ge=1), Query()] = 10,
    dry_run: Annotated[bool, "a note that is no marker"] = False,
) -> None:
    """Tag contacts in bulk: lists and tuples in the body, plain metadata."""


@crm.operation("POST /login")
def login(credentials: Annotated[Login, Body()]) -> None:
    """Log in with a model that holds a secret."""


@crm.operation("POST /keys/{key_id}/rotate")
def rotate_key(
    key_id: Secret, new_key: Secret, header_key: Annotated[Secret, Header()]
) -> None:
    """Rotate a key: secrets in the path, the body and a header."""


def things(page: int | None = 1, q: str | None = None) -> None:
    """A signature to declare with different methods."""


def contact_json(contact_id: int = 42) -> dict[str, object]:
    return {"id": contact_id, "name": "Ada", "email": "ada@example.com"}


# ---------------------------------------------------------------- path values


@pytest.mark.parametrize(
    ("value", "raw_path"),
    [
        ("42", b"/v1/contacts/42"),
        ("../admin", b"/v1/contacts/..%2Fadmin"),
        ("x?role=admin", b"/v1/contacts/x%3Frole%3Dadmin"),
        ("x#frag", b"/v1/contacts/x%23frag"),
        ("a/b", b"/v1/contacts/a%2Fb"),
        ("https://evil.test/steal", b"/v1/contacts/https%3A%2F%2Fevil.test%2Fsteal"),
        ("a b&c", b"/v1/contacts/a%20b%26c"),
        ("café", b"/v1/contacts/caf%C3%A9"),
        ("%2E%2E", b"/v1/contacts/%252E%252E"),
        (".", b"/v1/contacts/%2E"),
        ("..", b"/v1/contacts/%2E%2E"),
        ("...", b"/v1/contacts/..."),
    ],
)
@pytest.mark.usefixtures("runner")
def test_a_path_value_is_quoted_whole(
    api: respx.MockRouter, value: str, raw_path: bytes
) -> None:
    route = api.get(name="contact").respond(json=contact_json())

    assert get_contact(contact_id=value) == Contact.model_validate(contact_json())

    assert route.calls.last.request.url.raw_path == raw_path
    assert route.calls.last.request.url.host == "api.example.test"


@pytest.mark.usefixtures("runner")
def test_a_path_value_that_is_not_a_str_is_sent_as_text(
    api: respx.MockRouter,
) -> None:
    route = api.delete("/contacts/7").respond(204)

    assert delete_contact(contact_id=7) is None
    assert route.call_count == 1


@pytest.mark.usefixtures("runner")
def test_a_route_that_climbs_out_of_the_base_path_is_refused_before_sending(
    api: respx.MockRouter,
) -> None:
    escape = Connector("CRM", BASE)

    @escape.operation("GET /../admin/{user}", retry=Retry(attempts=3))
    def admin(user: str) -> None:
        """A route written to leave the base path."""

    with pytest.raises(
        UnsafeURLError, match=r"built https://api\.example\.test/admin/"
    ) as caught:
        admin(user="root")

    error = caught.value
    assert (error.connector, error.operation, error.method) == ("CRM", "admin", "GET")
    assert error.url == "https://api.example.test/admin/root"
    assert "nothing was sent" in str(error)
    assert error.retryable is False
    assert not api.calls


@pytest.mark.usefixtures("runner")
@pytest.mark.parametrize(
    ("base_url", "raw_path"),
    [
        ("https://api.example.test/caf%C3%A9", b"/caf%C3%A9/things"),
        ("https://api.example.test/a%2Fb", b"/a%2Fb/things"),
        ("https://api.example.test/%7Btenant%7D", b"/%7Btenant%7D/things"),
        ("https://api.example.test/v1%3Fbeta", b"/v1%3Fbeta/things"),
        ("https://api.example.test/v1/", b"/v1/things"),
        ("https://api.example.test", b"/things"),
    ],
)
def test_the_base_path_is_kept_byte_for_byte(base_url: str, raw_path: bytes) -> None:
    shop = Connector("Shop", base_url)
    get_things = shop.operation("GET /things")(things)

    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        route = router.get(name="things").respond(204)
        get_things()

    assert route.calls.last.request.url.raw_path == raw_path + b"?page=1"


# ---------------------------------------------------------------- query and body


@pytest.mark.usefixtures("runner")
def test_get_arguments_go_to_the_query_with_defaults_and_without_none(
    api: respx.MockRouter,
) -> None:
    route = api.get("/contacts").respond(json=[])

    assert list_contacts(q="ada") == []

    request = route.calls.last.request
    assert request.url.query == b"page=1&q=ada&active=true"
    assert request.content == b""


@pytest.mark.usefixtures("runner")
def test_a_list_argument_repeats_the_query_parameter_without_none_items(
    api: respx.MockRouter,
) -> None:
    route = api.get("/contacts").respond(json=[])

    list_contacts(tags=["vip", None, "new"], active=False)

    assert route.calls.last.request.url.query == (
        b"page=1&tags=vip&tags=new&active=false"
    )


@pytest.mark.usefixtures("runner")
@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "OPTIONS"])
def test_query_methods_send_the_arguments_in_the_query(
    api: respx.MockRouter, method: str
) -> None:
    shop = Connector("Shop", BASE)
    operation = shop.operation(f"{method} /things")(things)
    route = api.route(method=method, path="/things").respond(204)

    operation(page=2)

    assert route.calls.last.request.url.query == b"page=2"
    assert route.calls.last.request.content == b""


@pytest.mark.usefixtures("runner")
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_body_methods_send_the_arguments_as_a_json_object(
    api: respx.MockRouter, method: str
) -> None:
    shop = Connector("Shop", BASE)
    operation = shop.operation(f"{method} /things")(things)
    route = api.route(method=method, path="/things").respond(204)

    operation(page=2)

    request = route.calls.last.request
    assert request.url.query == b""
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {"page": 2}


@pytest.mark.usefixtures("runner")
def test_a_post_sends_defaults_and_leaves_none_out(api: respx.MockRouter) -> None:
    route = api.post("/contacts").respond(201, json=contact_json())

    create_contact(name="Ada", email="ada@example.com")

    assert json.loads(route.calls.last.request.content) == {
        "name": "Ada",
        "email": "ada@example.com",
        "source": "api",
    }


@pytest.mark.usefixtures("runner")
def test_a_post_without_body_arguments_sends_no_body(api: respx.MockRouter) -> None:
    shop = Connector("Shop", BASE)
    operation = shop.operation("POST /things")(things)
    route = api.post("/things").respond(204)

    operation(page=None, q=None)

    request = route.calls.last.request
    assert request.content == b""
    assert "Content-Type" not in request.headers


@pytest.mark.usefixtures("runner")
def test_lists_and_tuples_in_the_body_are_sent_as_arrays(
    api: respx.MockRouter,
) -> None:
    route = api.post("/contacts/bulk").respond(204)

    tag_contacts(ids=[1, 2], tags=(Secret("tag_CANARY_secret_1"),))

    assert route.calls.last.request.url.query == b"limit=10"
    assert json.loads(route.calls.last.request.content) == {
        "ids": [1, 2],
        "tags": ["tag_CANARY_secret_1"],
        "dry_run": False,
    }


# ---------------------------------------------------------------- markers


@pytest.mark.usefixtures("runner")
def test_query_and_header_markers_move_arguments_out_of_the_body(
    api: respx.MockRouter,
) -> None:
    route = api.post("/contacts/42/notes").respond(json={"status": "ok"})

    result = add_note(
        contact_id=42, text="hi", notify=True, trace="t-1", request_id="r-9"
    )

    assert result == {"status": "ok"}
    request = route.calls.last.request
    assert request.url.query == b"notify=true&dry-run=false"
    assert request.headers["X-Trace-Id"] == "t-1"
    assert request.headers["request-id"] == "r-9"
    assert json.loads(request.content) == {"text": "hi"}


@pytest.mark.usefixtures("runner")
def test_a_header_argument_of_none_is_not_sent(api: respx.MockRouter) -> None:
    route = api.post("/contacts/42/notes").respond(json={})

    add_note(contact_id=42, text="hi")

    request = route.calls.last.request
    assert "X-Trace-Id" not in request.headers
    assert "request-id" not in request.headers


@pytest.mark.usefixtures("runner")
def test_the_body_marker_sends_the_value_as_the_whole_body(
    api: respx.MockRouter,
) -> None:
    route = api.put("/contacts/42").respond(json=contact_json())
    contact = Contact(id=42, name="Ada", email="ada@example.com")

    assert replace_contact(contact_id=42, contact=contact, version=3) == contact

    request = route.calls.last.request
    assert request.url.query == b"version=3"
    assert json.loads(request.content) == contact_json()


@pytest.mark.usefixtures("runner")
def test_a_body_argument_of_none_sends_no_body(api: respx.MockRouter) -> None:
    route = api.put("/contacts/42").respond(json=contact_json())

    replace_contact(contact_id=42, contact=None)

    assert route.calls.last.request.content == b""


@pytest.mark.usefixtures("runner")
def test_a_model_body_is_sent_by_alias_with_its_secrets_revealed(
    api: respx.MockRouter,
) -> None:
    route = api.post("/login").respond(204)

    login(credentials=Login(user="ada", password=Secret(CANARY), rememberMe=True))

    assert json.loads(route.calls.last.request.content) == {
        "user": "ada",
        "password": CANARY,
        "rememberMe": True,
    }


@pytest.mark.usefixtures("runner")
def test_secret_arguments_are_sent_revealed_in_path_body_and_header(
    api: respx.MockRouter,
) -> None:
    route = api.post(name="rotate").respond(204)

    rotate_key(
        key_id=Secret("key_old_CANARY_1234"),
        new_key=Secret("key_new_CANARY_5678"),
        header_key=Secret("key_hdr_CANARY_9012"),
    )

    request = route.calls.last.request
    assert request.url.raw_path == b"/v1/keys/key_old_CANARY_1234/rotate"
    assert json.loads(request.content) == {"new_key": "key_new_CANARY_5678"}
    assert request.headers["header-key"] == "key_hdr_CANARY_9012"


@pytest.mark.usefixtures("runner")
def test_annotated_metadata_that_is_no_marker_still_validates(
    api: respx.MockRouter,
) -> None:
    with pytest.raises(ArgumentValidationError, match=r"'limit'") as caught:
        tag_contacts(ids=[1], limit=0)

    assert caught.value.fields == ("limit",)
    assert not api.calls


# ---------------------------------------------------------------- declarations


@pytest.mark.parametrize(
    ("route", "match"),
    [
        ("GET", r"has the route 'GET'; write it as 'METHOD /path/\{param\}'"),
        ("FETCH /things", r"METHOD one of \['DELETE', 'GET'"),
        ("GET things", r"has the route 'GET things'"),
        ("GET /things?page=1", r"has a query or fragment; declare query parameters"),
        ("GET /things#top", r"has a query or fragment"),
        ("GET /things/{thing_id}", r"names \['thing_id'\] that are not parameters"),
    ],
)
def test_a_malformed_route_is_refused_at_declaration(route: str, match: str) -> None:
    shop = Connector("Shop", BASE)

    with pytest.raises(ConfigurationError, match=match):
        shop.operation(route)(things)


def test_a_lower_case_method_is_accepted() -> None:
    shop = Connector("Shop", BASE)

    operation = shop.operation("  get /things ")(things)

    assert operation.name == "things"


def test_var_args_are_refused_at_declaration() -> None:
    shop = Connector("Shop", BASE)

    def search(*terms: str) -> None:
        """Search."""

    with pytest.raises(
        ConfigurationError, match=r"takes \*terms; declare each parameter"
    ):
        shop.operation("GET /search")(search)


def test_two_body_markers_are_refused_at_declaration() -> None:
    shop = Connector("Shop", BASE)

    def both(a: Annotated[Contact, Body()], b: Annotated[Contact, Body()]) -> None:
        """Two bodies."""

    with pytest.raises(
        ConfigurationError, match=r"more than one parameter with Body\(\)"
    ):
        shop.operation("POST /both")(both)


def test_a_plain_field_beside_a_body_marker_is_refused_at_declaration() -> None:
    shop = Connector("Shop", BASE)

    def update(contact: Annotated[Contact, Body()], notify: bool = False) -> None:
        """A body and a field that would be lost."""

    with pytest.raises(
        ConfigurationError,
        match=r"so \['notify'\] have nowhere to go; mark them Query\(\)",
    ):
        shop.operation("POST /update")(update)


def test_an_unresolvable_annotation_fails_the_call_instead_of_moving_a_header(
    api: respx.MockRouter,
) -> None:
    from . import unresolved_operation

    with pytest.raises(
        SignatureError,
        match=r"^Cannot resolve the annotation 'Decimal' of parameter 'limit' of "
        r"'list_orders' \(unresolved_operation\.py:\d+\): NameError: name "
        r"'Decimal' is not defined; define or import that name at module level in "
        r"unresolved_operation\.py \(an import under `if TYPE_CHECKING:` is not "
        r"enough",
    ) as info:
        unresolved_operation.list_orders(request_id="req-7", limit=Decimal("10"))

    assert isinstance(info.value, TypeError)
    assert (info.value.task, info.value.parameter) == ("list_orders", "limit")
    assert not api.calls  # nothing was sent, least of all with the header moved


@pytest.mark.usefixtures("runner")
def test_with_every_annotation_resolved_the_header_is_sent_as_a_header(
    api: respx.MockRouter,
) -> None:
    from . import resolved_operation

    route = api.get("/orders").respond(json={"orders": ["o-1"]})

    page = resolved_operation.list_orders(request_id="req-7", limit=Decimal("10"))

    assert page == resolved_operation.OrderPage(orders=["o-1"])
    request = route.calls.last.request
    assert request.headers["X-Request-Id"] == "req-7"
    assert request.url.params.multi_items() == [("limit", "10")]


def test_a_local_class_defined_after_the_operation_is_resolved_at_first_call(
    runner: Runner, api: respx.MockRouter
) -> None:
    shop = Connector("Shop", BASE)

    @shop.operation("GET /lookup")
    def lookup(
        code: Annotated[Code, Header(alias="X-Code")],
    ) -> dict[str, object]:
        """Look a code up."""
        raise NotImplementedError

    class Code(BaseModel):
        value: str

        def __str__(self) -> str:
            return self.value

    route = api.get("/lookup").respond(json={})

    assert lookup(code=Code(value="x1")) == {}
    assert route.calls.last.request.headers["X-Code"] == "x1"
    assert route.calls.last.request.url.query == b""


@pytest.mark.usefixtures("runner")
def test_a_marker_inside_an_optional_is_kept(api: respx.MockRouter) -> None:
    shop = Connector("Shop", BASE)

    @shop.operation("GET /orders")
    def orders(
        trace: Annotated[str, Header(alias="X-Trace-Id")] | None = None,
    ) -> dict[str, object]:
        """List orders, maybe traced."""
        raise NotImplementedError

    route = api.get("/orders").respond(json={})

    orders(trace="t-1")
    orders()

    first, second = route.calls
    assert first.request.headers["X-Trace-Id"] == "t-1"
    assert first.request.url.query == b""
    assert "X-Trace-Id" not in second.request.headers


# ---------------------------------------------------------------- responses


@pytest.mark.usefixtures("runner")
def test_a_model_return_annotation_validates_the_answer(
    api: respx.MockRouter,
) -> None:
    api.get("/contacts/42").respond(json={"id": "42", "name": "Ada", "email": "a@x"})

    contact = get_contact(contact_id="42")

    assert contact == Contact(id=42, name="Ada", email="a@x")


@pytest.mark.usefixtures("runner")
async def test_an_operation_declared_with_def_returns_its_value_in_a_running_loop(
    api: respx.MockRouter,
) -> None:
    api.get("/contacts/42").respond(json={"id": "42", "name": "Ada", "email": "a@x"})

    contact = get_contact(contact_id="42")  # the sender is async; the def is not

    assert contact == Contact(id=42, name="Ada", email="a@x")


@pytest.mark.usefixtures("runner")
def test_a_list_of_models_is_validated_item_by_item(api: respx.MockRouter) -> None:
    api.get("/contacts").respond(json=[contact_json(1), contact_json(2)])

    contacts = list_contacts()

    assert [contact.id for contact in contacts] == [1, 2]
    assert all(isinstance(contact, Contact) for contact in contacts)


@pytest.mark.usefixtures("runner")
def test_a_dict_return_annotation_validates_the_values(api: respx.MockRouter) -> None:
    api.get("/stats").respond(json={"open": "3", "closed": 4})

    assert stats() == {"open": 3, "closed": 4}


@pytest.mark.usefixtures("runner")
def test_a_none_return_annotation_ignores_the_body(api: respx.MockRouter) -> None:
    api.delete("/contacts/42").respond(200, json={"deleted": True})

    assert delete_contact(contact_id=42) is None


@pytest.mark.usefixtures("runner")
def test_an_httpx_response_return_annotation_returns_it_raw_and_read(
    api: respx.MockRouter,
) -> None:
    api.get("/export").respond(200, text="id,name\n1,Ada\n")

    response = export()

    assert isinstance(response, httpx.Response)
    assert response.status_code == 200
    assert response.text == "id,name\n1,Ada\n"
    assert response.is_closed


@pytest.mark.usefixtures("runner")
def test_an_object_return_annotation_returns_the_json(api: respx.MockRouter) -> None:
    api.get("/anything").respond(json={"a": [1, 2]})

    assert anything() == {"a": [1, 2]}


@pytest.mark.usefixtures("runner")
def test_an_empty_answer_to_an_untyped_operation_is_none(
    api: respx.MockRouter,
) -> None:
    api.get("/anything").respond(204)

    assert anything() is None


@pytest.mark.usefixtures("runner")
def test_an_answer_that_does_not_validate_names_the_operation_and_field(
    api: respx.MockRouter,
) -> None:
    route = api.get("/contacts/42").respond(
        json={"id": CANARY, "name": "Ada", "mail": CANARY}
    )

    with pytest.raises(
        ResponseValidationError,
        match=(
            r"^The answer does not match Contact \('id': Input should be a valid "
            r"integer.*'email': Field required\): operation 'get_contact' of "
            r"connector 'CRM' \(GET https://api\.example\.test/v1/contacts/42\); "
            r"fix the return annotation or ask the API's owners$"
        ),
    ) as caught:
        get_contact(contact_id="42")

    error = caught.value
    assert error.fields == ("id", "email")
    assert (error.connector, error.operation) == ("CRM", "get_contact")
    assert (error.method, error.url) == ("GET", f"{BASE}/contacts/42")
    assert error.code is FiscusErrorCode.INTERNAL_ERROR
    assert error.retryable is False
    assert CANARY not in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__ is True
    assert route.call_count == 1, "a validation error is not retried"


@pytest.mark.usefixtures("runner")
def test_a_list_item_that_does_not_validate_is_named_by_its_index(
    api: respx.MockRouter,
) -> None:
    api.get("/contacts").respond(json=[contact_json(1), {"id": 2, "name": "Bo"}])

    with pytest.raises(ResponseValidationError, match=r"does not match list") as caught:
        list_contacts()

    assert caught.value.fields == ("1.email",)


@pytest.mark.usefixtures("runner")
def test_an_empty_answer_where_a_model_is_expected_does_not_validate(
    api: respx.MockRouter,
) -> None:
    api.get("/contacts/42").respond(204)

    with pytest.raises(
        ResponseValidationError, match=r"'<body>': Input should be"
    ) as caught:
        get_contact(contact_id="42")

    assert caught.value.fields == ("<body>",)


@pytest.mark.usefixtures("runner")
def test_an_answer_that_is_not_json_fails_without_echoing_it(
    api: respx.MockRouter,
) -> None:
    api.get("/contacts/42").respond(200, text=f"<html>{CANARY}</html>")

    with pytest.raises(
        ResponseValidationError,
        match=r"^The answer is not JSON: operation 'get_contact' of connector 'CRM' "
        r"\(GET https://api\.example\.test/v1/contacts/42\); fix",
    ) as caught:
        get_contact(contact_id="42")

    assert caught.value.fields == ("<body>",)
    assert CANARY not in str(caught.value)


@pytest.mark.usefixtures("runner")
def test_a_union_return_annotation_is_named_by_its_repr(
    api: respx.MockRouter,
) -> None:
    shop = Connector("Shop", BASE)

    def maybe_contact() -> Contact | None:
        """A contact, or nothing."""

    operation = shop.operation("GET /maybe")(maybe_contact)
    api.get("/maybe").respond(json={"id": 1})

    with pytest.raises(
        ResponseValidationError, match=r"does not match .*Contact \| None"
    ):
        operation()


# ---------------------------------------------------------------- arguments


@pytest.mark.usefixtures("runner")
def test_an_argument_of_the_wrong_type_fails_before_anything_is_sent(
    api: respx.MockRouter,
) -> None:
    with pytest.raises(ArgumentValidationError, match=r"'contact_id'") as caught:
        delete_contact(contact_id=CANARY)  # type: ignore[arg-type]  # the wrong type is the point

    assert caught.value.fields == ("contact_id",)
    assert CANARY not in str(caught.value)
    assert not api.calls
