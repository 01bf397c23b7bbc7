"""SQLAlchemy model of history segments: a run's closed history lines exported to Parquet."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from runyard.server.clock import utcnow
from runyard.server.db.models import Base


class HistorySegment(Base):
    """History lines `first_line..last_line` of a run, as one Parquet object.

    The lines stay in `history_lines` (every other read and the ingest dedupe use them);
    the segment only serves bulk reads (`parquetHistory`), so a lost segment row costs
    speed, never data.
    """

    __tablename__ = "history_segments"
    __table_args__ = (
        UniqueConstraint("run_id", "first_line"),
        # Signed downloads look an export's size up by its key.
        Index("ix_history_segments_object_key", "object_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    first_line: Mapped[int] = mapped_column(Integer)
    last_line: Mapped[int] = mapped_column(Integer)
    min_step: Mapped[int] = mapped_column(BigInteger)
    max_step: Mapped[int] = mapped_column(BigInteger)
    row_count: Mapped[int] = mapped_column(Integer)
    object_key: Mapped[str] = mapped_column(String(512))
    size: Mapped[int] = mapped_column(BigInteger)
    # Why these lines can't be exported (no object then); the run is not tried again
    # until its history is rewritten (rewindRun drops its segments).
    refusal: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
