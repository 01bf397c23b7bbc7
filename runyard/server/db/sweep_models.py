"""SQLAlchemy models of sweeps: the sweep, its agents and its trials (one per suggested run)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from runyard.server.clock import utcnow
from runyard.server.db.models import Base, JSONDoc, Project


class Sweep(Base):
    """A hyperparameter sweep of a project: its config, state and (launch sweeps) queue."""

    __tablename__ = "sweeps"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # The 8-character id users type (`wandb agent entity/project/<name>`).
    name: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The YAML as the client sent it (agents read `command` from it), and its parsed form.
    config_yaml: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    method: Mapped[str] = mapped_column(String(32))
    # PENDING, RUNNING, PAUSED, FINISHED or CANCELED (W&B's sweep states).
    state: Mapped[str] = mapped_column(String(16), default="RUNNING")
    run_cap: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Launch sweeps: {"entity", "queue", "run_spec", "template_values", "workers"}; the server
    # itself enqueues their trials (see sweeps/launch.py).
    launch: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    # W&B's local controller (`wandb sweep --controller`): the runs it schedules and stops
    # (`controller`, written by the client) and those the server handed out (`scheduler`).
    controller: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    scheduler: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    project: Mapped[Project] = relationship(lazy="joined")


class SweepAgent(Base):
    """A `wandb agent` process serving one sweep; it heartbeats while alive."""

    __tablename__ = "sweep_agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), index=True)
    host: Mapped[str] = mapped_column(String(256), default="")
    # RUNNING while it heartbeats, FINISHED once told to exit, CRASHED when it went silent.
    state: Mapped[str] = mapped_column(String(16), default="RUNNING")
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SweepTrial(Base):
    """One suggested point of a sweep and the run that evaluates it."""

    __tablename__ = "sweep_trials"
    __table_args__ = (
        UniqueConstraint("sweep_id", "run_name"),
        Index("ix_sweep_trials_sweep_state", "sweep_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"))
    run_name: Mapped[str] = mapped_column(String(128))
    # Plain parameter values ({"lr": 0.1}); agents get them wrapped ({"lr": {"value": 0.1}}).
    params: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    # pending (handed out, no run yet), running, finished, failed, crashed, canceled.
    state: Mapped[str] = mapped_column(String(16), default="pending")
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("sweep_agents.id", ondelete="SET NULL"), nullable=True
    )
    queue_item_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The crashed trial whose point this one offers again (a point is offered again once).
    retry_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("sweep_trials.id", ondelete="SET NULL"), nullable=True
    )
    # Early termination: when the controller asked the run to stop, and why.
    stop_requested_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    stop_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
