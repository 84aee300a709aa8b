"""Hook registration: which functions run around tasks and workflows.

``Hooks`` groups the five hook kinds and checks each function when it is
registered, so that a hook that cannot take the runner's arguments fails at
decoration time, naming the hook and the signature it needs, rather than in
the middle of a run. The runtime dispatches them (``_runtime.hooks``). Runs
nothing; no asyncio.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias, final

from fiscus_dsl.errors import HookSignatureError

HookFunction: TypeAlias = Callable[..., object]

HOOK_SIGNATURES: Final[dict[str, str]] = {
    "before_task": "before_task(ctx)",
    "after_task": "after_task(ctx, value)",
    "on_retry": "on_retry(ctx, error, delay)",
    "before_workflow": "before_workflow(run)",
    "after_workflow": "after_workflow(run, result)",
}
_ARITY: Final[dict[str, int]] = {
    kind: signature.count(",") + 1 for kind, signature in HOOK_SIGNATURES.items()
}


def verify_hook(kind: str, function: object) -> HookFunction:
    """Check that ``function`` can be called as hook ``kind``; return it.

    Raises:
        HookSignatureError: If it is not callable or its parameters cannot
            bind the arguments the runner passes.
    """
    expected = HOOK_SIGNATURES[kind]
    if not callable(function):
        got = type(function).__name__
        msg = f"Hook {kind!r} must be a function like {expected}, got {got}"
        raise HookSignatureError(msg, hook=kind)
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return function
    try:
        signature.bind(*range(_ARITY[kind]))
    except TypeError as exc:
        name = getattr(function, "__qualname__", repr(function))
        msg = (
            f"Hook {kind!r} {name}{signature} cannot be called as {expected} ({exc}); "
            f"give it exactly the parameters of {expected}"
        )
        raise HookSignatureError(msg, hook=kind) from exc
    return function


def _verified(
    kind: str, functions: HookFunction | Sequence[HookFunction] | None
) -> tuple[HookFunction, ...]:
    if functions is None:
        return ()
    items = functions if isinstance(functions, Sequence) else (functions,)
    return tuple(verify_hook(kind, function) for function in items)


@final
@dataclass(frozen=True, slots=True, init=False)
class Hooks:
    """Functions to call around tasks and runs, sync or async.

    - ``before_task(ctx)`` runs once per task before its first attempt; it
      returns ``None`` or a mapping that replaces the arguments, or raises
      ``SkipTask``.
    - ``after_task(ctx, value)`` runs after a task succeeded; it returns the
      value to keep, or ``None`` to keep the value unchanged.
    - ``on_retry(ctx, error, delay)`` runs before each retry's wait.
    - ``before_workflow(run)`` and ``after_workflow(run, result)`` bracket a run.

    Each argument takes one function or a sequence of them.

    Examples:
        >>> from fiscus_dsl import Hooks, Runner
        >>> seen = []
        >>> hooks = Hooks(before_task=lambda ctx: seen.append(ctx.task_id))
        >>> runner = Runner(hooks=hooks)
    """

    before_task: tuple[HookFunction, ...]
    after_task: tuple[HookFunction, ...]
    on_retry: tuple[HookFunction, ...]
    before_workflow: tuple[HookFunction, ...]
    after_workflow: tuple[HookFunction, ...]

    def __init__(
        self,
        *,
        before_task: HookFunction | Sequence[HookFunction] | None = None,
        after_task: HookFunction | Sequence[HookFunction] | None = None,
        on_retry: HookFunction | Sequence[HookFunction] | None = None,
        before_workflow: HookFunction | Sequence[HookFunction] | None = None,
        after_workflow: HookFunction | Sequence[HookFunction] | None = None,
    ) -> None:
        object.__setattr__(self, "before_task", _verified("before_task", before_task))
        object.__setattr__(self, "after_task", _verified("after_task", after_task))
        object.__setattr__(self, "on_retry", _verified("on_retry", on_retry))
        object.__setattr__(
            self, "before_workflow", _verified("before_workflow", before_workflow)
        )
        object.__setattr__(
            self, "after_workflow", _verified("after_workflow", after_workflow)
        )

    def functions(self) -> Iterator[tuple[str, HookFunction]]:
        """Yield ``(kind, function)`` for every registered hook."""
        for kind in HOOK_SIGNATURES:
            for function in getattr(self, kind):
                yield kind, function

    def is_empty(self) -> bool:
        """Tell whether no hook of any kind is registered."""
        return not (
            self.before_task
            or self.after_task
            or self.on_retry
            or self.before_workflow
            or self.after_workflow
        )


def as_hooks(value: Hooks | Sequence[Hooks] | None) -> tuple[Hooks, ...]:
    """Normalize a ``hooks=`` argument into a tuple of non-empty ``Hooks``."""
    if value is None:
        return ()
    # Anything not iterable (a bare hook function, say) is one item, so that it
    # gets the message below rather than "object is not iterable".
    items: tuple[object, ...] = (
        tuple(value) if isinstance(value, Iterable) else (value,)
    )
    for item in items:
        if not isinstance(item, Hooks):
            msg = f"hooks= takes Hooks(...) objects, got {type(item).__name__}"
            raise HookSignatureError(
                msg + "; wrap your functions: Hooks(before_task=fn)", hook="hooks"
            )
    return tuple(
        item for item in items if isinstance(item, Hooks) and not item.is_empty()
    )
