"""Launch agents: registration, heartbeats and listing (what `runyard queue` and UIs show)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.server.api.models import as_utc
from runyard.server.db.models import Entity, LaunchAgent

# An agent that has not heartbeat for this many lease periods counts as gone.
SILENT_AFTER = timedelta(seconds=90)


class AgentRegistration(BaseModel):
    """What an agent says about itself when it starts."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    hostname: str = Field("", max_length=256)
    version: str = Field("", max_length=64)
    queues: list[str] = Field(min_length=1, description="`entity/name` of each queue served.")
    capacity: dict[str, Any] = Field(default_factory=dict, description='e.g. {"gpus": 8}')


class AgentOut(BaseModel):
    """A registered agent and whether it is still heartbeating."""

    id: str
    entity: str
    name: str
    hostname: str
    version: str
    queues: list[str]
    capacity: dict[str, Any]
    status: str
    alive: bool
    created_at: datetime
    heartbeat_at: datetime


def agent_out(agent: LaunchAgent, entity: str, now: datetime) -> AgentOut:
    """The API shape of an agent; `alive` when its last heartbeat is recent."""
    heartbeat = as_utc(agent.heartbeat_at)
    assert heartbeat is not None
    return AgentOut(
        id=agent.id,
        entity=entity,
        name=agent.name,
        hostname=agent.hostname,
        version=agent.version,
        queues=list(agent.queues),
        capacity=dict(agent.capacity),
        status=agent.status,
        alive=now - heartbeat < SILENT_AFTER,
        created_at=as_utc(agent.created_at) or now,
        heartbeat_at=heartbeat,
    )


def register(
    session: Session, entity: Entity, body: AgentRegistration, now: datetime
) -> LaunchAgent:
    """Store a new agent; each start of an agent process registers anew."""
    agent = LaunchAgent(
        id=uuid.uuid4().hex,
        entity_id=entity.id,
        name=body.name,
        hostname=body.hostname,
        version=body.version,
        queues=body.queues,
        capacity=body.capacity,
        status="polling",
        created_at=now,
        heartbeat_at=now,
    )
    session.add(agent)
    session.flush()
    return agent


def touch(session: Session, agent_id: str, now: datetime, status: str | None = None) -> bool:
    """Record a heartbeat of a registered agent; False when the id is not one."""
    agent = session.get(LaunchAgent, agent_id)
    if agent is None:
        return False
    agent.heartbeat_at = now
    if status:
        agent.status = status
    return True


def list_agents(session: Session, entity: Entity) -> list[LaunchAgent]:
    """An entity's agents, most recently heard from first."""
    return list(
        session.scalars(
            select(LaunchAgent)
            .where(LaunchAgent.entity_id == entity.id)
            .order_by(LaunchAgent.heartbeat_at.desc())
        )
    )


def alive_ids(session: Session, now: datetime) -> set[str]:
    """Ids of agents heard from recently: items they hold are not up for adoption."""
    return set(
        session.scalars(select(LaunchAgent.id).where(LaunchAgent.heartbeat_at > now - SILENT_AFTER))
    )
