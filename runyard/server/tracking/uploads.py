"""Capability-URL transfers: storing an upload's bytes and recording it, serving a download.

The URL's signature is the authorisation (the client sends no credentials on these), so
each call checks it first and refuses with `forbidden` naming why.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator

import anyio.to_thread

from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.signing import SignatureError
from runyard.server.storage import StoredObject, TooLarge
from runyard.server.tracking import run_files
from runyard.server.tracking.artifact_files import record_artifact_upload
from runyard.server.tracking.files import record_upload
from runyard.server.unit_of_work import UnitOfWork


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
    record_artifact_upload(uow.state.write_sessions, key, size, md5_b64)


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
        stored = await uow.objects.put_stream(key, chunks, uow.settings.max_request_bytes)
    except TooLarge as exc:
        raise ServiceError(
            ErrorCode.TOO_LARGE, f"{exc}: RUNYARD_MAX_REQUEST_BYTES limits uploads"
        ) from exc
    await anyio.to_thread.run_sync(record_stored_object, uow, key, stored.size, stored.md5_hex)
    return stored


def open_download(
    uow: UnitOfWork, key: str, expires: str | None, sig: str | None
) -> Iterator[bytes]:
    """The bytes stored under `key`, in chunks, if the URL's signature allows it."""
    _verify(uow, "GET", key, expires, sig)
    console_run = run_files.console_file_run_id(key)
    if console_run is not None:
        return iter([run_files.console_download(uow, console_run)])
    if not uow.objects.exists(key):
        raise ServiceError(ErrorCode.NOT_FOUND, f"no object stored at {key!r}")
    return uow.objects.open_chunks(key)
