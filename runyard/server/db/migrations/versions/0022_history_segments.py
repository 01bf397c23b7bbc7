"""history_segments: a run's closed history exported to Parquet objects; history step index

Revision ID: 0022
Revises: 0017
Create Date: 2026-12-05 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "history_segments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("first_line", sa.Integer(), nullable=False),
        sa.Column("last_line", sa.Integer(), nullable=False),
        sa.Column("min_step", sa.BigInteger(), nullable=False),
        sa.Column("max_step", sa.BigInteger(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("object_key", sa.String(512), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("refusal", sa.String(256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("run_id", "first_line"),
    )
    # Signed downloads look an export's size up by its key.
    op.create_index("ix_history_segments_object_key", "history_segments", ["object_key"])
    # HistoryPage (`step >= a AND step < b`) read every earlier line of the run without it.
    op.create_index("ix_history_lines_run_step", "history_lines", ["run_id", "step"])


def downgrade() -> None:
    op.drop_index("ix_history_lines_run_step", table_name="history_lines")
    op.drop_index("ix_history_segments_object_key", table_name="history_segments")
    op.drop_table("history_segments")
