"""Reading a run's history: verbatim lines (paged) and a sampled series for charts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from runyard.server.db.models import EventLine, HistoryLine, MetricPoint, Run

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


def metric_keys(session: Session, run: Run) -> list[str]:
    """Return the names of the numeric metrics logged in a run's history."""
    return list(
        session.scalars(
            select(MetricPoint.key)
            .where(MetricPoint.run_id == run.id)
            .distinct()
            .order_by(MetricPoint.key)
        )
    )


@dataclass(frozen=True)
class Bucket:
    """One x-range of a sampled series: min, max and the last value inside it."""

    x_min: float
    x_max: float
    count: int
    min: float
    max: float
    last: float


def sampled_series(session: Session, run: Run, key: str, buckets: int) -> list[Bucket]:
    """Split the metric's x-range (`_step`) into `buckets` equal parts; summarise each.

    The database does the grouping, so the cost is one scan of the metric's
    points and the answer is at most `buckets` rows, whatever the run's length.
    """
    buckets = max(1, min(buckets, MAX_BUCKETS))
    point = MetricPoint
    where = (point.run_id == run.id, point.key == key)
    lo, hi = session.execute(select(func.min(point.step), func.max(point.step)).where(*where)).one()
    if lo is None:
        return []
    # Integer arithmetic on integer steps: the same bucket index on SQLite and PostgreSQL.
    index = ((point.step - lo) * buckets // (hi - lo + 1)).label("b")
    grouped = (
        select(
            index,
            func.min(point.step),
            func.max(point.step),
            func.count(),
            func.min(point.value),
            func.max(point.value),
            func.max(point.line_no),
        )
        .where(*where)
        .group_by(index)
        .order_by(index)
    )
    rows = session.execute(grouped).all()
    last_lines = [row[6] for row in rows]
    last_values = dict(
        session.execute(
            select(point.line_no, point.value).where(*where, point.line_no.in_(last_lines))
        ).all()
    )
    return [
        Bucket(
            x_min=float(r[1]),
            x_max=float(r[2]),
            count=int(r[3]),
            min=float(r[4]),
            max=float(r[5]),
            last=float(last_values[r[6]]),
        )
        for r in rows
    ]


def sampled_rows(session: Session, run: Run, keys: list[str], samples: int) -> list[dict[str, Any]]:
    """Return up to `samples` rows holding `keys`, evenly spread (W&B's `sampledHistory`)."""
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
