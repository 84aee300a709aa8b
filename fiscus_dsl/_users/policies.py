"""Roles and policies: what an end user may call, checked before anything is sent.

A ``Policy`` grants the users holding one of its roles (every user, when
it names none) the operations it lists on the connectors it lists (all of
them, when it lists none), when its ``condition`` holds. A user with no
policy may call every connector the application gives it; once a user has
a policy, a call must be granted by one of them (``allowed``). Operations
are named ``"send_email"`` or ``"Gmail.send_email"``; ``"*"`` is every one.
A policy is given as a ``Policy`` or as the Fiscus dict
``{"roles": [...], "connectors": [...], "operations": [...]}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, final

from fiscus_dsl.errors import ConfigurationError

POLICY_KEYS: Final = frozenset({"roles", "connectors", "operations", "condition"})

#: What a policy's condition is told about the call.
CallFacts = Mapping[str, object]


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """A grant: which roles may call which operations of which connectors.

    Attributes:
        roles: The roles the grant is for; empty: every user holding the policy.
        connectors: The connectors it covers; empty or ``"*"``: all.
        operations: The operations it covers (``"send_email"`` or
            ``"Gmail.send_email"``); empty or ``"*"``: all.
        condition: A function of the call's facts (``user_id``, ``roles``,
            ``connector``, ``operation``) that must return true, or ``None``.

    Examples:
        >>> from fiscus_dsl import Policy
        >>> policy = Policy.of({"roles": ["sales"], "connectors": ["CRM"]})
        >>> policy.grants({"sales"}, "CRM", "create_contact", user_id="u1")
        True
        >>> policy.grants({"support"}, "CRM", "create_contact", user_id="u1")
        False
    """

    roles: frozenset[str] = frozenset()
    connectors: frozenset[str] = frozenset()
    operations: frozenset[str] = frozenset()
    condition: Callable[[CallFacts], object] | None = None

    @classmethod
    def of(cls, policy: Policy | Mapping[str, object]) -> Policy:
        """Return ``policy``, or the ``Policy`` a Fiscus policy dict describes.

        Raises:
            ConfigurationError: An unknown key, or a value that is not a
                list of names (or a function, for ``condition``).
        """
        given: object = policy  # annotated; callers may pass anything
        if isinstance(given, Policy):
            return given
        if not isinstance(given, Mapping):
            msg = (
                f"add_policy() takes a Policy or a dict, got {type(policy).__name__}; "
                "pass {'roles': [...], 'connectors': [...], 'operations': [...]}"
            )
            raise ConfigurationError(msg, option="policy")
        policy = given
        unknown = sorted(str(key) for key in policy if key not in POLICY_KEYS)
        if unknown:
            msg = (
                f"A policy has the key {unknown[0]!r}; its keys are "
                f"{sorted(POLICY_KEYS)}"
            )
            raise ConfigurationError(msg, option="policy")
        condition = policy.get("condition")
        if condition is not None and not callable(condition):
            msg = "A policy's 'condition' must be a function of the call's facts"
            raise ConfigurationError(msg, option="policy.condition")
        return cls(
            roles=_names(policy.get("roles"), "roles"),
            connectors=_names(policy.get("connectors"), "connectors"),
            operations=_names(policy.get("operations"), "operations"),
            condition=condition,
        )

    def grants(
        self,
        roles: Iterable[str],
        connector: str,
        operation: str | None,
        *,
        user_id: str,
    ) -> bool:
        """Tell whether the policy grants a user with ``roles`` the call."""
        held = frozenset(roles)
        if self.roles and not (self.roles & held):
            return False
        if not _covers(self.connectors, connector):
            return False
        if self.operations and "*" not in self.operations:
            if operation is None:
                return False  # a grant of named operations is not one of the client
            if not ({operation, f"{connector}.{operation}"} & self.operations):
                return False
        if self.condition is None:
            return True
        facts = {
            "user_id": user_id,
            "roles": sorted(held),
            "connector": connector,
            "operation": operation,
        }
        return bool(self.condition(facts))

    def describe(self) -> str:
        """Return the policy as one line of text, for messages."""
        roles = ", ".join(sorted(self.roles)) or "any role"
        connectors = ", ".join(sorted(self.connectors)) or "every connector"
        operations = ", ".join(sorted(self.operations)) or "every operation"
        text = f"roles [{roles}] → {connectors}: {operations}"
        return text + (" (with a condition)" if self.condition is not None else "")


def allowed(
    policies: Iterable[Policy],
    roles: Iterable[str],
    connector: str,
    operation: str | None,
    *,
    user_id: str,
) -> bool:
    """Tell whether the policies let a user call; no policy at all lets every call."""
    listed = list(policies)
    if not listed:
        return True
    held = frozenset(roles)
    return any(
        policy.grants(held, connector, operation, user_id=user_id) for policy in listed
    )


def _covers(names: frozenset[str], name: str) -> bool:
    return not names or "*" in names or name in names


def _names(value: object, key: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, Iterable) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    msg = f"A policy's {key!r} must be a list of names, got {type(value).__name__}"
    raise ConfigurationError(msg, option=f"policy.{key}")
