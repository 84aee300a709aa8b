"""Scrubbing: keep credentials out of every message, span and record.

This module owns the process-wide registry of secret values (every
``Secret`` and every OAuth2 token registers itself) and the functions that
mask them: ``scrub_text`` for any text, ``scrub_url`` for URLs (userinfo
and secret-looking query values redacted as the OpenTelemetry HTTP
semantic conventions ask), ``scrub_excerpt`` for response bodies,
``scrub_message`` for free text that may quote URLs (log lines), and
``scrub_exception`` for an exception and its whole chain. It imports
nothing from fiscus_dsl, and httpx only for annotations.
"""

from __future__ import annotations

import re
import threading
from base64 import b64encode
from typing import TYPE_CHECKING, Final, final
from urllib.parse import quote, quote_plus, unquote, unquote_plus

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx

REDACTED: Final = "REDACTED"
"""What replaces a secret-looking query value or URL userinfo (OpenTelemetry)."""

MASK: Final = "**********"
"""What replaces a registered secret value anywhere in a text."""

MIN_SECRET_LENGTH: Final = 4
"""Shorter values are not registered: masking them would mask everything."""

EXCERPT_LENGTH: Final = 200
"""At most this many characters of a body go into a message."""

_SECRET_QUERY_NAMES: Final = frozenset(
    {
        "access_key",
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "authorization",
        "awsaccesskeyid",
        "client_secret",
        "code",
        "id_token",
        "key",
        "passwd",
        "password",
        "private_token",
        "refresh_token",
        "secret",
        "secret_key",
        "session_token",
        "sig",
        "signature",
        "token",
        "x_amz_credential",
        "x_amz_security_token",
        "x_amz_signature",
        "x_goog_credential",
        "x_goog_signature",
    }
)
# In bodies "code" and "key" name error codes and lookup keys far more often
# than credentials, so an excerpt keeps them (registered secrets are masked).
_SECRET_BODY_NAMES: Final = _SECRET_QUERY_NAMES - {"code", "key"}
# Userinfo of an absolute URL: "scheme://" then "user[:password]@" before the host.
_AUTHORITY: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:)?//([^/?#]*)")
# ``name=value`` (forms, query strings) and ``"name": "value"`` (JSON) in bodies.
_FORM_PAIR: Final = re.compile(r"(?<![\w.-])([\w.-]+)=([^&\s\"']*)")
_JSON_PAIR: Final = re.compile(r'"([\w.-]+)"(\s*:\s*)"((?:[^"\\]|\\.)*)"')
# Bodies longer than this are cut before scrubbing; excerpts are short anyway.
_SCRUB_LIMIT: Final = 65_536
# An absolute URL inside free text (a log line, an exception message): it
# ends at whitespace, a quote or a bracket, and not on the punctuation that
# follows a URL in prose.
_URL_IN_TEXT: Final = re.compile(
    r"(?<![\w+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]*[^\s\"'<>`;,.:!?)\]]"
)
# A header whose name holds one of these carries a credential.
_CREDENTIAL_HEADER_WORDS: Final = (
    "auth",
    "cookie",
    "credential",
    "key",
    "password",
    "secret",
    "session",
    "signature",
    "token",
)
# The attributes of an OSError that its str() shows besides its args.
_OS_ERROR_TEXTS: Final = ("strerror", "filename", "filename2")


@final
class _Registry:
    """The registered secret values and the pattern that finds them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self.pattern: re.Pattern[str] | None = None

    def add(self, *values: str) -> None:
        with self._lock:
            new = {value for value in values if len(value) >= MIN_SECRET_LENGTH}
            if new <= self._values:
                return
            self._values |= new
            # Longest first, so a secret that contains another is masked whole.
            ordered = sorted(self._values, key=lambda value: (-len(value), value))
            self.pattern = re.compile("|".join(map(re.escape, ordered)))


_REGISTRY: Final = _Registry()


def register_secret(value: str) -> None:
    """Register a secret value so that ``scrub_text`` masks it from now on.

    Its percent-encoded forms (as a path segment and as a form body carry
    it) are registered too. Values shorter than four characters are
    ignored, and values are never unregistered: an old token may still sit
    in a queued log line.

    Args:
        value: The credential, as it is sent.

    Examples:
        >>> from fiscus_dsl._connectors.scrub import register_secret, scrub_text
        >>> register_secret("tok_example_123")
        >>> scrub_text("sent tok_example_123")
        'sent **********'
    """
    _REGISTRY.add(value, quote(value, safe=""), quote_plus(value))


def register_basic_credentials(username: str, password: str) -> str:
    """Register the HTTP Basic token of ``username:password``; return the token.

    The password is registered too. The token is the base64 that an
    ``Authorization: Basic`` header carries (RFC 7617) and that an API may
    echo back in an error body: masking only the password would leave it
    readable there.

    Examples:
        >>> from fiscus_dsl._connectors.scrub import (
        ...     register_basic_credentials, scrub_text)
        >>> token = register_basic_credentials("bob", "pw_example_basic")
        >>> scrub_text(f"echo: Basic {token}")
        'echo: Basic **********'
    """
    token = b64encode(f"{username}:{password}".encode()).decode("ascii")
    register_secret(password)
    register_secret(token)
    return token


def register_userinfo(url: httpx.URL) -> None:
    """Register the credentials in a URL's userinfo, as httpx sends them.

    httpx turns ``https://user:password@host`` into HTTP Basic auth, so the
    password and the Basic token of ``user:password`` are registered; a
    userinfo without a password (``https://token@host``) is a token itself.
    """
    username, password = url.username, url.password
    if password:
        register_basic_credentials(username, password)
    elif username:
        register_secret(username)


def scrub_text(text: str) -> str:
    """Return ``text`` with every registered secret value replaced by ``MASK``.

    Longer secrets are matched first, so one that contains another is
    masked whole. When nothing is registered, ``text`` is returned as is.

    Examples:
        >>> from fiscus_dsl._connectors.scrub import register_secret, scrub_text
        >>> register_secret("pw_example_456")
        >>> scrub_text("login failed for pw_example_456")
        'login failed for **********'
    """
    pattern = _REGISTRY.pattern
    if pattern is None:
        return text
    return pattern.sub(MASK, text)


def register_header(name: str, value: str) -> None:
    """Register the value of a header that carries a credential, by its name.

    A name holding ``auth``, ``key``, ``token``, ``secret``, ``cookie``,
    ``session``, ``password``, ``signature`` or ``credential`` marks a
    credential (``Authorization``, ``X-API-Key``, ``Cookie``). Its whole
    value is registered, the credentials after an ``Authorization``
    scheme, and the value of each session-like cookie of a ``Cookie``
    (``session``, ``sid``, ``auth_token``), since an API may echo one
    cookie alone.

    Examples:
        >>> from fiscus_dsl._connectors.scrub import register_header, scrub_text
        >>> register_header("Cookie", "theme=dark; session=sess_example_77")
        >>> scrub_text("session sess_example_77 expired")
        'session ********** expired'
    """
    lowered = name.lower()
    if not any(word in lowered for word in _CREDENTIAL_HEADER_WORDS):
        return
    register_secret(value)
    if lowered == "cookie":
        for pair in value.split(";"):
            cookie, _, content = pair.partition("=")
            if _is_credential_cookie(cookie.strip().lower()):
                register_secret(content.strip())
    elif lowered.endswith("authorization"):
        register_secret(value.partition(" ")[2].strip())


def register_headers(headers: Mapping[str, str]) -> None:
    """Register the credential headers among ``headers`` (see ``register_header``)."""
    for name, value in headers.items():
        register_header(name, value)


async def register_request_userinfo(request: httpx.Request) -> None:
    """Register the userinfo of a request's URL before it is sent (an event hook).

    A connector's client calls it for every request, so a password that a
    base URL or a hand-written task puts in a URL is masked in whatever
    the request's answer or failure writes.
    """
    if request.url.userinfo:
        register_userinfo(request.url)


def _is_credential_cookie(name: str) -> bool:
    return "sid" in name or any(word in name for word in _CREDENTIAL_HEADER_WORDS)


def scrub_message(text: str) -> str:
    """Return free text with its secrets masked and the URLs in it scrubbed.

    Registered secrets are masked as in ``scrub_text``, and every absolute
    URL the text quotes goes through ``scrub_url``: a log line of httpx or
    the message of an exception a task raised may show a URL whose
    userinfo or query holds a credential.

    Examples:
        >>> from fiscus_dsl._connectors.scrub import scrub_message
        >>> scrub_message('HTTP Request: GET https://bob:pw@api.example.com/a "200"')
        'HTTP Request: GET https://REDACTED:REDACTED@api.example.com/a "200"'
    """
    if "://" not in text:
        return scrub_text(text)
    return _URL_IN_TEXT.sub(_scrub_url_match, scrub_text(text))


def scrub_exception(error: BaseException) -> None:
    """Scrub an exception and every one it chains to, in place.

    A traceback prints the ``str`` of each exception in the chain
    (``__cause__`` and ``__context__``, and the members of an exception
    group), so each one's ``args``, notes and (for an ``OSError``) file
    names go through ``scrub_message``. An exception whose text still
    shows a secret (one that computes its ``str`` from fields of its own,
    such as a pydantic ``ValidationError`` quoting an input) is cut from
    the chain of the one that chains to it, with a note saying so.

    Examples:
        >>> from fiscus_dsl._connectors.scrub import register_secret, scrub_exception
        >>> register_secret("tok_example_chain")
        >>> try:
        ...     try:
        ...         raise KeyError("tok_example_chain")
        ...     except KeyError as exc:
        ...         raise RuntimeError("lookup failed") from exc
        ... except RuntimeError as error:
        ...     scrub_exception(error)
        ...     error.__cause__
        KeyError('**********')
    """
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        _scrub_fields(current)
        for link in ("__cause__", "__context__"):
            linked: BaseException | None = getattr(current, link)
            if linked is None:
                continue
            if _still_shows_a_secret(linked):
                _cut(current, link, linked)
            else:
                pending.append(linked)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)


def is_secret_query_name(name: str) -> bool:
    """Tell whether a query parameter's value must be redacted, by its name.

    The check ignores case and treats ``-`` like ``_``, so ``API-Key``,
    ``api_key`` and ``X-Amz-Signature`` are all secret-looking.

    Examples:
        >>> from fiscus_dsl._connectors.scrub import is_secret_query_name
        >>> is_secret_query_name("Access_Token"), is_secret_query_name("page")
        (True, False)
    """
    return name.lower().replace("-", "_") in _SECRET_QUERY_NAMES


def scrub_url(url: str | httpx.URL) -> str:
    """Return a URL fit for a message or a span: no credentials in it.

    Userinfo becomes ``REDACTED:REDACTED`` (as the OpenTelemetry HTTP
    semantic conventions ask), the value of every secret-looking query
    parameter (see ``is_secret_query_name``) or of one that holds a
    registered secret becomes ``REDACTED``, and registered secrets
    elsewhere (a path segment) are masked. The rest is kept byte for byte.

    Examples:
        >>> from fiscus_dsl._connectors.scrub import scrub_url
        >>> scrub_url("https://bob:pw@api.example.com/v1/items?page=2&api_key=abc")
        'https://REDACTED:REDACTED@api.example.com/v1/items?page=2&api_key=REDACTED'
    """
    return _scrub_url(scrub_text(str(url)))


def _scrub_url(text: str, keep: str | None = None) -> str:
    """Scrub a URL whose registered secrets are masked; query values ``keep`` stay."""
    # Registered secrets are masked first, so no split here can cut one in two.
    text, hash_, fragment = text.partition("#")
    text, question, query = text.partition("?")
    text = _AUTHORITY.sub(_redact_userinfo, text, count=1)
    if question:
        query = "&".join(_scrub_query_item(item, keep) for item in query.split("&"))
    return f"{text}{question}{query}{hash_}{fragment}"


def scrub_excerpt(text: str, *, limit: int = EXCERPT_LENGTH) -> str:
    """Return at most ``limit`` characters of a body, scrubbed, for a message.

    Registered secrets are masked and the values of secret-looking
    ``name=value`` and ``"name": "value"`` pairs are redacted (as in
    ``scrub_url``, except ``code`` and ``key``, which in bodies are mostly
    error codes and lookup keys) *before* the text is cut, so a cut never
    leaves part of a secret behind.

    Examples:
        >>> from fiscus_dsl._connectors.scrub import scrub_excerpt
        >>> scrub_excerpt('{"error": "expired", "refresh_token": "rt-9f8e"}')
        '{"error": "expired", "refresh_token": "REDACTED"}'
    """
    # Registered secrets first: a pair's value ends at "&" or a quote, which a
    # secret may contain, and no tail of a secret may survive.
    text = scrub_text(text[:_SCRUB_LIMIT])
    text = _JSON_PAIR.sub(_redact_json_pair, text)
    return _FORM_PAIR.sub(_redact_form_pair, text)[:limit]


def _scrub_url_match(match: re.Match[str]) -> str:
    # The text is masked already; a masked query value says as much as REDACTED.
    return _scrub_url(match.group(0), keep=MASK)


def _scrub_fields(error: BaseException) -> None:
    """Scrub the texts an exception's ``str`` and its traceback are made of."""
    args = error.args
    scrubbed = tuple(
        scrub_message(arg) if isinstance(arg, str) else arg for arg in args
    )
    if scrubbed != args:
        error.args = scrubbed
    notes = getattr(error, "__notes__", None)
    if isinstance(notes, list):
        notes[:] = [scrub_message(n) if isinstance(n, str) else n for n in notes]
    if isinstance(error, OSError):
        for name in _OS_ERROR_TEXTS:
            value = getattr(error, name)
            if isinstance(value, str):
                setattr(error, name, scrub_message(value))


def _still_shows_a_secret(error: BaseException) -> bool:
    _scrub_fields(error)
    try:
        text = str(error)
    except Exception:  # a broken __str__: a traceback shows no text for it either
        return False
    return scrub_message(text) != text


def _cut(error: BaseException, link: str, linked: BaseException) -> None:
    """Drop ``linked`` from ``error``'s chain; a note says what was there."""
    setattr(error, link, None)
    if link == "__context__":
        error.__suppress_context__ = True
    what = f"{type(linked).__module__}.{type(linked).__qualname__}"
    error.add_note(
        f"(fiscus_dsl left out the {what} this error was chained to: "
        "its text held a secret)"
    )


def _redact_userinfo(match: re.Match[str]) -> str:
    scheme, authority = match.group(1) or "", match.group(2)
    _, at, host = authority.rpartition("@")
    if not at:
        return match.group(0)
    return f"{scheme}//{REDACTED}:{REDACTED}@{host}"


def _scrub_query_item(item: str, keep: str | None = None) -> str:
    name, equals, value = item.partition("=")
    if not equals or not value or value == keep:
        return item
    if MASK in value or is_secret_query_name(unquote_plus(name)):
        return f"{name}={REDACTED}"
    if any(scrub_text(text) != text for text in (unquote(value), unquote_plus(value))):
        return f"{name}={REDACTED}"
    return item


def _is_secret_body_name(name: str) -> bool:
    return name.lower().replace("-", "_") in _SECRET_BODY_NAMES


def _redact_form_pair(match: re.Match[str]) -> str:
    if not _is_secret_body_name(match.group(1)) or not match.group(2):
        return match.group(0)
    return f"{match.group(1)}={REDACTED}"


def _redact_json_pair(match: re.Match[str]) -> str:
    if not _is_secret_body_name(match.group(1)):
        return match.group(0)
    return f'"{match.group(1)}"{match.group(2)}"{REDACTED}"'
