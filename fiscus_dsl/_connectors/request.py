"""From an operation's signature to an HTTP request, and from the response to a value.

``Operation`` reads ``"METHOD /path/{param}"`` and the function's
parameters once: path parameters fill the template, each value quoted
whole; the others go to the query (GET, DELETE, HEAD, OPTIONS) or to a JSON
body, unless a ``Query()``, ``Header()`` or ``Body()`` marker in
``Annotated`` says otherwise. The built URL must keep the connector's
scheme, host, port and base path, or nothing is sent. The return
annotation validates the response. A JSON body is measured before it is
built (``check_body_size``): one over the connector's ``max_request_bytes`` is a
``ConnectorError`` and nothing is sent, however its data was made (a task
file's aliases can make a small file stand for a huge body); so is a
header value that is not visible ASCII with inner spaces (RFC 9110's
field value), which httpx cannot encode or h11 refuses. How each value is
written (quoted, as text, as JSON with secrets revealed) is ``values.py``.
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, final

import httpx
from pydantic import TypeAdapter, ValidationError

from fiscus_dsl._connectors.scrub import scrub_url
from fiscus_dsl._connectors.values import (
    json_size,
    plain_text,
    query_texts,
    quote_segment,
    revealed,
)
from fiscus_dsl.errors import ConfigurationError, ConnectorError, FiscusErrorCode

if TYPE_CHECKING:
    from collections.abc import Mapping

    from fiscus_dsl._dsl.signature import CallSignature

METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
QUERY_METHODS: Final = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# What httpx would change in a template's path: a "." or ".." segment (it
# removes them), a character outside RFC 3986's path set or a "%" that
# starts no escape (it quotes them). A template without any is the URL's
# path as is, once its values are quoted.
_HTTPX_CHANGES: Final = re.compile(
    r"(?:^|/)\.\.?(?:/|$)|[^A-Za-z0-9\-._~!$&'()*+,;=:@/%{}]|%(?![0-9A-Fa-f]{2})"
)
#: A header value as RFC 9110 writes it: visible ASCII, inner spaces and tabs.
_HEADER_VALUE: Final = re.compile(r"(?:[\x21-\x7e](?:[ \t]*[\x21-\x7e])*)?")


@final
class UnsendableValueError(ValueError):
    """An argument that cannot go into the request as it is; nothing is sent.

    The sender turns it into a ``ConnectorError`` naming the operation.
    """

    def __init__(self, problem: str, *, location: Location) -> None:
        super().__init__(problem)
        self.location = location
        self.problem = problem


# ---------------------------------------------------------------- markers


@final
@dataclass(frozen=True, slots=True)
class Query:
    """Send this parameter in the query string: ``Annotated[int, Query()]``.

    Args:
        alias: The query parameter's name, if not the Python name.
    """

    alias: str | None = None


@final
@dataclass(frozen=True, slots=True)
class Header:
    """Send this parameter as a header: ``Annotated[str, Header(alias="X-Trace")]``.

    Args:
        alias: The header's name (default: the Python name, ``_`` as ``-``).
    """

    alias: str | None = None


@final
@dataclass(frozen=True, slots=True)
class Body:
    """Send this parameter as the whole JSON body: ``Annotated[Contact, Body()]``."""


Location = Literal["path", "query", "header", "field", "body"]


@final
@dataclass(frozen=True, slots=True)
class Parameter:
    """Where one parameter of an operation goes, and under which name."""

    name: str
    location: Location
    wire_name: str


def _marker(metadata: tuple[object, ...]) -> Query | Header | Body | None:
    """Return the first marker among a parameter's ``Annotated`` metadata."""
    for extra in metadata:
        if isinstance(extra, Query | Header | Body):
            return extra
    return None


# ---------------------------------------------------------------- the operation


@final
@dataclass(frozen=True, slots=True)
class RequestParts:
    """A request ready to send: what ``httpx.AsyncClient.request`` takes.

    ``path`` is the raw (percent-encoded) path under ``base_url``'s origin
    as httpx writes it; ``normalized`` tells whether httpx changed the
    template (removed a dot segment, quoted a character), so that the path
    may have left the base path.
    """

    method: str
    base_url: httpx.URL
    path: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    json: object = None
    has_body: bool = False
    template: str = ""
    normalized: bool = False

    @property
    def url(self) -> httpx.URL:
        """Return the URL without its query, as httpx parses it."""
        return self.base_url.copy_with(raw_path=self.path.encode("ascii"))


@final
@dataclass(frozen=True, slots=True)
class Layout:
    """Where each parameter goes and how the response is read, from the annotations."""

    parameters: tuple[Parameter, ...]
    returns: object
    adapter: TypeAdapter[Any] | None


@final
class Operation:
    """An HTTP operation of a connector, read from its route and signature.

    The parameters' places (path, query, header, body) and the response's
    validator come from the task's one ``CallSignature`` analysis. They are
    laid out when the decorator runs, or at the first call when an
    annotation names a class defined later; an annotation that never
    resolves is a ``SignatureError`` then, rather than a guess.
    """

    __slots__ = (
        "_layout",
        "_template",
        "call_signature",
        "connector",
        "method",
        "name",
        "path",
    )

    def __init__(
        self,
        *,
        connector: str,
        name: str,
        method: str,
        path: str,
        call_signature: CallSignature,
    ) -> None:
        self.connector = connector
        self.name = name
        self.method = method
        self.path = path
        self.call_signature = call_signature
        self._layout: Layout | None = None
        # The last base URL's template, and whether httpx would change it.
        self._template: tuple[httpx.URL, str, bool] | None = None

    @property
    def signature(self) -> inspect.Signature:
        """Return the operation function's ``inspect.Signature``."""
        return self.call_signature.signature

    @property
    def layout(self) -> Layout:
        """Return where the parameters go, laid out on first use.

        Raises:
            SignatureError: An annotation does not resolve.
            ConfigurationError: The markers contradict each other.
        """
        if self._layout is None:
            self._layout = _lay_out(self)
        return self._layout

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        """Return where each parameter goes; see ``layout``."""
        return self.layout.parameters

    @property
    def returns(self) -> object:
        """Return the resolved return annotation (``None`` for no body)."""
        return self.layout.returns

    @property
    def is_idempotent(self) -> bool:
        """Tell whether the method may be repeated without a second effect."""
        return self.method in IDEMPOTENT_METHODS

    def template(self, base_path: str) -> str:
        """Return the low-cardinality URL template: base path and route."""
        return base_path.rstrip("/") + "/" + self.path.lstrip("/")

    def build(
        self,
        arguments: Mapping[str, object],
        base_url: httpx.URL,
        *,
        max_body: int | None,
    ) -> RequestParts:
        """Build the request for bound arguments (defaults applied).

        ``max_body`` is the connector's ``max_request_bytes``.

        Raises:
            UnsendableValueError: A path value is ``None`` or empty, or a
                header value holds a control or non-ASCII character.
            httpx.InvalidURL: The URL would be too long for httpx.
        """
        path_values: dict[str, str] = {}
        params: list[tuple[str, str]] = []
        headers: dict[str, str] = {}
        fields: dict[str, object] = {}
        body: object = None
        has_body = False
        for parameter in self.parameters:
            value = arguments.get(parameter.name)
            if parameter.location == "path":
                try:
                    path_values[parameter.name] = quote_segment(value)
                except ValueError as exc:
                    problem = f"path parameter {parameter.name!r} is None or empty"
                    raise UnsendableValueError(problem, location="path") from exc
            elif value is None:
                continue  # None is left out, wherever it would go
            elif parameter.location == "query":
                params.extend(
                    (parameter.wire_name, text) for text in query_texts(value)
                )
            elif parameter.location == "header":
                headers[parameter.wire_name] = _header_value(parameter, value)
            elif parameter.location == "field":
                fields[parameter.wire_name] = value
            else:
                body, has_body = value, True
        if fields and not has_body:
            body, has_body = fields, True
        if has_body and max_body is not None:
            self.check_body_size(body, base_url, limit=max_body)
        template, normalized = self._template_under(base_url)
        path = _filled(template, path_values, base_url if normalized else None)
        return RequestParts(
            method=self.method,
            base_url=base_url,
            path=path,
            normalized=normalized,
            params=params,
            headers=headers,
            json=revealed(body) if has_body else None,
            has_body=has_body,
            template=template,
        )

    def _template_under(self, base_url: httpx.URL) -> tuple[str, bool]:
        """Return the template under ``base_url``, and whether httpx would change it.

        The raw (still percent-encoded) base path: the decoded one may hold
        "/", "?", "{" or non-ASCII characters that would change the URL.
        Values are quoted whole, so only a template can hold what httpx
        changes; a template without any is the URL's path once filled.
        """
        cached = self._template
        if cached is not None and cached[0] is base_url:
            return cached[1], cached[2]
        template = self.template(base_url.raw_path.decode("ascii"))
        changes = _HTTPX_CHANGES.search(template) is not None
        self._template = (base_url, template, changes)
        return template, changes

    def check_body_size(self, body: object, base_url: httpx.URL, *, limit: int) -> None:
        """Refuse a body whose compact JSON is over ``limit`` bytes, before building it.

        Raises:
            ConnectorError: The body is too big (``INVALID_REQUEST``, not
                retryable); nothing was sent.
        """
        if json_size(body, limit) > limit:
            problem = (
                f"the request body is over {limit:,} bytes of JSON "
                f"(max_request_bytes); nothing was sent. Send the data in smaller "
                "requests, or raise the connector's max_request_bytes"
            )
            raise self._refused(problem, base_url)

    def _refused(self, problem: str, base_url: httpx.URL) -> ConnectorError:
        """Return the error for a request refused before sending: not retryable."""
        return ConnectorError(
            f"Operation {self.name!r} of connector {self.connector!r}: {problem}",
            connector=self.connector,
            operation=self.name,
            method=self.method,
            url=scrub_url(base_url),
            code=FiscusErrorCode.INVALID_REQUEST,
        )

    def parse(self, response: httpx.Response) -> object:
        """Turn a successful response into the operation's return value.

        Raises:
            ValidationError: The body does not match the return annotation.
            ValueError: The body is not JSON where JSON was expected.
        """
        if self.layout.returns is httpx.Response:
            return response
        return self.parse_body(response.content)

    def parse_body(self, content: bytes) -> object:
        """Turn the (decoded) body of a successful response into the return value.

        Raises:
            ValidationError: The body does not match the return annotation.
            ValueError: The body is not JSON where JSON was expected.
        """
        layout = self.layout
        if layout.returns is None:
            return None
        payload = json.loads(content) if content else None
        if layout.adapter is None:
            return payload
        return layout.adapter.validate_python(payload)


def _filled(
    template: str, values: Mapping[str, str], base_url: httpx.URL | None
) -> str:
    """Fill a template's placeholders; with ``base_url``, write it as httpx does.

    httpx removes dot segments and quotes what a path cannot hold (a
    non-ASCII character as UTF-8), leaving the values' escapes as they are.
    """
    path = _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
    if base_url is None:
        return path
    return base_url.copy_with(path=path).raw_path.decode("ascii")


def read_operation(
    signature: CallSignature, route: str, *, connector: str
) -> Operation:
    """Read an operation's route (``"METHOD /path/{param}"``) against its signature.

    The route is checked at once; the parameters are laid out now if their
    annotations resolve, else at the first call.

    Raises:
        ConfigurationError: The route is malformed, or names a parameter the
            function does not have, or the function takes ``*args``/``**kwargs``,
            or its ``Body()`` markers contradict each other.
    """
    name = signature.name
    method, path = _split_route(route, connector=connector, name=name)
    placeholders = _PLACEHOLDER.findall(path)
    unknown = [p for p in placeholders if p not in signature.signature.parameters]
    if unknown:
        where = f"operation {name!r} of connector {connector!r} ({route!r})"
        msg = (
            f"The route of {where} names {unknown} that are not parameters of "
            f"{name}{signature.signature}; add them to the function or fix the route"
        )
        raise ConfigurationError(msg, option="route")
    operation = Operation(
        connector=connector,
        name=name,
        method=method,
        path=path,
        call_signature=signature,
    )
    for param in signature.signature.parameters.values():
        _check_kind(param, _where(operation))
    if signature.is_resolved:
        _ = operation.layout  # contradicting markers fail where they are written
    return operation


def _where(operation: Operation) -> str:
    route = f"{operation.method} {operation.path}"
    return (
        f"operation {operation.name!r} of connector {operation.connector!r} ({route!r})"
    )


def _lay_out(operation: Operation) -> Layout:
    """Place each parameter by the route and its marker; read the return annotation."""
    signature = operation.call_signature
    placeholders = _PLACEHOLDER.findall(operation.path)
    where = _where(operation)
    parameters = tuple(
        _parameter(
            param,
            _marker(signature.metadata(param.name)),
            operation.method,
            placeholders,
        )
        for param in signature.signature.parameters.values()
    )
    if sum(p.location == "body" for p in parameters) > 1:
        msg = f"{where} marks more than one parameter with Body(); mark one at most"
        raise ConfigurationError(msg, option="Body")
    _check_body_alone(parameters, where)
    returns = signature.return_hint()
    return Layout(
        parameters=parameters,
        returns=None if returns is type(None) else returns,
        adapter=_adapter(returns),
    )


def _check_body_alone(parameters: tuple[Parameter, ...], where: str) -> None:
    """Refuse plain body fields beside a ``Body()`` parameter: they would be lost."""
    if not any(p.location == "body" for p in parameters):
        return
    fields = [p.name for p in parameters if p.location == "field"]
    if fields:
        msg = (
            f"{where} sends one parameter as the whole body with Body(), so "
            f"{fields} have nowhere to go; mark them Query() or Header()"
        )
        raise ConfigurationError(msg, option="Body")


def _split_route(route: str, *, connector: str, name: str) -> tuple[str, str]:
    method, _, path = route.strip().partition(" ")
    method = method.upper()
    path = path.strip()
    if method not in METHODS or not path.startswith("/"):
        msg = (
            f"Operation {name!r} of connector {connector!r} has the route {route!r}; "
            f"write it as 'METHOD /path/{{param}}' with METHOD one of {sorted(METHODS)}"
        )
        raise ConfigurationError(msg, option="route")
    if "?" in path or "#" in path:
        msg = (
            f"The route of operation {name!r} of connector {connector!r} has a query "
            "or fragment; declare query parameters as function parameters instead"
        )
        raise ConfigurationError(msg, option="route")
    return method, path


def _check_kind(param: inspect.Parameter, where: str) -> None:
    if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        msg = (
            f"{where} takes *{param.name}; declare each parameter by name so it can "
            "be placed in the path, query, headers or body"
        )
        raise ConfigurationError(msg, option=param.name)


def _parameter(
    param: inspect.Parameter,
    marker: Query | Header | Body | None,
    method: str,
    placeholders: list[str],
) -> Parameter:
    if param.name in placeholders:
        return Parameter(param.name, "path", param.name)
    if isinstance(marker, Query):
        return Parameter(param.name, "query", marker.alias or param.name)
    if isinstance(marker, Header):
        return Parameter(
            param.name, "header", marker.alias or param.name.replace("_", "-")
        )
    if isinstance(marker, Body):
        return Parameter(param.name, "body", param.name)
    location: Location = "query" if method in QUERY_METHODS else "field"
    return Parameter(param.name, location, param.name)


def _adapter(returns: object) -> TypeAdapter[Any] | None:
    if returns in (
        inspect.Signature.empty,
        Any,
        object,
        None,
        type(None),
        httpx.Response,
    ):
        return None
    return TypeAdapter(returns)  # type: ignore[arg-type]  # an annotation is a type form


# ---------------------------------------------------------------- values


def _header_value(parameter: Parameter, value: object) -> str:
    text = plain_text(value)
    if not _HEADER_VALUE.fullmatch(text):
        problem = (
            f"header {parameter.wire_name!r} (parameter {parameter.name!r}) holding a "
            "control character (CR, LF, NUL...), a non-ASCII one or a space at "
            "either end, which a header cannot carry"
        )
        raise UnsendableValueError(problem, location="header")
    return text


def describe_validation(error: ValidationError) -> tuple[list[str], str]:
    """Return the failing fields and a summary of a response validation error."""
    details = error.errors(include_input=False, include_url=False)
    fields = [
        ".".join(str(part) for part in item["loc"]) or "<body>" for item in details
    ]
    summary = "; ".join(
        f"{field_name!r}: {item['msg']}"
        for field_name, item in zip(fields, details, strict=True)
    )
    return fields, summary


def same_origin(url: httpx.URL, base: httpx.URL) -> bool:
    """Tell whether ``url`` keeps the scheme, host, port and base path of ``base``."""
    base_path = base.path.rstrip("/") + "/"
    return (
        url.scheme == base.scheme
        and url.host == base.host
        and url.port == base.port
        and (url.path + "/").startswith(base_path)
    )
