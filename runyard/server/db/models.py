"""SQLAlchemy models: the tracking server's tables.

Every change here needs an Alembic migration in ``runyard/server/db/migrations/versions``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from runyard.server.clock import utcnow

# JSONB on PostgreSQL gives indexable, comparable documents; SQLite stores JSON text.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Declarative base for all Runyard tables."""


class Entity(Base):
    """A namespace for projects: a user's personal entity or a team."""

    __tablename__ = "entities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    is_team: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(Base):
    """A person (or service account) that owns API keys."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    email: Mapped[str] = mapped_column(String(256), default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    default_entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # A disabled user's keys stop working at once; the user and its runs are kept.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # A team's service account: its home entity is the team, it has no personal entity.
    is_service_account: Mapped[bool] = mapped_column(Boolean, default=False)

    default_entity: Mapped[Entity] = relationship(lazy="joined")


class TeamMember(Base):
    """A user's role in a team entity: admin, member or viewer."""

    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    team: Mapped[Entity] = relationship(lazy="joined")
    user: Mapped[User] = relationship(lazy="joined")


class ApiKey(Base):
    """An API key, stored only as a SHA-256 digest (keys are long random strings)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16), default="")
    description: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


class ServerSecret(Base):
    """Server-wide secrets shared by all replicas (e.g. the URL signing key)."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class Project(Base):
    """A project inside an entity; runs live in projects."""

    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("entity_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Free text the project's writers set (Overview page, `upsertModel(description:)`).
    description: Mapped[str | None] = mapped_column(Text, nullable=True)

    entity: Mapped[Entity] = relationship(lazy="joined")


class Run(Base):
    """A tracked run ("bucket" in the W&B protocol)."""

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        Index("ix_runs_project_created", "project_id", "created_at"),
        Index("ix_runs_state_heartbeat", "state", "heartbeat_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    group_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    job_type: Mapped[str | None] = mapped_column(String(128), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    host: Mapped[str | None] = mapped_column(String(256), nullable=True)
    program: Mapped[str | None] = mapped_column(Text, nullable=True)
    commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    repo: Mapped[str | None] = mapped_column(Text, nullable=True)
    sweep_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # User config with W&B's {"k": {"value": v}} wrappers removed; `_wandb` kept apart.
    config: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    wandb_config: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="running")
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    history_line_count: Mapped[int] = mapped_column(Integer, default=0)
    events_line_count: Mapped[int] = mapped_column(Integer, default=0)
    log_line_count: Mapped[int] = mapped_column(Integer, default=0)
    # Console offsets of a resumed attempt: some clients restart them at 0 (see filestream.py).
    console_resume_at: Mapped[int | None] = mapped_column(Integer, nullable=True)
    console_base: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Who started the run (a service account's runs: the member named by WANDB_USERNAME).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )

    # A fork's parent (`fork_from`), or for a rewound run the archive of its old history;
    # `fork_step` is the parent's `_step` it branched at (see tracking/forks.py).
    forked_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    fork_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Added to the file_stream history offsets of the current attempt. A fork holds its
    # parent's lines first; None until its first post shows whether its client continues
    # after them (newer clients) or counts its own lines from 0 (see filestream.py).
    history_base: Mapped[int | None] = mapped_column(
        Integer, nullable=True, default=0, server_default="0"
    )
    # Set on the archive a rewind keeps of a run's history: the run it was archived from.
    archived_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    project: Mapped[Project] = relationship(lazy="joined")
    # Loaded on first use: many-to-one loads come from the identity map after the first.
    user: Mapped[User | None] = relationship()
    # Loaded on first use; no query at all for the usual run, whose keys are null.
    forked_from: Mapped[Run | None] = relationship(
        remote_side="Run.id", foreign_keys="Run.forked_from_id"
    )
    archived_of: Mapped[Run | None] = relationship(
        remote_side="Run.id", foreign_keys="Run.archived_of_id"
    )


class DeletedRun(Base):
    """A tombstone of a deleted run: a repeated delete by its entity's writers is answered
    like the first (as on W&B), while to others the id still reads as no run at all."""

    __tablename__ = "deleted_runs"

    # The deleted run's id (its node id is `Run:<run_id>`); no foreign key, the run is gone.
    run_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    entity: Mapped[Entity] = relationship(lazy="joined")


class HistoryLine(Base):
    """One `wandb-history.jsonl` line, kept verbatim; `line_no` is the file_stream offset."""

    __tablename__ = "history_lines"
    # HistoryPage and sampledHistory read step ranges (migration 0022).
    __table_args__ = (Index("ix_history_lines_run_step", "run_id", "step"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    data: Mapped[str] = mapped_column(Text)


class MetricChunk(Base):
    """One metric's values on a run of consecutive new history lines (one post), packed.

    Ingest writes a row per metric and post instead of a row per value (see
    tracking/metric_chunks.py for the layout of `data`). The line ranges of one metric's
    chunks never overlap, so ordering by `first_line` orders every value by line.
    """

    __tablename__ = "metric_chunks"
    # Zoom windows and sweeps look a metric's chunks up by step range (migration 0023).
    __table_args__ = (Index("ix_metric_chunks_steps", "run_id", "key", "min_step", "max_step"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    first_line: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_line: Mapped[int] = mapped_column(Integer)
    # The x values' range: a line's `_step`, or its line number when it has none.
    min_step: Mapped[int] = mapped_column(BigInteger)
    max_step: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class MetricRollup(Base):
    """Count, min, max and last of one metric over one step range (see tracking/rollups.py)."""

    __tablename__ = "metric_rollups"
    __table_args__ = ({"sqlite_with_rowid": False},)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    # The range covers steps [bucket * 16**level, (bucket + 1) * 16**level).
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    x_min: Mapped[int] = mapped_column(BigInteger)
    x_max: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(BigInteger)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)
    # The value at x_max (the latest line among equal steps).
    last: Mapped[float] = mapped_column(Float)
    last_line: Mapped[int] = mapped_column(Integer)


class MediaLine(Base):
    """One media value (image, histogram, table...) a history line logged under `key`.

    Filled at ingest so the workspace's media panels read a run's media lines by index
    instead of scanning its whole history; the value itself stays in the history line.
    """

    __tablename__ = "media_lines"
    __table_args__ = ({"sqlite_with_rowid": False},)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The x value: the row's `_step`, or its line number when it has none.
    step: Mapped[int] = mapped_column(BigInteger)


class EventLine(Base):
    """One `wandb-events.jsonl` line (system metrics), kept verbatim."""

    __tablename__ = "event_lines"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[str] = mapped_column(Text)


class ConsoleLine(Base):
    """One `output.log` line; a later post for the same offset overwrites it."""

    __tablename__ = "console_lines"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)


class RunFile(Base):
    """A file uploaded for a run through a signed URL."""

    __tablename__ = "run_files"
    __table_args__ = (UniqueConstraint("run_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(512))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    md5: Mapped[str] = mapped_column(String(64), default="")
    uploaded: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LaunchAgent(Base):
    """An agent that registered to serve launch queues; it heartbeats while alive."""

    __tablename__ = "launch_agents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity_id: Mapped[int] = mapped_column(
        ForeignKey("entities.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    hostname: Mapped[str] = mapped_column(String(256), default="")
    version: Mapped[str] = mapped_column(String(64), default="")
    # `entity/name` of each queue served, and the capacity it reported (e.g. {"gpus": 8}).
    queues: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    capacity: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    status: Mapped[str] = mapped_column(String(32), default="polling")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # How often it promised to heartbeat; null for agents that did not say (W&B's).
    heartbeat_interval_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Who registered it: only that user (or an admin of its entity) may speak for it.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    # Kubernetes agents: their pool's allow-lists (`PoolPolicy`), checked at enqueue.
    pool: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)


class ArtifactCollection(Base):
    """A named sequence of artifact versions in a project (W&B's ArtifactSequence)."""

    __tablename__ = "artifact_collections"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    # The artifact type (dataset, model, job, code, ...): fixed by the first version.
    type_name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # SEQUENCE: versions logged into it; PORTFOLIO: links to versions of sequences (a
    # registry collection or a legacy model-registry "registered model"; see ArtifactLink).
    kind: Mapped[str] = mapped_column(String(16), default="SEQUENCE", server_default="SEQUENCE")
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSONDoc, default=list, server_default="[]")
    # The TTL a version inherits unless it sets its own (None: versions never expire).
    ttl_duration_seconds: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    project: Mapped[Project] = relationship(lazy="joined")


class Artifact(Base):
    """One artifact version: PENDING while its files upload, COMMITTED once readable."""

    __tablename__ = "artifacts"
    __table_args__ = (
        UniqueConstraint("collection_id", "version_index"),
        Index("ix_artifacts_collection_digest", "collection_id", "digest"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("artifact_collections.id", ondelete="CASCADE")
    )
    # The client's id for this save: a retried CreateArtifact returns the same row.
    client_id: Mapped[str] = mapped_column(String(256), unique=True)
    # v0, v1, ...: assigned at commit, so abandoned pending versions leave no gaps.
    version_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="PENDING")
    digest: Mapped[str] = mapped_column(String(128))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    # Aliases asked for at creation; applied (moved) when the version commits.
    requested_aliases: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    created_by_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    committed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSONDoc, default=list, server_default="[]")
    # The version's own TTL when not inherited (None: never expires); see artifacts/ttl.py.
    ttl_duration_seconds: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ttl_is_inherited: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # created_at + the effective TTL, kept so the sweeper finds expired versions by index.
    expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True, index=True
    )
    # A deleted version keeps its row (state DELETED) so its v<N> and id are never reused.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    collection: Mapped[ArtifactCollection] = relationship(lazy="joined")


class ArtifactFile(Base):
    """A file of an artifact version: its manifest path, MD5 and object-store key."""

    __tablename__ = "artifact_files"
    __table_args__ = (UniqueConstraint("artifact_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(512))
    # Base64 MD5 as the client states it (the manifest's digest).
    md5_b64: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(600))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    uploaded: Mapped[bool] = mapped_column(Boolean, default=False)


class ArtifactBlobOrphan(Base):
    """An object-store key that a deleted version referenced: a candidate for blob GC.

    The collector removes the bytes only after a grace period and only if no live file
    row (or live version, for a manifest) references the key by then (artifacts/blob_gc.py).
    """

    __tablename__ = "artifact_blob_orphans"

    storage_key: Mapped[str] = mapped_column(String(600), primary_key=True)
    orphaned_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class ArtifactAlias(Base):
    """An alias (`latest`, `best`, ...) pointing at one version of a collection."""

    __tablename__ = "artifact_aliases"
    __table_args__ = (UniqueConstraint("collection_id", "alias"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("artifact_collections.id", ondelete="CASCADE")
    )
    alias: Mapped[str] = mapped_column(String(128))
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"))


class ArtifactUse(Base):
    """A run used an artifact version as an input (`run.use_artifact`)."""

    __tablename__ = "artifact_uses"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    artifact_id: Mapped[int] = mapped_column(
        ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True
    )
    used_as: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# Lineage reads (artifacts/lineage.py): a run's outputs, and the uses of one version.
Index("ix_artifacts_created_by_run", Artifact.created_by_run_id, Artifact.id)
Index("ix_artifact_uses_artifact", ArtifactUse.artifact_id, ArtifactUse.created_at)


class RunAlert(Base):
    """An alert a run's script sent (`run.alert`); repeats within `wait_duration` are dropped."""

    __tablename__ = "run_alerts"
    __table_args__ = (Index("ix_run_alerts_run_title", "run_id", "title", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(8))
    wait_duration_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class View(Base):
    """A saved view of a project: a report (type `runs`/`runs/draft`) or a saved workspace."""

    __tablename__ = "views"
    __table_args__ = (Index("ix_views_project_type", "project_id", "type", "updated_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # The client's stable name for the view (W&B generates one); display_name is the title.
    name: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str] = mapped_column(String(256), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(64))
    spec: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    project: Mapped[Project] = relationship(lazy="joined")
    user: Mapped[User | None] = relationship(lazy="joined")


class ViewRevision(Base):
    """Every saved spec of a view, numbered from 1: a report's edit history."""

    __tablename__ = "view_revisions"
    __table_args__ = (UniqueConstraint("view_id", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    view_id: Mapped[int] = mapped_column(ForeignKey("views.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    display_name: Mapped[str] = mapped_column(String(256), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ViewAccessToken(Base):
    """A read-only share link of a report: the token opens the view and the projects named."""

    __tablename__ = "view_access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    view_id: Mapped[int] = mapped_column(ForeignKey("views.id", ondelete="CASCADE"), index=True)
    # The token is the capability (like a signed URL) and the client lists it back
    # (`Report.get_share_url`), so it is kept as issued; revoking it ends it.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    # [[entity, project], ...]: the projects whose runs the link may draw.
    projects: Mapped[list[list[str]]] = mapped_column(JSONDoc, default=list)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    view: Mapped[View] = relationship(lazy="joined")


# Automation and sweep tables live in modules of their own; importing them registers them
# on Base.
from runyard.server.db import (  # noqa: E402, F401
    automation_models,
    history_segment_models,
    sweep_models,
)


class WorkspaceView(Base):
    """A user's own saved workspace layout of a project (sections, panels, hidden runs)."""

    __tablename__ = "workspace_views"
    __table_args__ = (UniqueConstraint("project_id", "user_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # Private to its owner: every read and write filters on the caller's user id.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    # The validated layout (runyard.server.workspaces.layout.WorkspaceLayout) as JSON text.
    layout: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
