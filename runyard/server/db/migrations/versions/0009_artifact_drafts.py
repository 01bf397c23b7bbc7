"""artifacts built in parts: incremental/patch manifest parts, distributed drafts; indexes
of artifact files by storage key and MD5

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_artifact_files_storage_key", "artifact_files", ["storage_key"])
    op.create_index("ix_artifact_files_md5", "artifact_files", ["md5_b64"])
    op.create_table(
        "artifact_manifest_parts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "artifact_id",
            sa.Integer(),
            sa.ForeignKey("artifacts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column(
            "base_artifact_id",
            sa.Integer(),
            sa.ForeignKey("artifacts.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("storage_key", sa.String(600), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_artifact_manifest_parts_artifact_id", "artifact_manifest_parts", ["artifact_id"]
    )
    op.create_table(
        "artifact_distributed_drafts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "collection_id",
            sa.Integer(),
            sa.ForeignKey("artifact_collections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("distributed_id", sa.String(256), nullable=False),
        sa.Column(
            "artifact_id",
            sa.Integer(),
            sa.ForeignKey("artifacts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.UniqueConstraint("collection_id", "distributed_id"),
    )


def downgrade() -> None:
    op.drop_table("artifact_distributed_drafts")
    op.drop_index("ix_artifact_manifest_parts_artifact_id", table_name="artifact_manifest_parts")
    op.drop_table("artifact_manifest_parts")
    op.drop_index("ix_artifact_files_md5", table_name="artifact_files")
    op.drop_index("ix_artifact_files_storage_key", table_name="artifact_files")
