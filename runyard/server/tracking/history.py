"""Reading a run's history: verbatim lines, paged or evenly sampled (charts: rollups.py)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.server.db.models import EventLine, HistoryLine, Run
from runyard.server.input_limits import INT32_MAX, check_int_range

MAX_PAGE = 10_000
MAX_BUCKETS = 10_000


def history_page(session: Session, run: Run, *, after: int = -1, limit: int = 1000) -> list[str]:
    """Return up to `limit` verbatim history lines with line number greater than `after`."""
    rows = session.scalars(
        select(HistoryLine.data)
        .where(HistoryLine.run_id == run.id, HistoryLine.line_no > after)
        .order_by(HistoryLine.line_no)
        .limit(min(limit, MAX_PAGE))
    )
    return list(rows)


def history_lines_with_numbers(
    session: Session, run: Run, *, after: int = -1, limit: int = 1000
) -> list[tuple[int, str]]:
    """Like history_page, with each line's number (the cursor for the next page)."""
    rows = session.execute(
        select(HistoryLine.line_no, HistoryLine.data)
        .where(HistoryLine.run_id == run.id, HistoryLine.line_no > after)
        .order_by(HistoryLine.line_no)
        .limit(min(limit, MAX_PAGE))
    )
    return [(n, d) for n, d in rows]


def history_tail(
    session: Session, run: Run, model: type[HistoryLine] | type[EventLine], n: int = 10
) -> list[str]:
    """Return the last `n` lines of the history or events file, oldest first."""
    rows = session.scalars(
        select(model.data).where(model.run_id == run.id).order_by(model.line_no.desc()).limit(n)
    )
    return list(reversed(list(rows)))


def sampled_rows(session: Session, run: Run, keys: list[str], samples: int) -> list[dict[str, Any]]:
    """Return up to `samples` rows holding `keys`, evenly spread (W&B's `sampledHistory`)."""
    check_int_range(samples, "samples", 1, INT32_MAX)
    total = run.history_line_count
    stride = max(1, -(-total // max(samples, 1)))
    rows = session.scalars(
        select(HistoryLine.data)
        .where(HistoryLine.run_id == run.id, HistoryLine.line_no % stride == 0)
        .order_by(HistoryLine.line_no)
        .limit(samples)
    )
    out = []
    for text in rows:
        row = json.loads(text)
        if keys:
            if not all(k in row for k in keys):
                continue
            row = {"_step": row.get("_step"), **{k: row[k] for k in keys}}
        out.append(row)
    return out
