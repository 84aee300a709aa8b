"""``Secret``: a credential that never prints, pickles or serializes."""

from __future__ import annotations

import copy
import logging
import pickle

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from fiscus_dsl import (
    BearerAuth,
    ConfigurationError,
    Connector,
    FiscusErrorCode,
    MissingSecretError,
    Secret,
    SecretPicklingError,
    workflow,
)
from fiscus_dsl._connectors.scrub import MASK, scrub_text, scrub_url

VALUE = "sk_test_secret_CANARY_0123456789"


class Credentials(BaseModel):
    """A pydantic model with a secret field."""

    token: Secret
    retries: int = 0


# ---------------------------------------------------------------- construction


def test_reveal_returns_the_value() -> None:
    assert Secret(VALUE).reveal() == VALUE


@pytest.mark.parametrize("value", ["", None, 42, b"sk_bytes_value"])
def test_secret_rejects_anything_but_a_non_empty_str(value: object) -> None:
    with pytest.raises(
        ConfigurationError, match=r"needs the credential as a non-empty str"
    ):
        Secret(value)  # type: ignore[arg-type]  # the wrong types are the point


def test_secret_rejects_bytes_without_echoing_them() -> None:
    with pytest.raises(ConfigurationError, match=r"got bytes;") as caught:
        Secret(b"sk_bytes_value")  # type: ignore[arg-type]  # bytes are the point

    assert "sk_bytes_value" not in str(caught.value)


def test_every_secret_registers_its_value_for_scrubbing() -> None:
    Secret("sk_test_registered_7f3a")

    assert scrub_text("got sk_test_registered_7f3a back") == f"got {MASK} back"


def test_a_secret_is_scrubbed_from_urls_too() -> None:
    Secret("sk_test_in_path_5c1e")

    scrubbed = scrub_url("https://api.example.com/v1/keys/sk_test_in_path_5c1e")

    assert scrubbed == f"https://api.example.com/v1/keys/{MASK}"


def test_a_secret_is_immutable() -> None:
    secret = Secret(VALUE)

    with pytest.raises(AttributeError, match="A Secret is immutable"):
        secret._value = "other"
    with pytest.raises(AttributeError, match="A Secret is immutable"):
        del secret._value
    assert secret.reveal() == VALUE


# ---------------------------------------------------------------- from_env


def test_from_env_reads_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FISCUS_TEST_TOKEN", VALUE)

    assert Secret.from_env("FISCUS_TEST_TOKEN").reveal() == VALUE


def test_from_env_of_an_unset_variable_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FISCUS_TEST_TOKEN", raising=False)

    with pytest.raises(
        MissingSecretError, match=r"'FISCUS_TEST_TOKEN' is not set"
    ) as caught:
        Secret.from_env("FISCUS_TEST_TOKEN")

    assert caught.value.name == "FISCUS_TEST_TOKEN"
    assert caught.value.code is FiscusErrorCode.AUTH_FAILURE
    assert isinstance(caught.value, LookupError)


def test_from_env_of_an_empty_variable_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FISCUS_TEST_TOKEN", "")

    with pytest.raises(MissingSecretError, match="FISCUS_TEST_TOKEN") as caught:
        Secret.from_env("FISCUS_TEST_TOKEN")

    assert caught.value.name == "FISCUS_TEST_TOKEN"


# ---------------------------------------------------------------- never printable


def test_repr_is_masked() -> None:
    assert repr(Secret(VALUE)) == "Secret('**********')"


def test_str_is_masked() -> None:
    assert str(Secret(VALUE)) == MASK


@pytest.mark.parametrize("spec", ["", "s", ">40", "^12"])
def test_format_is_masked_whatever_the_spec(spec: str) -> None:
    assert format(Secret(VALUE), spec) == MASK


def test_f_string_is_masked() -> None:
    secret = Secret(VALUE)

    assert f"Bearer {secret}" == f"Bearer {MASK}"
    assert f"{secret!r}" == "Secret('**********')"
    assert "%s %r" % (secret, secret) == f"{MASK} Secret('**********')"  # noqa: UP031


def test_a_secret_in_a_container_repr_is_masked() -> None:
    assert VALUE not in repr({"token": Secret(VALUE), "items": [Secret(VALUE)]})


def test_logging_a_secret_shows_the_mask(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("fiscus.test").info(
            "token %s / %r", Secret(VALUE), Secret(VALUE)
        )

    assert VALUE not in caplog.text
    assert MASK in caplog.text


# ---------------------------------------------------------------- pickle and copy


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_secret_cannot_be_pickled(protocol: int) -> None:
    with pytest.raises(SecretPicklingError, match="A Secret cannot be pickled") as info:
        pickle.dumps(Secret(VALUE), protocol=protocol)

    assert info.value.owner == "Secret"
    assert isinstance(info.value, TypeError)


def test_a_secret_inside_a_structure_cannot_be_pickled() -> None:
    with pytest.raises(SecretPicklingError, match="A Secret cannot be pickled"):
        pickle.dumps({"auth": [Secret(VALUE)]})


def test_reduce_and_getstate_refuse() -> None:
    secret = Secret(VALUE)

    with pytest.raises(SecretPicklingError, match="A Secret cannot be pickled"):
        secret.__reduce__()
    with pytest.raises(SecretPicklingError, match="A Secret cannot be pickled"):
        secret.__getstate__()


def test_copy_and_deepcopy_return_the_same_secret() -> None:
    secret = Secret(VALUE)

    assert copy.copy(secret) is secret
    assert copy.deepcopy(secret) is secret
    assert copy.deepcopy({"token": secret})["token"] is secret


# ---------------------------------------------------------------- equality


def test_secrets_with_the_same_value_are_equal_and_hash_alike() -> None:
    assert Secret(VALUE) == Secret(VALUE)
    assert hash(Secret(VALUE)) == hash(Secret(VALUE))
    assert len({Secret(VALUE), Secret(VALUE)}) == 1


def test_secrets_with_different_values_differ() -> None:
    assert Secret(VALUE) != Secret(VALUE + "x")


def test_a_secret_never_equals_its_plain_value() -> None:
    plain: object = VALUE

    assert Secret(VALUE) != plain
    assert plain != Secret(VALUE)  # str.__eq__ first, then Secret's reflected one


def test_secrets_with_non_ascii_values_compare() -> None:
    assert Secret("pässwörd-ü") == Secret("pässwörd-ü")
    assert Secret("pässwörd-ü") != Secret("pässwörd-ö")


# ---------------------------------------------------------------- pydantic


def test_a_model_field_accepts_a_str_and_makes_it_a_secret() -> None:
    credentials = Credentials(token=VALUE)

    assert isinstance(credentials.token, Secret)
    assert credentials.token.reveal() == VALUE


def test_a_model_field_accepts_a_secret_as_is() -> None:
    secret = Secret(VALUE)

    assert Credentials(token=secret).token is secret


def test_a_model_validated_from_json_holds_a_secret() -> None:
    credentials = Credentials.model_validate_json(f'{{"token": "{VALUE}"}}')

    assert credentials.token.reveal() == VALUE


def test_model_repr_and_str_are_masked() -> None:
    credentials = Credentials(token=Secret(VALUE))

    assert VALUE not in repr(credentials)
    assert VALUE not in str(credentials)


def test_model_dump_json_is_masked() -> None:
    dumped = Credentials(token=Secret(VALUE)).model_dump_json()

    assert dumped == '{"token":"**********","retries":0}'


def test_model_dump_in_json_mode_is_masked() -> None:
    dumped = Credentials(token=Secret(VALUE)).model_dump(mode="json")

    assert dumped == {"token": MASK, "retries": 0}


def test_model_dump_in_python_mode_keeps_the_secret_object() -> None:
    secret = Secret(VALUE)

    assert Credentials(token=secret).model_dump() == {"token": secret, "retries": 0}


def test_type_adapter_dump_json_is_masked() -> None:
    assert TypeAdapter(Secret).dump_json(Secret(VALUE)) == b'"**********"'


def test_to_jsonable_python_with_repr_fallback_is_masked() -> None:
    jsonable = to_jsonable_python({"token": Secret(VALUE)}, fallback=repr)

    assert jsonable == {"token": "Secret('**********')"}


def test_to_jsonable_python_without_fallback_refuses_without_the_value() -> None:
    with pytest.raises(PydanticSerializationError) as caught:
        to_jsonable_python(Secret(VALUE))

    assert VALUE not in str(caught.value)


def test_json_schema_is_a_write_only_password() -> None:
    schema = TypeAdapter(Secret).json_schema()

    assert schema == {
        "type": "string",
        "minLength": 1,
        "format": "password",
        "writeOnly": True,
    }


def test_a_validation_error_of_another_field_does_not_show_the_secret() -> None:
    with pytest.raises(ValidationError) as caught:
        Credentials.model_validate({"token": VALUE, "retries": "many"})

    assert VALUE not in str(caught.value)
    assert [error["loc"] for error in caught.value.errors()] == [("retries",)]


def test_a_secret_given_to_a_wrong_field_shows_only_its_mask() -> None:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(int).validate_python(Secret(VALUE))

    assert VALUE not in str(caught.value)
    assert "Secret('**********')" in str(caught.value)


def test_an_empty_str_is_not_a_valid_secret() -> None:
    with pytest.raises(ValidationError, match="at least 1 character"):
        Credentials.model_validate({"token": ""})


def test_a_deferred_secret_reads_its_variable_when_first_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DEFERRED_TEST_TOKEN", raising=False)
    token = Secret.from_env("DEFERRED_TEST_TOKEN", defer=True)  # no error yet

    assert _missing(token) == "DEFERRED_TEST_TOKEN"
    assert repr(token) == f"Secret({MASK!r})"
    with pytest.raises(MissingSecretError, match="'DEFERRED_TEST_TOKEN' is not set"):
        token.reveal()

    monkeypatch.setenv("DEFERRED_TEST_TOKEN", "sk-deferred-42")
    assert _missing(token) is None
    assert token.reveal() == "sk-deferred-42"
    assert scrub_text("got sk-deferred-42") == f"got {MASK}"  # masked once read
    with pytest.raises(SecretPicklingError):
        pickle.dumps(token)


def _missing(secret: Secret) -> str | None:
    return secret.missing


def test_a_run_whose_deferred_secret_is_missing_fails_that_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DEFERRED_RUN_TOKEN", raising=False)
    vault = Connector(
        "DeferredVault",
        "https://vault.example.test",
        auth=BearerAuth(Secret.from_env("DEFERRED_RUN_TOKEN", defer=True)),
    )

    @vault.operation("GET /items")
    def items() -> list[str]:
        """List the items."""
        raise NotImplementedError  # an operation's body never runs

    @workflow
    def listing() -> list[str]:
        return items()

    result = listing.run()

    assert isinstance(result["items"].error, MissingSecretError)
    assert "DEFERRED_RUN_TOKEN" in str(result["items"].error)
