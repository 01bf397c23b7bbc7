"""Metric values stored packed: one `metric_chunks` row per metric and per post.

A row per logged value made the database's B-tree insert the largest cost of ingest (about
half the server's CPU per value on SQLite). A post's values of one metric are instead
packed into one row: `count` line numbers (int32), then their x values (int64: the line's
`_step`, or its line number), then the values (float64), all little-endian. Charts read
the rollups (rollups.py) and touch chunks only at the edges of a zoom window.

A chunk covers a run of consecutive line numbers that were all new in one post, so the line
ranges of one metric's chunks never overlap (`chunk_rows`): ordering chunks by `first_line`
orders their values by line, and a fork's cut crosses at most one chunk per metric.
"""

from __future__ import annotations

import logging
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runyard.server.db.models import MetricChunk

if TYPE_CHECKING:
    from runyard.server.tracking.rollups import PointTuple

logger = logging.getLogger(__name__)
_BIG_ENDIAN = sys.byteorder == "big"
# (line numbers, x values, values) of one metric, in line order.
Column = tuple[Sequence[int], Sequence[int], Sequence[float]]
# key, first_line, last_line, min_step, max_step, count, data: one metric_chunks row.
ChunkRow = tuple[str, int, int, int, int, int, bytes]
_COLUMNS = '"key", first_line, last_line, min_step, max_step, "count", data'
# Chunks read per batch when a whole run's values are walked (a fork's rollups).
_READ_BATCH = 2000


def _bytes(kind: str, items: Sequence[Any]) -> bytes:
    packed = array(kind, items)
    if _BIG_ENDIAN:
        packed.byteswap()
    return packed.tobytes()


def _array(kind: str, data: bytes | memoryview) -> array[Any]:
    unpacked = array(kind)
    unpacked.frombytes(data)
    if _BIG_ENDIAN:
        unpacked.byteswap()
    return unpacked


def pack(lines: Sequence[int], xs: Sequence[int], values: Sequence[float]) -> bytes:
    """The `data` of a chunk holding these (equally long) columns."""
    return _bytes("i", lines) + _bytes("q", xs) + _bytes("d", values)


def unpack(count: int, data: bytes) -> tuple[array[int], array[int], array[float]]:
    """The line numbers, x values and values packed in a chunk's `data`."""
    view = memoryview(data)
    if len(view) != count * 20:
        raise ValueError(
            f"metric chunk of {count} values holds {len(view)} bytes, not {count * 20}"
        )
    xs_at = count * 4
    values_at = xs_at + count * 8
    return (
        _array("i", view[:xs_at]),
        _array("q", view[xs_at:values_at]),
        _array("d", view[values_at:]),
    )


def gaps(line_numbers: Sequence[int]) -> list[int]:
    """The numbers of an ascending list that do not follow the one before them."""
    return [b for a, b in pairwise(line_numbers) if b != a + 1]


def chunk_rows(columns: Mapping[str, Column], breaks: Sequence[int] = ()) -> list[ChunkRow]:
    """The chunks of a post's new values: one per metric and per run of consecutive lines.

    `breaks` are the line numbers that start a new run (`gaps` of the post's new lines:
    a retried post can leave holes where lines were stored already).
    """
    rows: list[ChunkRow] = []
    for key, (lines, xs, values) in columns.items():
        start = 0
        for cut in [*(bisect_left(lines, b) for b in breaks), len(lines)]:
            if cut > start:
                part = slice(start, cut)
                rows.append(_row(key, lines[part], xs[part], values[part]))
                start = cut
    return rows


def _row(key: str, lines: Sequence[int], xs: Sequence[int], values: Sequence[float]) -> ChunkRow:
    return (key, lines[0], lines[-1], min(xs), max(xs), len(lines), pack(lines, xs, values))


def store_chunks(session: Session, run_id: int, rows: list[ChunkRow]) -> None:
    """Insert chunks of a run's new lines (lines no chunk holds yet)."""
    if not rows:
        return
    connection = session.connection()
    table = MetricChunk.__tablename__
    run = int(run_id)
    mark = "%s" if connection.dialect.name == "postgresql" else "?"
    insert_sql = f"INSERT INTO {table} (run_id, {_COLUMNS}) VALUES ({run}, {', '.join([mark] * 7)})"
    # Chunks come only from lines this transaction inserted, so none can be stored yet: a
    # plain INSERT. Should a chunk start at one of these lines anyway (a line deleted by
    # hand and posted again), the savepoint keeps the post whole: every value goes in as
    # a chunk of its own, and one whose line starts a stored chunk is skipped.
    try:
        with connection.begin_nested():
            connection.exec_driver_sql(insert_sql, rows)
    except IntegrityError:
        logger.warning("metric chunk already stored for new lines", extra={"run": run})
        connection.exec_driver_sql(
            insert_sql + " ON CONFLICT DO NOTHING", [one for row in rows for one in _singles(row)]
        )


def _singles(row: ChunkRow) -> Iterator[ChunkRow]:
    key, _, _, _, _, count, data = row
    for line, x, value in zip(*unpack(count, data), strict=True):
        yield (key, line, line, x, x, 1, pack([line], [x], [value]))


def points_in_steps(
    session: Session, run_id: int, key: str, lo: int, hi: int
) -> list[tuple[int, int, float]]:
    """`(x, line_no, value)` of a metric's values with x in [lo, hi], ordered by x then line."""
    if lo > hi:
        return []
    rows = session.execute(
        select(MetricChunk.count, MetricChunk.data).where(
            MetricChunk.run_id == run_id,
            MetricChunk.key == key,
            MetricChunk.min_step <= hi,
            MetricChunk.max_step >= lo,
        )
    )
    out: list[tuple[int, int, float]] = []
    for count, data in rows:
        lines, xs, values = unpack(count, data)
        out.extend(
            (x, line, value)
            for line, x, value in zip(lines, xs, values, strict=True)
            if lo <= x <= hi
        )
    out.sort()
    return out


def values_by_step(session: Session, run_ids: Iterable[int], key: str) -> dict[int, list[float]]:
    """Each run's values of a metric, ordered by x then line (runs without any are left out)."""
    rows = session.execute(
        select(MetricChunk.run_id, MetricChunk.count, MetricChunk.data).where(
            MetricChunk.run_id.in_(list(run_ids)), MetricChunk.key == key
        )
    )
    points: dict[int, list[tuple[int, int, float]]] = {}
    for run_id, count, data in rows:
        points.setdefault(run_id, []).extend(
            (x, line, value) for line, x, value in zip(*unpack(count, data), strict=True)
        )
    return {run_id: [value for _, _, value in sorted(p)] for run_id, p in points.items()}


def values_before_line(
    session: Session, run_id: int, key: str, before_line: int, n: int
) -> list[float]:
    """The last `n` values of a metric on lines before `before_line`, in line order."""
    rows = session.execute(
        select(MetricChunk.count, MetricChunk.data)
        .where(
            MetricChunk.run_id == run_id,
            MetricChunk.key == key,
            MetricChunk.first_line < before_line,
        )
        .order_by(MetricChunk.first_line.desc())
    )
    found: list[float] = []
    for count, data in rows:
        lines, _, values = unpack(count, data)
        # Chunks never overlap: walking them backwards walks the values backwards.
        backwards = zip(reversed(lines), reversed(values), strict=True)
        found.extend(value for line, value in backwards if line < before_line)
        if len(found) >= n:
            break
    return list(reversed(found[:n]))


def has_values(session: Session, run_id: int, key: str) -> bool:
    """Whether a run has logged any value of a metric in its history."""
    first = session.scalar(
        select(MetricChunk.first_line)
        .where(MetricChunk.run_id == run_id, MetricChunk.key == key)
        .limit(1)
    )
    return first is not None


def run_points(session: Session, run_id: int) -> Iterator[list[PointTuple]]:
    """Every value of a run as `(key, line_no, x, value)`, a batch of chunks at a time."""
    after: tuple[str, int] | None = None
    while True:
        query = select(MetricChunk.key, MetricChunk.first_line, MetricChunk.count, MetricChunk.data)
        query = query.where(MetricChunk.run_id == run_id)
        if after is not None:
            query = query.where(
                (MetricChunk.key > after[0])
                | ((MetricChunk.key == after[0]) & (MetricChunk.first_line > after[1]))
            )
        rows = session.execute(
            query.order_by(MetricChunk.key, MetricChunk.first_line).limit(_READ_BATCH)
        ).all()
        if not rows:
            return
        batch: list[PointTuple] = []
        for key, _, count, data in rows:
            batch.extend(
                (key, line, x, value) for line, x, value in zip(*unpack(count, data), strict=True)
            )
        yield batch
        after = (rows[-1][0], rows[-1][1])


def copy_prefix(session: Session, source_id: int, target_id: int, cut: int) -> None:
    """Copy a run's values on lines `0..cut-1` to another run (a fork's or rewind's prefix)."""
    session.execute(
        insert(MetricChunk).from_select(
            ["run_id", "key", "first_line", "last_line", "min_step", "max_step", "count", "data"],
            select(
                literal(target_id),
                MetricChunk.key,
                MetricChunk.first_line,
                MetricChunk.last_line,
                MetricChunk.min_step,
                MetricChunk.max_step,
                MetricChunk.count,
                MetricChunk.data,
            ).where(MetricChunk.run_id == source_id, MetricChunk.last_line < cut),
        )
    )
    # At most one chunk per metric straddles the cut: keep its values before it.
    straddling = session.execute(
        select(MetricChunk.key, MetricChunk.count, MetricChunk.data).where(
            MetricChunk.run_id == source_id,
            MetricChunk.first_line < cut,
            MetricChunk.last_line >= cut,
        )
    ).all()
    rows: list[ChunkRow] = []
    for key, count, data in straddling:
        lines, xs, values = unpack(count, data)
        kept = bisect_left(lines, cut)
        if kept:
            rows.append(_row(key, lines[:kept], xs[:kept], values[:kept]))
    store_chunks(session, target_id, rows)
