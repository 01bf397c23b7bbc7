"""launch agents: the heartbeat interval each agent promises

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("launch_agents") as batch:
        batch.add_column(sa.Column("heartbeat_interval_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("launch_agents") as batch:
        batch.drop_column("heartbeat_interval_s")
