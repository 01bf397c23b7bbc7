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
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree

import anyio.to_thread
import httpx

from runyard.server.settings import ServerSettings
from runyard.server.sigv4 import Credentials, Endpoint, presign
from runyard.server.storage import StoredObject, TooLarge, check_key

logger = logging.getLogger(__name__)

# Streamed uploads (through the server's own capability URL) spill to disk past this size.
SPOOL_BYTES = 8 * 1024 * 1024
CHUNK = 1024 * 1024
PROBE_KEY = ".runyard-probe"
# The server's own requests to the bucket are signed for this long.
REQUEST_TTL_S = 900


class StorageConfigError(Exception):
    """The object store settings do not work; the message names the setting to fix."""


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


def _hex_to_b64(hex_md5: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_md5)).decode()


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


def _credentials(settings: ServerSettings) -> Credentials:
    key_id = settings.s3_access_key_id
    secret = settings.s3_secret_access_key
    if (key_id is None) != (secret is None):
        raise StorageConfigError(
            "RUNYARD_S3_ACCESS_KEY_ID and RUNYARD_S3_SECRET_ACCESS_KEY: set both or neither "
            "(neither reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    if key_id is not None and secret is not None:
        return Credentials(key_id.get_secret_value(), secret.get_secret_value())
    env_id, env_secret = (
        os.environ.get("AWS_ACCESS_KEY_ID"),
        os.environ.get("AWS_SECRET_ACCESS_KEY"),
    )
    if env_id and env_secret:
        return Credentials(env_id, env_secret)
    raise StorageConfigError(
        "RUNYARD_S3_ACCESS_KEY_ID: no credentials for the bucket; set RUNYARD_S3_ACCESS_KEY_ID "
        "and RUNYARD_S3_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    )


class S3Store:
    """Objects as keys (under an optional prefix) in one bucket."""

    def __init__(self, settings: ServerSettings) -> None:
        if not settings.s3_bucket:
            raise StorageConfigError("RUNYARD_S3_BUCKET: no bucket named")
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.region = settings.s3_region
        self.ttl_s = settings.signed_url_ttl_s
        self._credentials = _credentials(settings)
        path_style = settings.s3_addressing_style == "path"
        url = settings.s3_endpoint_url or f"https://s3.{settings.s3_region}.amazonaws.com"
        self.endpoint_url = url
        try:
            self._endpoint = Endpoint.parse(url, path_style)
        except ValueError as exc:
            raise StorageConfigError(f"RUNYARD_S3_ENDPOINT_URL: {exc}") from None
        public = settings.s3_public_endpoint_url
        try:
            self._public = Endpoint.parse(public, path_style) if public else self._endpoint
        except ValueError as exc:
            raise StorageConfigError(f"RUNYARD_S3_PUBLIC_ENDPOINT_URL: {exc}") from None
        self._http = httpx.Client(timeout=httpx.Timeout(60.0, connect=5.0))
        self._check_timeout = settings.s3_check_timeout_s

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
        return presign(
            method=method,
            endpoint=self._public if public else self._endpoint,
            bucket=self.bucket,
            key=full_key,
            credentials=self._credentials,
            region=self.region,
            expires_s=expires_s,
            now=datetime.now(UTC),
            params=params,
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

    # --- start-up check -----------------------------------------------------------------

    def check(self) -> None:
        """Write and remove a small probe object; raise StorageConfigError naming the setting."""
        where = f"bucket {self.bucket!r} at {self.endpoint_url}"
        probe = self.prefix + PROBE_KEY
        timeout = httpx.Timeout(self._check_timeout)
        try:
            self._request("HEAD", "", timeout=timeout)
            self._request("PUT", probe, content=b"probe", timeout=timeout)
            self._request("DELETE", probe, timeout=timeout)
        except S3Error as exc:
            raise StorageConfigError(self._refusal(exc, where)) from exc
        except httpx.HTTPError as exc:
            raise StorageConfigError(
                f"RUNYARD_S3_ENDPOINT_URL: cannot reach {where} ({type(exc).__name__}: {exc}); "
                "check the address and that the object store is running"
            ) from exc
        logger.info("object store ready", extra={"bucket": self.bucket, "prefix": self.prefix})

    @staticmethod
    def _refusal(exc: S3Error, where: str) -> str:
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

    def open_chunks(self, key: str) -> Iterator[bytes]:
        """Yield the object's bytes in chunks; FileNotFoundError if absent."""
        url = self._sign("GET", self._key(key))
        with self._http.stream("GET", url) as response:
            if response.status_code == 404:
                raise FileNotFoundError(key)
            if response.status_code >= 300:
                response.read()
                _raise_for(response)
            yield from response.iter_bytes(65536)

    def exists(self, key: str) -> bool:
        """Tell whether `key` is stored (a HEAD)."""
        return self.stat(key) is not None

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
