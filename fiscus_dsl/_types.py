"""Shared aliases and protocols used across the layers.

This module imports nothing from fiscus_dsl, so every layer may use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Awaitable
    from datetime import datetime

NodeId: TypeAlias = str
"""A task's deterministic id inside one workflow: ``name``, ``name#2``, ``name[3]``."""

JsonValue: TypeAlias = (
    "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
)


class Sleep(Protocol):
    """Wait for a number of seconds; the runner's only way to pause."""

    def __call__(self, seconds: float, /) -> Awaitable[None]:
        """Return an awaitable that completes after ``seconds``."""
        ...


class Clock(Protocol):
    """Tell the current time as an aware UTC datetime."""

    def __call__(self) -> datetime:
        """Return the current time."""
        ...
