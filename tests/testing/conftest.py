"""The kit's own tests: pytester for the plugin, the plugin's fixtures for the rest.

The repository runs pytest with ``-p no:fiscus_dsl`` (see pyproject.toml:
loaded as an entry point, the plugin would import fiscus_dsl before
coverage starts), so the fixtures and the hook are imported here; the
pytester runs load the plugin through its entry point, as users get it.
"""

from __future__ import annotations

from fiscus_dsl.testing.plugin import fiscus_mock as fiscus_mock
from fiscus_dsl.testing.plugin import fiscus_spans as fiscus_spans
from fiscus_dsl.testing.plugin import pytest_runtest_call as pytest_runtest_call

pytest_plugins = ["pytester"]
