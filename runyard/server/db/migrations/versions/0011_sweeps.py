"""sweeps: sweeps, their agents and trials

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("config_yaml", sa.Text(), nullable=False),
        sa.Column("config", JSONDoc, nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("run_cap", sa.Integer(), nullable=True),
        sa.Column("launch", JSONDoc, nullable=True),
        sa.Column("controller", JSONDoc, nullable=True),
        sa.Column("scheduler", JSONDoc, nullable=True),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name"),
    )
    op.create_table(
        "sweep_agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "sweep_id", sa.Integer(), sa.ForeignKey("sweeps.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("host", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sweep_agents_sweep_id", "sweep_agents", ["sweep_id"])
    op.create_table(
        "sweep_trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "sweep_id", sa.Integer(), sa.ForeignKey("sweeps.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("run_name", sa.String(length=128), nullable=False),
        sa.Column("params", JSONDoc, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "agent_id",
            sa.Integer(),
            sa.ForeignKey("sweep_agents.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("queue_item_id", sa.String(length=64), nullable=True),
        sa.Column(
            "retry_of_id",
            sa.Integer(),
            sa.ForeignKey("sweep_trials.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("stop_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sweep_id", "run_name"),
    )
    op.create_index("ix_sweep_trials_sweep_state", "sweep_trials", ["sweep_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_sweep_trials_sweep_state", table_name="sweep_trials")
    op.drop_table("sweep_trials")
    op.drop_index("ix_sweep_agents_sweep_id", table_name="sweep_agents")
    op.drop_table("sweep_agents")
    op.drop_table("sweeps")
