"""teams and roles: team members, disabled users, service accounts, run and agent owners

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 20:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "team_members",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "team_id", sa.Integer(), sa.ForeignKey("entities.id", ondelete="CASCADE"), index=True
        ),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
        ),
        sa.Column("role", sa.String(16), nullable=False, server_default="member"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("team_id", "user_id"),
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("is_service_account", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column(
                "user_id",
                sa.Integer(),
                sa.ForeignKey("users.id", name="fk_runs_user_id", ondelete="SET NULL"),
                nullable=True,
            )
        )
    with op.batch_alter_table("launch_agents") as batch:
        batch.add_column(
            sa.Column(
                "user_id",
                sa.Integer(),
                sa.ForeignKey("users.id", name="fk_launch_agents_user_id", ondelete="SET NULL"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("launch_agents") as batch:
        batch.drop_column("user_id")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("user_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("is_service_account")
        batch.drop_column("disabled_at")
    op.drop_table("team_members")
