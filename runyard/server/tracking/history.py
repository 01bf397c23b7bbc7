"""Reading a run's history: verbatim lines, paged or evenly sampled (charts: rollups.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from runyard.server.db.models import EventLine, HistoryLine, Run
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.input_limits import (
    INT32_MAX,
    INT64_MAX,
    INT64_MIN,
    check_int_range,
    loads_limited,
)

MAX_PAGE = 10_000
MAX_BUCKETS = 10_000


class SampleSpec(BaseModel):
    """One `sampledHistory` spec: the keys rows must hold, how many rows, a step range."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    keys: list[str] = Field(default_factory=list)
    samples: int = 500
    # Both inclusive (the client sends maxStep - 1 for an exclusive page end).
    min_step: int | None = Field(None, alias="minStep")
    max_step: int | None = Field(None, alias="maxStep")


def parse_sample_spec(text: str) -> SampleSpec:
    """A `sampledHistory` spec from its JSON text; a malformed one is refused by field."""
    try:
        spec = SampleSpec.model_validate_json(text)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "spec"
        raise ServiceError(
            ErrorCode.INVALID,
            f"sampledHistory specs: {where}: {error['msg']} (a spec is "
            '{"keys": [...], "samples": n, "minStep": a, "maxStep": b})',
        ) from exc
    # Out of range: the same 422 naming the range as every other integer input.
    check_int_range(spec.samples, "samples", 1, INT32_MAX)
    for name, step in (("minStep", spec.min_step), ("maxStep", spec.max_step)):
        if step is not None:
            check_int_range(step, name, INT64_MIN, INT64_MAX)
    return spec


def lines_in_steps(
    session: Session, run_id: int, min_step: int | None, max_step: int | None, limit: int
) -> list[str]:
    """Up to `limit` verbatim history lines with `min_step <= step < max_step`, in line order.

    HistoryPage, the paged `scan_history` of older clients, asks for a million-row run a
    thousand rows at a time, so the read skips the ORM's per-row handling (1.2 ms a page
    against 0.55 ms on SQLite). The plan searches the `(run_id, step)` index and sorts the
    page's rows by line number; a line without `_step` is in no step range.
    """
    connection = session.connection()
    mark = "%s" if connection.dialect.name == "postgresql" else "?"
    where = [f"run_id = {int(run_id)}"]
    params: list[int] = []
    if min_step is not None:
        where.append(f"step >= {mark}")
        params.append(min_step)
    if max_step is not None:
        where.append(f"step < {mark}")
        params.append(max_step)
    sql = (
        f"SELECT data FROM {HistoryLine.__tablename__} WHERE {' AND '.join(where)} "
        f"ORDER BY line_no LIMIT {int(limit)}"
    )
    # The DB-API cursor of the session's connection (its transaction begun above): rows come
    # as the driver's tuples, without a Row object each.
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, tuple(params))
        return [data for (data,) in cursor.fetchall()]
    finally:
        cursor.close()


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


def sampled_rows(
    session: Session,
    run: Run,
    keys: list[str],
    samples: int,
    min_step: int | None = None,
    max_step: int | None = None,
) -> list[dict[str, Any]]:
    """Return up to `samples` rows holding `keys`, evenly spread (W&B's `sampledHistory`).

    `min_step`/`max_step` bound the rows' steps, both inclusive as in W&B's spec; a range
    holding no more lines than `samples` comes back whole, so paging over step ranges
    (the client's `scan_history` with keys) reads every row in order.
    """
    check_int_range(samples, "samples", 1, INT32_MAX)
    in_range = [HistoryLine.run_id == run.id]
    if min_step is not None:
        in_range.append(HistoryLine.step >= min_step)
    if max_step is not None:
        in_range.append(HistoryLine.step <= max_step)
    if min_step is None and max_step is None:
        total = run.history_line_count
    else:
        total = session.scalar(select(func.count()).select_from(HistoryLine).where(*in_range)) or 0
    wanted = min(samples, MAX_PAGE)
    if wanted < total <= 2 * wanted:
        # A page one line too many (0.22's keyed scan asks for inclusive page ends, every
        # page): reading the range and picking in Python costs a third of the window query.
        texts = list(
            session.scalars(
                select(HistoryLine.data)
                .where(*in_range)
                .order_by(HistoryLine.line_no)
                .limit(2 * wanted)
            )
        )
        rows: Iterable[str] = _evenly_picked(texts, total, wanted)
    else:
        rows = session.scalars(_evenly(HistoryLine, in_range, total, wanted))
    return _with_keys(rows, keys)


def _evenly_picked(texts: list[str], total: int, wanted: int) -> list[str]:
    """The lines `_evenly` selects, picked from the first lines of the range in line order
    (the first 2 * wanted lines hold `wanted` picks whenever total <= 2 * wanted)."""
    picked = []
    for k, text in enumerate(texts):
        i = (k * wanted + total - 1) // total
        if i * total < (k + 1) * wanted:
            picked.append(text)
            if len(picked) == wanted:
                break
    return picked


def _evenly(
    model: type[HistoryLine] | type[EventLine], where: list[Any], total: int, wanted: int
) -> Select[Any]:
    """The `data` of `wanted` of the `total` lines matching `where`, evenly spread.

    Line k (0-based, in line order) is taken when k = floor(i * total / wanted) for some i:
    the first line always, and when one line too many matches (a client sending an
    inclusive page end, as 0.22's sampledHistory scan does) the last one is the one left
    out, so consecutive pages join without a gap or a repeat.
    """
    if total <= wanted:
        return select(model.data).where(*where).order_by(model.line_no).limit(wanted)
    k = (func.row_number().over(order_by=model.line_no) - 1).label("k")
    numbered = select(model.data, model.line_no, k).where(*where).subquery()
    # i = ceil(k * wanted / total); line k is taken iff i * total < (k + 1) * wanted.
    i = (numbered.c.k * wanted + total - 1) // total
    return (
        select(numbered.c.data)
        .where(i * total < (numbered.c.k + 1) * wanted)
        .order_by(numbered.c.line_no)
        .limit(wanted)
    )


def stored_row(text: str) -> Any:
    """The value of a stored history line, parsed as ingest parsed it (`loads_limited`:
    pydantic-core's parser, about 4x the json module; a keyed scan parses every line)."""
    return loads_limited(text, "stored history line")


def spelled_numbers(value: Any) -> Any:
    """`value` with each NaN or infinite float spelled as W&B's answers spell it: the strings
    "NaN", "Infinity" and "-Infinity" (a JSON answer cannot hold them as numbers)."""
    kind = type(value)
    if kind is float:
        if value - value == 0.0:  # finite
            return value
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if kind is dict:
        return {key: spelled_numbers(item) for key, item in value.items()}
    if kind is list:
        return [spelled_numbers(item) for item in value]
    return value


def _with_keys(texts: Iterable[str], keys: list[str]) -> list[dict[str, Any]]:
    """Each line's row cut to `_step` and `keys`, those lacking a key left out (no keys:
    whole rows)."""
    if not keys:
        return [stored_row(text) for text in texts]
    out = []
    for text in texts:
        row = stored_row(text)
        picked = {"_step": row.get("_step")}
        for key in keys:
            if key not in row:
                break
            picked[key] = row[key]
        else:
            out.append(picked)
    return out


def sampled_events(session: Session, run: Run, samples: int) -> list[str]:
    """Up to `samples` verbatim system-metrics lines, evenly spread (W&B's `Run.events`)."""
    check_int_range(samples, "samples", 1, INT32_MAX)
    wanted = min(samples, MAX_PAGE)
    where = [EventLine.run_id == run.id]
    return list(session.scalars(_evenly(EventLine, where, run.events_line_count, wanted)))
