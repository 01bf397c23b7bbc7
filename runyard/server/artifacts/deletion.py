"""Deleting versions and collections, and recording the blobs they leave behind.

A deleted version keeps its row in state DELETED (so its id and v<N> are never handed out
again; a reused id would reuse its object-store keys), loses its files, aliases and TTL,
and every object-store key it referenced becomes a blob GC candidate (`blob_gc.py`).
Deleting twice is a no-op, so the TTL sweeper may run on every replica.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from runyard.server.artifacts.orphans import chunks, record_orphans
from runyard.server.db.models import (
    Artifact,
    ArtifactAlias,
    ArtifactCollection,
    ArtifactFile,
    Run,
)
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking.artifact_files import ARTIFACT_PREFIX, MANIFEST_NAME
from runyard.server.tracking.artifacts import LATEST, move_alias

logger = logging.getLogger(__name__)

DELETED = "DELETED"
COMMITTED = "COMMITTED"


def version_prefix(artifact_id: int) -> str:
    """The object-store prefix of a version's own keys (its manifest and uploads)."""
    return f"{ARTIFACT_PREFIX}{artifact_id}/"


def blob_keys(session: Session, artifact_ids: Iterable[int]) -> set[str]:
    """Every object-store key the versions reference: their files' bytes and manifests."""
    ids = list(artifact_ids)
    keys: set[str] = set()
    for chunk in chunks(ids):
        keys.update(
            session.scalars(
                select(ArtifactFile.storage_key).where(ArtifactFile.artifact_id.in_(chunk))
            )
        )
    keys.update(f"{version_prefix(i)}manifest/{MANIFEST_NAME}" for i in ids)
    return keys


def _alias_names(session: Session, artifact: Artifact) -> list[str]:
    return sorted(
        session.scalars(select(ArtifactAlias.alias).where(ArtifactAlias.artifact_id == artifact.id))
    )


def _label(artifact: Artifact) -> str:
    version = "pending" if artifact.version_index is None else f"v{artifact.version_index}"
    return f"{artifact.collection.name}:{version}"


def newest_committed(session: Session, collection_id: int) -> Artifact | None:
    """The committed version with the highest v<N> in the collection."""
    return session.scalars(
        select(Artifact)
        .where(Artifact.collection_id == collection_id, Artifact.state == COMMITTED)
        .order_by(Artifact.version_index.desc())
        .limit(1)
    ).first()


def delete_version(
    session: Session,
    artifact: Artifact,
    now: datetime,
    *,
    delete_aliases: bool,
    field: str = "artifactID",
) -> bool:
    """Delete a version; False if it was deleted already.

    A version an alias points at is refused unless `delete_aliases`; when `latest` goes
    with it, `latest` moves to the newest version left (as on W&B).
    """
    # Lock the row (PostgreSQL) and re-read its state: a concurrent delete or sweep may
    # have won (the loaded object can be older than that).
    state = session.scalar(
        select(Artifact.state).where(Artifact.id == artifact.id).with_for_update()
    )
    if state is None or state == DELETED:
        return False
    aliases = _alias_names(session, artifact)
    if aliases and not delete_aliases:
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"{field}: {_label(artifact)} still has the aliases {', '.join(aliases)}; remove "
            "them first, or delete with delete_aliases=True (deleteAliases: true)",
            details={"aliases": aliases},
        )
    keys = blob_keys(session, [artifact.id])
    session.execute(delete(ArtifactAlias).where(ArtifactAlias.artifact_id == artifact.id))
    session.execute(delete(ArtifactFile).where(ArtifactFile.artifact_id == artifact.id))
    artifact.state = DELETED
    artifact.deleted_at = artifact.updated_at = now
    artifact.expires_at = None
    artifact.requested_aliases = []
    session.flush()
    record_orphans(session, keys, now)
    if LATEST in aliases:
        newest = newest_committed(session, artifact.collection_id)
        if newest is not None:
            move_alias(session, artifact.collection, LATEST, newest)
    logger.info(
        "artifact version deleted",
        extra={"artifact": _label(artifact), "id": artifact.id, "blob_keys": len(keys)},
    )
    return True


def delete_collection(session: Session, collection: ArtifactCollection, now: datetime) -> int:
    """Delete a collection with all its versions; return how many versions it held."""
    ids = list(session.scalars(select(Artifact.id).where(Artifact.collection_id == collection.id)))
    record_orphans(session, blob_keys(session, ids), now)
    # The database cascades to versions, files, aliases and uses.
    session.execute(delete(ArtifactCollection).where(ArtifactCollection.id == collection.id))
    session.expunge(collection)
    session.flush()
    logger.info(
        "artifact collection deleted",
        extra={"collection": collection.name, "id": collection.id, "versions": len(ids)},
    )
    return len(ids)


def delete_created_by(session: Session, run: Run, now: datetime) -> int:
    """Delete the versions `run` logged (deleteRun with deleteArtifacts); return how many."""
    doomed = list(
        session.scalars(
            select(Artifact).where(Artifact.created_by_run_id == run.id, Artifact.state != DELETED)
        )
    )
    return sum(delete_version(session, a, now, delete_aliases=True) for a in doomed)
