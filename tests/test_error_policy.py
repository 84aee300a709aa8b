"""The error policy of STYLE.md, checked on the source of the package.

Every error a user can see is a ``FiscusError`` (a subclass that is also a
``ValueError`` or ``TypeError`` where it replaces one). A bare
``raise ValueError(...)`` or ``raise TypeError(...)`` is allowed only where
it never reaches a user, each place listed below with the reason. A broad
``except Exception`` that does not re-raise says why on its line or the line
above: only the task boundary and user code at a run's edge (hooks, guard
predicates, a traced or imported file) may catch everything.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

import fiscus_dsl

PACKAGE: Final = Path(fiscus_dsl.__file__).resolve().parent
BARE: Final = frozenset({"ValueError", "TypeError"})

#: ``(module, function)`` -> why its bare raise never reaches a user.
ALLOWED: Final[dict[tuple[str, str], str]] = {
    ("_graph/model.py", "WorkflowGraph._check_references"): (
        "a pydantic model validator: pydantic wraps it in its ValidationError"
    ),
    ("_graph/specs.py", "OperationRef._check_pair"): (
        "a pydantic model validator: pydantic wraps it in its ValidationError"
    ),
    ("_dict_api/files.py", "_unique"): (
        "a json.loads hook: _parse_json turns it into a TaskDefinitionError"
    ),
    ("_dict_api/files.py", "_no_nan"): (
        "a json.loads hook: _parse_json turns it into a TaskDefinitionError"
    ),
    ("_dict_api/file_conditions.py", "_contains"): (
        "a task file's `in`, evaluated as Python does: the condition's own "
        "error, recorded on the task's response like any a condition raises"
    ),
    ("_connectors/values.py", "quote_segment"): (
        "caught by Operation.build, then turned into UnsafeURLError"
    ),
    ("_connectors/oauth2.py", "_token_fields"): (
        "caught by _TokenEndpoint.parse, which raises ConnectorError from it"
    ),
    ("_connectors/oauth2.py", "_expires_in"): (
        "called by _token_fields: caught by _TokenEndpoint.parse as well"
    ),
}


class _Finder(ast.NodeVisitor):
    """Collect the bare raises and the broad excepts of one module."""

    def __init__(self) -> None:
        self.scope: list[str] = []
        self.raises: list[tuple[str, int]] = []
        self.broad: list[int] = []

    def _visit_scope(self, node: ast.ClassDef | ast.FunctionDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_ClassDef = _visit_scope  # noqa: N815  (ast.NodeVisitor's naming)
    visit_FunctionDef = _visit_scope  # noqa: N815  (ast.NodeVisitor's naming)
    visit_AsyncFunctionDef = _visit_scope  # type: ignore[assignment]  # noqa: N815  (same body for both)

    def visit_Raise(self, node: ast.Raise) -> None:
        raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if isinstance(raised, ast.Name) and raised.id in BARE:
            self.raises.append((".".join(self.scope), node.lineno))
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        broad = isinstance(node.type, ast.Name) and node.type.id in {
            "Exception",
            "BaseException",
        }
        last = node.body[-1]
        reraises = isinstance(last, ast.Raise) and last.exc is None
        if broad and not reraises:  # a clean-up that re-raises swallows nothing
            self.broad.append(node.lineno)
        self.generic_visit(node)


def _modules() -> list[tuple[str, str, _Finder]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        finder = _Finder()
        finder.visit(ast.parse(text))
        found.append((path.relative_to(PACKAGE).as_posix(), text, finder))
    return found


def test_no_bare_value_or_type_error_is_raised_outside_the_allow_list() -> None:
    unlisted = [
        f"{module}:{line} in {function or '<module>'}"
        for module, _, finder in _modules()
        for function, line in finder.raises
        if (module, function) not in ALLOWED
    ]

    assert unlisted == [], (
        "raise a FiscusError subclass from fiscus_dsl.errors (ConfigurationError, "
        "OptionTypeError, SignatureError, ...) or, if it never reaches a user, "
        f"add it to ALLOWED with the reason: {unlisted}"
    )


def test_every_allowed_place_still_raises() -> None:
    present = {
        (module, function)
        for module, _, finder in _modules()
        for function, _ in finder.raises
    }

    assert set(ALLOWED) <= present, sorted(set(ALLOWED) - present)


def test_every_broad_except_says_why() -> None:
    silent = []
    for module, text, finder in _modules():
        lines = text.splitlines()
        for line in finder.broad:
            here, above = lines[line - 1], lines[line - 2].strip()
            if "#" not in here and not above.startswith("#"):
                silent.append(f"{module}:{line}")

    assert silent == [], (
        "catch what you expect, or say on the line (or the one above) why this "
        f"place must catch everything (user code at a boundary): {silent}"
    )
