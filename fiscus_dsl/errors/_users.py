"""Errors of end users: credentials, policies and the credential store."""

from __future__ import annotations

from typing import final

from fiscus_dsl.errors._base import FiscusError, FiscusErrorCode


@final
class AuthenticationError(FiscusError):
    """A connector that takes each end user's credentials has none it can use.

    The run acts for no user, the user never authenticated the connector,
    or its OAuth2 refresh token was refused (revoked or expired). Nothing
    was sent to the API.

    Attributes:
        connector: The connector's name.
        user_id: The end user's id, if the run acts for one.
        authorization_url: Where the user can authorize the connector again
            (OAuth2 connectors), else ``None``.
    """

    retryable = False
    code = FiscusErrorCode.AUTH_FAILURE

    def __init__(
        self,
        message: str,
        *,
        connector: str,
        user_id: str | None,
        authorization_url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.connector = connector
        self.user_id = user_id
        self.authorization_url = authorization_url


@final
class AuthorizationError(FiscusError, PermissionError):
    """An end user's roles and policies do not allow the call; nothing was sent.

    Attributes:
        user_id: The end user's id.
        connector: The connector's name.
        operation: The operation's name, if the call was one.
    """

    retryable = False
    code = FiscusErrorCode.AUTH_FAILURE

    def __init__(
        self, message: str, *, user_id: str, connector: str, operation: str | None
    ) -> None:
        super().__init__(message)
        self.user_id = user_id
        self.connector = connector
        self.operation = operation


@final
class CredentialStoreError(FiscusError):
    """The credential store could not open, read, decrypt or write credentials.

    The message names the store (never a credential) and says what to do.

    Attributes:
        store: Where the store is (a path, or a URL without its password).
    """

    retryable = False
    code = FiscusErrorCode.INTERNAL_ERROR

    def __init__(self, message: str, *, store: str) -> None:
        super().__init__(message)
        self.store = store
