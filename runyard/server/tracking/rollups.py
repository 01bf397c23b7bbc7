"""Metric rollups: min/max/last of each metric over fixed step ranges, kept at ingest.

A chart asks for N buckets over a run's whole x-range. Scanning every point of a
long run for that is too slow (a 1M-point metric takes most of a second), so each
new point also updates one row per *level*: level L covers `ROLLUP_BASE ** L` steps.
A chart reads the level whose ranges are just finer than its buckets (at most
`ROLLUP_BASE * N` rows) and merges them. Level 0 is the raw points themselves.

Only points whose history line was inserted for the first time are rolled up, so a
retried file_stream post never counts a point twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from runyard.server.db.models import MetricPoint, MetricRollup

ROLLUP_BASE = 16
LEVELS = (1, 2, 3, 4, 5)  # widths 16 .. 1,048,576 steps
TOP_LEVEL = LEVELS[-1]


class Point(NamedTuple):
    """One numeric value of one history line."""

    key: str
    line_no: int
    step: int
    value: float


@dataclass(frozen=True)
class Bucket:
    """One x-range of a sampled series: min, max and the last value inside it."""

    x_min: float
    x_max: float
    count: int
    min: float
    max: float
    last: float


def level_width(level: int) -> int:
    """Steps covered by one rollup row of `level`."""
    return int(ROLLUP_BASE**level)


def rollup_rows(run_id: int, points: Iterable[Point]) -> list[dict[str, Any]]:
    """Aggregate points into one row per (key, level, bucket): what ingest adds."""
    rows: dict[tuple[str, int, int], dict[str, Any]] = {}
    for point in points:
        for level in LEVELS:
            bucket = point.step // level_width(level)
            row = rows.get((point.key, level, bucket))
            if row is None:
                rows[(point.key, level, bucket)] = {
                    "run_id": run_id,
                    "key": point.key,
                    "level": level,
                    "bucket": bucket,
                    "x_min": point.step,
                    "x_max": point.step,
                    "count": 1,
                    "min": point.value,
                    "max": point.value,
                    "last": point.value,
                    "last_line": point.line_no,
                }
                continue
            row["count"] += 1
            row["x_min"] = min(row["x_min"], point.step)
            row["min"] = min(row["min"], point.value)
            row["max"] = max(row["max"], point.value)
            if (point.step, point.line_no) > (row["x_max"], row["last_line"]):
                row["x_max"], row["last"], row["last_line"] = point.step, point.value, point.line_no
    return list(rows.values())


def store_rollups(session: Session, run_id: int, points: Iterable[Point]) -> None:
    """Merge new points into the stored rollups (one upsert per touched row)."""
    rows = rollup_rows(run_id, points)
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(MetricRollup)
    new, old = stmt.excluded, MetricRollup
    # Every SET expression sees the old row, on PostgreSQL and SQLite alike.
    newer = or_(new.x_max > old.x_max, and_(new.x_max == old.x_max, new.last_line > old.last_line))
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_id", "key", "level", "bucket"],
        set_={
            "count": old.count + new.count,
            "x_min": case((new.x_min < old.x_min, new.x_min), else_=old.x_min),
            "min": case((new.min < old.min, new.min), else_=old.min),
            "max": case((new.max > old.max, new.max), else_=old.max),
            "x_max": case((newer, new.x_max), else_=old.x_max),
            "last": case((newer, new.last), else_=old.last),
            "last_line": case((newer, new.last_line), else_=old.last_line),
        },
    )
    session.execute(stmt, rows)


def choose_level(lo: int, hi: int, buckets: int) -> tuple[int, int]:
    """Pick the rollup level and output bucket width (in steps) for `buckets` over [lo, hi].

    The level is the coarsest one still finer than an output bucket; the output width
    is a whole number of that level's ranges, so merged rows never straddle buckets.
    """
    wanted = -(-(hi - lo + 1) // max(buckets, 1))  # ceil
    level = 0
    while level < TOP_LEVEL and level_width(level + 1) <= wanted:
        level += 1
    unit = level_width(level)
    width = -(-wanted // unit) * unit
    return level, width


def merge_rollups(rows: Iterable[Any], origin: int, width: int) -> list[Bucket]:
    """Merge rollup rows (ordered by bucket) into output buckets of `width` steps from `origin`."""
    out: list[Bucket] = []
    current: int | None = None
    acc: dict[str, Any] = {}
    for row in rows:
        index = (row.x_min - origin) // width
        if index != current:
            if acc:
                out.append(Bucket(**{k: v for k, v in acc.items() if k != "last_line"}))
            current = index
            acc = {
                "x_min": row.x_min,
                "x_max": row.x_max,
                "count": row.count,
                "min": row.min,
                "max": row.max,
                "last": row.last,
                "last_line": row.last_line,
            }
            continue
        acc["count"] += row.count
        acc["x_min"] = min(acc["x_min"], row.x_min)
        acc["min"] = min(acc["min"], row.min)
        acc["max"] = max(acc["max"], row.max)
        if (row.x_max, row.last_line) > (acc["x_max"], acc["last_line"]):
            acc["x_max"], acc["last"], acc["last_line"] = row.x_max, row.last, row.last_line
    if acc:
        out.append(Bucket(**{k: v for k, v in acc.items() if k != "last_line"}))
    return out


def x_range(session: Session, run_id: int, key: str) -> tuple[int, int] | None:
    """The smallest and largest step of a metric, from its few top-level rollup rows."""
    lo, hi = session.execute(
        select(func.min(MetricRollup.x_min), func.max(MetricRollup.x_max)).where(
            MetricRollup.run_id == run_id,
            MetricRollup.key == key,
            MetricRollup.level == TOP_LEVEL,
        )
    ).one()
    return None if lo is None else (int(lo), int(hi))


def sampled_series(session: Session, run_id: int, key: str, buckets: int) -> list[Bucket]:
    """The metric as at most about `buckets` x-ranges, each with count, min, max and last."""
    span = x_range(session, run_id, key)
    if span is None:
        return []
    lo, hi = span
    level, width = choose_level(lo, hi, buckets)
    if level > 0:
        unit = level_width(level)
        rows = session.execute(
            select(MetricRollup)
            .where(
                MetricRollup.run_id == run_id,
                MetricRollup.key == key,
                MetricRollup.level == level,
            )
            .order_by(MetricRollup.bucket)
        ).scalars()
        return merge_rollups(rows, (lo // unit) * unit, width)
    # Short runs: the raw points are fewer than ROLLUP_BASE per output bucket.
    points = session.execute(
        select(
            MetricPoint.step.label("x_min"),
            MetricPoint.step.label("x_max"),
            MetricPoint.value.label("min"),
            MetricPoint.value.label("max"),
            MetricPoint.value.label("last"),
            MetricPoint.line_no.label("last_line"),
        )
        .where(MetricPoint.run_id == run_id, MetricPoint.key == key)
        .order_by(MetricPoint.step, MetricPoint.line_no)
    ).all()
    return merge_rollups((_RawRow(*p) for p in points), lo, width)


@dataclass(frozen=True, slots=True)
class _RawRow:
    """A raw point in the shape of a rollup row."""

    x_min: int
    x_max: int
    min: float
    max: float
    last: float
    last_line: int
    count: int = 1


def metric_counts(session: Session, run_id: int) -> dict[str, int]:
    """Each numeric metric of a run with how many points it has (from the top level)."""
    rows = session.execute(
        select(MetricRollup.key, func.sum(MetricRollup.count))
        .where(MetricRollup.run_id == run_id, MetricRollup.level == TOP_LEVEL)
        .group_by(MetricRollup.key)
        .order_by(MetricRollup.key)
    ).all()
    return {key: int(n) for key, n in rows}
