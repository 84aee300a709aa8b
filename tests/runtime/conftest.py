"""Shared fixtures for the runtime tests: a fake clock and runners.

``fake_sleep`` comes from ``tests/conftest.py``; both fakes are the kit's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import pytest

from fiscus_dsl import Runner, set_default_runner
from fiscus_dsl.testing import FakeClock, FakeSleep

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Where ``fake_clock`` starts: its first reading is one second later.
EPOCH: Final = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(EPOCH)


@pytest.fixture
def runner(fake_sleep: FakeSleep, fake_clock: FakeClock) -> Runner:
    return Runner(sleep=fake_sleep, clock=fake_clock)


@pytest.fixture
def default(runner: Runner) -> Iterator[Runner]:
    """Install ``runner`` as the default runner; restore the previous one after."""
    previous = set_default_runner(runner)
    yield runner
    set_default_runner(previous)
