"""media_lines: an index of the history lines that hold media, per run and key; backfilled

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-05 22:10:00
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The media `_type`s as of this migration (kept here: a migration must not change meaning
# when the application's list grows later; ingest indexes newer types from then on).
MEDIA_TYPES = frozenset(
    {
        "image-file",
        "images/separated",
        "histogram",
        "table-file",
        "html-file",
        "audio-file",
        "audio",
        "video-file",
    }
)
# History lines read per backfill batch: bounded memory on runs of any length.
BATCH = 5000


def upgrade() -> None:
    media_lines = op.create_table(
        "media_lines",
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("line_no", sa.Integer(), primary_key=True),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sqlite_with_rowid=False,
    )
    assert media_lines is not None
    _backfill(op.get_bind(), media_lines)


def _media_rows(run_id: int, line_no: int, step: int | None, text: str) -> list[dict[str, Any]]:
    try:
        row = json.loads(text)
    except ValueError:
        return []
    if not isinstance(row, dict):
        return []
    x = line_no if step is None else step
    return [
        {"run_id": run_id, "key": key, "line_no": line_no, "step": x}
        for key, value in row.items()
        if isinstance(value, dict) and str(value.get("_type")) in MEDIA_TYPES
    ]


def _backfill(bind: sa.Connection, media_lines: sa.Table) -> None:
    """Index the media of the history already stored, a keyset-paged batch at a time."""
    history = sa.table(
        "history_lines",
        sa.column("run_id", sa.Integer()),
        sa.column("line_no", sa.Integer()),
        sa.column("step", sa.BigInteger()),
        sa.column("data", sa.Text()),
    )
    after = (-1, -1)
    while True:
        batch = bind.execute(
            sa.select(history.c.run_id, history.c.line_no, history.c.step, history.c.data)
            .where(
                sa.tuple_(history.c.run_id, history.c.line_no) > sa.tuple_(*after),
                history.c.data.like('%"_type"%'),
            )
            .order_by(history.c.run_id, history.c.line_no)
            .limit(BATCH)
        ).all()
        if not batch:
            return
        rows = [r for line in batch for r in _media_rows(*line)]
        if rows:
            bind.execute(sa.insert(media_lines), rows)
        after = (batch[-1].run_id, batch[-1].line_no)


def downgrade() -> None:
    op.drop_table("media_lines")
