"""The end user a run acts for, for code running inside it (connectors, tasks).

``acting_for(user)`` sets ``CURRENT_USER`` around a run (``wf.run(...,
user=user)``, ``client.execute(..., user=user)``); a connector reads it to
check the user's policies before it sends anything, to take the user's
credentials, and to keep per-user limits. The runtime knows the user only
through ``EndUser``: an id and a policy check. ``FiscusUser`` (``_users``)
is the implementation.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol, cast

from fiscus_dsl.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator


class EndUser(Protocol):
    """What the runtime and the connectors need of an end user."""

    @property
    def user_id(self) -> str:
        """Return the user's id."""
        ...

    def authorize(self, connector: str, operation: str | None) -> None:
        """Raise ``AuthorizationError`` unless the user may call the operation."""
        ...


CURRENT_USER: ContextVar[EndUser | None] = ContextVar("fiscus_end_user", default=None)


@contextmanager
def acting_for(user: EndUser | None) -> Iterator[None]:
    """Run the code inside for ``user`` (``None``: for no end user)."""
    token = CURRENT_USER.set(user)
    try:
        yield
    finally:
        CURRENT_USER.reset(token)


def current_end_user() -> EndUser | None:
    """Return the end user the code runs for, or ``None``."""
    return CURRENT_USER.get()


def split_user(
    parameters: Collection[str], kwargs: dict[str, object], *, workflow: str
) -> tuple[EndUser | None, dict[str, object]]:
    """Take ``user=`` out of a run's inputs, unless the workflow has such an input.

    Raises:
        ConfigurationError: ``user=`` is not an end user (``FiscusUser``).
    """
    if "user" not in kwargs or "user" in parameters:
        return None, kwargs
    rest = dict(kwargs)
    user = rest.pop("user")
    if user is None:
        return None, rest
    if not (hasattr(user, "user_id") and callable(getattr(user, "authorize", None))):
        msg = (
            f"Workflow {workflow!r} has no input 'user', so user= names the end "
            f"user the run acts for, and got {type(user).__name__}; pass a "
            "FiscusUser"
        )
        raise ConfigurationError(msg, option="user")
    return cast("EndUser", user), rest
