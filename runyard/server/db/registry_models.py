"""SQLAlchemy models of the Registry: registries, their members and links.

A registry is a project named `wandb-registry-<name>` in the organization's entity; its
collections are PORTFOLIO collections that link to versions logged elsewhere (as on W&B).
Every change here needs an Alembic migration in ``runyard/server/db/migrations/versions``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from runyard.server.clock import utcnow
from runyard.server.db.models import (
    Artifact,
    ArtifactCollection,
    Base,
    Entity,
    JSONDoc,
    Project,
    User,
)


class Registry(Base):
    """The registry settings of a `wandb-registry-<name>` project of the org entity."""

    __tablename__ = "registries"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # organization: every user of the server may use it; restricted: only its members.
    visibility: Mapped[str] = mapped_column(String(16), default="organization")
    allow_all_types: Mapped[bool] = mapped_column(Boolean, default=True)
    # The accepted artifact types when `allow_all_types` is false (types are never removed).
    artifact_types: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    project: Mapped[Project] = relationship(lazy="joined")


class RegistryMember(Base):
    """A user's or a team's role in a registry: admin, member or viewer."""

    __tablename__ = "registry_members"
    __table_args__ = (
        UniqueConstraint("project_id", "user_id"),
        UniqueConstraint("project_id", "team_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("entities.id", ondelete="CASCADE"), nullable=True
    )
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User | None] = relationship()
    team: Mapped[Entity | None] = relationship()


class ArtifactLink(Base):
    """A version linked into a PORTFOLIO collection, with its own v<N> there.

    The version stays where it was logged; its aliases in the portfolio are ArtifactAlias
    rows of the portfolio, so `latest` and other aliases are per collection.
    """

    __tablename__ = "artifact_links"
    __table_args__ = (
        UniqueConstraint("collection_id", "artifact_id"),
        UniqueConstraint("collection_id", "version_index"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("artifact_collections.id", ondelete="CASCADE"), index=True
    )
    artifact_id: Mapped[int] = mapped_column(
        ForeignKey("artifacts.id", ondelete="CASCADE"), index=True
    )
    version_index: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    collection: Mapped[ArtifactCollection] = relationship(lazy="joined")
    artifact: Mapped[Artifact] = relationship(lazy="joined")
