"""Export a run's stored history lines to one Parquet object (the thin I/O shell).

Policy: a run has at most one export, covering its lines `0..last_line`. A run that is
not running is exported once it has `history_export_min_lines` lines, and again when
lines arrive later (a resumed run, once it stops). Running runs are not exported: an
export is served only while it holds every stored line (reads.py says why), and one
file per run because the client's reader re-reads every earlier file from its start on
each page it asks for.

The lines stay in the database: ingest's retry dedupe, charts and every other read keep
using them; the object only serves `parquetHistory`. The object is stored before its row
is written, and an old object is deleted after the new row commits, so a crash leaves at
worst an unreferenced object, never a row naming a missing one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select

from runyard.server.db.history_segment_models import HistorySegment
from runyard.server.db.models import HistoryLine, Run
from runyard.server.history_export.parquet_rows import NotExportable, build_parquet
from runyard.server.state import ServerState
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

HISTORY_PREFIX = "runs/"
READ_BATCH = 20_000


def segment_key(run_id: int, last_line: int) -> str:
    """Object key of a run's export covering lines up to `last_line`."""
    return f"{HISTORY_PREFIX}{run_id}/history/lines-0-{last_line}.parquet"


@dataclass(frozen=True)
class ExportResult:
    """What one export pass did."""

    exported: int = 0
    refused: int = 0
    rows: int = 0


def runs_to_export(uow: UnitOfWork, min_lines: int, limit: int = 100) -> list[int]:
    """Ids of runs whose history is due for an export (see the module docstring)."""
    seg = HistorySegment
    tail = Run.history_line_count - seg.last_line - 1
    due = or_(seg.id.is_(None), seg.refusal.is_(None) & (tail > 0))
    stmt = (
        select(Run.id)
        .outerjoin(seg, seg.run_id == Run.id)
        .where(Run.history_line_count >= min_lines, Run.state != "running", due)
        .order_by(Run.id)
        .limit(limit)
    )
    return list(uow.session.scalars(stmt))


def _lines(uow: UnitOfWork, run_id: int, last_line: int) -> Iterator[tuple[int, str]]:
    """Lines `0..last_line` in order, read in batches (the run may hold millions)."""
    after = -1
    while after < last_line:
        batch = uow.session.execute(
            select(HistoryLine.line_no, HistoryLine.data)
            .where(
                HistoryLine.run_id == run_id,
                HistoryLine.line_no > after,
                HistoryLine.line_no <= last_line,
            )
            .order_by(HistoryLine.line_no)
            .limit(READ_BATCH)
        ).all()
        if not batch:
            return
        yield from ((n, d) for n, d in batch)
        after = batch[-1][0]


def export_run(state: ServerState, run_id: int) -> ExportResult:
    """Export run `run_id`'s stored lines to Parquet, replacing its older export."""
    with UnitOfWork(state) as uow:
        run = uow.session.get(Run, run_id)
        if run is None:
            return ExportResult()
        old = uow.session.scalars(
            select(HistorySegment).where(HistorySegment.run_id == run_id)
        ).all()
        old_ids = sorted(s.id for s in old)
        old_keys = [s.object_key for s in old if s.object_key]
        last_line = uow.session.scalar(
            select(func.max(HistoryLine.line_no)).where(HistoryLine.run_id == run_id)
        )
        if last_line is None or any(s.last_line >= last_line for s in old):
            return ExportResult()
        stored = uow.session.scalar(
            select(func.count()).select_from(HistoryLine).where(HistoryLine.run_id == run_id)
        )
        if stored != last_line + 1:
            # Offsets arrived with a gap (a post still in flight): a line landing in it
            # later would be in neither the export nor the live rows. Wait for it.
            return ExportResult()
        try:
            built = build_parquet(lambda: _lines(uow, run_id, last_line))
            refusal = None
        except NotExportable as exc:
            built, refusal = None, str(exc)[:256]
    key = ""
    if built is not None:
        key = segment_key(run_id, built.last_line)
        state.store.put_bytes(key, built.data)
    with UnitOfWork(state, write=True) as uow:
        session = uow.session
        current = sorted(
            session.scalars(select(HistorySegment.id).where(HistorySegment.run_id == run_id)).all()
        )
        if current != old_ids or session.get(Run, run_id) is None:
            # Another pass (or a rewind) changed the run meanwhile: keep its outcome.
            stale = [key] if key else []
            old_keys = []
        else:
            stale = []
            session.execute(delete(HistorySegment).where(HistorySegment.run_id == run_id))
            session.add(
                HistorySegment(
                    run_id=run_id,
                    first_line=built.first_line if built else 0,
                    last_line=built.last_line if built else last_line,
                    min_step=built.min_step if built else 0,
                    max_step=built.max_step if built else 0,
                    row_count=built.rows if built else 0,
                    object_key=key,
                    size=len(built.data) if built else 0,
                    refusal=refusal,
                    created_at=uow.now(),
                )
            )
    for obsolete in [*stale, *(k for k in old_keys if k != key)]:
        state.store.delete(obsolete)
    if refusal is not None:
        logger.info("history not exported", extra={"run_id": run_id, "reason": refusal})
        return ExportResult(refused=1)
    assert built is not None
    logger.info("history exported", extra={"run_id": run_id, "rows": built.rows, "key": key})
    return ExportResult(exported=1, rows=built.rows)


def export_pass(state: ServerState, limit: int = 100) -> ExportResult:
    """Export every run that is due (up to `limit`); one run's failure skips only that run."""
    with UnitOfWork(state) as uow:
        due = runs_to_export(uow, state.settings.history_export_min_lines, limit)
    exported = refused = rows = 0
    for run_id in due:
        try:
            result = export_run(state, run_id)
        except Exception:  # one run's bad data or a store hiccup must not stop the others
            logger.exception("history export failed", extra={"run_id": run_id})
            continue
        exported += result.exported
        refused += result.refused
        rows += result.rows
    return ExportResult(exported=exported, refused=refused, rows=rows)
