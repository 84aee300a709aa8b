"""Fixtures of the end-user tests: a live OAuth2 authorization server.

``oauth_server`` is an ``OAuthServer`` (``tests/users/oauth_server.py``)
served on 127.0.0.1 once per session and reset before each test: fresh
client secret, no codes, tokens, requests or counters, knobs at their
defaults. Its ``authorize_url``, ``token_url``, ``revoke_url`` and
``api_url`` are the endpoints; set ``default_user``,
``access_token_lifetime``, ``rotate_refresh_tokens``, ``client_secret``
(``None``: a public client) or ``redirect_uris`` to change its behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .oauth_server import OAuthServer, serve

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def oauth_server_session() -> Iterator[OAuthServer]:
    """Serve one OAuth2 server for the session; ``oauth_server`` resets it."""
    yield from serve(OAuthServer())


@pytest.fixture
def oauth_server(oauth_server_session: OAuthServer) -> OAuthServer:
    """Return the live OAuth2 server, reset for this test."""
    oauth_server_session.reset()
    return oauth_server_session
