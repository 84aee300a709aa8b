"""Fixtures of the trace-backend tests: a Phoenix server and the sandbox API.

``phoenix`` starts ``phoenix serve`` from the venv that ``FISCUS_PHOENIX``
names (the executable, or the venv), once per session, and stops it at the
end; without ``FISCUS_PHOENIX`` every test that needs it is skipped, so the
main test run needs no Phoenix. ``.ci/run`` builds Phoenix's own venv and
runs these tests in a step of their own.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

import pytest

from fiscus_dsl._sandbox import sandbox

from .backend import Phoenix, phoenix_executable, start_phoenix

if TYPE_CHECKING:
    from collections.abc import Iterator

ENV: Final = "FISCUS_PHOENIX"
SKIP_REASON: Final = (
    f"{ENV} is not set: name a Phoenix venv or its bin/phoenix to run the "
    "trace-backend tests (.ci/run's 'phoenix integration' step does)"
)
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    """Run ``phoenix serve`` on free loopback ports for the session."""
    setting = os.environ.get(ENV, "").strip()
    if not setting:
        pytest.skip(SKIP_REASON)
    server = start_phoenix(
        phoenix_executable(setting), tmp_path_factory.mktemp("phoenix")
    )
    TIMINGS["phoenix start-up"] = server.startup_seconds
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    """Serve the sandbox API (CRM, mail, flaky endpoint) on loopback."""
    with sandbox() as base_url:
        yield base_url


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show how long the backend took to start, for CI's log."""
    for name, seconds in TIMINGS.items():
        terminalreporter.write_line(f"{name}: {seconds:.1f} s")
