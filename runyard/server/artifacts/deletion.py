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
from runyard.server.db.artifact_drafts import ArtifactDistributedDraft, ArtifactManifestPart
from runyard.server.db.models import (
    Artifact,
    ArtifactAlias,
    ArtifactCollection,
    ArtifactFile,
    Run,
)
from runyard.server.db.registry_models import ArtifactLink
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking.artifact_files import ARTIFACT_PREFIX, MANIFEST_NAME
from runyard.server.tracking.artifacts import LATEST, move_alias, newest_version

logger = logging.getLogger(__name__)

DELETED = "DELETED"
COMMITTED = "COMMITTED"


def version_prefix(artifact_id: int) -> str:
    """The object-store prefix of a version's own keys (its manifest and uploads)."""
    return f"{ARTIFACT_PREFIX}{artifact_id}/"


def blob_keys(session: Session, artifact_ids: Iterable[int]) -> set[str]:
    """Every object-store key the versions reference: their files' bytes, manifests and
    manifest parts (incremental and distributed versions)."""
    ids = list(artifact_ids)
    keys: set[str] = set()
    for chunk in chunks(ids):
        keys.update(
            session.scalars(
                select(ArtifactFile.storage_key).where(ArtifactFile.artifact_id.in_(chunk))
            )
        )
        keys.update(
            session.scalars(
                select(ArtifactManifestPart.storage_key).where(
                    ArtifactManifestPart.artifact_id.in_(chunk)
                )
            )
        )
    keys.update(f"{version_prefix(i)}manifest/{MANIFEST_NAME}" for i in ids)
    return keys


def _label(artifact: Artifact) -> str:
    version = "pending" if artifact.version_index is None else f"v{artifact.version_index}"
    return f"{artifact.collection.name}:{version}"


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
    return bool(
        delete_versions(session, [artifact], now, delete_aliases=delete_aliases, field=field)
    )


def delete_versions(
    session: Session,
    artifacts: list[Artifact],
    now: datetime,
    *,
    delete_aliases: bool,
    field: str = "artifactID",
) -> list[int]:
    """Delete versions in a few statements (the sweeper's batches); return the ids deleted,
    leaving out those deleted already. Refused, all of them, if an alias points at one
    and not `delete_aliases`."""
    by_id = {a.id: a for a in artifacts}
    live: list[int] = []
    for chunk in chunks(sorted(by_id)):
        # Lock the rows (PostgreSQL) and re-read their state: a concurrent delete or sweep
        # may have won (the loaded objects can be older than that).
        live += session.scalars(
            select(Artifact.id)
            .where(Artifact.id.in_(chunk), Artifact.state != DELETED)
            .with_for_update()
        )
    aliases: dict[int, list[str]] = {}
    # Collections (the version's own, or portfolios it is linked into) whose `latest` goes.
    lost_latest: set[int] = set()
    for chunk in chunks(live):
        for artifact_id, collection_id, alias in session.execute(
            select(
                ArtifactAlias.artifact_id, ArtifactAlias.collection_id, ArtifactAlias.alias
            ).where(ArtifactAlias.artifact_id.in_(chunk))
        ):
            aliases.setdefault(artifact_id, []).append(alias)
            if alias == LATEST:
                lost_latest.add(collection_id)
    if aliases and not delete_aliases:
        artifact_id, names = min(aliases.items())
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"{field}: {_label(by_id[artifact_id])} still has the aliases "
            f"{', '.join(sorted(names))}; remove them first, or delete with "
            "delete_aliases=True (deleteAliases: true)",
            details={"aliases": sorted(names)},
        )
    keys = blob_keys(session, live)
    for chunk in chunks(live):
        session.execute(delete(ArtifactAlias).where(ArtifactAlias.artifact_id.in_(chunk)))
        session.execute(delete(ArtifactFile).where(ArtifactFile.artifact_id.in_(chunk)))
        # Its links into registry collections go with it.
        session.execute(delete(ArtifactLink).where(ArtifactLink.artifact_id.in_(chunk)))
        session.execute(
            delete(ArtifactManifestPart).where(ArtifactManifestPart.artifact_id.in_(chunk))
        )
        # Runs sharing a distributed id start a new version instead of adding to this one.
        session.execute(
            delete(ArtifactDistributedDraft).where(ArtifactDistributedDraft.artifact_id.in_(chunk))
        )
    for artifact_id in live:
        artifact = by_id[artifact_id]
        artifact.state = DELETED
        artifact.deleted_at = artifact.updated_at = now
        artifact.expires_at = None
        artifact.requested_aliases = []
    session.flush()
    record_orphans(session, keys, now)
    for collection_id in sorted(lost_latest):
        collection = session.get(ArtifactCollection, collection_id)
        newest = newest_version(session, collection) if collection is not None else None
        if collection is not None and newest is not None:
            move_alias(session, collection, LATEST, newest)
    if live:
        logger.info(
            "artifact versions deleted",
            extra={
                "versions": [_label(by_id[i]) for i in live[:20]],
                "count": len(live),
                "blob_keys": len(keys),
            },
        )
    return live


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
    return len(delete_versions(session, doomed, now, delete_aliases=True))
