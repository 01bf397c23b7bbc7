"""Tables of artifact versions built in parts: manifest parts and distributed drafts; and
the lookup indexes of artifact files.

Kept apart from `models.py`: only incremental and distributed artifacts use the tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from runyard.server.clock import utcnow
from runyard.server.db.models import ArtifactFile, Base

# Each upload of an artifact file finds its rows by storage key, and each file registered
# looks for stored bytes of the same MD5: without these, logging N files scans N rows N times.
Index("ix_artifact_files_storage_key", ArtifactFile.storage_key)
Index("ix_artifact_files_md5", ArtifactFile.md5_b64)


class ArtifactManifestPart(Base):
    """A partial manifest a client uploads for a pending version (W&B manifest types
    INCREMENTAL: changes on top of a base version; PATCH: one run's share of a distributed
    version). The commit applies the uploaded parts in order."""

    __tablename__ = "artifact_manifest_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artifact_id: Mapped[int] = mapped_column(
        ForeignKey("artifacts.id", ondelete="CASCADE"), index=True
    )
    # "INCREMENTAL" or "PATCH", as the client names the manifest type.
    kind: Mapped[str] = mapped_column(String(16))
    # The committed version an incremental part applies to (same collection); none: empty.
    base_artifact_id: Mapped[int | None] = mapped_column(
        ForeignKey("artifacts.id", ondelete="SET NULL"), nullable=True
    )
    storage_key: Mapped[str] = mapped_column(String(600))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ArtifactDistributedDraft(Base):
    """The pending version that runs sharing a `distributed_id` add to, until it commits."""

    __tablename__ = "artifact_distributed_drafts"
    __table_args__ = (UniqueConstraint("collection_id", "distributed_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("artifact_collections.id", ondelete="CASCADE")
    )
    distributed_id: Mapped[str] = mapped_column(String(256))
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"))
