"""Blob GC candidates: object-store keys that may no longer be referenced.

Recording a key is always safe: the collector re-checks every candidate before it removes
anything (`blob_gc.py`). Kept apart so the upload path can record keys without importing
the version rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from runyard.server.db.models import ArtifactBlobOrphan

# Rows or ids per statement: far below SQLite's bound-parameter limit.
CHUNK = 500


def chunks(items: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    """`items` in consecutive slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def record_orphans(session: Session, keys: Iterable[str], now: datetime) -> None:
    """Make keys blob GC candidates; a key already waiting keeps its first time."""
    rows = [{"storage_key": k, "orphaned_at": now} for k in sorted(set(keys))]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for chunk in chunks(rows):
        session.execute(insert(ArtifactBlobOrphan).values(chunk).on_conflict_do_nothing())
