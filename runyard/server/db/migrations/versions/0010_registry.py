"""registry: portfolio collections, links, registries, registry members; collection
description and tags

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONDoc = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # The artifact edits of the same release add the same description and tags columns:
    # whichever migration runs second leaves them as they are.
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("artifact_collections")}
    with op.batch_alter_table("artifact_collections") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="SEQUENCE")
        )
        if "description" not in columns:
            batch.add_column(sa.Column("description", sa.Text(), nullable=True))
        if "tags" not in columns:
            batch.add_column(sa.Column("tags", JSONDoc, nullable=False, server_default="[]"))
    op.create_table(
        "registries",
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("allow_all_types", sa.Boolean(), nullable=False),
        sa.Column("artifact_types", JSONDoc, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "registry_members",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column(
            "team_id",
            sa.Integer(),
            sa.ForeignKey("entities.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("project_id", "user_id"),
        sa.UniqueConstraint("project_id", "team_id"),
    )
    op.create_index("ix_registry_members_project_id", "registry_members", ["project_id"])
    op.create_table(
        "artifact_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "collection_id",
            sa.Integer(),
            sa.ForeignKey("artifact_collections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "artifact_id",
            sa.Integer(),
            sa.ForeignKey("artifacts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("version_index", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("collection_id", "artifact_id"),
        sa.UniqueConstraint("collection_id", "version_index"),
    )
    op.create_index("ix_artifact_links_collection_id", "artifact_links", ["collection_id"])
    op.create_index("ix_artifact_links_artifact_id", "artifact_links", ["artifact_id"])


def downgrade() -> None:
    op.drop_index("ix_artifact_links_artifact_id", table_name="artifact_links")
    op.drop_index("ix_artifact_links_collection_id", table_name="artifact_links")
    op.drop_table("artifact_links")
    op.drop_index("ix_registry_members_project_id", table_name="registry_members")
    op.drop_table("registry_members")
    op.drop_table("registries")
    # description and tags stay: the artifact edits' migration owns them too.
    with op.batch_alter_table("artifact_collections") as batch:
        batch.drop_column("kind")
