"""The context dict tasks share: each earlier task's value by name, and how it ended.

``FiscusContext`` is the read-only mapping that a condition (``conditions:
{"if": f}``), params computed from the context and a ``fiscus_pre``
callback receive, and that ``response.context`` is copied from. Each task
goes by its ``id`` (when it has one) and by its operation; an operation
name is a key only while exactly one task in the context has it: when two
tasks share it, reading it (``ctx["send_email"]``, ``.get``, ``in``)
raises ``AmbiguousNameError``, a ``KeyError`` that names the tasks and says
to give them ids. A task that succeeded holds its data (or what its
``custom_logic`` returned); a failed task holds only what its
``custom_logic`` returned; a skipped task holds nothing, so a condition
never mistakes a skip for a success. ``status(name)``, ``succeeded``,
``failed`` and ``skipped`` tell how a task ended. Values the call started
with (``initial``, from a context loader) show under names no task goes
by. The mapping records
which skipped tasks were looked up by name (``skipped_reads``): the dict
API skips a task whose condition or context function read one, unless
the task sets ``on_skip: "run"``. Imports only ``errors``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, final, overload

from fiscus_dsl.errors import AmbiguousNameError

if TYPE_CHECKING:
    from collections.abc import Iterable

Status = Literal["succeeded", "failed", "skipped"]


@final
class _Missing:
    """The value of a task that shares nothing."""

    def __repr__(self) -> str:
        return "<nothing>"


MISSING: Final = _Missing()


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One earlier task as the context holds it."""

    index: int
    task_id: str
    id: str | None
    operation: str
    status: Status
    value: object = MISSING

    def names(self) -> tuple[str, ...]:
        """Return the names the task goes by: its id first, then its operation."""
        return (self.operation,) if self.id is None else (self.id, self.operation)


@final
class FiscusContext(Mapping[str, object]):
    """The values earlier tasks shared, by task name, and how each ended.

    A read-only mapping: ``ctx["create_contact"]``, ``ctx.get("tag",
    False)``, ``"tag" in ctx`` and iteration work as on a dict, over the
    tasks that hold a value. A skipped task holds none: ask
    ``ctx.skipped("tag")`` to tell a skip from a failure.

    The dict API makes one for each condition, params function and
    ``fiscus_pre`` callback (see docs/fiscus-sdk.md, "The context"):
    ``{"if": lambda ctx: not ctx.skipped("tag") and ctx["tag"]["ok"]}``.
    """

    __slots__ = ("_by_name", "_entries", "_initial", "_reads")

    def __init__(
        self, entries: Iterable[Entry], *, initial: Mapping[str, object] | None = None
    ) -> None:
        self._entries = tuple(entries)
        self._by_name: dict[str, list[Entry]] = {}
        for entry in self._entries:
            for name in entry.names():
                self._by_name.setdefault(name, []).append(entry)
        # Values the call started with (a context loader's); a task's name hides one.
        self._initial = {
            key: value
            for key, value in (initial or {}).items()
            if key not in self._by_name
        }
        self._reads: dict[int, str] = {}

    # ------------------------------------------------------------ the mapping

    def __getitem__(self, name: str) -> object:
        entry = self._find(name)
        if entry is None:
            if name in self._initial:
                return self._initial[name]
            raise KeyError(name)
        self._reads.setdefault(entry.index, name)
        if entry.value is MISSING:
            raise KeyError(name)
        return entry.value

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self[name]
        except AmbiguousNameError:
            raise
        except KeyError:
            return False
        return True

    @overload
    def get(self, name: str, /) -> object | None: ...
    @overload
    def get(self, name: str, /, default: object) -> object: ...
    def get(self, name: str, /, default: object = None) -> object:
        """Return the value of task ``name``, or ``default`` when it holds none.

        Raises:
            AmbiguousNameError: ``name`` is the operation of several tasks.
        """
        try:
            return self[name]
        except AmbiguousNameError:
            raise
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        yield from self._initial
        for entry in self._entries:
            if entry.value is MISSING:
                continue
            for name in entry.names():
                if len(self._by_name[name]) == 1:
                    yield name

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        statuses = ", ".join(f"{e.task_id}: {e.status}" for e in self._entries)
        return f"<FiscusContext {statuses}>"

    # ------------------------------------------------------------ outcomes

    def status(self, name: str) -> Status:
        """Return how task ``name`` ended: ``succeeded``, ``failed`` or ``skipped``.

        Asking is not reading: it never skips the asking task.

        Raises:
            KeyError: No earlier task goes by ``name``.
            AmbiguousNameError: ``name`` is the operation of several tasks.
        """
        entry = self._find(name)
        if entry is None:
            raise KeyError(name)
        return entry.status

    def succeeded(self, name: str) -> bool:
        """Tell whether task ``name`` succeeded."""
        return self.status(name) == "succeeded"

    def failed(self, name: str) -> bool:
        """Tell whether task ``name`` failed."""
        return self.status(name) == "failed"

    def skipped(self, name: str) -> bool:
        """Tell whether task ``name`` was skipped (or did not run)."""
        return self.status(name) == "skipped"

    def skipped_reads(self) -> list[tuple[str, Entry]]:
        """Return the skipped tasks read by name so far, with the name used."""
        entries = {entry.index: entry for entry in self._entries}
        return [
            (name, entries[index])
            for index, name in self._reads.items()
            if entries[index].status == "skipped"
        ]

    def _find(self, name: str) -> Entry | None:
        found = self._by_name.get(name)
        if not found:
            return None
        if len(found) > 1:
            raise AmbiguousNameError(name, [(e.index, e.task_id) for e in found])
        return found[0]
