"""Uploads that go straight to a bucket: upload targets, multipart completion, and learning
which uploads landed.

With a bucket store the client PUTs to presigned bucket URLs, so the server never sees the
bytes arrive. It learns they did from the bucket: a version's files are looked up (HEAD)
when it is committed, a run's not-yet-seen files when they are listed. An artifact file's
PUT URL signs its Content-MD5, so the bucket refuses any other bytes; the HEAD's ETag (the
MD5 of a single-PUT object) is checked again against the digest the client declared.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.server.db.models import Artifact, ArtifactFile, Run, RunFile
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.s3_store import PresignedPart, S3Error
from runyard.server.storage import StoredObject
from runyard.server.store_factory import direct_store
from runyard.server.tracking.artifact_files import files_of
from runyard.server.tracking.files import run_file_key
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

# wandb-core refuses a multipart upload whose upload headers name no Content-Type.
MULTIPART_CONTENT_TYPE = "Content-Type:application/octet-stream"


class UploadPart(BaseModel):
    """One part of a multipart upload: its number and the hex MD5 (or, completing, ETag)."""

    model_config = ConfigDict(extra="ignore")

    partNumber: int
    hexMD5: str


@dataclass(frozen=True)
class UploadTarget:
    """Where the client PUTs a file: a URL and headers, or presigned part URLs."""

    url: str
    headers: list[str]
    upload_id: str | None = None
    parts: list[PresignedPart] = field(default_factory=list)


def _b64(hex_md5: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_md5)).decode()


def artifact_upload(
    uow: UnitOfWork, base_url: str, key: str, md5_b64: str, parts: list[UploadPart] | None
) -> UploadTarget:
    """The upload target of an artifact file: multipart when the client sent part digests
    and files go to a bucket; else one PUT (signing Content-MD5 on a bucket)."""
    store = direct_store(uow.objects)
    if store is None:
        return UploadTarget(uow.signer.url(base_url, "PUT", key), [])
    if parts:
        upload_id, urls = store.start_multipart(key, [(p.partNumber, p.hexMD5) for p in parts])
        # uploadUrl must be non-null (null means "already stored"); the parts carry the bytes.
        return UploadTarget(urls[0].url, [MULTIPART_CONTENT_TYPE], upload_id, urls)
    url, headers = store.presigned_put(key, md5_b64)
    return UploadTarget(url, headers)


def complete_multipart(
    uow: UnitOfWork,
    artifact: Artifact,
    storage_path: str,
    upload_id: str,
    parts: list[UploadPart],
    abort: bool = False,
) -> None:
    """Join (or drop) the parts uploaded for a file of `artifact` and mark it uploaded."""
    store = direct_store(uow.objects)
    if store is None and abort:
        return  # this server never starts multipart uploads: nothing to drop
    if store is None:
        raise ServiceError(
            ErrorCode.INVALID,
            "uploadID: this server stores files on its own disk and takes single PUTs; "
            "no multipart upload was started",
        )
    row = uow.session.scalars(
        select(ArtifactFile).where(
            ArtifactFile.artifact_id == artifact.id, ArtifactFile.storage_key == storage_path
        )
    ).first()
    if row is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"storagePath: {storage_path!r} is no file of this artifact version; use the "
            "storagePath createArtifactFiles answered",
        )
    try:
        if abort:
            store.abort_multipart(storage_path, upload_id)
            return
        stored = store.complete_multipart(
            storage_path, upload_id, [(p.partNumber, p.hexMD5) for p in parts]
        )
    except S3Error as exc:
        raise ServiceError(
            ErrorCode.INVALID,
            f"uploadID: the bucket refused to complete the multipart upload ({exc}); "
            "upload every part, then complete with each part's ETag",
        ) from exc
    # Each part's Content-MD5 was signed into its URL, so the bucket checked every part.
    row.size, row.uploaded = stored.size, True
    uow.session.flush()


def reconcile_artifact(uow: UnitOfWork, artifact: Artifact) -> int:
    """Mark the version's files that landed in the bucket uploaded; return how many."""
    store = direct_store(uow.objects)
    if store is None:
        return 0
    found = 0
    for row in files_of(uow.session, artifact):
        if row.uploaded:
            continue
        stored = store.stat(row.storage_key)
        if stored is None:
            continue
        if stored.md5_hex and _b64(stored.md5_hex) != row.md5_b64:
            logger.warning(
                "artifact upload digest mismatch",
                extra={"key": row.storage_key, "expected": row.md5_b64, "got": stored.md5_hex},
            )
            continue
        row.size, row.uploaded = stored.size, True
        found += 1
    uow.session.flush()
    return found


def run_files_reissued(uow: UnitOfWork, run: Run, names: list[str]) -> None:
    """New upload URLs for `names`: their bytes may change, so look them up again later."""
    if direct_store(uow.objects) is None or not names:
        return
    rows = uow.session.scalars(
        select(RunFile).where(RunFile.run_id == run.id, RunFile.name.in_(names))
    )
    for row in rows:
        row.uploaded = False
    uow.session.flush()


def reconcile_run_files(uow: UnitOfWork, run: Run) -> None:
    """Record the run's files that landed in the bucket since their upload URLs were given."""
    store = direct_store(uow.objects)
    if store is None:
        return
    pending = select(RunFile.name).where(RunFile.run_id == run.id, RunFile.uploaded.is_(False))
    names = list(uow.session.scalars(pending))
    landed: dict[str, StoredObject] = {}
    for name in names:
        stored = store.stat(run_file_key(run, name))
        if stored is not None:
            landed[name] = stored
    if not landed:
        return
    if uow.write:
        _record(uow.session, run.id, landed, uow.now())
        uow.session.flush()
        return
    with uow.write_transaction() as session:
        _record(session, run.id, landed, uow.now())


def run_files_landed(uow: UnitOfWork, run: Run, names: list[str]) -> None:
    """The client reports (file_stream `uploaded`) that it finished uploading `names`:
    record their size and MD5 as the bucket has them now (a HEAD each)."""
    store = direct_store(uow.objects)
    if store is None or not names:
        return
    landed: dict[str, StoredObject] = {}
    for name in dict.fromkeys(names):
        stored = store.stat(run_file_key(run, name))
        if stored is not None:
            landed[name] = stored
    if landed:
        _record(uow.session, run.id, landed, uow.now())
        uow.session.flush()


def _record(session: Session, run_id: int, landed: dict[str, StoredObject], now: datetime) -> None:
    rows = session.scalars(
        select(RunFile).where(RunFile.run_id == run_id, RunFile.name.in_(list(landed)))
    )
    for row in rows:
        stored = landed[row.name]
        row.size, row.md5, row.uploaded = stored.size, stored.md5_hex, True
        row.updated_at = now
