"""`parquetHistory`: signed URLs of a run's Parquet export plus the rows not in it yet.

The client (wandb 0.31's scan_history) downloads the files and reads each page of steps
from them; a page reaching the smallest step of `liveData` it also asks HistoryPage for,
over the page's whole step range, and it adds those rows to the file's without removing
duplicates. HistoryPage serves every stored line (older clients page through it alone),
so a file and live rows together would repeat the rows of the page where they meet.
Hence all or nothing: the URL is handed out only while the export holds every stored
line (`liveData` empty); a run with lines past its export (a resumed run, until the
exporter catches up) is served live, the same data as before exports existed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from runyard.server.db.history_segment_models import HistorySegment
from runyard.server.db.models import HistoryLine, Run
from runyard.server.tracking.history import MAX_PAGE
from runyard.server.unit_of_work import UnitOfWork

STEP = "_step"


@dataclass(frozen=True)
class ParquetHistory:
    """The GraphQL `ParquetHistory` answer."""

    parquet_urls: list[str]
    live_data: list[dict[str, Any]]


def _export_of(uow: UnitOfWork, run: Run) -> HistorySegment | None:
    """The run's export when it holds every stored line (see the module docstring)."""
    segment = uow.session.scalars(
        select(HistorySegment)
        .where(HistorySegment.run_id == run.id, HistorySegment.refusal.is_(None))
        .order_by(HistorySegment.last_line.desc())
        .limit(1)
    ).first()
    if segment is None:
        return None
    later = uow.session.scalar(
        select(HistoryLine.line_no)
        .where(HistoryLine.run_id == run.id, HistoryLine.line_no > segment.last_line)
        .limit(1)
    )
    return segment if later is None else None


def _live_rows(uow: UnitOfWork, run: Run, live_keys: list[str]) -> list[dict[str, Any]]:
    """The first lines cut to `live_keys` (at most a page: the client reads only the
    smallest step, and lines come in step order)."""
    where = (HistoryLine.run_id == run.id,)
    order = HistoryLine.line_no
    if set(live_keys) <= {STEP}:
        # The client asks for `_step` only: the indexed column, no JSON to parse.
        steps = uow.session.scalars(
            select(HistoryLine.step).where(*where).order_by(order).limit(MAX_PAGE)
        )
        return [{STEP: step} for step in steps if step is not None]
    lines = uow.session.scalars(
        select(HistoryLine.data).where(*where).order_by(order).limit(MAX_PAGE)
    )
    rows = (json.loads(line) for line in lines)
    return [{k: row[k] for k in live_keys if k in row} for row in rows]


def parquet_history(
    uow: UnitOfWork, run: Run, live_keys: list[str], base_url: str
) -> ParquetHistory:
    """Signed GET URLs of the run's export and the live rows past it, cut to `live_keys`."""
    segment = _export_of(uow, run)
    if segment is None:
        return ParquetHistory([], _live_rows(uow, run, live_keys))
    return ParquetHistory([_server_url(uow, base_url, segment.object_key)], [])


def _server_url(uow: UnitOfWork, base_url: str, key: str) -> str:
    """A signed GET URL of the server's own, even where files live in a bucket: the
    client's reader asks HEAD first, which a URL presigned for GET does not allow."""
    return f"{base_url.rstrip('/')}/storage/{quote(key)}?{uow.signer.sign('GET', key)}"
