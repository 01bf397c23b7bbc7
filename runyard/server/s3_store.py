"""Objects in an S3-compatible bucket; clients move file bytes through presigned URLs.

The server hands out presigned PUT/GET URLs (and presigned part URLs for multipart
uploads), so file bytes go straight between the client and the bucket. A PUT for a file
whose MD5 is known carries it as `Content-MD5` (the server names it in `uploadHeaders`), so
the bucket itself refuses bytes whose digest differs. The server learns an upload landed by
a HEAD (size, and the ETag, which is the MD5 of a single-PUT object).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from xml.etree import ElementTree

import anyio.to_thread
import httpx
import urllib3
from minio.error import S3Error as MinioS3Error
from minio.helpers import check_bucket_name

from runyard.server.s3_signing import (
    CREDENTIALS_HELP,
    MAX_PRESIGN_S,
    StorageConfigError,
    credentials_provider,
    s3_client,
)
from runyard.server.settings import ServerSettings
from runyard.server.storage import StoredObject, TooLarge, check_key

logger = logging.getLogger(__name__)

# Streamed uploads (through the server's own capability URL) spill to disk past this size.
SPOOL_BYTES = 8 * 1024 * 1024
CHUNK = 1024 * 1024
PROBE_KEY = ".runyard-probe"
# The server's own requests to the bucket are signed for this long.
REQUEST_TTL_S = 900


class S3Error(Exception):
    """The bucket refused a request: HTTP status and S3 error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}".strip())
        self.status = status
        self.code = code


@dataclass(frozen=True)
class PresignedPart:
    """One part of a multipart upload: its number and presigned PUT URL."""

    number: int
    url: str


def etag_md5(etag: str | None) -> str:
    """The hex MD5 an ETag carries, or "" for a multipart object (its ETag is no MD5)."""
    value = (etag or "").strip('"')
    return "" if "-" in value or len(value) != 32 else value.lower()


def _xml_text(body: bytes, tag: str) -> str:
    """The text of the first element named `tag` (any namespace) in an S3 XML answer."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return ""
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == tag:
            return element.text or ""
    return ""


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 300:
        return
    body = response.content if response.request.method != "HEAD" else b""
    code = _xml_text(body, "Code") or str(response.status_code)
    raise S3Error(response.status_code, code, _xml_text(body, "Message"))


class S3Store:
    """Objects as keys (under an optional prefix) in one bucket.

    URLs are SigV4-presigned by the MinIO SDK's signer (it signs any S3 operation, including
    UploadPart with its uploadId/partNumber query); the server sends its own requests to those
    URLs too, so one signer serves clients and server alike.
    """

    def __init__(self, settings: ServerSettings) -> None:
        if not settings.s3_bucket:
            raise StorageConfigError("RUNYARD_S3_BUCKET: no bucket named")
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.region = settings.s3_region
        self.ttl_s = min(settings.signed_url_ttl_s, MAX_PRESIGN_S)
        provider = credentials_provider(settings)
        self._provider = provider
        url = settings.s3_endpoint_url or f"https://s3.{settings.s3_region}.amazonaws.com"
        self.endpoint_url = url
        self._check_timeout = settings.s3_check_timeout_s
        # Bucket checks (start-up, /readyz) must answer within the timeout: no retries.
        probe_http = urllib3.PoolManager(
            timeout=urllib3.Timeout(self._check_timeout), retries=False, maxsize=2
        )
        self._signer = s3_client("RUNYARD_S3_ENDPOINT_URL", url, settings, provider, probe_http)
        try:
            check_bucket_name(self.bucket)
        except ValueError as exc:
            raise StorageConfigError(
                f"RUNYARD_S3_BUCKET: {self.bucket!r} is no valid bucket name ({exc})"
            ) from None
        public = settings.s3_public_endpoint_url
        self._public = (
            s3_client("RUNYARD_S3_PUBLIC_ENDPOINT_URL", public, settings, provider)
            if public
            else self._signer
        )
        self._http = httpx.Client(timeout=httpx.Timeout(60.0, connect=5.0))
        self._ready_ttl_s = settings.s3_ready_check_interval_s
        self._ready_lock = threading.Lock()
        self._ready_at = -float("inf")
        self._ready_reason: str | None = None

    def _key(self, key: str) -> str:
        check_key(key)
        return self.prefix + key

    def _sign(
        self,
        method: str,
        full_key: str,
        params: dict[str, str] | None = None,
        *,
        public: bool = False,
        expires_s: int = REQUEST_TTL_S,
    ) -> str:
        client = self._public if public else self._signer
        try:
            return client.get_presigned_url(
                method,
                self.bucket,
                full_key,
                expires=timedelta(seconds=max(1, min(expires_s, MAX_PRESIGN_S))),
                extra_query_params=dict(params or {}),
            )
        except (ValueError, urllib3.exceptions.HTTPError, OSError) as exc:
            # ValueError: no link of the credential chain had any; the others: a metadata
            # endpoint (IMDS, ECS, STS) did not answer.
            raise StorageConfigError(self._no_credentials(exc)) from None

    def _no_credentials(self, exc: Exception) -> str:
        return (
            f"RUNYARD_S3_ACCESS_KEY_ID: no credentials for {self._where} "
            f"({type(exc).__name__}: {exc}); " + CREDENTIALS_HELP
        )

    def _request(
        self,
        method: str,
        full_key: str,
        params: dict[str, str] | None = None,
        **kwargs: object,
    ) -> httpx.Response:
        response = self._http.request(method, self._sign(method, full_key, params), **kwargs)  # type: ignore[arg-type]
        _raise_for(response)
        return response

    # --- start-up check and readiness ----------------------------------------------------

    @property
    def _where(self) -> str:
        return f"bucket {self.bucket!r} at {self.endpoint_url}"

    def _bucket_problem(self) -> str | None:
        """Why the bucket cannot be used now (a HEAD on it), naming the setting; or None."""
        try:
            self._provider.retrieve()  # cached until it nears expiry
        except (ValueError, urllib3.exceptions.HTTPError, OSError) as exc:
            return self._no_credentials(exc)
        try:
            if not self._signer.bucket_exists(self.bucket):
                return self._refusal(S3Error(404, "NoSuchBucket", ""))
        except MinioS3Error as exc:
            status = exc.response.status if exc.response is not None else 0
            return self._refusal(S3Error(status, exc.code or str(status), exc.message or ""))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return (
                f"RUNYARD_S3_ENDPOINT_URL: cannot reach {self._where} "
                f"({type(exc).__name__}: {exc}); check the address and that the object store "
                "is running"
            )
        return None

    def check(self) -> None:
        """HEAD the bucket, then write and remove a small probe object; raise
        StorageConfigError naming the setting to fix."""
        problem = self._bucket_problem()
        if problem is not None:
            raise StorageConfigError(problem)
        probe = self.prefix + PROBE_KEY
        timeout = httpx.Timeout(self._check_timeout)
        try:
            self._request("PUT", probe, content=b"probe", timeout=timeout)
            self._request("DELETE", probe, timeout=timeout)
        except S3Error as exc:
            raise StorageConfigError(self._refusal(exc, self._where)) from exc
        except httpx.HTTPError as exc:
            raise StorageConfigError(
                f"RUNYARD_S3_ENDPOINT_URL: cannot reach {self._where} "
                f"({type(exc).__name__}: {exc}); check the address and that the object store "
                "is running"
            ) from exc
        logger.info("object store ready", extra={"bucket": self.bucket, "prefix": self.prefix})

    def not_ready_reason(self) -> str | None:
        """Why the bucket cannot serve now (None: it can); a HEAD at most every
        `s3_ready_check_interval_s`, so frequent /readyz probes cost the bucket little."""
        with self._ready_lock:
            if time.monotonic() - self._ready_at < self._ready_ttl_s:
                return self._ready_reason
            reason = self._bucket_problem()
            if reason != self._ready_reason:
                log = logger.info if reason is None else logger.error
                log("object store readiness changed", extra={"reason": reason})
            self._ready_reason, self._ready_at = reason, time.monotonic()
            return reason

    def _refusal(self, exc: S3Error, where: str | None = None) -> str:
        where = where or self._where
        if exc.status == 404 or exc.code == "NoSuchBucket":
            return (
                f"RUNYARD_S3_BUCKET: {where} does not exist; create the bucket first "
                "(Runyard never creates it) or fix the name"
            )
        if exc.status in (401, 403):
            return (
                f"RUNYARD_S3_ACCESS_KEY_ID / RUNYARD_S3_SECRET_ACCESS_KEY: {where} refused "
                f"these credentials ({exc}); check the key pair and that it may read and "
                "write the bucket"
            )
        return f"RUNYARD_S3_BUCKET: {where} answered {exc}"

    # --- ObjectStore ----------------------------------------------------------------------

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], max_bytes: int
    ) -> StoredObject:
        """Spool the streamed bytes (memory, then disk), then PUT them as one object."""
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
            md5_b64 = base64.b64encode(digest.digest()).decode()

            def body() -> Iterator[bytes]:
                while block := spool.read(CHUNK):
                    yield block

            headers = {"Content-Length": str(size), "Content-MD5": md5_b64}
            await anyio.to_thread.run_sync(
                lambda: self._request("PUT", full, content=body(), headers=headers)
            )
        return StoredObject(size, digest.hexdigest())

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        """Store small server-made bytes as one object."""
        md5 = hashlib.md5(data, usedforsecurity=False)
        headers = {"Content-MD5": base64.b64encode(md5.digest()).decode()}
        self._request("PUT", self._key(key), content=data, headers=headers)
        return StoredObject(len(data), md5.hexdigest())

    def open_chunks(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield the object's bytes `start..end` (inclusive) in chunks; FileNotFoundError if
        absent. A part is one ranged GET, so the bucket sends only those bytes."""
        url = self._sign("GET", self._key(key))
        headers = {}
        if start or end is not None:
            headers["Range"] = f"bytes={start}-{'' if end is None else end}"
        with self._http.stream("GET", url, headers=headers) as response:
            if response.status_code == 404:
                raise FileNotFoundError(key)
            if response.status_code >= 300:
                response.read()
                _raise_for(response)
            yield from response.iter_bytes(65536)

    def exists(self, key: str) -> bool:
        """Tell whether `key` is stored (a HEAD)."""
        return self.stat(key) is not None

    def size(self, key: str) -> int | None:
        """The object's size (a HEAD), or None if it is not stored."""
        stored = self.stat(key)
        return None if stored is None else stored.size

    def stat(self, key: str) -> StoredObject | None:
        """Size and MD5 (from the ETag; "" for multipart objects) of `key`, or None."""
        try:
            head = self._request("HEAD", self._key(key))
        except S3Error as exc:
            if exc.status == 404:
                return None
            raise
        size = int(head.headers.get("Content-Length", "0"))
        return StoredObject(size, etag_md5(head.headers.get("ETag")))

    def delete(self, key: str) -> int:
        """Remove `key`; return the bytes freed (0 if it was not stored)."""
        stored = self.stat(key)
        if stored is None:
            return 0
        self._request("DELETE", self._key(key))
        return stored.size

    # --- presigned URLs -------------------------------------------------------------------

    def presigned_get(self, key: str) -> str:
        """A URL that downloads `key` from the bucket until the URL expires."""
        return self._sign("GET", self._key(key), public=True, expires_s=self.ttl_s)

    def presigned_put(self, key: str, md5_b64: str | None = None) -> tuple[str, list[str]]:
        """A URL that uploads `key` into the bucket, and the headers the PUT must carry.

        With `md5_b64` the client sends it as Content-MD5, and the bucket refuses bytes
        with another digest.
        """
        url = self._sign("PUT", self._key(key), public=True, expires_s=self.ttl_s)
        return url, [f"Content-MD5:{md5_b64}"] if md5_b64 else []

    def start_multipart(
        self, key: str, parts: list[tuple[int, str]]
    ) -> tuple[str, list[PresignedPart]]:
        """Open a multipart upload; one presigned URL per `(part number, hex MD5)`."""
        full = self._key(key)
        answer = self._request("POST", full, {"uploads": ""})
        upload_id = _xml_text(answer.content, "UploadId")
        if not upload_id:
            raise S3Error(answer.status_code, "NoUploadId", "CreateMultipartUpload gave no id")
        urls = [
            PresignedPart(
                number,
                self._sign(
                    "PUT",
                    full,
                    {"partNumber": str(number), "uploadId": upload_id},
                    public=True,
                    expires_s=self.ttl_s,
                ),
            )
            for number, _ in parts
        ]
        return upload_id, urls

    def complete_multipart(
        self, key: str, upload_id: str, etags: list[tuple[int, str]]
    ) -> StoredObject:
        """Join the uploaded parts `(number, ETag)` into the object; return its size."""
        full = self._key(key)
        body = "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{_xml_escape(e)}</ETag></Part>"
            for n, e in sorted(etags)
        )
        xml = f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode()
        answer = self._request("POST", full, {"uploadId": upload_id}, content=xml)
        # S3 may answer 200 and put the error in the body.
        if _xml_text(answer.content, "Code"):
            code = _xml_text(answer.content, "Code")
            raise S3Error(answer.status_code, code, _xml_text(answer.content, "Message"))
        stored = self.stat(key)
        if stored is None:
            raise FileNotFoundError(key)
        return stored

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop an unfinished multipart upload and its parts."""
        self._request("DELETE", self._key(key), {"uploadId": upload_id})


def _xml_escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
