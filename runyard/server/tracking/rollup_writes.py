"""Keeping metric rollups at ingest: aggregate a post's points per range, merge them in.

Reads (chart buckets from the rollups) live in `rollups.py`. Here each post's new
points become one row per (key, level, range): the points are aggregated once into the
finest level's ranges, each coarser level from the one below it, and all rows are merged
into the stored ones with one upsert. That upsert runs at the database driver's level:
a post brings hundreds of rows, and SQLAlchemy's per-row parameter handling cost more
than the database's work on them.

Only points whose history line was inserted for the first time are rolled up, so a
retried file_stream post never counts a point twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from runyard.server.db.dialect import pg_array_literal
from runyard.server.db.models import MetricRollup
from runyard.server.tracking.rollups import LEVELS, ROLLUP_BASE, PointTuple, level_width

# [x_min, x_max, count, min, max, last, last_line]: one range being aggregated.
Acc = list[Any]
# (key, range index) -> its aggregate, for one level.
Ranges = dict[tuple[str, int], Acc]
# The columns of one rollup row after run_id, in the order the upsert takes them.
RollupRow = tuple[str, int, int, int, int, int, float, float, float, int]

_COLUMNS = (
    '"key"',
    '"level"',
    '"bucket"',
    '"x_min"',
    '"x_max"',
    '"count"',
    '"min"',
    '"max"',
    '"last"',
    '"last_line"',
)
_PG_TYPES = (
    "varchar",
    "smallint",
    "bigint",
    "bigint",
    "bigint",
    "bigint",
    "double precision",
    "double precision",
    "double precision",
    "integer",
)


def level_one(points: Iterable[PointTuple]) -> Ranges:
    """Aggregate points into the ranges of the finest level (the only per-point pass)."""
    width = level_width(LEVELS[0])
    out: Ranges = {}
    for key, line, step, value in points:
        slot = (key, step // width)
        acc = out.get(slot)
        if acc is None:
            out[slot] = [step, step, 1, value, value, value, line]
            continue
        acc[2] += 1
        if step < acc[0]:
            acc[0] = step
        if value < acc[3]:
            acc[3] = value
        elif value > acc[4]:
            acc[4] = value
        if step > acc[1] or (step == acc[1] and line > acc[6]):
            acc[1], acc[5], acc[6] = step, value, line
    return out


def coarser(finer: Ranges) -> Ranges:
    """Merge one level's ranges into the next level's (ROLLUP_BASE of them per range)."""
    out: Ranges = {}
    for (key, bucket), (x_lo, x_hi, count, lo, hi, last, line) in finer.items():
        # floor(floor(s / a) / b) == floor(s / (a * b)): negative steps land right too.
        slot = (key, bucket // ROLLUP_BASE)
        acc = out.get(slot)
        if acc is None:
            out[slot] = [x_lo, x_hi, count, lo, hi, last, line]
            continue
        acc[2] += count
        if x_lo < acc[0]:
            acc[0] = x_lo
        if lo < acc[3]:
            acc[3] = lo
        if hi > acc[4]:
            acc[4] = hi
        if x_hi > acc[1] or (x_hi == acc[1] and line > acc[6]):
            acc[1], acc[5], acc[6] = x_hi, last, line
    return out


def rollup_tuples(finest: Ranges) -> list[RollupRow]:
    """Every level's rows from the finest level's ranges (see `RollupRow`)."""
    level = finest
    rows: list[RollupRow] = []
    for number in LEVELS:
        if number != LEVELS[0]:
            level = coarser(level)
        rows += [
            (key, number, bucket, x_lo, x_hi, count, lo, hi, last, line)
            for (key, bucket), (x_lo, x_hi, count, lo, hi, last, line) in level.items()
        ]
    return rows


def rollup_rows(run_id: int, points: Iterable[PointTuple]) -> list[dict[str, Any]]:
    """Aggregate points into one row per (key, level, bucket), as column dicts (seeding)."""
    names = [column.strip('"') for column in _COLUMNS]
    return [
        {"run_id": run_id, **dict(zip(names, row, strict=True))}
        for row in rollup_tuples(level_one(points))
    ]


def store_rollups(session: Session, run_id: int, points: Iterable[PointTuple]) -> None:
    """Merge new points into the stored rollups (one upsert for all levels)."""
    store_ranges(session, run_id, level_one(points))


def store_ranges(session: Session, run_id: int, finest: Ranges) -> None:
    """Merge the finest level's new ranges, and every coarser level's, into the rollups.

    One statement at the driver: an executemany of tuples on SQLite, one upsert over
    `unnest` of ten arrays on PostgreSQL. `run_id` is an integer key, written as a literal.
    """
    rows = rollup_tuples(finest)
    if not rows:
        return
    connection = session.connection()
    run = int(run_id)
    table = MetricRollup.__tablename__
    columns = ", ".join(_COLUMNS)
    if connection.dialect.name == "postgresql":
        arrays = ", ".join(f"%s::{kind}[]" for kind in _PG_TYPES)
        connection.exec_driver_sql(
            f"INSERT INTO {table} (run_id, {columns}) SELECT {run}, * FROM unnest({arrays}) "
            + _merge_clause(table),
            tuple(map(pg_array_literal, zip(*rows, strict=True))),
        )
    else:
        marks = ", ".join("?" * len(_COLUMNS))
        connection.exec_driver_sql(
            f"INSERT INTO {table} (run_id, {columns}) VALUES ({run}, {marks}) "
            + _merge_clause(table),
            rows,
        )


def _merge_clause(table: str) -> str:
    """ON CONFLICT: add the counts, widen min/max, keep the later `last`.

    Every SET expression sees the old row (SQL semantics on both databases), so x_max is
    compared before it is replaced.
    """
    newer = (
        f'(excluded."x_max" > {table}."x_max" OR (excluded."x_max" = {table}."x_max" '
        f'AND excluded."last_line" > {table}."last_line"))'
    )

    def pick(column: str, condition: str) -> str:
        return (
            f'"{column}" = CASE WHEN {condition} THEN excluded."{column}" '
            f'ELSE {table}."{column}" END'
        )

    sets = [
        f'"count" = {table}."count" + excluded."count"',
        pick("x_min", f'excluded."x_min" < {table}."x_min"'),
        pick("min", f'excluded."min" < {table}."min"'),
        pick("max", f'excluded."max" > {table}."max"'),
        pick("x_max", newer),
        pick("last", newer),
        pick("last_line", newer),
    ]
    return 'ON CONFLICT (run_id, "key", "level", "bucket") DO UPDATE SET ' + ", ".join(sets)
