"""Fixtures of the OpenAPI tests: Stoplight Prism serving a document of ``specs/``.

``prism`` is the base URL of a ``prism mock`` serving the document it is
parametrized with (indirectly: a file name in ``specs/`` or a path), e.g.
``pytestmark = pytest.mark.parametrize("prism", ["petstore.yaml"],
indirect=True)``. ``prism_servers`` starts one server per document, the
first time a test asks for it, and stops them all at the end of the
session; ``prism_servers.get(document)`` gives the ``Prism`` itself (its
log, for a failing assertion). Without ``FISCUS_PRISM`` (the ``prism``
executable) every test that needs a server is skipped, so the main test run
needs no Node; ``.ci/run`` installs Prism and runs this folder in a step of
its own. Every test that uses either fixture carries the ``prism`` mark:
``pytest -m prism`` selects them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pytest

from .prism import ENV, PrismServers, prism_executable

if TYPE_CHECKING:
    from collections.abc import Iterator

SKIP_REASON: Final = (
    f"{ENV} is not set: name the prism executable (npm install "
    "@stoplight/prism-cli@5 gives node_modules/.bin/prism) to run the tests "
    "against Prism (.ci/run's 'prism contract' step does)"
)
FIXTURES: Final = frozenset({"prism", "prism_servers"})
TIMINGS: dict[str, float] = {}
_HERE: Final = Path(__file__).parent


@pytest.fixture(scope="session")
def prism_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrismServers]:
    """Start ``prism mock`` once per document asked for; stop them all at the end."""
    setting = os.environ.get(ENV, "").strip()
    if not setting:
        pytest.skip(SKIP_REASON)
    servers = PrismServers(
        executable=prism_executable(setting), log_dir=tmp_path_factory.mktemp("prism")
    )
    try:
        yield servers
    finally:
        for server in servers.servers.values():
            TIMINGS[f"prism {server.document.name} start-up"] = server.startup_seconds
        servers.stop_all()


@pytest.fixture(scope="module")
def prism(request: pytest.FixtureRequest, prism_servers: PrismServers) -> str:
    """Return the base URL of Prism serving the document this is parametrized with."""
    document: str | Path | None = getattr(request, "param", None)
    if document is None:
        msg = (
            f"The prism fixture in {request.node.nodeid!r} needs a document; "
            "parametrize it, e.g. pytest.mark.parametrize('prism', "
            "['petstore.yaml'], indirect=True)"
        )
        pytest.fail(msg, pytrace=False)
    return prism_servers.get(document).base_url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder that needs a Prism server."""
    for item in items:
        uses = FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if uses and _HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.prism)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show how long each Prism server took to start, for CI's log."""
    for name, seconds in TIMINGS.items():
        terminalreporter.write_line(f"{name}: {seconds:.1f} s")
