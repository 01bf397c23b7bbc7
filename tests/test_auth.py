"""API key format and Authorization header parsing."""

import base64

import pytest

from runyard.server.auth import (
    AuthError,
    generate_api_key,
    hash_api_key,
    key_from_authorization,
    validate_api_key_format,
)


def test_generated_keys_have_wandb_format_and_are_unique() -> None:
    keys = {generate_api_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        validate_api_key_format(key)
        # wandb clients check that the part after the last '-' is exactly 40 characters.
        assert len(key.split("-")[-1]) == 40


@pytest.mark.parametrize("bad", ["short", "x" * 39, "UPPER-" + "a" * 40, "a" * 40 + "!"])
def test_bad_key_format_names_the_rule(bad: str) -> None:
    with pytest.raises(ValueError, match="40 or more characters"):
        validate_api_key_format(bad)


def test_basic_and_bearer_headers_yield_the_key() -> None:
    key = generate_api_key()
    basic = "Basic " + base64.b64encode(f"api:{key}".encode()).decode()
    assert key_from_authorization(basic) == key
    assert key_from_authorization(f"Bearer {key}") == key
    assert hash_api_key(key) != key


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing Authorization"),
        ("Basic !!!", "malformed Basic"),
        ("Basic " + base64.b64encode(b"nocolon").decode(), "malformed Basic"),
        ("Digest abc", "unsupported Authorization scheme"),
    ],
)
def test_bad_headers_say_what_to_send(header: str | None, message: str) -> None:
    with pytest.raises(AuthError, match=message):
        key_from_authorization(header)
