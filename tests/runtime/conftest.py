"""Shared fixtures for the runtime tests: a fake sleep, a fake clock, runners."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from fiscus_dsl import Runner, set_default_runner

if TYPE_CHECKING:
    from collections.abc import Iterator

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


class FakeSleep:
    """Record every delay the runner asks for and return at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float, /) -> None:
        self.delays.append(seconds)


class FakeClock:
    """Tell a time that moves one second forward on every reading."""

    def __init__(self) -> None:
        self.now = EPOCH
        self.readings = 0

    def __call__(self) -> datetime:
        self.readings += 1
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runner(fake_sleep: FakeSleep, fake_clock: FakeClock) -> Runner:
    return Runner(sleep=fake_sleep, clock=fake_clock)


@pytest.fixture
def default(runner: Runner) -> Iterator[Runner]:
    """Install ``runner`` as the default runner; restore the previous one after."""
    previous = set_default_runner(runner)
    yield runner
    set_default_runner(previous)
