"""Capability-URL transfers: storing an upload's bytes and recording it, serving a download.

The URL's signature is the authorisation (the client sends no credentials on these), so
each call checks it first and refuses with `forbidden` naming why.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import anyio.to_thread

from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.signing import SignatureError
from runyard.server.storage import StoredObject, TooLarge
from runyard.server.tracking import run_files
from runyard.server.tracking.artifact_files import record_artifact_upload
from runyard.server.tracking.files import record_upload
from runyard.server.unit_of_work import UnitOfWork

# What a browser may send to a capability URL: W&B's web app reads and writes the bucket.
CORS_METHODS = "GET, PUT, HEAD"
CORS_HEADERS = "Content-Type, Content-MD5, Content-Length, X-Requested-With"


def origin_of(url: str) -> str:
    """The web origin (`scheme://host[:port]`) of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cors_headers(origin: str | None, server_url: str) -> dict[str, str]:
    """CORS headers for a capability URL: only the server's own web origin may use them.

    The signature authorises the transfer, never a cookie, so no credentials are allowed;
    another origin gets no CORS headers (and its browser refuses to read the answer).
    """
    if not origin or origin.rstrip("/").lower() != origin_of(server_url):
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": CORS_METHODS,
        "Access-Control-Allow-Headers": CORS_HEADERS,
        "Access-Control-Max-Age": "3600",
        "Vary": "Origin",
    }


def _verify(uow: UnitOfWork, method: str, key: str, expires: str | None, sig: str | None) -> None:
    try:
        uow.signer.verify(method, key, expires, sig)
    except SignatureError as exc:
        raise ServiceError(ErrorCode.FORBIDDEN, str(exc)) from exc


def record_stored_object(uow: UnitOfWork, key: str, size: int, md5_hex: str) -> None:
    """Mark the run file or artifact file stored under `key` as uploaded.

    Each record is a short write transaction of its own, taken after the bytes are stored.
    """
    record_upload(uow.state.write_sessions, key, size, md5_hex)
    md5_b64 = base64.b64encode(bytes.fromhex(md5_hex)).decode()
    record_artifact_upload(uow.state.write_sessions, key, size, md5_b64, uow.now())


async def store_upload(
    uow: UnitOfWork,
    key: str,
    chunks: AsyncIterator[bytes],
    expires: str | None,
    sig: str | None,
) -> StoredObject:
    """Store the streamed bytes under `key` if the URL's signature allows it, and record them."""
    _verify(uow, "PUT", key, expires, sig)
    try:
        stored = await uow.objects.put_stream(key, chunks, uow.settings.max_upload_bytes)
    except TooLarge as exc:
        raise ServiceError(
            ErrorCode.TOO_LARGE, f"{exc}: RUNYARD_MAX_UPLOAD_BYTES limits uploads"
        ) from exc
    await anyio.to_thread.run_sync(record_stored_object, uow, key, stored.size, stored.md5_hex)
    return stored


def open_download(
    uow: UnitOfWork,
    key: str,
    expires: str | None,
    sig: str | None,
    start: int = 0,
    end: int | None = None,
) -> Iterator[bytes]:
    """Bytes `start..end` (inclusive; `None`: to the end) stored under `key`, in chunks, if
    the URL's signature allows it."""
    _verify(uow, "GET", key, expires, sig)
    console_run = run_files.console_file_run_id(key)
    if console_run is not None:
        whole = run_files.console_download(uow, console_run)
        return iter([whole[start : None if end is None else end + 1]])
    if not uow.objects.exists(key):
        raise ServiceError(ErrorCode.NOT_FOUND, f"no object stored at {key!r}")
    return uow.objects.open_chunks(key, start, end)


def download_size(uow: UnitOfWork, key: str, expires: str | None, sig: str | None) -> int:
    """The size of the object a signed GET URL names, without reading it."""
    _verify(uow, "GET", key, expires, sig)
    console_run = run_files.console_file_run_id(key)
    if console_run is not None:
        return len(run_files.console_download(uow, console_run))
    size = uow.objects.size(key)
    if size is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"no object stored at {key!r}")
    return size
