"""The testing kit's fixtures for the example tests.

The repository runs pytest with ``-p no:fiscus_dsl`` (see pyproject.toml:
loaded as an entry point, the plugin would import fiscus_dsl before
coverage starts), so the fixtures and the hook are imported here. A
project that installs fiscus_dsl needs none of this: the plugin is loaded
for it.
"""

from __future__ import annotations

from fiscus_dsl.testing.plugin import fiscus_mock as fiscus_mock
from fiscus_dsl.testing.plugin import fiscus_spans as fiscus_spans
from fiscus_dsl.testing.plugin import pytest_runtest_call as pytest_runtest_call
