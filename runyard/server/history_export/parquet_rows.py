"""Pure: turn verbatim history lines into one Parquet file the official client can scan.

The client (wandb-core's Parquet reader) reads a file front to back, keeps rows whose
`_step` lies in the page asked for and stops at the first row past it, and it turns every
column of a row into a key, a null into `None`. So a file must be sorted by `_step`, and
only history that reads back exactly as the live rows do is exported: every row holding
the same keys (a missing key would come back as `None`), each key's values of one type
(ints and floats together become floats, which compare equal; objects, e.g. media, with
the same keys each time). Lists, NaN and infinities, and keys that come and go stay live
(served by HistoryPage): slower, the same data.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

STEP = "_step"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Rows per row group: the reader decodes one group at a time, a page asks for ~1,000 rows.
ROW_GROUP_ROWS = 65_536
# Values (rows x keys) one export may hold: the file is built in memory before it is stored.
MAX_VALUES = 20_000_000


@dataclass(frozen=True)
class Exported:
    """A built Parquet file and what it covers."""

    data: bytes
    rows: int
    first_line: int
    last_line: int
    min_step: int
    max_step: int


class NotExportable(Exception):
    """The lines would not read back from Parquet exactly as they read live (says why)."""


# A value's shape: a scalar kind, or a dict's shapes by key (media, nested metrics).
Shape = str | dict[str, "Shape"]


def _shape(value: Any) -> Shape:
    """The shape of a JSON value, or raise for one Parquet can't carry faithfully."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise NotExportable("an integer outside int64")
        return "int"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotExportable("a NaN or infinite value")
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, dict) and value:
        return {key: _shape(item) for key, item in value.items()}
    raise NotExportable("a list or an empty object")


def _merge(known: Shape, new: Shape, key: str) -> Shape:
    """One shape for two values of a key; ints and floats become floats, null fits all."""
    if known == new:
        return known
    if known == "null":
        return new
    if new == "null":
        return known
    if isinstance(known, dict) and isinstance(new, dict):
        if known.keys() != new.keys():
            raise NotExportable(f"key {key!r} holds objects with other keys")
        return {k: _merge(known[k], new[k], f"{key}.{k}") for k in known}
    if isinstance(known, str) and isinstance(new, str) and {known, new} == {"int", "float"}:
        return "float"
    raise NotExportable(f"key {key!r} holds values of different types")


_SCALARS = {
    "null": pa.null(),
    "bool": pa.bool_(),
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
}


def _arrow_type(shape: Shape) -> pa.DataType:
    """The Arrow type of a merged shape."""
    if isinstance(shape, dict):
        return pa.struct([(key, _arrow_type(item)) for key, item in shape.items()])
    return _SCALARS[shape]


@dataclass
class _Survey:
    """What a first pass over the lines found: the columns' shapes and the ranges."""

    shapes: dict[str, Shape]
    rows: int
    first_line: int
    last_line: int
    min_step: int
    max_step: int


def _survey(lines: Iterable[tuple[int, str]]) -> _Survey:
    """Check every line and merge each key's shape (raises NotExportable saying why)."""
    shapes: dict[str, Shape] = {}
    keys: frozenset[str] | None = None
    first_line = last_line = -1
    first_step: int | None = None
    last_step: int | None = None
    rows = 0
    for line_no, text in lines:
        row = json.loads(text)
        if not isinstance(row, dict):
            raise NotExportable(f"line {line_no} is not a JSON object")
        step = row.get(STEP)
        if isinstance(step, bool) or not isinstance(step, int):
            raise NotExportable(f"line {line_no} has no integer _step")
        if last_step is not None and step <= last_step:
            raise NotExportable(f"line {line_no} does not step forward")
        if keys is None:
            keys, first_line, first_step = frozenset(row), line_no, step
        elif len(row) != len(keys) or not keys.issuperset(row):
            raise NotExportable(f"line {line_no} holds other keys than line {first_line}")
        for key, value in row.items():
            shape = _shape(value)
            known = shapes.get(key)
            shapes[key] = shape if known is None else _merge(known, shape, key)
        last_step, last_line = step, line_no
        rows += 1
        if rows * len(keys) > MAX_VALUES:
            raise NotExportable(f"more than {MAX_VALUES:,} values for one file")
    if first_step is None or last_step is None:
        raise NotExportable("no lines")
    return _Survey(shapes, rows, first_line, last_line, first_step, last_step)


def build_parquet(read: Callable[[], Iterable[tuple[int, str]]]) -> Exported:
    """One Parquet file of `(line number, verbatim JSON line)` pairs, in line order.

    `read` yields the lines afresh on each call: a first pass checks them and settles each
    column's type (an int column may turn float on its last line), the second writes them
    a row group at a time, so memory holds one group, not the run. Raises NotExportable
    when the lines would not read back as they read live (see the module docstring).
    """
    survey = _survey(read())
    # `_step` first: the reader looks it up by name, but it reads best as the leading column.
    names = [STEP, *(key for key in survey.shapes if key != STEP)]
    schema = pa.schema([(name, _arrow_type(survey.shapes[name])) for name in names])
    sink = io.BytesIO()
    written = 0
    with pq.ParquetWriter(sink, schema, compression="snappy") as writer:
        columns: dict[str, list[Any]] = {name: [] for name in names}

        def flush() -> None:
            arrays = [pa.array(columns[n], type=schema.field(n).type) for n in names]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            for values in columns.values():
                values.clear()

        for line_no, text in read():
            if line_no > survey.last_line:
                break
            row = json.loads(text)
            for name in names:
                columns[name].append(row[name])
            written += 1
            if len(columns[STEP]) == ROW_GROUP_ROWS:
                flush()
        if columns[STEP]:
            flush()
    if written != survey.rows:
        raise NotExportable("the lines changed between the two passes")
    return Exported(
        data=sink.getvalue(),
        rows=survey.rows,
        first_line=survey.first_line,
        last_line=survey.last_line,
        min_step=survey.min_step,
        max_step=survey.max_step,
    )
