"""Launch agents: registration, heartbeats and listing (what `runyard queue` and UIs show)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.launch.kubernetes.allowlists import PoolPolicy
from runyard.server.access import Action, require
from runyard.server.api.models import as_utc
from runyard.server.auth import Principal
from runyard.server.db.models import Entity, LaunchAgent
from runyard.server.errors import ErrorCode, ServiceError

# An agent that did not say how often it heartbeats counts as gone after this silence.
SILENT_AFTER = timedelta(seconds=90)
# One that did is gone after missing this many heartbeats (and at least MIN_SILENCE), so a
# restarted agent takes over a crashed one's workloads in seconds, not at lease expiry.
MISSED_HEARTBEATS = 3
MIN_SILENCE = timedelta(seconds=2)


def silence_limit(heartbeat_interval_s: float | None) -> timedelta:
    """How long an agent may stay silent before it counts as gone (pure)."""
    if heartbeat_interval_s is None:
        return SILENT_AFTER
    return max(MIN_SILENCE, timedelta(seconds=MISSED_HEARTBEATS * heartbeat_interval_s))


_LONGEST_LIMIT = silence_limit(300)  # the longest interval an agent may promise


class AgentRegistration(BaseModel):
    """What an agent says about itself when it starts."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    hostname: str = Field("", max_length=256)
    version: str = Field("", max_length=64)
    queues: list[str] = Field(min_length=1, description="`entity/name` of each queue served.")
    capacity: dict[str, Any] = Field(default_factory=dict, description='e.g. {"gpus": 8}')
    heartbeat_interval_s: float | None = Field(
        default=None,
        gt=0,
        le=300,
        description="How often the agent heartbeats; after 3 missed ones it counts as gone.",
    )
    pool: PoolPolicy | None = Field(
        default=None,
        description="Kubernetes agents: their pool and what its queue templates may reference "
        "(enqueues are checked against the pools of live agents).",
    )


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
    pool: PoolPolicy | None = None


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
        alive=now - heartbeat < silence_limit(agent.heartbeat_interval_s),
        created_at=as_utc(agent.created_at) or now,
        heartbeat_at=heartbeat,
        pool=agent.pool,
    )


def register(
    session: Session,
    entity: Entity,
    body: AgentRegistration,
    now: datetime,
    user_id: int | None = None,
) -> LaunchAgent:
    """Store a new agent, owned by the registering user; each agent start registers anew."""
    agent = LaunchAgent(
        id=uuid.uuid4().hex,
        entity_id=entity.id,
        name=body.name,
        hostname=body.hostname,
        version=body.version,
        queues=body.queues,
        capacity=body.capacity,
        heartbeat_interval_s=body.heartbeat_interval_s,
        pool=body.pool.model_dump() if body.pool else None,
        status="polling",
        created_at=now,
        heartbeat_at=now,
        user_id=user_id,
    )
    session.add(agent)
    session.flush()
    return agent


def speak_for(session: Session, principal: Principal, agent_id: str) -> LaunchAgent | None:
    """Check that the caller may act as agent `agent_id`: heartbeat, claim, report, adopt.

    The user who registered an agent speaks for it while they may write to its entity;
    anyone else needs to manage that entity. Agents registered before owners were recorded
    are open to the entity's writers, as they were. An id that was never registered only
    names a lease holder: None, and nothing to check.
    """
    agent = session.get(LaunchAgent, agent_id)
    if agent is None:
        return None
    entity = session.get(Entity, agent.entity_id)
    entity_name = entity.name if entity is not None else ""
    mine = agent.user_id is None or agent.user_id == principal.user_id
    try:
        require(principal, entity_name, Action.WRITE if mine else Action.MANAGE)
    except ServiceError as exc:
        if exc.code is not ErrorCode.FORBIDDEN or mine:
            raise
        raise ServiceError(
            ErrorCode.FORBIDDEN,
            f"agent_id: agent {agent_id} was registered by another user; only they or an "
            f"admin of {entity_name!r} may act as it: register an agent of your own",
        ) from exc
    return agent


def touch(
    session: Session,
    agent_id: str,
    now: datetime,
    status: str | None = None,
    capacity: dict[str, Any] | None = None,
) -> bool:
    """Record a heartbeat of a registered agent (and its free capacity now, when it says);
    False when the id is not one."""
    agent = session.get(LaunchAgent, agent_id)
    if agent is None:
        return False
    agent.heartbeat_at = now
    if status:
        agent.status = status
    if capacity is not None and capacity != agent.capacity:
        agent.capacity = capacity
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
    """Ids of agents heard from within their silence limit: items they hold are not up for
    adoption."""
    recent = session.execute(
        select(LaunchAgent.id, LaunchAgent.heartbeat_at, LaunchAgent.heartbeat_interval_s).where(
            LaunchAgent.heartbeat_at > now - max(SILENT_AFTER, _LONGEST_LIMIT)
        )
    )
    return {
        agent_id
        for agent_id, heartbeat, interval in recent
        if now - (as_utc(heartbeat) or now) < silence_limit(interval)
    }
