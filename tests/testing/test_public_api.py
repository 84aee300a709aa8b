"""fiscus_dsl.testing's public surface: one sorted ``__all__``, documented."""

from __future__ import annotations

import inspect
import subprocess
import sys
from types import ModuleType

import pytest

from fiscus_dsl import testing

CALLABLES = [name for name in testing.__all__ if callable(getattr(testing, name))]


def test_all_is_sorted_and_complete() -> None:
    public = {
        name
        for name, value in vars(testing).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }

    assert testing.__all__ == sorted(testing.__all__)
    assert public == set(testing.__all__)


@pytest.mark.parametrize("name", CALLABLES)
def test_every_class_and_function_has_a_docstring(name: str) -> None:
    export = getattr(testing, name)
    doc = export.__doc__ if inspect.isclass(export) else inspect.getdoc(export)

    assert doc, f"fiscus_dsl.testing.{name} has no docstring"
    assert doc.strip().splitlines()[0].strip()


@pytest.mark.parametrize("name", CALLABLES)
def test_no_export_reports_a_private_module(name: str) -> None:
    module = getattr(testing, name).__module__

    assert module.startswith("fiscus_dsl.testing.")
    assert not any(part.startswith("_") for part in module.split("."))


def test_importing_the_kit_imports_neither_respx_nor_the_sdk() -> None:
    code = (
        "import sys, fiscus_dsl.testing.plugin, fiscus_dsl.testing; "
        "print(sorted(m for m in ('respx', 'opentelemetry.sdk') if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert completed.stdout.strip() == "[]"
