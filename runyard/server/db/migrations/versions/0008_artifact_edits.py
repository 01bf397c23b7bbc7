"""artifacts: tags, TTL and soft deletion of versions; collection description, tags and
default TTL; blob GC candidates

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSONB on PostgreSQL, as models.JSONDoc.
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    # The registry's migration (0010) adds the same collection description and tags columns:
    # whichever runs second leaves them as they are. Blob GC looks keys up with 0009's index.
    columns = _columns("artifact_collections")
    with op.batch_alter_table("artifact_collections") as batch:
        if "description" not in columns:
            batch.add_column(sa.Column("description", sa.Text(), nullable=True))
        if "tags" not in columns:
            batch.add_column(sa.Column("tags", JSON_DOC, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("ttl_duration_seconds", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(sa.Column("tags", JSON_DOC, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("ttl_duration_seconds", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("ttl_is_inherited", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_artifacts_expires_at", ["expires_at"])
    op.create_table(
        "artifact_blob_orphans",
        sa.Column("storage_key", sa.String(600), primary_key=True),
        sa.Column("orphaned_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_artifact_blob_orphans_orphaned_at", "artifact_blob_orphans", ["orphaned_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_artifact_blob_orphans_orphaned_at", table_name="artifact_blob_orphans")
    op.drop_table("artifact_blob_orphans")
    # The collection description and tags stay: the registry's migration adds them too.
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_index("ix_artifacts_expires_at")
        batch.drop_column("deleted_at")
        batch.drop_column("expires_at")
        batch.drop_column("ttl_is_inherited")
        batch.drop_column("ttl_duration_seconds")
        batch.drop_column("tags")
    with op.batch_alter_table("artifact_collections") as batch:
        batch.drop_column("ttl_duration_seconds")
