"""Fixtures of the dict API's tests: the fake API, a runner that never waits, a client.

A module that needs another API (a respx router) or client defines its own
fixture of the same name, which wins over these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from fiscus_dsl import FiscusClient, Runner

from .fake_api import FakeApi, connectors

if TYPE_CHECKING:
    from fiscus_dsl.testing import FakeSleep


@pytest.fixture
def api() -> FakeApi:
    """Return a fresh fake CRM and mail service."""
    return FakeApi()


@pytest.fixture
def runner(fake_sleep: FakeSleep) -> Runner:
    """Return a runner whose retries never wait."""
    return Runner(sleep=fake_sleep)


@pytest.fixture
def client(api: FakeApi, runner: Runner) -> FiscusClient:
    """Return a client of the fake API's two connectors."""
    return FiscusClient(connectors=connectors(api), runner=runner)
