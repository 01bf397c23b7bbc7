"""Raw metric points: one row per logged value, written at the database driver's speed."""

from __future__ import annotations

from sqlalchemy.orm import Session

from runyard.server.db.models import MetricPoint
from runyard.server.tracking.rollups import PointTuple


def insert_points(session: Session, run_id: int, points: list[PointTuple]) -> None:
    """Store new metric points (a repeat of a stored one is ignored), at driver speed.

    One value logged is one row, so this skips SQLAlchemy's per-row parameter handling:
    SQLite gets a plain executemany of tuples, PostgreSQL one INSERT over `unnest` of four
    arrays. `run_id` is an integer primary key, written into the SQL as a literal.
    """
    if not points:
        return
    connection = session.connection()
    table = MetricPoint.__tablename__
    columns = '(run_id, "key", line_no, step, value)'
    run = int(run_id)
    if connection.dialect.name == "postgresql":
        keys, lines, steps, values = zip(*points, strict=True)
        connection.exec_driver_sql(
            f"INSERT INTO {table} {columns} SELECT {run}, * FROM unnest("
            "%s::varchar[], %s::integer[], %s::bigint[], %s::double precision[]) "
            "ON CONFLICT DO NOTHING",
            (list(keys), list(lines), list(steps), list(values)),
        )
    else:
        connection.exec_driver_sql(
            f"INSERT INTO {table} {columns} VALUES ({run}, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            points,
        )
