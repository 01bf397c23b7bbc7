"""AWS Signature Version 4 query-string presigning for S3-compatible stores (pure functions).

Written from AWS's published SigV4 description rather than taken from boto3: botocore pins
python-dateutil<3 while the operator's kubernetes client needs >=3, so the two cannot be
installed together. Every request the server makes to the bucket is a presigned URL too.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_EXPIRES_S = 7 * 24 * 3600  # SigV4's longest presigned lifetime


@dataclass(frozen=True)
class Credentials:
    """An access key pair."""

    access_key_id: str
    secret_access_key: str


@dataclass(frozen=True)
class Endpoint:
    """Where the bucket answers: scheme and host, plus whether the bucket is in the path."""

    scheme: str
    host: str  # with the port when it is not the scheme's default
    path_style: bool

    @classmethod
    def parse(cls, url: str, path_style: bool) -> Endpoint:
        """An endpoint from a URL such as http://seaweedfs:8333."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{url!r} is not an http(s) URL")
        return cls(parts.scheme, parts.netloc, path_style)


def _encode(value: str, safe: str = "") -> str:
    """RFC 3986 encoding as SigV4 wants it: unreserved characters stay, all else is %XX."""
    return quote(value, safe="-_.~" + safe)


def object_location(endpoint: Endpoint, bucket: str, key: str) -> tuple[str, str]:
    """The host and canonical (encoded) path of `key` in `bucket`; key "" is the bucket."""
    if endpoint.path_style:
        path = f"/{bucket}/{key}" if key else f"/{bucket}"
        return endpoint.host, _encode(path, "/")
    return f"{bucket}.{endpoint.host}", _encode(f"/{key}", "/")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    """The key derived for one day, region and service."""
    k_date = _hmac(f"AWS4{secret}".encode(), date)
    return _hmac(_hmac(_hmac(k_date, region), service), "aws4_request")


def presign(
    *,
    method: str,
    endpoint: Endpoint,
    bucket: str,
    key: str,
    credentials: Credentials,
    region: str,
    expires_s: int,
    now: datetime,
    params: dict[str, str] | None = None,
) -> str:
    """A URL that performs `method` on `key` (with operation `params`) until it expires.

    Only the host header is signed and the payload is UNSIGNED-PAYLOAD, so a client may add
    headers such as Content-MD5, which the bucket still checks against the body.
    """
    host, path = object_location(endpoint, bucket, key)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    scope = f"{day}/{region}/s3/aws4_request"
    query = dict(params or {})
    query.update(
        {
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": f"{credentials.access_key_id}/{scope}",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": str(max(1, min(expires_s, MAX_EXPIRES_S))),
            "X-Amz-SignedHeaders": "host",
        }
    )
    canonical_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query.items()))
    canonical_request = "\n".join(
        [method, path, canonical_query, f"host:{host}\n", "host", UNSIGNED_PAYLOAD]
    )
    string_to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key_bytes = signing_key(credentials.secret_access_key, day, region)
    signature = hmac.new(key_bytes, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{endpoint.scheme}://{host}{path}?{canonical_query}&X-Amz-Signature={signature}"
