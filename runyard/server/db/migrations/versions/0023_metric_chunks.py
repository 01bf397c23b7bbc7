"""metric_chunks: a metric's values packed per post instead of one metric_points row per value

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 01:20:00
"""

import sys
from array import array
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Points per converted chunk, and rows read per batch: bounded memory on runs of any length.
CHUNK = 1000
BATCH = 20_000
# The layout of `data` as of this migration (tracking/metric_chunks.py): `count` int32 line
# numbers, int64 x values, float64 values, little-endian. Kept here: a migration must not
# change meaning when the application's code changes later.
_BIG_ENDIAN = sys.byteorder == "big"


def _packed(kind: str, items: Sequence[Any]) -> bytes:
    packed = array(kind, items)
    if _BIG_ENDIAN:
        packed.byteswap()
    return packed.tobytes()


def _unpacked(kind: str, data: bytes) -> "array[Any]":
    out = array(kind)
    out.frombytes(data)
    if _BIG_ENDIAN:
        out.byteswap()
    return out


def upgrade() -> None:
    chunks = op.create_table(
        "metric_chunks",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("first_line", sa.Integer(), nullable=False),
        sa.Column("last_line", sa.Integer(), nullable=False),
        sa.Column("min_step", sa.BigInteger(), nullable=False),
        sa.Column("max_step", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "key", "first_line"),
    )
    op.create_index(
        "ix_metric_chunks_steps", "metric_chunks", ["run_id", "key", "min_step", "max_step"]
    )
    bind = op.get_bind()
    points = sa.table(
        "metric_points",
        sa.column("run_id"),
        sa.column("key"),
        sa.column("line_no"),
        sa.column("step"),
        sa.column("value"),
    )
    batch: list[dict[str, Any]] = []
    for run_id, key, part in _point_chunks(bind, points):
        lines, xs, values = (list(column) for column in zip(*part, strict=True))
        batch.append(
            {
                "run_id": run_id,
                "key": key,
                "first_line": lines[0],
                "last_line": lines[-1],
                "min_step": min(xs),
                "max_step": max(xs),
                "count": len(part),
                "data": _packed("i", lines) + _packed("q", xs) + _packed("d", values),
            }
        )
        if len(batch) >= BATCH // CHUNK:
            bind.execute(sa.insert(chunks), batch)
            batch = []
    if batch:
        bind.execute(sa.insert(chunks), batch)
    op.drop_table("metric_points")


def _point_chunks(
    bind: sa.Connection, points: Any
) -> Iterator[tuple[int, str, list[tuple[int, int, float]]]]:
    """Consecutive slices of at most CHUNK points `(line_no, step, value)` of each run's
    metric, in line order: their line ranges never overlap, as ingest's chunks."""
    after: tuple[int, str, int] = (-1, "", -1)
    current: tuple[int, str, list[tuple[int, int, float]]] | None = None
    while True:
        rows = bind.execute(
            sa.select(
                points.c.run_id, points.c.key, points.c.line_no, points.c.step, points.c.value
            )
            .where(sa.tuple_(points.c.run_id, points.c.key, points.c.line_no) > after)
            .order_by(points.c.run_id, points.c.key, points.c.line_no)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        for run_id, key, line, step, value in rows:
            if current is None or current[:2] != (run_id, key) or len(current[2]) >= CHUNK:
                if current is not None:
                    yield current
                current = (run_id, key, [])
            current[2].append((line, step, value))
        after = (rows[-1][0], rows[-1][1], rows[-1][2])
    if current is not None:
        yield current


def downgrade() -> None:
    points = op.create_table(
        "metric_points",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "key", "line_no"),
        sqlite_with_rowid=False,
    )
    bind = op.get_bind()
    chunks = sa.table(
        "metric_chunks",
        sa.column("run_id"),
        sa.column("key"),
        sa.column("first_line"),
        sa.column("count"),
        sa.column("data"),
    )
    after: tuple[int, str, int] = (-1, "", -1)
    while True:
        rows = bind.execute(
            sa.select(
                chunks.c.run_id, chunks.c.key, chunks.c.first_line, chunks.c["count"], chunks.c.data
            )
            .where(sa.tuple_(chunks.c.run_id, chunks.c.key, chunks.c.first_line) > after)
            .order_by(chunks.c.run_id, chunks.c.key, chunks.c.first_line)
            .limit(BATCH // CHUNK)
        ).all()
        if not rows:
            break
        batch = []
        for run_id, key, _, count, data in rows:
            lines = _unpacked("i", data[: count * 4])
            xs = _unpacked("q", data[count * 4 : count * 12])
            values = _unpacked("d", data[count * 12 :])
            batch += [
                {"run_id": run_id, "key": key, "line_no": n, "step": x, "value": v}
                for n, x, v in zip(lines, xs, values, strict=True)
            ]
        bind.execute(sa.insert(points), batch)
        after = (rows[-1][0], rows[-1][1], rows[-1][2])
    op.drop_index("ix_metric_chunks_steps", table_name="metric_chunks")
    op.drop_table("metric_chunks")
