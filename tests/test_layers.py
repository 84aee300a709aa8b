"""The dependency direction of STYLE.md, checked on the source with ``ast``.

``lint-imports`` enforces the same contracts from ``pyproject.toml``; these
tests say it in pytest's words, name the file and line, and check what a
contract cannot: that no import runs back up, not even inside a function
body (the DSL reaches the runtime through ``run_entry.install_engine``),
that no module imports itself back through others (no circle), that the
contract lists the layers in the architecture's order, that every module
opens with a docstring and ``from __future__ import annotations``, and that
none is over STYLE.md's cap of 600 lines. Imports
under ``if TYPE_CHECKING:`` are for annotations only, so they may point
anywhere.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

import fiscus_dsl

PACKAGE_DIR: Final = Path(fiscus_dsl.__file__).resolve().parent
PYPROJECT: Final = PACKAGE_DIR.parent / "pyproject.toml"

# The package's layers, bottom first; a module may import its own layer and below.
LAYERS: Final = (
    ("fiscus_dsl._types",),
    ("fiscus_dsl.errors",),
    ("fiscus_dsl._graph",),
    ("fiscus_dsl._dsl",),
    ("fiscus_dsl._runtime",),
    ("fiscus_dsl._connectors",),
    ("fiscus_dsl._users",),
    (
        "fiscus_dsl._dict_api",
        "fiscus_dsl.testing",
        "fiscus_dsl._cli",
        "fiscus_dsl._sandbox",
        "fiscus_dsl.__main__",
        "fiscus_dsl.executors",
        "fiscus_dsl.openapi",
    ),
)
TOP: Final = len(LAYERS)  # fiscus_dsl/__init__.py re-exports every layer
RUNS_NOTHING: Final = ("fiscus_dsl._graph", "fiscus_dsl._dsl")
SPEAKS_HTTP: Final = ("fiscus_dsl._connectors", "fiscus_dsl._users", *LAYERS[-1])


@dataclass(frozen=True, slots=True, kw_only=True)
class Import:
    """One import statement's target, and where it sits."""

    module: str
    line: int
    type_checking: bool
    in_function: bool


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    def __init__(self, package: list[str]) -> None:
        self.package = package
        self.imports: list[Import] = []
        self.type_checking = False
        self.in_function = False

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        outer, self.type_checking = self.type_checking, True
        for child in node.body:
            self.visit(child)
        self.type_checking = outer
        for child in node.orelse:
            self.visit(child)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer, self.in_function = self.in_function, True
        self.generic_visit(node)
        self.in_function = outer

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._visit_function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._visit_function(node)

    def _add(self, module: str, line: int) -> None:
        self.imports.append(
            Import(
                module=module,
                line=line,
                type_checking=self.type_checking,
                in_function=self.in_function,
            )
        )

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if not node.level:
            module = node.module or ""
        else:
            base = self.package[: len(self.package) - node.level + 1]
            module = ".".join([*base, *([node.module] if node.module else [])])
        self._add(module, node.lineno)


def _imports(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = list(path.relative_to(PACKAGE_DIR.parent).parts[:-1])
    collector = _Collector(package)
    collector.visit(tree)
    return collector.imports


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _layer(module: str) -> int | None:
    if module == "fiscus_dsl":
        return TOP
    for index, prefixes in enumerate(LAYERS):
        if _within(module, prefixes):
            return index
    return None


MODULES: Final = sorted(PACKAGE_DIR.rglob("*.py"))
IDS: Final = [str(path.relative_to(PACKAGE_DIR)) for path in MODULES]


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_every_module_belongs_to_a_layer(path: Path) -> None:
    assert _layer(_module_name(path)) is not None, (
        f"{_module_name(path)} is in no layer of the package; add it to LAYERS "
        "here and to the import-linter contract in pyproject.toml"
    )


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_modules_import_only_their_layer_and_those_beneath(path: Path) -> None:
    name = _module_name(path)
    own = _layer(name)
    assert own is not None
    upward = [
        f"{path.name}:{imp.line} imports {imp.module}"
        for imp in _imports(path)
        if not imp.type_checking
        and imp.module.startswith("fiscus_dsl")
        and (_layer(imp.module) or 0) > own
    ]

    assert not upward, f"{name} imports a layer above its own: {upward}"


def _import_graph() -> dict[str, set[str]]:
    """Return each module's package imports (function bodies included)."""
    names = {_module_name(path) for path in MODULES}
    graph: dict[str, set[str]] = {}
    for path in MODULES:
        targets = set()
        for imp in _imports(path):
            if imp.type_checking or not imp.module.startswith("fiscus_dsl."):
                continue
            # ``from fiscus_dsl._dsl import run_entry`` imports a module too.
            targets.add(imp.module)
        graph[_module_name(path)] = {
            target for target in targets if target in names and target != "fiscus_dsl"
        }
    return graph


def _find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one circle of imports, or ``None`` (depth-first, three colours)."""
    done: set[str] = set()
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        if module in stack:
            return [*stack[stack.index(module) :], module]
        if module in done:
            return None
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            found = visit(target)
            if found:
                return found
        stack.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        found = visit(module)
        if found:
            return found
    return None


def test_no_module_imports_itself_back_through_others() -> None:
    assert _find_circle(_import_graph()) is None


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert _find_circle(graph) == ["a", "b", "c", "a"]
    assert _find_circle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if _within(_module_name(p), RUNS_NOTHING)],
    ids=lambda p: str(p.relative_to(PACKAGE_DIR)),
)
def test_graph_and_dsl_import_no_asyncio_and_no_opentelemetry(path: Path) -> None:
    forbidden = [
        f"{path.name}:{imp.line} imports {imp.module}"
        for imp in _imports(path)
        if not imp.type_checking and _within(imp.module, ("asyncio", "opentelemetry"))
    ]

    assert not forbidden


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in MODULES
        if _layer(_module_name(p)) not in (None, TOP)  # the root re-exports all
        and not _within(_module_name(p), SPEAKS_HTTP)
    ],
    ids=lambda p: str(p.relative_to(PACKAGE_DIR)),
)
def test_only_connectors_and_the_edges_import_httpx_or_respx(path: Path) -> None:
    forbidden = [
        f"{path.name}:{imp.line} imports {imp.module}"
        for imp in _imports(path)
        if not imp.type_checking and _within(imp.module, ("httpx", "respx"))
    ]

    assert not forbidden


def test_the_layers_contract_lists_the_layers_in_design_order() -> None:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    present = [
        prefixes[0]
        for prefixes in reversed(LAYERS[:-1])
        if (PACKAGE_DIR.parent / Path(*prefixes[0].split("."))).exists()
        or (PACKAGE_DIR.parent / f"{Path(*prefixes[0].split('.'))}.py").exists()
    ]

    assert layers == present


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if p.read_text(encoding="utf-8").strip()],  # not markers
    ids=lambda p: str(p.relative_to(PACKAGE_DIR)),
)
def test_every_module_opens_with_a_docstring(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))

    assert ast.get_docstring(tree), f"{path} has no module docstring"


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if p.name != "__init__.py"],
    ids=lambda p: str(p.relative_to(PACKAGE_DIR)),
)
def test_every_module_postpones_annotations(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    futures = [
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "__future__"
        for alias in node.names
    ]

    assert "annotations" in futures, f"{path} lacks from __future__ import annotations"


#: STYLE.md's hard cap on a module's length (the soft one is 400).
MAX_MODULE_LINES: Final = 600


@pytest.mark.parametrize("path", MODULES, ids=IDS)
def test_every_module_stays_within_the_line_cap(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())

    assert lines <= MAX_MODULE_LINES, (
        f"{path.relative_to(PACKAGE_DIR)} has {lines} lines, over the cap of "
        f"{MAX_MODULE_LINES}: split it by concept"
    )
