"""The media index: which history lines hold media (images, histograms, tables...) per key.

Media panels show each key's values over steps. Finding them by scanning a run's whole
history (every line, JSON-parsed) costs as much as the history is long, so ingest records
`(run, key, line, step)` for each media value it stores, and a read picks an evenly thinned
set of lines per key from this index before it reads and parses only those lines.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

from sqlalchemy import and_, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from runyard.server.db.dialect import insert_for
from runyard.server.db.models import HistoryLine, MediaLine

# `_type` of a logged value -> the panel kind that draws it.
MEDIA_KINDS = {
    "image-file": "image",
    "images/separated": "image",
    "histogram": "histogram",
    "table-file": "table",
    "html-file": "html",
    "audio-file": "audio",
    "audio": "audio",
    "video-file": "video",
}
# What every media value's JSON text holds; a line without it has no media (fast pre-check).
_TYPE_MARK = '"_type"'


def media_keys(row: dict[str, Any], text: str) -> list[str]:
    """The top-level keys of one history row whose values are media the panels draw."""
    if _TYPE_MARK not in text:
        return []
    return [
        key
        for key, value in row.items()
        if isinstance(value, dict) and MEDIA_KINDS.get(str(value.get("_type"))) is not None
    ]


def index_rows(
    run_id: int, history: Iterable[tuple[int, dict[str, Any], str]], new_lines: Container[int]
) -> list[dict[str, Any]]:
    """Index rows for the `(line number, row, text)` history lines in `new_lines`."""
    rows = []
    for n, row, text in history:
        if n not in new_lines:
            continue
        for key in media_keys(row, text):
            step = row.get("_step")
            x = step if isinstance(step, int) and not isinstance(step, bool) else n
            rows.append({"run_id": run_id, "key": key, "line_no": n, "step": x})
    return rows


def index_media(
    session: Session,
    run_id: int,
    history: Iterable[tuple[int, dict[str, Any], str]],
    new_lines: set[int],
) -> None:
    """Record the media values of the newly stored lines of a post (retries add nothing)."""
    rows = index_rows(run_id, history, new_lines)
    if rows:
        session.execute(insert_for(session, MediaLine).on_conflict_do_nothing(), rows)


def copy_media_prefix(session: Session, source_id: int, target_id: int, cut: int) -> None:
    """Copy the index entries of history lines `0..cut-1` of one run to another (forks)."""
    session.execute(
        insert(MediaLine).from_select(
            ["run_id", "key", "line_no", "step"],
            select(literal(target_id), MediaLine.key, MediaLine.line_no, MediaLine.step).where(
                MediaLine.run_id == source_id, MediaLine.line_no < cut
            ),
        )
    )


def thinned_media_lines(
    session: Session, run_ids: list[int], limit: int
) -> list[tuple[int, str, int, str]]:
    """`(run, key, x, line text)` of each run's media lines, at most `limit` per run and key.

    A key with more lines keeps lines k = floor(i * n / limit) for i < limit - 1, and always
    its last line (the newest value), so the steps stay evenly spread over the whole run.
    Ordered by run, line and key.
    """
    if not run_ids:
        return []
    part = (MediaLine.run_id, MediaLine.key)
    numbered = (
        select(
            MediaLine.run_id,
            MediaLine.key,
            MediaLine.line_no,
            MediaLine.step,
            (func.row_number().over(partition_by=part, order_by=MediaLine.line_no) - 1).label("k"),
            func.count().over(partition_by=part).label("n"),
        )
        .where(MediaLine.run_id.in_(run_ids))
        .subquery()
    )
    k, n = numbered.c.k, numbered.c.n
    # The smallest i with floor(i * n / limit) >= k; line k is picked iff that i hits it.
    i = (k * limit + n - 1) // n
    picked = or_(n <= limit, k == n - 1, and_(i <= limit - 2, i * n < (k + 1) * limit))
    stmt = (
        select(numbered.c.run_id, numbered.c.key, numbered.c.step, HistoryLine.data)
        .join(
            HistoryLine,
            and_(
                HistoryLine.run_id == numbered.c.run_id, HistoryLine.line_no == numbered.c.line_no
            ),
        )
        .where(picked)
        # Line before key: a line holding several media keys comes out in one stretch.
        .order_by(numbered.c.run_id, numbered.c.line_no, numbered.c.key)
    )
    return [(r, key, x, data) for r, key, x, data in session.execute(stmt)]
