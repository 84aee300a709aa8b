"""The public surface: one curated ``__all__``, documented, reporting public modules.

Follows httpx's ``tests/test_exported_members.py``: whatever ``fiscus_dsl``
re-exports is listed in ``__all__`` (sorted) and the other way round, every
export has a docstring, and none of them points users at a private module.
"""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import fiscus_dsl
from fiscus_dsl import errors

PACKAGE_DIR = Path(fiscus_dsl.__file__).resolve().parent
INIT = PACKAGE_DIR / "__init__.py"


def _reexported_names() -> set[str]:
    """Return the names ``__init__.py`` imports with the explicit ``X as X`` form.

    Those imported on first use are written under ``if TYPE_CHECKING:``.
    """
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    statements = [
        *tree.body,
        *(
            child
            for node in tree.body
            if isinstance(node, ast.If)
            for child in node.body
        ),
    ]
    return {
        alias.asname
        for node in statements
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.asname is not None and alias.asname == alias.name
    }


def _public_names() -> set[str]:
    """Return the public names of the package, submodules aside.

    That is the names in its namespace and those it imports on first use.
    """
    return {
        name
        for name, value in vars(fiscus_dsl).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    } | set(fiscus_dsl._LAZY)


def test_all_is_sorted() -> None:
    assert fiscus_dsl.__all__ == sorted(fiscus_dsl.__all__)


def test_all_has_no_duplicates() -> None:
    assert len(fiscus_dsl.__all__) == len(set(fiscus_dsl.__all__))


def test_every_public_name_is_in_all_and_every_name_in_all_exists() -> None:
    assert _public_names() == set(fiscus_dsl.__all__)


def test_every_reexport_is_in_all() -> None:
    assert _reexported_names() == set(fiscus_dsl.__all__)


@pytest.mark.parametrize("name", fiscus_dsl.__all__)
def test_every_export_has_a_docstring(name: str) -> None:
    export = getattr(fiscus_dsl, name)
    doc = export.__doc__ if inspect.isclass(export) else inspect.getdoc(export)

    assert doc, f"fiscus_dsl.{name} has no docstring"
    assert doc.strip().splitlines()[0].strip(), f"fiscus_dsl.{name}: empty summary"


@pytest.mark.parametrize("name", fiscus_dsl.__all__)
def test_no_export_reports_a_private_module(name: str) -> None:
    module = getattr(getattr(fiscus_dsl, name), "__module__", "fiscus_dsl")

    assert not any(part.startswith("_") for part in module.split(".")), module


def test_every_error_is_exported() -> None:
    raised = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, fiscus_dsl.FiscusError | fiscus_dsl.FiscusWarning)
    }

    assert raised <= set(fiscus_dsl.__all__)


def test_version_matches_the_installed_distribution() -> None:
    assert fiscus_dsl.__version__ == importlib.metadata.version("fiscus_dsl")


def _imports_of(path: Path) -> list[tuple[str, int]]:
    """Return ``(absolute module, line)`` of every import in a module.

    ``from . import name`` counts as importing the submodule when there is
    one, and as importing the package otherwise.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = list(path.relative_to(PACKAGE_DIR.parent).parts[:-1])
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found.append((node.module or "", node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1]
            if node.module:
                found.append((".".join([*base, node.module]), node.lineno))
                continue
            folder = PACKAGE_DIR.parent.joinpath(*base)
            for alias in node.names:
                is_module = (folder / f"{alias.name}.py").exists() or (
                    folder / alias.name
                ).is_dir()
                module = [*base, alias.name] if is_module else base
                found.append((".".join(module), node.lineno))
    return found


@pytest.mark.parametrize(
    "path",
    sorted(PACKAGE_DIR.rglob("*.py")),
    ids=lambda p: str(p.relative_to(PACKAGE_DIR)),
)
def test_no_module_imports_the_package_itself(path: Path) -> None:
    offending = [
        f"{path.name}:{line}"
        for module, line in _imports_of(path)
        if module == "fiscus_dsl"
    ]

    assert not offending, (
        f"{offending} import fiscus_dsl itself; import the private module directly "
        "(from fiscus_dsl._graph.model import WorkflowGraph)"
    )


def test_importing_the_package_leaves_http_and_yaml_for_first_use() -> None:
    code = (
        "import sys, fiscus_dsl\n"
        "print(sorted(m for m in ('httpx', 'yaml') if m in sys.modules))\n"
        "from fiscus_dsl import Connector, FiscusClient\n"
        "print(Connector.__module__, 'httpx' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout

    assert out.splitlines() == ["[]", "fiscus_dsl True"]


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Conector'"):
        fiscus_dsl.Conector  # noqa: B018  (the typo is the test)
