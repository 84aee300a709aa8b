"""The reliability suite: every test under this folder carries the ``reliability`` mark.

Run it alone with ``pytest -m reliability``; ``.ci/run`` runs it with the rest.
See docs/reliability.md for what it checks and its figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test collected from this folder as part of the suite."""
    for item in items:
        if _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.reliability)
