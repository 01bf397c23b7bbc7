"""Metric rollups: min/max/last of each metric over fixed step ranges, kept at ingest.

A chart asks for N buckets over a run's whole x-range. Scanning every point of a
long run for that is too slow (a 1M-point metric takes most of a second), so each
new point also updates one row per *level*: level L covers `ROLLUP_BASE ** L` steps.
A chart reads the level whose ranges are just finer than its buckets (at most
`ROLLUP_BASE * N` rows) and merges them. Level 0 is the raw points themselves.

Ingest keeps the rollups (`rollup_writes.py`); this module reads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from runyard.server.db.models import MetricRollup
from runyard.server.tracking import metric_chunks

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


# (key, line_no, step, value): a `Point` or a plain tuple in the same order (ingest's hot path).
PointTuple = tuple[str, int, int, float]


def choose_level(lo: int, hi: int, buckets: int, coarse: bool = False) -> tuple[int, int]:
    """Pick the rollup level and output bucket width (in steps) for `buckets` over [lo, hi].

    The level is the coarsest one still finer than an output bucket (so about `buckets`
    come out, reading up to 16 rows each). `coarse` (charts) takes the coarsest level that
    still yields half the buckets: a line of 391 points instead of 500 looks the same, and
    reading 16x fewer rows is what lets a workspace of 50 long runs paint in time. The
    output width is a whole number of the level's ranges, so merged rows never straddle.
    """
    span = hi - lo + 1
    wanted = -(-span // max(buckets, 1))  # ceil
    if coarse:
        enough = max(1, buckets // 2)
        for coarser in range(TOP_LEVEL, 0, -1):
            unit = level_width(coarser)
            width = -(-wanted // unit) * unit
            if -(-span // width) >= enough:
                return coarser, width
    level = 0
    while level < TOP_LEVEL and level_width(level + 1) <= wanted:
        level += 1
    unit = level_width(level)
    return level, -(-wanted // unit) * unit


# (x_min, x_max, count, min, max, last, last_line): a rollup row as the database returns it.
RollupTuple = tuple[int, int, int, float, float, float, int]


def merge_rollups(rows: Iterable[RollupTuple], origin: int, width: int) -> list[Bucket]:
    """Merge rollup rows (ordered by x) into output buckets of `width` steps from `origin`."""
    out: list[Bucket] = []
    current = None
    # Plain locals rather than a dict per bucket: this loop runs over thousands of rows.
    x_lo = x_hi = count = line = 0
    lo = hi = last = 0.0
    for r_lo, r_hi, r_count, r_min, r_max, r_last, r_line in rows:
        index = (r_lo - origin) // width
        if index != current:
            if current is not None:
                out.append(Bucket(x_lo, x_hi, count, lo, hi, last))
            current = index
            x_lo, x_hi, count, lo, hi, last, line = (
                r_lo,
                r_hi,
                r_count,
                r_min,
                r_max,
                r_last,
                r_line,
            )
            continue
        count += r_count
        if r_lo < x_lo:
            x_lo = r_lo
        if r_min < lo:
            lo = r_min
        if r_max > hi:
            hi = r_max
        if r_hi > x_hi or (r_hi == x_hi and r_line > line):
            x_hi, last, line = r_hi, r_last, r_line
    if current is not None:
        out.append(Bucket(x_lo, x_hi, count, lo, hi, last))
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


def _rollup_rows(
    session: Session, run_id: int, key: str, level: int, first: int, last: int
) -> Iterable[RollupTuple]:
    """Rollup rows of `level` with bucket index in [first, last], ordered by x."""
    # Plain column tuples: building ORM objects for thousands of rows costs more than the query.
    return session.connection().execute(
        select(
            MetricRollup.x_min,
            MetricRollup.x_max,
            MetricRollup.count,
            MetricRollup.min,
            MetricRollup.max,
            MetricRollup.last,
            MetricRollup.last_line,
        )
        .where(
            MetricRollup.run_id == run_id,
            MetricRollup.key == key,
            MetricRollup.level == level,
            MetricRollup.bucket >= first,
            MetricRollup.bucket <= last,
        )
        .order_by(MetricRollup.bucket)
    )


def _raw_points(session: Session, run_id: int, key: str, lo: int, hi: int) -> list[RollupTuple]:
    """Raw points with step in [lo, hi] shaped like rollup rows (one point each)."""
    return [
        (x, x, 1, value, value, value, line)
        for x, line, value in metric_chunks.points_in_steps(session, run_id, key, lo, hi)
    ]


def window_units(
    span: tuple[int, int], window: tuple[int | None, int | None], unit: int
) -> tuple[int, int, int, int]:
    """Clip a metric's step span to a window; return (lo, hi, first, last) rollup units.

    Units `first..last` lie wholly inside the window (or past the data where the window
    does not cut), so their rollup rows are exact; steps in [lo, hi] outside those units
    (less than one unit at each cut edge) must come from the raw points.
    """
    lo = span[0] if window[0] is None else max(span[0], window[0])
    hi = span[1] if window[1] is None else min(span[1], window[1])
    first = lo // unit if window[0] is None or window[0] <= span[0] else -(-window[0] // unit)
    last = hi // unit if window[1] is None or window[1] >= span[1] else (window[1] + 1) // unit - 1
    return lo, hi, first, last


def sampled_series(
    session: Session,
    run_id: int,
    key: str,
    buckets: int,
    step_min: int | None = None,
    step_max: int | None = None,
    coarse: bool = False,
) -> list[Bucket]:
    """The metric as at most about `buckets` x-ranges, each with count, min, max and last.

    `step_min`/`step_max` narrow the read to a window of steps (a zoomed chart): the
    buckets are then as fine as the window allows, and cost the same as a full read.
    `coarse`: between half and all of `buckets`, for far fewer rows (see `choose_level`).
    """
    span = x_range(session, run_id, key)
    if span is None:
        return []
    lo = span[0] if step_min is None else max(span[0], step_min)
    hi = span[1] if step_max is None else min(span[1], step_max)
    if lo > hi:
        return []
    level, width = choose_level(lo, hi, buckets, coarse)
    unit = level_width(level)
    origin = (lo // unit) * unit
    if level == 0:
        # Short spans: the raw points are fewer than ROLLUP_BASE per output bucket.
        return merge_rollups(_raw_points(session, run_id, key, lo, hi), origin, width)
    lo, hi, first, last = window_units(span, (step_min, step_max), unit)
    if first > last:  # the window lies inside one or two units: few raw points
        return merge_rollups(_raw_points(session, run_id, key, lo, hi), origin, width)
    rows = chain(
        _raw_points(session, run_id, key, lo, first * unit - 1),
        _rollup_rows(session, run_id, key, level, first, last),
        _raw_points(session, run_id, key, (last + 1) * unit, hi),
    )
    return merge_rollups(rows, origin, width)


def metric_counts(session: Session, run_id: int) -> dict[str, int]:
    """Each numeric metric of a run with how many points it has (from the top level)."""
    rows = session.execute(
        select(MetricRollup.key, func.sum(MetricRollup.count))
        .where(MetricRollup.run_id == run_id, MetricRollup.level == TOP_LEVEL)
        .group_by(MetricRollup.key)
        .order_by(MetricRollup.key)
    ).all()
    return {key: int(n) for key, n in rows}


@dataclass(frozen=True)
class MetricStats:
    """A metric's point count and its latest value (at the highest step, latest line)."""

    count: int
    last: float


def metric_stats(session: Session, run_id: int) -> dict[str, MetricStats]:
    """Each numeric metric of a run with its count and latest value, from the top level."""
    rows = session.execute(
        select(
            MetricRollup.key,
            MetricRollup.count,
            MetricRollup.x_max,
            MetricRollup.last_line,
            MetricRollup.last,
        )
        .where(MetricRollup.run_id == run_id, MetricRollup.level == TOP_LEVEL)
        .order_by(MetricRollup.key, MetricRollup.x_max, MetricRollup.last_line)
    ).all()
    counts: dict[str, int] = {}
    lasts: dict[str, float] = {}
    # Ordered by (x_max, last_line) within a key, so the last row seen holds the latest value.
    for key, count, _x, _line, last in rows:
        counts[key] = counts.get(key, 0) + int(count)
        lasts[key] = float(last)
    return {key: MetricStats(counts[key], lasts[key]) for key in counts}
