"""Capability URLs: a signature grants one method on one key until it expires."""

import pytest

from runyard.server.signing import SignatureError, UrlSigner


def _parts(query: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in query.split("&"))


def test_signed_url_verifies_for_its_method_and_key() -> None:
    signer = UrlSigner(b"k" * 32, ttl_s=60)
    q = _parts(signer.sign("PUT", "runs/1/files/a.txt", now=1000))
    signer.verify("PUT", "runs/1/files/a.txt", q["expires"], q["sig"], now=1059)


@pytest.mark.parametrize(
    ("method", "key", "now", "message"),
    [
        ("GET", "runs/1/files/a.txt", 1000, "does not match"),
        ("PUT", "runs/2/files/a.txt", 1000, "does not match"),
        ("PUT", "runs/1/files/a.txt", 1061, "expired"),
    ],
)
def test_signed_url_refuses_other_method_key_or_late_use(
    method: str, key: str, now: float, message: str
) -> None:
    signer = UrlSigner(b"k" * 32, ttl_s=60)
    q = _parts(signer.sign("PUT", "runs/1/files/a.txt", now=1000))
    with pytest.raises(SignatureError, match=message):
        signer.verify(method, key, q["expires"], q["sig"], now=now)


def test_other_secret_or_missing_signature_is_refused() -> None:
    q = _parts(UrlSigner(b"a" * 32, 60).sign("PUT", "k", now=0))
    with pytest.raises(SignatureError, match="does not match"):
        UrlSigner(b"b" * 32, 60).verify("PUT", "k", q["expires"], q["sig"], now=1)
    with pytest.raises(SignatureError, match="missing signature"):
        UrlSigner(b"a" * 32, 60).verify("PUT", "k", None, None, now=1)
