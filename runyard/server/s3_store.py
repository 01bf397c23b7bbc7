"""Objects in an S3-compatible bucket; clients move file bytes through presigned URLs.

The server hands out presigned PUT/GET URLs (and presigned part URLs for multipart
uploads), so file bytes go straight between the client and the bucket. A PUT URL for a
file whose MD5 is known signs `Content-MD5`, so the bucket itself refuses bytes whose digest
differs; the server learns an upload landed by a HEAD (size, and the ETag, which is the MD5
of a single-PUT object).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from runyard.server.settings import ServerSettings
from runyard.server.storage import StoredObject, TooLarge, check_key

logger = logging.getLogger(__name__)

# Streamed uploads (through the server's own capability URL) spill to disk past this size.
SPOOL_BYTES = 8 * 1024 * 1024
PROBE_KEY = ".runyard-probe"


class StorageConfigError(Exception):
    """The object store settings do not work; the message names the setting to fix."""


@dataclass(frozen=True)
class PresignedPart:
    """One part of a multipart upload: its number and presigned PUT URL."""

    number: int
    url: str


def _hex_to_b64(hex_md5: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_md5)).decode()


def etag_md5(etag: str | None) -> str:
    """The hex MD5 an ETag carries, or "" for a multipart object (its ETag is no MD5)."""
    value = (etag or "").strip('"')
    return "" if "-" in value or len(value) != 32 else value.lower()


def _status(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    return str(error.get("Code") or meta.get("HTTPStatusCode") or "")


def _not_found(exc: ClientError) -> bool:
    return _status(exc) in ("404", "NoSuchKey", "NotFound")


class S3Store:
    """Objects as keys (under an optional prefix) in one bucket."""

    def __init__(self, settings: ServerSettings) -> None:
        if not settings.s3_bucket:
            raise StorageConfigError("RUNYARD_S3_BUCKET: no bucket named")
        key_id = settings.s3_access_key_id
        secret = settings.s3_secret_access_key
        if (key_id is None) != (secret is None):
            raise StorageConfigError(
                "RUNYARD_S3_ACCESS_KEY_ID and RUNYARD_S3_SECRET_ACCESS_KEY: set both or neither "
                "(neither uses the AWS credential chain)"
            )
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.endpoint = settings.s3_endpoint_url
        self.ttl_s = settings.signed_url_ttl_s
        self.check_timeout_s = settings.s3_check_timeout_s
        session = boto3.session.Session(
            aws_access_key_id=key_id.get_secret_value() if key_id else None,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            region_name=settings.s3_region,
        )
        style = {"addressing_style": settings.s3_addressing_style}
        config = Config(
            signature_version="s3v4",
            s3=style,  # type: ignore[arg-type]
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        )
        self._client = session.client("s3", endpoint_url=self.endpoint, config=config)
        # Presigning is local computation; the public endpoint is the host clients reach.
        public = settings.s3_public_endpoint_url or self.endpoint
        self._presigner = session.client("s3", endpoint_url=public, config=config)
        quick = Config(
            signature_version="s3v4",
            s3=style,  # type: ignore[arg-type]
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=settings.s3_check_timeout_s,
            read_timeout=settings.s3_check_timeout_s,
        )
        self._check_client = session.client("s3", endpoint_url=self.endpoint, config=quick)

    def _key(self, key: str) -> str:
        check_key(key)
        return self.prefix + key

    # --- start-up check -----------------------------------------------------------------

    def check(self) -> None:
        """Write and remove a small probe object; raise StorageConfigError naming the setting."""
        where = f"bucket {self.bucket!r} at {self.endpoint or 'AWS S3'}"
        probe = self.prefix + PROBE_KEY
        try:
            self._check_client.head_bucket(Bucket=self.bucket)
            self._check_client.put_object(Bucket=self.bucket, Key=probe, Body=b"probe")
            self._check_client.delete_object(Bucket=self.bucket, Key=probe)
        except NoCredentialsError as exc:
            raise StorageConfigError(
                f"RUNYARD_S3_ACCESS_KEY_ID: no credentials for {where}; set "
                "RUNYARD_S3_ACCESS_KEY_ID and RUNYARD_S3_SECRET_ACCESS_KEY"
            ) from exc
        except ClientError as exc:
            raise StorageConfigError(self._client_error_message(exc, where)) from exc
        except (BotoCoreError, ValueError) as exc:
            raise StorageConfigError(
                f"RUNYARD_S3_ENDPOINT_URL: cannot reach {where} ({exc}); check the address "
                "and that the object store is running"
            ) from exc
        logger.info("object store ready", extra={"bucket": self.bucket, "prefix": self.prefix})

    def _client_error_message(self, exc: ClientError, where: str) -> str:
        code = _status(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return (
                f"RUNYARD_S3_BUCKET: {where} does not exist; create the bucket first "
                "(Runyard never creates it) or fix the name"
            )
        if code in (
            "403",
            "AccessDenied",
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "Forbidden",
        ):
            return (
                f"RUNYARD_S3_ACCESS_KEY_ID / RUNYARD_S3_SECRET_ACCESS_KEY: {where} refused "
                f"these credentials ({code}); check the key pair and that it may read and "
                "write the bucket"
            )
        return f"RUNYARD_S3_BUCKET: {where} answered {code}: {exc}"

    # --- ObjectStore ----------------------------------------------------------------------

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], max_bytes: int
    ) -> StoredObject:
        """Spool the streamed bytes (memory, then disk), then upload them as one object."""
        full = self._key(key)
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"upload exceeds {max_bytes} bytes")
                digest.update(chunk)
                spool.write(chunk)
            spool.seek(0)
            await anyio.to_thread.run_sync(
                lambda: self._client.upload_fileobj(spool, self.bucket, full)
            )
        return StoredObject(size, digest.hexdigest())

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        """Store small server-made bytes as one object."""
        md5 = hashlib.md5(data, usedforsecurity=False)
        self._client.put_object(
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentMD5=base64.b64encode(md5.digest()).decode(),
        )
        return StoredObject(len(data), md5.hexdigest())

    def open_chunks(self, key: str) -> Iterator[bytes]:
        """Yield the object's bytes in 64 KiB chunks; FileNotFoundError if absent."""
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            if _not_found(exc):
                raise FileNotFoundError(key) from exc
            raise
        return self._iter_body(body)

    @staticmethod
    def _iter_body(body: Any) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(65536)
        finally:
            body.close()

    def exists(self, key: str) -> bool:
        """Tell whether `key` is stored (a HEAD)."""
        return self.stat(key) is not None

    def stat(self, key: str) -> StoredObject | None:
        """Size and MD5 (from the ETag; "" for multipart objects) of `key`, or None."""
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise
        return StoredObject(int(head["ContentLength"]), etag_md5(head.get("ETag")))

    def delete(self, key: str) -> int:
        """Remove `key`; return the bytes freed (0 if it was not stored)."""
        stored = self.stat(key)
        if stored is None:
            return 0
        self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        return stored.size

    # --- presigned URLs -------------------------------------------------------------------

    def presigned_get(self, key: str) -> str:
        """A URL that downloads `key` from the bucket until the URL expires."""
        params = {"Bucket": self.bucket, "Key": self._key(key)}
        return str(self._presigner.generate_presigned_url("get_object", params, self.ttl_s))

    def presigned_put(self, key: str, md5_b64: str | None = None) -> tuple[str, list[str]]:
        """A URL that uploads `key` into the bucket, and the headers the PUT must carry.

        With `md5_b64` the URL signs `Content-MD5`: the bucket refuses other bytes.
        """
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        headers: list[str] = []
        if md5_b64:
            params["ContentMD5"] = md5_b64
            headers.append(f"Content-MD5:{md5_b64}")
        url = self._presigner.generate_presigned_url("put_object", params, self.ttl_s)
        return str(url), headers

    def start_multipart(
        self, key: str, parts: list[tuple[int, str]]
    ) -> tuple[str, list[PresignedPart]]:
        """Open a multipart upload; one presigned URL per `(part number, hex MD5)`.

        Each part URL signs its `Content-MD5`, so the bucket checks every part's digest.
        """
        full = self._key(key)
        upload_id = str(
            self._client.create_multipart_upload(Bucket=self.bucket, Key=full)["UploadId"]
        )
        urls = []
        for number, hex_md5 in parts:
            params = {
                "Bucket": self.bucket,
                "Key": full,
                "UploadId": upload_id,
                "PartNumber": number,
                "ContentMD5": _hex_to_b64(hex_md5),
            }
            url = self._presigner.generate_presigned_url("upload_part", params, self.ttl_s)
            urls.append(PresignedPart(number, str(url)))
        return upload_id, urls

    def complete_multipart(
        self, key: str, upload_id: str, etags: list[tuple[int, str]]
    ) -> StoredObject:
        """Join the uploaded parts `(number, ETag)` into the object; return its size."""
        full = self._key(key)
        parts = [{"PartNumber": n, "ETag": e} for n, e in sorted(etags)]
        self._client.complete_multipart_upload(
            Bucket=self.bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
        stored = self.stat(key)
        if stored is None:
            raise FileNotFoundError(key)
        return stored

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop an unfinished multipart upload and its parts."""
        self._client.abort_multipart_upload(
            Bucket=self.bucket, Key=self._key(key), UploadId=upload_id
        )
