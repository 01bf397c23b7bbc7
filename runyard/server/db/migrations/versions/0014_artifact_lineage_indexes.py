"""artifacts: indexes for lineage reads (a run's outputs, a version's users)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 23:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # `Run.outputArtifacts` and `Artifact.createdBy` look versions up by the run that made them;
    # `Artifact.usedBy` looks uses up by version (the primary key leads with the run).
    op.create_index("ix_artifacts_created_by_run", "artifacts", ["created_by_run_id", "id"])
    op.create_index("ix_artifact_uses_artifact", "artifact_uses", ["artifact_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_artifact_uses_artifact", table_name="artifact_uses")
    op.drop_index("ix_artifacts_created_by_run", table_name="artifacts")
