"""Blob garbage collection: remove stored bytes that no live version references any more.

Versions share bytes by digest (a file whose MD5 is stored already reuses that object), so
deleting a version only makes its keys *candidates* (`deletion.record_orphans`). A candidate
is removed when, after a grace period, it is still unreferenced:

- no artifact file row names the key (rows are the only way a version gets to use bytes:
  a new upload, or a dedup copy of an existing row's key), and
- for a version's own manifest key, the version is not live.

Why this is safe against a concurrent log of the same digest: a dedup copies the key from a
row it can see. Once the deleting transaction committed, no row names the key, so a new
reference can only come from a transaction that read the old row before that commit and is
still open after the grace period (minutes: no request lives that long). The check and the
removal run in one write transaction; on SQLite that holds the database's write lock, so no
row can appear between them. Removing a missing object is a no-op, so replicas may race.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from runyard.server.artifacts.orphans import chunks
from runyard.server.db.models import Artifact, ArtifactBlobOrphan, ArtifactFile
from runyard.server.storage import ObjectStore
from runyard.server.tracking.artifact_files import ARTIFACT_PREFIX

logger = logging.getLogger(__name__)

_OWN_KEY = re.compile(rf"^{re.escape(ARTIFACT_PREFIX)}(\d+)/manifest/")


@dataclass(frozen=True)
class GcResult:
    """What one collection pass did."""

    removed: int = 0
    kept: int = 0
    bytes_freed: int = 0


def manifest_owner(key: str) -> int | None:
    """The version id whose manifest `key` is, if it is one."""
    match = _OWN_KEY.match(key)
    return int(match.group(1)) if match else None


def referenced(session: Session, keys: list[str]) -> set[str]:
    """The keys of `keys` a file row names or that are a live version's manifest."""
    found = set(
        session.scalars(select(ArtifactFile.storage_key).where(ArtifactFile.storage_key.in_(keys)))
    )
    owners = {key: owner for key in keys if (owner := manifest_owner(key)) is not None}
    if owners:
        live = set(
            session.scalars(
                select(Artifact.id).where(
                    Artifact.id.in_(set(owners.values())), Artifact.state != "DELETED"
                )
            )
        )
        found.update(key for key, owner in owners.items() if owner in live)
    return found


def collect(
    session: Session, store: ObjectStore, now: datetime, grace: timedelta, batch: int
) -> GcResult:
    """One pass over up to `batch` candidates older than `grace`; the caller commits.

    Objects are removed before the commit: if the commit fails, the candidates stay and the
    next pass finds the objects gone already.
    """
    query = (
        select(ArtifactBlobOrphan.storage_key)
        .where(ArtifactBlobOrphan.orphaned_at <= now - grace)
        .order_by(ArtifactBlobOrphan.orphaned_at, ArtifactBlobOrphan.storage_key)
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Replicas split the work instead of checking the same keys.
        query = query.with_for_update(skip_locked=True)
    removed = kept = freed = 0
    for keys in chunks(list(session.scalars(query))):
        in_use = referenced(session, keys)
        for key in keys:
            if key in in_use:
                kept += 1
            else:
                freed += store.delete(key)
                removed += 1
        session.execute(delete(ArtifactBlobOrphan).where(ArtifactBlobOrphan.storage_key.in_(keys)))
    session.flush()
    if removed or kept:
        logger.info(
            "artifact blobs collected",
            extra={"removed": removed, "kept": kept, "bytes_freed": freed},
        )
    return GcResult(removed, kept, freed)
