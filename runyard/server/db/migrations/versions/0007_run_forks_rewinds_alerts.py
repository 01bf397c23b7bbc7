"""runs: fork parent and step, history offset base, rewind archives; run alerts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("forked_from_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("fork_step", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("history_base", sa.Integer(), nullable=True, server_default="0"))
        batch.add_column(sa.Column("archived_of_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            "fk_runs_forked_from_id", "runs", ["forked_from_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_foreign_key(
            "fk_runs_archived_of_id", "runs", ["archived_of_id"], ["id"], ondelete="SET NULL"
        )
    op.create_table(
        "run_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("title", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("wait_duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_run_alerts_run_title", "run_alerts", ["run_id", "title", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_run_alerts_run_title", table_name="run_alerts")
    op.drop_table("run_alerts")
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint("fk_runs_archived_of_id", type_="foreignkey")
        batch.drop_constraint("fk_runs_forked_from_id", type_="foreignkey")
        batch.drop_column("archived_at")
        batch.drop_column("archived_of_id")
        batch.drop_column("history_base")
        batch.drop_column("fork_step")
        batch.drop_column("forked_from_id")
