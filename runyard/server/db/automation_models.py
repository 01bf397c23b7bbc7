"""SQLAlchemy models of automations: team secrets, integrations, automations, the event outbox.

The outbox: an `Event` row and one `Delivery` row per action it triggers are written in the
transaction of the change that caused them; the dispatcher delivers deliveries and logs each
try as a `DeliveryAttempt`. Migration: 0013.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from runyard.server.clock import utcnow
from runyard.server.db.models import Base, Entity, JSONDoc, Project


class TeamSecret(Base):
    """A named secret of an entity, stored encrypted (Fernet); its value is never shown again."""

    __tablename__ = "team_secrets"
    __table_args__ = (UniqueConstraint("entity_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Integration(Base):
    """Where actions send to: a generic webhook or a Slack-compatible incoming webhook."""

    __tablename__ = "integrations"
    __table_args__ = (UniqueConstraint("entity_id", "kind", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    # "webhook" (GenericWebhookIntegration) or "slack" (SlackIntegration).
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    # Names of team secrets: HMAC signing key (X-Wandb-Signature) and bearer token.
    secret_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    access_token_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel_name: Mapped[str] = mapped_column(String(128), default="")
    team_name: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    entity: Mapped[Entity] = relationship(lazy="joined")


class Automation(Base):
    """A trigger: an event type in a scope (project or collection), a filter, and an action."""

    __tablename__ = "automations"
    __table_args__ = (
        UniqueConstraint("entity_id", "name"),
        Index("ix_automations_event_project", "event_type", "project_id"),
        Index("ix_automations_event_collection", "event_type", "collection_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    # The project of the scope (a collection's project for collection scopes).
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    collection_id: Mapped[int | None] = mapped_column(
        ForeignKey("artifact_collections.id", ondelete="CASCADE"), nullable=True
    )
    scope_type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    event_type: Mapped[str] = mapped_column(String(32))
    # The client's eventFilter, as the JSON text it sent (read back unchanged).
    event_filter: Mapped[str] = mapped_column(Text)
    action_type: Mapped[str] = mapped_column(String(32))
    action_config: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    integration_id: Mapped[int | None] = mapped_column(
        ForeignKey("integrations.id", ondelete="SET NULL"), nullable=True
    )
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    project: Mapped[Project] = relationship(lazy="joined")
    integration: Mapped[Integration | None] = relationship(lazy="joined")


class Event(Base):
    """Something that happened (outbox row), with the variables its payloads may use."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(
        ForeignKey("entities.id", ondelete="CASCADE"), nullable=True
    )
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True, index=True
    )
    variables: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Delivery(Base):
    """One event to one action: delivered at least once, never again once it succeeded."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "automation_id"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
        Index("ix_deliveries_project", "project_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    # Null for deliveries that no automation made (run alerts to an entity's Slack channels).
    automation_id: Mapped[int | None] = mapped_column(
        ForeignKey("automations.id", ondelete="SET NULL"), nullable=True
    )
    integration_id: Mapped[int | None] = mapped_column(
        ForeignKey("integrations.id", ondelete="SET NULL"), nullable=True
    )
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
    )
    # "webhook" or "slack"; the URL and body are fixed when the event is written.
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    # pending -> sending (claimed under a lease) -> succeeded | pending (retry) | failed.
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    event: Mapped[Event] = relationship()


class DeliveryAttempt(Base):
    """One try of a delivery: when, the answer's status and its first bytes, or the error."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    replica: Mapped[str] = mapped_column(String(64), default="")
