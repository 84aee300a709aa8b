"""``FiscusUser``: one end user a backend acts for, with their own connected accounts.

A user has an id, connectors they added and authenticated (credentials in
a ``CredentialStore``, per user and connector), roles and policies the
engine enforces before anything is sent, a context of their own, and an
auth callback that supplies credentials when a run needs ones the user
does not have yet. Runs act for a user with ``wf.run(..., user=user)``,
``client.execute(..., user=user)`` or ``with acting_for(user):``; every
connector declared with ``auth=UserAuth(...)`` then sends that user's
credentials. Credentials are taken in ``_users/sessions.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, final

from fiscus_dsl._runtime.end_user import current_end_user
from fiscus_dsl._runtime.runner import default_runner
from fiscus_dsl._runtime.sync_calls import run_sync
from fiscus_dsl._users.audit import AuditAction, AuditEvent, AuditLog, audit_log_for
from fiscus_dsl._users.auth_params import authenticate, find_user_auth
from fiscus_dsl._users.credentials import (
    CredentialStore,
    MemoryCredentialStore,
    StoredCredential,
)
from fiscus_dsl._users.policies import Policy, allowed
from fiscus_dsl.errors import AuthorizationError, ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from fiscus_dsl._connectors.connector import Connector
    from fiscus_dsl._users.oauth_code import AuthorizationRequest

_LOGGER = logging.getLogger("fiscus_dsl.users")
_MAX_PENDING = 64  # authorizations started and not completed, kept per user

#: ``set_auth_callback``: a connector's name → the auth params to authenticate it.
AuthCallback = Callable[[str], object]


@final
class UserConnector:
    """One connector as a user sees it: its name and whether it is authenticated.

    Attributes:
        name: The connector's name.
    """

    __slots__ = ("_user", "name")

    def __init__(self, user: FiscusUser, name: str) -> None:
        self._user = user
        self.name = name

    @property
    def authenticated(self) -> bool:
        """Tell whether the user has credentials for the connector in the store."""
        return self._user.credentials.get(self._user.user_id, self.name) is not None

    def __repr__(self) -> str:
        return f"<UserConnector {self.name!r} authenticated={self.authenticated}>"


@final
class FiscusUser:
    """An end user: their connectors, credentials, roles, policies and context.

    Args:
        user_id: The user's id in the application (any non-empty text).
        client: The ``FiscusClient`` whose connectors, credential store and
            audit settings the user shares, if any.
        connectors: More connectors the user may authenticate (OAuth2
            exchanges need the connector's ``UserAuth``).
        credentials: Where the user's credentials live (default: the
            client's store, else an in-memory one of the user's own).
        audit: Where audit events go (default: the ``fiscus_dsl.audit``
            logger, plus the default runner's store database when it has one).
        audit_calls: Record every allowed call too, not only the denied ones
            (the client's ``enable_audit_logging``).

    Examples:
        >>> from fiscus_dsl import FiscusUser
        >>> user = FiscusUser("user-42")
        >>> user.assign_role("sales")
        >>> policy = user.add_policy({"roles": ["sales"], "connectors": ["CRM"]})
        >>> user.may_call("CRM", "create_contact"), user.may_call("Billing", "refund")
        (True, False)
    """

    def __init__(
        self,
        user_id: str,
        client: object | None = None,
        *,
        connectors: Sequence[Connector] = (),
        credentials: CredentialStore | None = None,
        audit: AuditLog | None = None,
        audit_calls: bool | None = None,
    ) -> None:
        given: object = user_id  # annotated str; callers may pass anything
        if not isinstance(given, str) or not given.strip():
            msg = f"FiscusUser takes a user id of non-empty text, got {user_id!r}"
            raise ConfigurationError(msg, option="user_id")
        self._user_id = user_id
        self.client = client
        shared: Sequence[Connector] = getattr(client, "connectors", ())
        self._known = {c.name: c for c in (*connectors, *shared)}
        store = credentials or getattr(client, "credential_store", None)
        self.credentials: CredentialStore = store or MemoryCredentialStore()
        self._audit = audit
        if audit_calls is None:
            audit_calls = bool(getattr(client, "audit_logging", False))
        self.audit_calls = audit_calls
        self._added: dict[str, None] = {}
        self._roles: dict[str, None] = {}
        self._policies: list[Policy] = []
        self._context: dict[str, object] = {}
        self._pending: dict[str, AuthorizationRequest] = {}
        self.auth_callback: AuthCallback | None = None

    @property
    def user_id(self) -> str:
        """Return the user's id."""
        return self._user_id

    def __repr__(self) -> str:
        roles = ", ".join(self._roles) or "no roles"
        return f"<FiscusUser {self._user_id!r} ({roles})>"

    # ------------------------------------------------------------ connectors

    @property
    def connectors(self) -> Mapping[str, UserConnector]:
        """Return the user's connectors: those added or authenticated, by name."""
        names = dict(self._added)
        names.update(dict.fromkeys(self.credentials.connectors(self._user_id)))
        return {name: UserConnector(self, name) for name in names}

    def add_connector(self, name: str) -> None:
        """Add a connector to the user's (adding one twice logs a warning)."""
        if name in self._added:
            _LOGGER.warning("User %r already has connector %r", self._user_id, name)
            return
        self._added[name] = None

    def remove_connector(self, name: str) -> None:
        """Remove a connector from the user's, and forget its credentials."""
        self._added.pop(name, None)
        self.deauthenticate_connector(name)

    def known_connector(self, name: str) -> Connector | None:
        """Return the connector of that name among the client's and the user's."""
        return self._known.get(name)

    def authenticate_connector(
        self, name: str, auth_params: Mapping[str, object]
    ) -> None:
        """Store the user's credentials for a connector.

        ``auth_params`` is ``{"api_key": ...}``, an OAuth2 authorization
        code (``{"code": ..., "state": ...}`` after ``start_authorization``,
        or ``{"code": ..., "code_verifier": ...}``; ``redirect_uri`` when it
        differs from the connector's), or tokens the application obtained
        itself (``{"access_token": ..., "refresh_token": ..., "expires_in":
        ...}``). Fiscus's ``client_id``/``client_secret`` keys are taken
        from the connector's ``UserAuth`` here, and ignored if given.

        Raises:
            ConfigurationError: ``auth_params`` is none of these, or an
                OAuth2 code is given for a connector without ``UserAuth(oauth2=...)``.
            AuthenticationError: The authorization server refused the code.
        """
        run_sync(lambda: self.aauthenticate_connector(name, auth_params))

    async def aauthenticate_connector(
        self, name: str, auth_params: Mapping[str, object]
    ) -> None:
        """Store the user's credentials for a connector, from async code."""
        credential = await authenticate(self, name, auth_params)
        self.credentials.put(self._user_id, name, credential)
        self._added.setdefault(name, None)
        self.audit(
            AuditAction.CONNECTOR_AUTHENTICATED,
            connector=name,
            detail=(f"credentials of kind {credential.kind} stored"),
        )

    def start_authorization(self, name: str, *, redirect_uri: str | None = None) -> str:
        """Return the URL where the user authorizes an OAuth2 connector.

        The PKCE verifier is kept on this object under the URL's ``state``:
        pass the code and state the redirect brings to
        ``authenticate_connector(name, {"code": ..., "state": ...})``.
        """
        auth = find_user_auth(self, name)
        if auth.oauth2 is None:
            msg = f"Connector {name!r} takes an API key, not an OAuth2 authorization"
            raise ConfigurationError(msg, option="auth")
        request = auth.oauth2.start(redirect_uri=redirect_uri)
        self.keep_authorization(request)
        return request.url

    def keep_authorization(self, request: AuthorizationRequest) -> None:
        """Keep a started authorization (its PKCE verifier) under its ``state``."""
        if len(self._pending) >= _MAX_PENDING:  # abandoned ones: drop the oldest
            del self._pending[next(iter(self._pending))]
        self._pending[request.state] = request

    def pending_authorization(self, state: str) -> AuthorizationRequest | None:
        """Take the authorization started with ``state``, once."""
        return self._pending.pop(state, None)

    def deauthenticate_connector(self, name: str) -> None:
        """Forget the user's credentials for a connector."""
        if self.credentials.delete(self._user_id, name):
            self.audit(
                AuditAction.CONNECTOR_DEAUTHENTICATED,
                connector=name,
                detail="credentials removed",
            )

    def set_auth_callback(self, callback: AuthCallback) -> None:
        """Call ``callback(connector_name)`` for auth params when a run needs them.

        It returns the ``auth_params`` of ``authenticate_connector`` (or an
        awaitable of them); a run that finds no credentials for a connector
        calls it once, stores what it returns, and goes on.
        """
        given: object = callback  # annotated; callers may pass anything
        if not callable(given):
            msg = "set_auth_callback() takes a function of the connector's name"
            raise ConfigurationError(msg, option="auth_callback")
        self.auth_callback = callback

    def stored_credential(self, name: str) -> StoredCredential | None:
        """Return the user's stored credential for a connector, if any."""
        return self.credentials.get(self._user_id, name)

    # ------------------------------------------------------------ roles and policies

    @property
    def roles(self) -> tuple[str, ...]:
        """Return the user's roles."""
        return tuple(self._roles)

    def assign_role(self, role: str) -> None:
        """Give the user a role."""
        given: object = role  # annotated str; callers may pass anything
        if not isinstance(given, str) or not given:
            msg = f"assign_role() takes a role name, got {role!r}"
            raise ConfigurationError(msg, option="role")
        if role not in self._roles:
            self._roles[role] = None
            self.audit(AuditAction.ROLE_ASSIGNED, detail=f"role {role!r}")

    def remove_role(self, role: str) -> None:
        """Take a role from the user."""
        if self._roles.pop(role, ...) is None:
            self.audit(AuditAction.ROLE_REMOVED, detail=f"role {role!r}")

    @property
    def policies(self) -> tuple[Policy, ...]:
        """Return the user's policies."""
        return tuple(self._policies)

    def add_policy(self, policy: Policy | Mapping[str, object]) -> Policy:
        """Add a policy; from then on, a call must be granted by one of them."""
        made = Policy.of(policy)
        self._policies.append(made)
        self.audit(AuditAction.POLICY_ADDED, detail=made.describe())
        return made

    def remove_policy(self, policy: Policy) -> None:
        """Remove a policy the user has."""
        if policy in self._policies:
            self._policies.remove(policy)
            self.audit(AuditAction.POLICY_REMOVED, detail=policy.describe())

    def may_call(self, connector: str, operation: str | None = None) -> bool:
        """Tell whether the user's policies let them call, without recording it."""
        return allowed(
            self._policies, self._roles, connector, operation, user_id=self._user_id
        )

    def authorize(self, connector: str, operation: str | None) -> None:
        """Raise ``AuthorizationError`` unless the user may call; audit the decision.

        Called by a connector before it sends anything for the user.
        """
        refused = self.refusal(connector, operation)
        if refused is None:
            if self.audit_calls:
                self.audit(
                    AuditAction.CALL_ALLOWED,
                    connector=connector,
                    operation=operation,
                    detail="allowed by the user's policies",
                )
            return
        self.audit(
            AuditAction.CALL_DENIED,
            connector=connector,
            operation=operation,
            detail=str(refused).partition(". Add a policy")[0],
        )
        raise refused

    def refusal(
        self, connector: str, operation: str | None
    ) -> AuthorizationError | None:
        """Return the error a call would meet (``None``: allowed), recording nothing.

        A dry-run plan asks this: it shows a refusal without auditing one.
        """
        if self.may_call(connector, operation):
            return None
        what = f"{connector}.{operation}" if operation else f"connector {connector!r}"
        roles = ", ".join(self._roles) or "none"
        msg = (
            f"User {self._user_id!r} (roles: {roles}) may not call {what}: no "
            "policy of theirs grants it; nothing was sent. Add a policy that "
            "grants it (user.add_policy({'roles': [...], 'connectors': "
            f"[{connector!r}], 'operations': [...]}})) or a role such a policy "
            "names"
        )
        return AuthorizationError(
            msg, user_id=self._user_id, connector=connector, operation=operation
        )

    # ------------------------------------------------------------ context and audit

    def set_context(
        self, key: str | Mapping[str, object], value: object = None
    ) -> None:
        """Set one context entry (``set_context("plan", "pro")``), or several."""
        if isinstance(key, Mapping):
            self._context.update(key)
        else:
            self._context[key] = value

    def get_context(self, key: str | None = None, default: object = None) -> Any:
        """Return one context entry (``default`` if unset), or a copy of them all."""
        if key is None:
            return dict(self._context)
        return self._context.get(key, default)

    def audit(
        self,
        action: AuditAction,
        *,
        connector: str | None = None,
        operation: str | None = None,
        detail: str,
    ) -> None:
        """Record an audit event of this user."""
        event = AuditEvent(
            at=datetime.now(UTC),
            user_id=self._user_id,
            action=action,
            connector=connector,
            operation=operation,
            detail=detail,
        )
        self.audit_log.record(event)

    @property
    def audit_log(self) -> AuditLog:
        """Return where this user's audit events go."""
        if self._audit is not None:
            return self._audit
        given = getattr(self.client, "audit_log", None)
        if given is not None:
            return given  # type: ignore[no-any-return]  # the client's AuditLog
        runner = getattr(self.client, "runner", None) or default_runner()
        return audit_log_for(runner.store)


def current_user() -> FiscusUser | None:
    """Return the end user the running code acts for, or ``None``.

    Inside a task of ``wf.run(..., user=user)`` (or ``client.execute(...,
    user=user)``, or ``with acting_for(user):``) this is ``user``; a task
    hook reads the same from ``ctx.user``.
    """
    user = current_end_user()
    return user if isinstance(user, FiscusUser) else None
