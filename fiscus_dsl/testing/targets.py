"""What a mock points at: a connector's method and URL template, as a pattern.

A ``Target`` is built from an operation task, from a connector and an
operation name, or from a connector and a ``"METHOD /path/{param}"``
route. Its pattern matches the request URL the connector builds: the
connector's scheme, host, port and base path, then the route with
``[^/?#]+`` per ``{param}`` (path values are quoted whole, so they never
hold a ``/``), then any query. ``OperationCall`` reads a recorded request
back as the operation saw it. Connectors are found by name among the live
ones, which the connector layer registers (weakly) as they are made.
Imports the connector layer; respx is used through its objects only.
"""

from __future__ import annotations

import gc
import json
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, final
from urllib.parse import unquote

from fiscus_dsl._connectors.connector import Connector, live_connectors
from fiscus_dsl._connectors.operation import OperationSender
from fiscus_dsl._connectors.request import METHODS, same_origin
from fiscus_dsl._connectors.scrub import scrub_url
from fiscus_dsl._dsl.task import Task
from fiscus_dsl.errors import ConfigurationError, OptionTypeError
from fiscus_dsl.testing.errors import RequestBodyError
from fiscus_dsl.testing.stubs import original_plan

if TYPE_CHECKING:
    import httpx

    from fiscus_dsl._connectors.request import Operation
    from fiscus_dsl._types import JsonValue

_PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One connector endpoint a mock answers: its method and URL pattern."""

    connector: Connector
    method: str
    #: Base path and route, as the connector sends it: ``/v1/contacts/{id}``.
    template: str
    #: ``CRMSystem.create_contact`` for an operation, else the connector's name.
    label: str
    #: The operation's name, when the target is one.
    operation: str | None
    pattern: re.Pattern[str]

    @property
    def key(self) -> tuple[str, str]:
        """Return what makes two targets the same mock: method and pattern."""
        return self.method, self.pattern.pattern

    @property
    def specificity(self) -> tuple[int, int]:
        """Return a sort key: fewer parameters, then longer literal text, first."""
        placeholders = _PLACEHOLDER.findall(self.template)
        literal = _PLACEHOLDER.sub("", self.template)
        return len(placeholders), -len(literal)

    def describe(self) -> str:
        """Return ``"METHOD URL-template (label)"`` for messages."""
        base = self.connector.base_url  # its netloc holds no credentials
        origin = f"{base.scheme}://{base.netloc.decode('ascii')}"
        return f"{self.method} {origin}{self.template} ({self.label})"

    def path_params(self, request: httpx.Request) -> dict[str, str]:
        """Return the path parameters of a request to this target, unquoted."""
        match = self.pattern.match(str(request.url))
        if match is None:
            return {}
        return {name: unquote(value) for name, value in match.groupdict().items()}


def url_pattern(base_url: httpx.URL, template: str) -> re.Pattern[str]:
    """Return the regex of the URLs a connector sends for a path template.

    Examples:
        >>> import httpx
        >>> pattern = url_pattern(httpx.URL("https://crm.test/v1"), "/v1/c/{id}")
        >>> pattern.match("https://crm.test/v1/c/42?full=true")["id"]
        '42'
        >>> pattern.match("https://crm.test/v1/c/42/notes") is None
        True
    """
    origin = re.escape(f"{base_url.scheme}://")
    netloc = re.escape(base_url.netloc.decode("ascii"))
    parts = [f"^{origin}(?:[^@/]*@)?{netloc}"]  # userinfo, if any, is the auth's
    seen: set[str] = set()
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[position : match.start()]))
        name = match.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>[^/?#]+)")
        seen.add(name)
        position = match.end()
    parts.append(re.escape(template[position:]))
    parts.append(r"(?:\?[^#]*)?$")
    return re.compile("".join(parts))


def _base_path(connector: Connector) -> str:
    return connector.base_url.raw_path.decode("ascii")


def _target(
    connector: Connector, method: str, path: str, operation: str | None
) -> Target:
    template = _base_path(connector).rstrip("/") + "/" + path.lstrip("/")
    return Target(
        connector=connector,
        method=method,
        template=template,
        label=connector.name if operation is None else f"{connector.name}.{operation}",
        operation=operation,
        pattern=url_pattern(connector.base_url, template),
    )


def operation_target(connector: Connector, spec: Operation) -> Target:
    """Return the target of one declared operation of ``connector``."""
    return _target(connector, spec.method, spec.path, spec.name)


def route_target(connector: Connector, route: str) -> Target:
    """Return the target of ``"METHOD /path/{param}"`` on ``connector``.

    Raises:
        ConfigurationError: The route is not of that form.
    """
    method, _, path = route.strip().partition(" ")
    method, path = method.upper(), path.strip()
    if method not in METHODS or not path.startswith("/") or "?" in path:
        msg = (
            f"route({connector.name!r}, {route!r}) is not a route; write it as "
            f"'METHOD /path/{{param}}' with METHOD one of {sorted(METHODS)} and "
            "no query"
        )
        raise ConfigurationError(msg, option="route")
    return _target(connector, method, path, None)


# ---------------------------------------------------------------- finding them


def module_connectors() -> list[Connector]:
    """Return the connectors held by a global of a module imported now."""
    found: dict[int, Connector] = {}
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for value in list(namespace.values()):
            if type(value) is Connector:
                found[id(value)] = value
    return list(found.values())


def sender_of(task: Task[..., Any]) -> OperationSender | None:
    """Return the sender of an operation task (stubbed or not), else ``None``."""
    owner = getattr(original_plan(task).function, "__self__", None)
    return owner if isinstance(owner, OperationSender) else None


def task_target(task: object) -> Target:
    """Return the target of an operation task.

    Raises:
        OptionTypeError: ``task`` is not a task, or not an operation (a plain task
            or a ``@connector.task``, which have no route of their own).
    """
    if not isinstance(task, Task):
        msg = (
            "operation() takes an operation task, or a connector name and an "
            f"operation name, not {type(task).__name__}: {task!r}"
        )
        raise OptionTypeError(msg, option="task")
    sender = sender_of(task)
    if sender is not None:
        return operation_target(sender.connector, sender.spec)
    owner = next(
        (
            connector
            for connector in live_connectors()
            if any(known is task for known in connector.operations.values())
        ),
        None,
    )
    if owner is not None:
        msg = (
            f"Task {task.name!r} of connector {owner.name!r} is hand-written, so it "
            "has no route of its own; mock the requests it sends with "
            f"fiscus_mock.route(connector, 'METHOD /path'), or stub it with "
            f"fiscus_mock.stub({task.name}, returns=...)"
        )
        raise OptionTypeError(msg, option="task")
    msg = (
        f"Task {task.name!r} is not an operation of a connector, so it sends no "
        f"request to mock; stub it instead: fiscus_mock.stub({task.name}, "
        "returns=...)"
    )
    raise OptionTypeError(msg, option="task")


def named_target(connector_name: str, operation_name: str) -> Target:
    """Return the target of an operation found by connector and operation name.

    The connectors declared at module level in the modules imported now
    are searched first, then every live one (a connector made inside a
    function, say). Connectors of the same name with the same operation at
    the same URL are one target (a module imported twice, say).

    Raises:
        LookupError: No such connector or operation, or several different ones.
    """
    declared = _named_targets(module_connectors(), connector_name, operation_name)
    if len(declared) == 1:
        return next(iter(declared.values()))
    targets = declared or _named_targets(
        live_connectors(), connector_name, operation_name
    )
    if len(targets) > 1 and not declared:  # a connector of a test that ended, say
        gc.collect()
        targets = _named_targets(live_connectors(), connector_name, operation_name)
    if len(targets) > 1:
        described = "; ".join(target.describe() for target in targets.values())
        msg = (
            f"{len(targets)} connectors named {connector_name!r} have an operation "
            f"{operation_name!r} at different URLs ({described}); pass the operation "
            "itself: fiscus_mock.operation(task)"
        )
        raise LookupError(msg)
    if targets:
        return next(iter(targets.values()))
    raise _not_found(connector_name, operation_name)


def _not_found(connector_name: str, operation_name: str) -> LookupError:
    connectors = live_connectors()
    named = [c for c in connectors if c.name == connector_name]
    if not named:
        names = sorted({c.name for c in connectors})
        msg = (
            f"No connector is named {connector_name!r}; the connectors are "
            f"{names or 'none'}. Import the module that declares it, or pass the "
            "operation itself: fiscus_mock.operation(create_contact)"
        )
        return LookupError(msg)
    operations = sorted(
        {
            name
            for connector in named
            for name, task in connector.operations.items()
            if sender_of(task) is not None
        }
    )
    msg = (
        f"Connector {connector_name!r} has no operation {operation_name!r}; "
        f"its operations are {operations or 'none'}"
    )
    return LookupError(msg)


def _named_targets(
    connectors: list[Connector], connector_name: str, operation_name: str
) -> dict[tuple[str, str], Target]:
    targets: dict[tuple[str, str], Target] = {}
    for connector in connectors:
        if connector.name != connector_name:
            continue
        found = connector.operations.get(operation_name)
        sender = None if found is None else sender_of(found)
        if sender is not None:
            target = operation_target(connector, sender.spec)
            targets.setdefault(target.key, target)
    return targets


def sender_connector(request: httpx.Request) -> Connector | None:
    """Return the live connector whose base URL holds ``request``'s URL, if any.

    The one with the longest base path wins, as the more specific.
    """
    owners = [
        connector
        for connector in live_connectors()
        if same_origin(request.url, connector.base_url)
    ]
    if not owners:
        return None
    return max(owners, key=lambda connector: len(_base_path(connector)))


def operation_for(
    connector: Connector, request: httpx.Request, task: str | None
) -> str | None:
    """Return the name of ``connector``'s operation that sends ``request``.

    ``task`` is the name of the task sending it, if any: when that task is
    the connector's, it tells (a hand-written task is no operation, even
    where its URL looks like one's).
    """
    sending = None if task is None else connector.operations.get(task)
    if sending is not None:
        return task if sender_of(sending) is not None else None
    url = str(request.url)
    matches: list[tuple[tuple[int, int], str]] = []
    for name, known in connector.operations.items():
        sender = sender_of(known)
        if sender is None or sender.spec.method != request.method:
            continue
        target = operation_target(connector, sender.spec)
        if target.pattern.match(url):
            matches.append((target.specificity, name))
    return min(matches)[1] if matches else None  # the most specific, as routes are


# ---------------------------------------------------------------- calls


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class OperationCall:
    """One request a mock answered, read back as the operation built it.

    Attributes:
        request: The ``httpx.Request`` as sent (auth and headers included).
        response: The response the mock gave, or ``None`` if it raised.
        path_params: The values of the route's ``{param}`` parts, unquoted.
    """

    request: httpx.Request
    response: httpx.Response | None
    path_params: dict[str, str]

    @property
    def json(self) -> JsonValue:
        """Return the request's JSON body, parsed (``None`` without a body).

        Raises:
            RequestBodyError: The body is not JSON (also a ValueError).
        """
        content = self.request.content
        if not content:
            return None
        try:
            value: JsonValue = json.loads(content)
        except ValueError:
            msg = (
                f"The body of {self.request.method} {scrub_url(self.request.url)} "
                "is not JSON; read call.request.content instead"
            )
            raise RequestBodyError(msg) from None
        return value

    @property
    def query(self) -> dict[str, str | list[str]]:
        """Return the query parameters; a repeated one becomes a list."""
        params = self.request.url.params
        query: dict[str, str | list[str]] = {}
        for key in params:
            values = params.get_list(key)
            query[key] = values[0] if len(values) == 1 else values
        return query

    @property
    def headers(self) -> httpx.Headers:
        """Return the request's headers."""
        return self.request.headers
