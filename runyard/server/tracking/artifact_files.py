"""Artifact files: object-store keys, signed-upload bookkeeping and the uploaded manifest.

The client uploads each file (and then `wandb_manifest.json`) through signed URLs; the
storage route reports every stored object here, and a commit checks the manifest against
what was stored. Bytes already stored for the same collection (same MD5) are reused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from runyard.server.artifacts.orphans import record_orphans
from runyard.server.db.models import Artifact, ArtifactFile
from runyard.server.input_limits import check_file_name
from runyard.server.storage import ObjectStore
from runyard.server.tracking.runs import TrackingError

logger = logging.getLogger(__name__)

ARTIFACT_PREFIX = "artifacts/"
MANIFEST_NAME = "wandb_manifest.json"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


class FileSpec(BaseModel):
    """One entry of CreateArtifactFilesInput.artifactFiles."""

    model_config = ConfigDict(extra="ignore")

    artifactID: str
    name: str
    md5: str
    # Part digests of a big file (`{partNumber, hexMD5}`): the client asks for a multipart upload.
    uploadPartsInput: list[dict[str, Any]] | None = None


class ManifestEntry(BaseModel):
    """A file of a W&B manifest (v1): base64 MD5 digest, size, or a reference URI."""

    model_config = ConfigDict(extra="allow")

    digest: str
    size: int | None = None
    ref: str | None = None


class Manifest(BaseModel):
    """The W&B artifact manifest (`wandb_manifest.json`, version 1)."""

    model_config = ConfigDict(extra="allow")

    version: int
    contents: dict[str, ManifestEntry] = Field(default_factory=dict)


def file_key(artifact: Artifact, name: str) -> str:
    """Object-store key of an artifact file; names may contain `/` but never `..`."""
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise TrackingError(f"artifactFiles: {name!r} is not a valid relative file name")
    return f"{ARTIFACT_PREFIX}{artifact.id}/files/{name}"


def manifest_key(artifact: Artifact) -> str:
    """Object-store key of an artifact's manifest."""
    return f"{ARTIFACT_PREFIX}{artifact.id}/manifest/{MANIFEST_NAME}"


def files_of(session: Session, artifact: Artifact) -> list[ArtifactFile]:
    """A version's stored files, by name."""
    return list(
        session.scalars(
            select(ArtifactFile)
            .where(ArtifactFile.artifact_id == artifact.id)
            .order_by(ArtifactFile.name)
        )
    )


@dataclass(frozen=True)
class ReferenceEntry:
    """A manifest entry naming bytes kept outside Runyard (`file://`, `s3://`, `https://`).

    Runyard stores nothing for it, but lists it with the version's files: the client
    downloads only the entries the server lists, and fetches a reference from `ref` itself.
    """

    artifact_id: int
    name: str
    ref: str
    digest: str
    size: int | None


def reference_entries(store: ObjectStore, artifact: Artifact) -> list[ReferenceEntry]:
    """The reference entries of a committed version's manifest, by name (pending: none)."""
    if artifact.state != "COMMITTED" or not store.exists(manifest_key(artifact)):
        return []
    manifest = read_manifest(store, artifact)
    return sorted(
        (
            ReferenceEntry(artifact.id, path, entry.ref, entry.digest, entry.size)
            for path, entry in manifest.contents.items()
            if entry.ref is not None
        ),
        key=lambda ref: ref.name,
    )


def register_files(
    session: Session, artifact: Artifact, specs: list[FileSpec]
) -> list[tuple[ArtifactFile, bool]]:
    """Record files to upload; return each with whether the client must upload it.

    A file whose MD5 is already stored for the same collection reuses those bytes.
    """
    if artifact.state == "DELETED":
        raise TrackingError("artifactID: the version was deleted; log the artifact again")
    if artifact.state != "PENDING":
        raise TrackingError("artifactID: the artifact is already committed; log a new version")
    existing = {f.name: f for f in files_of(session, artifact)}
    out: list[tuple[ArtifactFile, bool]] = []
    for spec in specs:
        check_file_name(spec.name, "artifactFiles.name")
        row = existing.get(spec.name)
        if row is None:
            row = ArtifactFile(
                artifact_id=artifact.id,
                name=spec.name,
                md5_b64=spec.md5,
                storage_key=file_key(artifact, spec.name),
            )
            session.add(row)
        if row.md5_b64 != spec.md5:
            row.md5_b64, row.uploaded = spec.md5, False
            row.storage_key = file_key(artifact, spec.name)
        if not row.uploaded:
            stored = stored_copy(session, artifact, spec.md5)
            if stored is not None:
                row.storage_key, row.size, row.uploaded = stored.storage_key, stored.size, True
        out.append((row, not row.uploaded))
    session.flush()
    return out


def stored_copy(session: Session, artifact: Artifact, md5_b64: str) -> ArtifactFile | None:
    return session.scalars(
        select(ArtifactFile)
        .join(Artifact, Artifact.id == ArtifactFile.artifact_id)
        .where(
            Artifact.collection_id == artifact.collection_id,
            ArtifactFile.md5_b64 == md5_b64,
            ArtifactFile.uploaded.is_(True),
        )
    ).first()


def read_manifest(store: ObjectStore, artifact: Artifact) -> Manifest:
    """Parse the uploaded manifest; a missing or malformed one is the client's error."""
    key = manifest_key(artifact)
    if not store.exists(key):
        raise TrackingError(
            "artifactID: the manifest was not uploaded; upload it before committing"
        )
    data = b"".join(store.open_chunks(key))
    if len(data) > MAX_MANIFEST_BYTES:
        raise TrackingError(f"manifest: over the {MAX_MANIFEST_BYTES}-byte limit", status=413)
    try:
        return Manifest.model_validate_json(data)
    except ValidationError as exc:
        raise TrackingError(
            f"manifest: not a W&B artifact manifest ({exc.errors()[0]['msg']})"
        ) from exc


def record_artifact_upload(
    sessions: sessionmaker[Session], key: str, size: int, md5_b64: str, now: datetime
) -> None:
    """Mark an artifact file uploaded once its bytes are stored under its key.

    Bytes no file row names (a stale upload URL of a version deleted meanwhile) become a
    blob GC candidate, so they do not stay behind forever.
    """
    if not key.startswith(ARTIFACT_PREFIX) or "/files/" not in key:
        return
    with sessions.begin() as session:
        rows = list(session.scalars(select(ArtifactFile).where(ArtifactFile.storage_key == key)))
        if not rows:
            record_orphans(session, [key], now)
        for row in rows:
            if row.md5_b64 != md5_b64:
                logger.warning(
                    "artifact upload digest mismatch",
                    extra={"key": key, "expected": row.md5_b64, "got": md5_b64},
                )
                row.uploaded = False
                continue
            row.size, row.uploaded = size, True
