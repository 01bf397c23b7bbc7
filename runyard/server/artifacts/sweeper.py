"""The artifact sweeper: delete versions past their TTL, then collect unreferenced blobs.

Started with the server like the crash detector; safe on every replica: each batch is one
short transaction, deleting a deleted version is a no-op, PostgreSQL replicas skip rows
another replica holds, and removing a removed object changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from runyard.server.artifacts import blob_gc, deletion, ttl
from runyard.server.db.models import Artifact
from runyard.server.state import ServerState
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

# Batches per kind in one sweep: a backlog drains over several sweeps, never one long pass.
MAX_BATCHES = 20


@dataclass(frozen=True)
class SweepResult:
    """What one sweep did."""

    expired: int
    blobs_removed: int
    bytes_freed: int


def expire_batch(uow: UnitOfWork, now: datetime, batch: int) -> tuple[int, bool]:
    """Delete up to `batch` expired versions; also say whether more may be waiting."""
    query = (
        select(Artifact)
        .where(Artifact.state == deletion.COMMITTED, Artifact.expires_at <= now)
        .order_by(Artifact.expires_at, Artifact.id)
        .limit(batch)
    )
    if uow.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Artifact)
    candidates = {a.id: a for a in uow.session.scalars(query).unique()}
    views = [
        ttl.Expiring(a.id, ttl.aware(a.expires_at)) for a in candidates.values() if a.expires_at
    ]
    due = [candidates[i] for i in ttl.expired(views, now)]
    deleted = deletion.delete_versions(uow.session, due, now, delete_aliases=True)
    if deleted:
        logger.info("artifact versions expired", extra={"count": len(deleted), "ids": deleted[:20]})
    return len(deleted), len(candidates) == batch


def sweep_once(state: ServerState, now: datetime) -> SweepResult:
    """Expire what is due at `now`, then collect blobs orphaned longer than the grace."""
    batch = state.settings.artifact_sweep_batch
    expired = 0
    for _ in range(MAX_BATCHES):
        with UnitOfWork(state, write=True) as uow:
            deleted, more = expire_batch(uow, now, batch)
        expired += deleted
        if not more:
            break
    grace = timedelta(seconds=state.settings.artifact_gc_grace_s)
    removed = freed = 0
    for _ in range(MAX_BATCHES):
        with UnitOfWork(state, write=True) as uow:
            result = blob_gc.collect(uow.session, uow.objects, now, grace, batch)
        removed += result.removed
        freed += result.bytes_freed
        if result.removed + result.kept < batch:
            break
    return SweepResult(expired, removed, freed)


async def run_sweeper(state: ServerState, report: Callable[[SweepResult], None]) -> None:
    """Sweep every `artifact_sweep_interval_s` until cancelled; `report` gets each result."""
    while True:
        await asyncio.sleep(state.settings.artifact_sweep_interval_s)
        try:
            report(await asyncio.to_thread(sweep_once, state, state.clock()))
        except Exception:  # keep the sweeper alive through transient database errors
            logger.exception("artifact sweep failed")
