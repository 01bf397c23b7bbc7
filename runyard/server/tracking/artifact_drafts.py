"""Versions built in parts: incremental manifests, distributed drafts (I/O around the pure
rules of `artifact_manifests`).

- `Artifact(..., incremental=True)` uploads only the entries it adds, as
  `wandb_manifest.incremental.json`, on top of a base version (the collection's latest).
- `run.upsert_artifact(a, distributed_id=D)` from several runs: each run's createArtifact
  with the same `distributedID` gets the same pending version, each uploads its entries as
  `wandb_manifest.patch.json`, and `run.finish_artifact` commits the union.
Each part is recorded (`ArtifactManifestPart`) with its own upload key, so runs uploading at
once never overwrite each other; the commit assembles the full `wandb_manifest.json`.
"""

from __future__ import annotations

import json
import logging

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.server.db.artifact_drafts import ArtifactDistributedDraft, ArtifactManifestPart
from runyard.server.db.models import Artifact, ArtifactCollection
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.storage import ObjectStore
from runyard.server.tracking import artifact_manifests
from runyard.server.tracking.artifact_files import (
    ARTIFACT_PREFIX,
    MAX_MANIFEST_BYTES,
    Manifest,
    manifest_key,
    read_manifest,
)

logger = logging.getLogger(__name__)


def distributed_draft(
    session: Session, collection: ArtifactCollection, distributed_id: str
) -> Artifact | None:
    """The pending version runs sharing `distributed_id` add to, if one is open."""
    row = session.scalars(
        select(ArtifactDistributedDraft).where(
            ArtifactDistributedDraft.collection_id == collection.id,
            ArtifactDistributedDraft.distributed_id == distributed_id,
        )
    ).first()
    if row is None:
        return None
    artifact = session.get(Artifact, row.artifact_id)
    return artifact if artifact is not None and artifact.state == "PENDING" else None


def open_distributed(session: Session, artifact: Artifact, distributed_id: str) -> None:
    """Make `artifact` the version later runs with `distributed_id` add to."""
    session.add(
        ArtifactDistributedDraft(
            collection_id=artifact.collection_id,
            distributed_id=distributed_id,
            artifact_id=artifact.id,
        )
    )
    session.flush()


def start_part(
    session: Session, artifact: Artifact, kind: str, base_id: int | None
) -> ArtifactManifestPart:
    """Record a manifest part the client will upload; an incremental part names its base,
    which must be a committed version of the same collection."""
    if artifact.state != "PENDING":
        raise ServiceError(
            ErrorCode.INVALID, "artifactID: the artifact is already committed; log a new version"
        )
    if kind != artifact_manifests.INCREMENTAL:
        base_id = None
    if base_id is not None:
        base = session.get(Artifact, base_id)
        if (
            base is None
            or base.collection_id != artifact.collection_id
            or base.state != "COMMITTED"
        ):
            raise ServiceError(
                ErrorCode.INVALID,
                "baseArtifactID: the base must be a committed version of the same artifact",
            )
    part = ArtifactManifestPart(
        artifact_id=artifact.id, kind=kind, base_artifact_id=base_id, storage_key=""
    )
    session.add(part)
    session.flush()
    part.storage_key = f"{ARTIFACT_PREFIX}{artifact.id}/manifest/parts/{part.id}.json"
    return part


def find_part(session: Session, part_id: int) -> ArtifactManifestPart | None:
    """A recorded manifest part by id."""
    return session.get(ArtifactManifestPart, part_id)


def _read_part(store: ObjectStore, key: str) -> Manifest:
    data = b"".join(store.open_chunks(key))
    if len(data) > MAX_MANIFEST_BYTES:
        raise ServiceError(
            ErrorCode.TOO_LARGE, f"manifest: over the {MAX_MANIFEST_BYTES}-byte limit"
        )
    try:
        return Manifest.model_validate_json(data)
    except ValidationError as exc:
        raise ServiceError(
            ErrorCode.INVALID,
            f"manifest: not a W&B artifact manifest ({exc.errors()[0]['msg']})",
        ) from exc


def assemble_parts(session: Session, store: ObjectStore, artifact: Artifact) -> bool:
    """Write the full manifest from the version's uploaded parts (base entries first);
    False when the version was uploaded whole. The version's digest becomes the full
    manifest's, so logging the same contents later deduplicates against it."""
    parts = list(
        session.scalars(
            select(ArtifactManifestPart)
            .where(ArtifactManifestPart.artifact_id == artifact.id)
            .order_by(ArtifactManifestPart.id)
        )
    )
    uploaded = [p for p in parts if store.exists(p.storage_key)]
    if not parts:
        return False
    if not uploaded:
        raise ServiceError(
            ErrorCode.INVALID,
            "artifactID: no manifest part was uploaded; upload it before committing",
        )
    base_doc = None
    base_id = next((p.base_artifact_id for p in uploaded if p.base_artifact_id), None)
    if base_id is not None:
        base = session.get(Artifact, base_id)
        if base is not None:
            base_doc = read_manifest(store, base).model_dump(mode="json", exclude_none=True)
    docs = [
        _read_part(store, p.storage_key).model_dump(mode="json", exclude_none=True)
        for p in uploaded
    ]
    full = artifact_manifests.assemble(base_doc, docs)
    store.put_bytes(manifest_key(artifact), json.dumps(full).encode())
    artifact.digest = artifact_manifests.manifest_digest(full)
    logger.info(
        "artifact manifest assembled",
        extra={
            "artifact": artifact.id,
            "parts": len(uploaded),
            "base": base_id,
            "entries": len(full["contents"]),
        },
    )
    return True


def close_distributed(session: Session, artifact: Artifact) -> None:
    """Forget the distributed id of a version that commits: the next run using the same id
    starts a new version."""
    for row in session.scalars(
        select(ArtifactDistributedDraft).where(ArtifactDistributedDraft.artifact_id == artifact.id)
    ):
        session.delete(row)
