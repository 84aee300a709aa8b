"""Scrubbing: registered secrets masked in text, credentials redacted from URLs."""

from __future__ import annotations

import base64
import traceback

import httpx
import pytest

from fiscus_dsl._connectors import scrub
from fiscus_dsl._connectors.scrub import (
    MASK,
    REDACTED,
    is_secret_query_name,
    register_basic_credentials,
    register_header,
    register_secret,
    register_userinfo,
    scrub_exception,
    scrub_excerpt,
    scrub_message,
    scrub_text,
    scrub_url,
)


@pytest.fixture(autouse=True)
def empty_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give each test its own registry, so secrets of other tests never interfere."""
    monkeypatch.setattr(scrub, "_REGISTRY", scrub._Registry())


SECRET_NAMES = [
    "api_key",
    "apikey",
    "api-key",
    "key",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "password",
    "secret",
    "signature",
    "sig",
    "x-amz-signature",
    "x-goog-signature",
    "awsaccesskeyid",
    "auth",
    "authorization",
    "code",
]


# ---------------------------------------------------------------- scrub_text


def test_scrub_text_returns_the_text_unchanged_when_nothing_is_registered() -> None:
    text = "GET https://api.example.com/v1/items failed"

    assert scrub_text(text) is text


def test_scrub_text_masks_every_occurrence_of_a_registered_secret() -> None:
    register_secret("sk_live_abcdef")

    scrubbed = scrub_text("key sk_live_abcdef, again sk_live_abcdef.")

    assert scrubbed == f"key {MASK}, again {MASK}."


def test_scrub_text_masks_the_longest_secret_first() -> None:
    register_secret("abcd")
    register_secret("abcdefgh")

    assert scrub_text("x abcdefgh y abcd z") == f"x {MASK} y {MASK} z"


def test_scrub_text_leaves_no_tail_of_a_longer_secret_registered_later() -> None:
    register_secret("tok_1234")
    register_secret("tok_1234_extended")

    assert scrub_text("tok_1234_extended") == MASK


def test_register_secret_ignores_values_shorter_than_four_characters() -> None:
    register_secret("abc")

    assert scrub_text("abc abcd") == "abc abcd"


def test_register_secret_twice_keeps_masking() -> None:
    register_secret("sk_twice_0001")
    register_secret("sk_twice_0001")

    assert scrub_text("sk_twice_0001") == MASK


def test_scrub_text_treats_regex_characters_in_secrets_literally() -> None:
    register_secret("a.b*c+")

    assert scrub_text("a.b*c+ axbbbc+") == f"{MASK} axbbbc+"


def test_register_secret_also_masks_the_percent_encoded_form() -> None:
    register_secret("s3cr/t+key")

    assert scrub_text("/v1/files/s3cr%2Ft%2Bkey") == f"/v1/files/{MASK}"


# ---------------------------------------------------------------- scrub_url


def test_scrub_url_replaces_userinfo_with_redacted() -> None:
    url = "https://alice:hunter2@api.example.com/v1/items"

    assert scrub_url(url) == "https://REDACTED:REDACTED@api.example.com/v1/items"


def test_scrub_url_replaces_a_user_without_password_too() -> None:
    url = "https://alice@api.example.com/v1"

    assert scrub_url(url) == "https://REDACTED:REDACTED@api.example.com/v1"


def test_scrub_url_keeps_an_at_sign_outside_the_authority() -> None:
    url = "https://api.example.com/v1/users/a@b.example?mail=a@b.example"

    assert scrub_url(url) == url


def test_scrub_url_keeps_a_relative_url() -> None:
    assert scrub_url("/v1/items?page=2") == "/v1/items?page=2"


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_scrub_url_redacts_each_secret_looking_query_value(name: str) -> None:
    url = f"https://api.example.com/v1/items?page=2&{name}=v4lue&sort=asc"

    scrubbed = scrub_url(url)

    assert (
        scrubbed == f"https://api.example.com/v1/items?page=2&{name}=REDACTED&sort=asc"
    )


@pytest.mark.parametrize(
    "name", ["API_KEY", "Token", "X-Amz-Signature", "AWSAccessKeyId"]
)
def test_scrub_url_matches_names_case_insensitively(name: str) -> None:
    scrubbed = scrub_url(f"https://s3.example.com/b/o?{name}=abc123")

    assert scrubbed == f"https://s3.example.com/b/o?{name}=REDACTED"


def test_scrub_url_keeps_other_parameters_byte_for_byte() -> None:
    url = "https://api.example.com/v1/s?q=a%20b+c&f=%E2%9C%93&empty=&flag&x=1=2#top"

    assert scrub_url(url) == url


def test_scrub_url_keeps_an_empty_secret_looking_value() -> None:
    url = "https://api.example.com/v1?token=&page=1"

    assert scrub_url(url) == url


def test_scrub_url_keeps_the_fragment_and_redacts_only_the_query() -> None:
    url = "https://api.example.com/v1?token=abc#token=xyz"

    assert scrub_url(url) == "https://api.example.com/v1?token=REDACTED#token=xyz"


def test_scrub_url_decodes_parameter_names() -> None:
    url = "https://api.example.com/v1?api%5Fkey=abc"

    assert scrub_url(url) == "https://api.example.com/v1?api%5Fkey=REDACTED"


def test_scrub_url_masks_a_registered_secret_inside_the_path() -> None:
    register_secret("sk_path_0042")

    scrubbed = scrub_url("https://api.example.com/v1/keys/sk_path_0042/usage")

    assert scrubbed == f"https://api.example.com/v1/keys/{MASK}/usage"


def test_scrub_url_redacts_a_parameter_holding_a_registered_secret() -> None:
    register_secret("sk q+uery/0042")
    sent = httpx.URL("https://api.example.com/v1", params={"custom": "sk q+uery/0042"})

    assert scrub_url(sent) == "https://api.example.com/v1?custom=REDACTED"


def test_scrub_url_accepts_an_httpx_url() -> None:
    url = httpx.URL("https://bob:pw@api.example.com/v1?sig=abc")

    assert scrub_url(url) == "https://REDACTED:REDACTED@api.example.com/v1?sig=REDACTED"


@pytest.mark.parametrize("name", ["page", "keys", "tokens_left", "q", "codec"])
def test_is_secret_query_name_is_false_for_ordinary_names(name: str) -> None:
    assert not is_secret_query_name(name)


@pytest.mark.parametrize("name", [*SECRET_NAMES, "API-KEY", "X_Goog_Signature"])
def test_is_secret_query_name_is_true_for_secret_looking_names(name: str) -> None:
    assert is_secret_query_name(name)


# ---------------------------------------------------------------- scrub_excerpt


def test_scrub_excerpt_cuts_the_text_to_the_limit() -> None:
    assert scrub_excerpt("x" * 500) == "x" * 200
    assert scrub_excerpt("abcdef", limit=3) == "abc"


def test_scrub_excerpt_redacts_secret_looking_json_values() -> None:
    body = '{"error": "invalid", "access_token" : "at-1", "Client-Secret": "cs-9"}'

    assert scrub_excerpt(body) == (
        '{"error": "invalid", "access_token" : "REDACTED", "Client-Secret": "REDACTED"}'
    )


def test_scrub_excerpt_redacts_secret_looking_form_values() -> None:
    body = "access_token=at-1&token_type=bearer&refresh_token="

    assert (
        scrub_excerpt(body) == "access_token=REDACTED&token_type=bearer&refresh_token="
    )


def test_scrub_excerpt_keeps_error_codes_and_keys() -> None:
    body = '{"code": "rate_limited", "key": "user-42"} code=429'

    assert scrub_excerpt(body) == body


def test_scrub_excerpt_masks_registered_secrets_before_cutting() -> None:
    register_secret("sk_cut_" + "9" * 30)
    body = "x" * 190 + "sk_cut_" + "9" * 30

    excerpt = scrub_excerpt(body)

    assert excerpt == "x" * 190 + MASK
    assert "sk_cut" not in excerpt


def test_redacted_is_the_opentelemetry_placeholder() -> None:
    assert REDACTED == "REDACTED"
    assert MASK == "**********"


# ---------------------------------------------------------------- more forms


def test_register_secret_also_masks_the_form_encoded_form() -> None:
    register_secret("cs two words&more")

    assert scrub_text("client_secret=cs+two+words%26more") == f"client_secret={MASK}"


def test_register_basic_credentials_masks_the_token_and_the_password() -> None:
    token = register_basic_credentials("bob", "pw_basic_0042")

    assert token == base64.b64encode(b"bob:pw_basic_0042").decode("ascii")
    assert scrub_text(f"Basic {token} pw_basic_0042") == f"Basic {MASK} {MASK}"


def test_register_userinfo_masks_the_password_and_its_basic_token() -> None:
    register_userinfo(httpx.URL("https://bob:pw_user_0042@api.example.com/v1"))

    echoed = base64.b64encode(b"bob:pw_user_0042").decode("ascii")
    assert scrub_text(f"{echoed} pw_user_0042") == f"{MASK} {MASK}"
    assert scrub_text("bob") == "bob"


def test_register_userinfo_takes_a_lone_user_name_for_a_token() -> None:
    register_userinfo(httpx.URL("https://ghp_token_0042@api.example.com/v1"))

    assert scrub_text("ghp_token_0042") == MASK


def test_register_userinfo_of_a_url_without_one_registers_nothing() -> None:
    register_userinfo(httpx.URL("https://api.example.com/v1"))

    assert scrub._REGISTRY.pattern is None


@pytest.mark.parametrize(
    ("name", "value", "masked"),
    [
        ("X-API-Key", "k_header_0042", "k_header_0042"),
        ("Authorization", "Token t_header_0042", "t_header_0042"),
        ("Cookie", "theme=dark; session=s_cookie_0042", "s_cookie_0042"),
        ("Cookie", "lang=fr; connect.sid=s_cookie_0043", "s_cookie_0043"),
    ],
)
def test_register_header_masks_a_credential_header(
    name: str, value: str, masked: str
) -> None:
    register_header(name, value)

    assert scrub_text(f"echo {masked} {value}") == f"echo {MASK} {MASK}"


def test_register_header_keeps_other_cookies_and_headers() -> None:
    register_header("Cookie", "theme=dark; session=s_cookie_0044")
    register_header("Accept-Language", "en-GB-oxendict")

    assert scrub_text("theme=dark en-GB-oxendict") == "theme=dark en-GB-oxendict"


# ---------------------------------------------------------------- scrub_message


def test_scrub_message_scrubs_every_url_it_quotes() -> None:
    text = (
        'HTTP Request: GET https://bob:pw@a.example.com/x?api_key=k1&page=2 "200"; '
        "then http://b.example.com/y?token=t2, done"
    )

    assert scrub_message(text) == (
        "HTTP Request: GET https://REDACTED:REDACTED@a.example.com/x?api_key=REDACTED"
        '&page=2 "200"; then http://b.example.com/y?token=REDACTED, done'
    )


def test_scrub_message_masks_registered_secrets_outside_urls() -> None:
    register_secret("tok_message_0042")

    assert scrub_message("refused tok_message_0042") == f"refused {MASK}"


def test_scrub_message_keeps_a_query_value_already_masked() -> None:
    register_secret("tok_message_0043")

    text = "GET https://a.example.com/x?api_key=tok_message_0043; not sent"

    assert scrub_message(text) == (
        f"GET https://a.example.com/x?api_key={MASK}; not sent"
    )


def test_scrub_message_leaves_text_without_secrets_as_it_is() -> None:
    text = "Task 'fetch' failed: see https://docs.example.com/errors#e42."

    assert scrub_message(text) == text


# ---------------------------------------------------------------- scrub_exception


class StubbornError(Exception):
    """An error whose text comes from ``__str__``, not from its args."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def __str__(self) -> str:
        return self.text


class BrokenStrError(Exception):
    """An error whose ``__str__`` raises."""

    def __str__(self) -> str:
        raise ValueError


def chain(
    error: BaseException,
    *,
    cause: BaseException | None = None,
    context: BaseException | None = None,
) -> BaseException:
    """Link ``error`` to a cause and a context, as ``raise ... from`` would."""
    if cause is not None:
        error.__cause__ = cause  # this also suppresses the context, as raise does
    error.__context__ = context
    return error


def printed(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def test_scrub_exception_scrubs_the_error_and_its_cause() -> None:
    register_secret("tok_chain_0042")
    cause = KeyError("tok_chain_0042")
    error = chain(RuntimeError("lookup of tok_chain_0042 failed"), cause=cause)

    scrub_exception(error)

    assert error.args == (f"lookup of {MASK} failed",)
    assert error.__cause__ is cause
    assert cause.args == (MASK,)
    assert "tok_chain_0042" not in printed(error)


def test_scrub_exception_scrubs_the_implicit_context_too() -> None:
    register_secret("tok_context_0042")
    context = ValueError("bad https://bob:pw@a.example.com/?token=unregistered")
    error = chain(OSError(2, "No such file", "/keys/tok_context_0042"), context=context)

    scrub_exception(error)
    text = printed(error)

    assert "tok_context_0042" not in text
    assert f"/keys/{MASK}" in text
    assert "https://REDACTED:REDACTED@a.example.com/?token=REDACTED" in text


def test_scrub_exception_scrubs_notes_and_group_members() -> None:
    register_secret("tok_group_0042")
    member = ValueError("tok_group_0042")
    member.add_note("note on tok_group_0042")
    group = ExceptionGroup("two failed", [member, KeyError("k")])

    scrub_exception(group)

    assert member.args == (MASK,)
    assert member.__notes__ == [f"note on {MASK}"]
    assert "tok_group_0042" not in printed(group)


def test_scrub_exception_cuts_a_cause_whose_text_cannot_be_scrubbed() -> None:
    register_secret("tok_stubborn_0042")
    error = chain(
        RuntimeError("wrapped"), cause=StubbornError("always tok_stubborn_0042")
    )

    scrub_exception(error)
    text = printed(error)

    assert error.__cause__ is None
    assert "tok_stubborn_0042" not in text
    assert "test_scrub.StubbornError this error was chained to" in text


def test_scrub_exception_cuts_an_implicit_context_and_suppresses_it() -> None:
    register_secret("tok_stubborn_0043")
    error = chain(
        RuntimeError("wrapped"), context=StubbornError("always tok_stubborn_0043")
    )

    scrub_exception(error)

    assert error.__context__ is None
    assert error.__suppress_context__ is True
    assert "tok_stubborn_0043" not in printed(error)


def test_scrub_exception_keeps_a_link_whose_str_is_broken() -> None:
    cause = BrokenStrError()
    error = chain(RuntimeError("wrapped"), cause=cause)

    scrub_exception(error)

    assert error.__cause__ is cause


def test_scrub_exception_stops_at_a_cycle() -> None:
    register_secret("tok_cycle_0042")
    first, second = ValueError("tok_cycle_0042"), KeyError("tok_cycle_0042")
    chain(first, context=second)
    chain(second, context=first)

    scrub_exception(first)

    assert (first.args, second.args) == ((MASK,), (MASK,))


def test_scrub_url_redacts_a_secret_encoded_as_no_registered_form() -> None:
    register_secret("sk two/parts_0042")
    written = "https://api.example.com/v1?custom=sk+two/parts_0042"  # "/" kept

    assert scrub_text(written) == written  # neither quote form matches
    assert scrub_url(written) == f"https://api.example.com/v1?custom={REDACTED}"
