"""Who signs bucket requests: the key pair or the standard AWS credential chain, and the
MinIO SDK client whose SigV4 presigner makes every bucket URL (pure set-up, no requests).

The MinIO SDK signs any S3 operation, UploadPart's uploadId/partNumber query included, which
obstore's `sign` (method and path only) cannot; botocore pins python-dateutil<3 while the
kubernetes client needs >=3.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.credentials.providers import (
    AWSConfigProvider,
    ChainedProvider,
    EnvAWSProvider,
    IamAwsProvider,
    Provider,
    StaticProvider,
)

from runyard.server.settings import ServerSettings

MAX_PRESIGN_S = 7 * 24 * 3600  # SigV4's longest presigned lifetime
CREDENTIALS_HELP = (
    "set RUNYARD_S3_ACCESS_KEY_ID and RUNYARD_S3_SECRET_ACCESS_KEY, or give the server AWS "
    "credentials the standard way (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
    "~/.aws/credentials, web identity as with IRSA, or an instance profile)"
)


class StorageConfigError(Exception):
    """The object store settings do not work; the message names the setting to fix."""


def credentials_provider(settings: ServerSettings) -> Provider:
    """The key pair from the settings, else the standard AWS chain (environment variables,
    the shared credentials file, web identity / IRSA, ECS task role, EC2 instance profile)."""
    key_id = settings.s3_access_key_id
    secret = settings.s3_secret_access_key
    if (key_id is None) != (secret is None):
        raise StorageConfigError(
            "RUNYARD_S3_ACCESS_KEY_ID and RUNYARD_S3_SECRET_ACCESS_KEY: set both or neither "
            "(neither uses the standard AWS credential chain)"
        )
    if key_id is not None and secret is not None:
        return StaticProvider(key_id.get_secret_value(), secret.get_secret_value())
    # The metadata endpoints (IMDS, ECS, STS) must answer quickly: off AWS, 169.254.169.254
    # may swallow packets, and an unbounded connect would hang the start.
    metadata_http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=2.0, read=10.0),
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503]),
    )
    return ChainedProvider(
        [EnvAWSProvider(), AWSConfigProvider(), IamAwsProvider(http_client=metadata_http)]
    )


def s3_client(
    setting: str,
    url: str,
    settings: ServerSettings,
    provider: Provider,
    http: urllib3.PoolManager | None = None,
) -> Minio:
    """A signer/client for the S3 API at `url`; a bad URL raises naming `setting`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise StorageConfigError(
            f"{setting}: {url!r} is not an http(s) URL (write e.g. http://seaweedfs:8333)"
        )
    if parts.path not in ("", "/") or parts.query:
        raise StorageConfigError(
            f"{setting}: {url!r} has a path; give the S3 API's scheme, host and port only "
            "(the bucket goes in RUNYARD_S3_BUCKET)"
        )
    try:
        client = Minio(
            parts.netloc,
            secure=parts.scheme == "https",
            region=settings.s3_region,  # known region: signing never asks the bucket
            credentials=provider,
            http_client=http,
        )
    except ValueError as exc:
        raise StorageConfigError(f"{setting}: {url!r}: {exc}") from None
    if settings.s3_addressing_style == "virtual":
        client.enable_virtual_style_endpoint()
    else:
        client.disable_virtual_style_endpoint()
    return client
