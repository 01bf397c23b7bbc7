"""History lines and the numbers in them, at the database driver's speed.

A post can carry thousands of lines, so the writes here skip SQLAlchemy's per-row parameter
handling: SQLite gets plain statements over tuples, PostgreSQL one INSERT over `unnest` of
arrays. `run_id` is an integer primary key, written into the SQL as a literal. The lines'
numbers go to `metric_chunks` (one row per metric and post) and the rollups.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from runyard.server.db.dialect import pg_array_literal
from runyard.server.db.models import HistoryLine
from runyard.server.tracking.metric_chunks import Column
from runyard.server.tracking.rollup_writes import Ranges
from runyard.server.tracking.rollups import LEVELS, level_width

# (line number, its `_step` or None, the verbatim line): one history line to store.
LineTuple = tuple[int, int | None, str]
# SQLite allows 32,766 parameters a statement: 3 a line, with room to spare.
_SQLITE_LINES_PER_INSERT = 5000


def numeric_items(row: dict[str, Any], prefix: str = "") -> list[tuple[str, float]]:
    """`(dotted key, value)` for each finite number of a row, nested dicts flattened."""
    out: list[tuple[str, float]] = []
    _collect_numbers(row, prefix, out)
    return out


def _collect_numbers(row: dict[str, Any], prefix: str, out: list[tuple[str, float]]) -> None:
    # The hot loop of ingest: exact type checks first (what json.loads gives), isinstance
    # only for the rare subclass; `x - x == 0` is false exactly for inf and nan.
    for key, value in row.items():
        kind = type(value)
        if kind is float:
            if value - value == 0.0:
                out.append((prefix + key, value))
        elif kind is int:
            number = _as_float(value)
            if number is not None:
                out.append((prefix + key, number))
        elif kind is dict:
            if not value.get("_type"):
                _collect_numbers(value, f"{prefix}{key}.", out)
        elif kind is str or kind is bool or value is None or kind is list:
            continue
        elif isinstance(value, int | float) and not isinstance(value, bool):
            number = _as_float(value)
            if number is not None:
                out.append((prefix + key, number))
        elif isinstance(value, dict) and not value.get("_type"):
            _collect_numbers(value, f"{prefix}{key}.", out)


def _as_float(value: float) -> float | None:
    """The value as a finite float, or None (an integer past the float range is not charted)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def columns_and_ranges(
    lines: list[tuple[int, int | None, dict[str, Any]]],
) -> tuple[Mapping[str, Column], Ranges]:
    """Each metric's values on history lines `(line_no, step, row)`, as columns in line order
    (`metric_chunks`), and their finest rollup ranges.

    One pass per value does both (the per-value work is what ingest costs): a line's x is
    its `_step`, or its line number when it has none.
    """
    width = level_width(LEVELS[0])
    columns: dict[str, tuple[list[int], list[int], list[float]]] = {}
    # range index -> key -> [x_min, x_max, count, min, max, last, last_line]; keyed by the
    # range first, as all values of a line share it, so each value costs one dict lookup.
    by_range: dict[int, dict[str, list[Any]]] = {}
    for n, step, row in lines:
        x = n if step is None else step
        index = x // width
        accs = by_range.get(index)
        if accs is None:
            accs = by_range[index] = {}
        for key, value in numeric_items(row):
            column = columns.get(key)
            if column is None:
                column = columns[key] = ([], [], [])
            column[0].append(n)
            column[1].append(x)
            column[2].append(value)
            acc = accs.get(key)
            if acc is None:
                accs[key] = [x, x, 1, value, value, value, n]
                continue
            acc[2] += 1
            if x < acc[0]:
                acc[0] = x
            if value < acc[3]:
                acc[3] = value
            elif value > acc[4]:
                acc[4] = value
            if x > acc[1] or (x == acc[1] and n > acc[6]):
                acc[1], acc[5], acc[6] = x, value, n
    ranges: Ranges = {
        (key, index): acc for index, accs in by_range.items() for key, acc in accs.items()
    }
    return columns, ranges


def insert_history_lines(session: Session, run_id: int, lines: list[LineTuple]) -> set[int]:
    """Store history lines (a repeat of a stored one is ignored); return the new line numbers.

    The answer comes from the INSERT itself (RETURNING), so two concurrent posts of the same
    lines cannot both count them as new.
    """
    if not lines:
        return set()
    connection = session.connection()
    table = HistoryLine.__tablename__
    run = int(run_id)
    if connection.dialect.name == "postgresql":
        result = connection.exec_driver_sql(
            f"INSERT INTO {table} (run_id, line_no, step, data) SELECT {run}, * FROM unnest("
            "%s::integer[], %s::bigint[], %s::text[]) ON CONFLICT DO NOTHING RETURNING line_no",
            tuple(map(pg_array_literal, zip(*lines, strict=True))),
        )
        return set(result.scalars())
    new: set[int] = set()
    for start in range(0, len(lines), _SQLITE_LINES_PER_INSERT):
        chunk = lines[start : start + _SQLITE_LINES_PER_INSERT]
        values = ", ".join([f"({run}, ?, ?, ?)"] * len(chunk))
        result = connection.exec_driver_sql(
            f"INSERT INTO {table} (run_id, line_no, step, data) VALUES {values} "
            "ON CONFLICT DO NOTHING RETURNING line_no",
            tuple(value for line in chunk for value in line),
        )
        new.update(result.scalars())
    return new
