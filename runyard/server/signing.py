"""HMAC-signed, expiring capability URLs for uploads and downloads (no Authorization header)."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import quote

# `(method, object key)` -> a URL straight to the object store (a presigned bucket URL), or
# None where the server itself must serve the key.
DirectUrl = Callable[[str, str], "str | None"]


class SignatureError(Exception):
    """Raised when a capability URL is forged, altered or expired."""


class UrlSigner:
    """Signs `(method, object key, expiry)` so a URL grants exactly one action until it expires."""

    def __init__(self, secret: bytes, ttl_s: int, direct: DirectUrl | None = None) -> None:
        """`direct`: where files live in a bucket, its presigned URLs replace the server's."""
        self._secret = secret
        self.ttl_s = ttl_s
        self.direct = direct

    def derived_key(self, purpose: str) -> bytes:
        """A key for another use of the server secret (e.g. CSRF tokens), independent of URLs."""
        return hmac.new(self._secret, f"derive\n{purpose}".encode(), hashlib.sha256).digest()

    def _mac(self, method: str, key: str, expires: int) -> str:
        message = f"{method}\n{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, method: str, key: str, now: float | None = None) -> str:
        """Return the query string (`expires=...&sig=...`) authorising `method` on `key`."""
        expires = int((now if now is not None else time.time()) + self.ttl_s)
        return f"expires={expires}&sig={self._mac(method, key, expires)}"

    def url(self, base_url: str, method: str, key: str) -> str:
        """Return a full capability URL for `method` on `key` (a bucket URL where direct)."""
        if self.direct is not None and (direct := self.direct(method, key)) is not None:
            return direct
        return f"{base_url.rstrip('/')}/storage/{quote(key)}?{self.sign(method, key)}"

    def verify(
        self, method: str, key: str, expires: str | None, sig: str | None, now: float | None = None
    ) -> None:
        """Raise SignatureError unless the signature matches and has not expired."""
        if not expires or not sig:
            raise SignatureError("missing signature: request a fresh URL from the server")
        try:
            expires_at = int(expires)
        except ValueError as exc:
            raise SignatureError("malformed expiry in signed URL") from exc
        if not hmac.compare_digest(self._mac(method, key, expires_at), sig):
            raise SignatureError("signature does not match this URL")
        if (now if now is not None else time.time()) > expires_at:
            raise SignatureError("signed URL has expired: request a fresh one")
