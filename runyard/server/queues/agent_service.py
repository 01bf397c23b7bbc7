"""Launch agents as the adapters use them: register, heartbeat, list, and who is alive.

Each call uses a short transaction of its own (`UnitOfWork.write_transaction`): agent
requests go on to use the queue store, which on SQLite needs the lock these writes take.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from runyard.server.access import Action
from runyard.server.api.models import as_utc
from runyard.server.auth import Principal
from runyard.server.db.models import Entity, LaunchAgent, Project, Run
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.queues import agents
from runyard.server.tracking.access import check_entity_access
from runyard.server.tracking.runs import resolve_entity
from runyard.server.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class AgentView:
    """A registered agent as read in its own short session."""

    id: str
    name: str
    queues: list[str]
    hostname: str
    status: str
    heartbeat_at: datetime


def register(
    uow: UnitOfWork, principal: Principal, entity: str | None, body: agents.AgentRegistration
) -> agents.AgentOut:
    """Register an agent of `entity` (default: the caller's); each start registers anew."""
    now = uow.now()
    with uow.write_transaction() as session:
        owner = resolve_entity(session, principal, entity)
        agent = agents.register(session, owner, body, now, principal.user_id)
        return agents.agent_out(agent, owner.name, now)


def list_agents(uow: UnitOfWork, principal: Principal, entity: str | None) -> list[agents.AgentOut]:
    """An entity's agents (default: the caller's), most recently heard from first."""
    now = uow.now()
    with uow.read_session() as session:
        owner = resolve_entity(session, principal, entity, Action.READ)
        return [agents.agent_out(a, owner.name, now) for a in agents.list_agents(session, owner)]


def speak_for(uow: UnitOfWork, principal: Principal, agent_id: str) -> None:
    """Refuse unless the caller may act as agent `agent_id` (see `agents.speak_for`)."""
    with uow.read_session() as session:
        agents.speak_for(session, principal, agent_id)


def touch(
    uow: UnitOfWork,
    agent_id: str,
    status: str | None = None,
    capacity: dict[str, Any] | None = None,
) -> bool:
    """Record a heartbeat of a registered agent (and its free capacity, when it says);
    False when the id is not one."""
    with uow.write_transaction() as session:
        return agents.touch(session, agent_id, uow.now(), status, capacity)


def touch_and_list_alive(uow: UnitOfWork, agent_id: str) -> set[str]:
    """Record the agent's heartbeat; return the ids of the other agents still alive."""
    now = uow.now()
    with uow.write_transaction() as session:
        agents.touch(session, agent_id, now)
        return agents.alive_ids(session, now) - {agent_id}


def agent_view(uow: UnitOfWork, principal: Principal, agent_id: str, field: str) -> AgentView:
    """A registered agent the caller may read; not found names the fix (`field`: the input)."""
    with uow.read_session() as session:
        agent = session.get(LaunchAgent, agent_id)
        if agent is None:
            raise ServiceError(
                ErrorCode.NOT_FOUND,
                f"{field}: launch agent {agent_id} is not registered; restart the agent "
                "(it registers with createLaunchAgent)",
            )
        agents.speak_for(session, principal, agent.id)
        return AgentView(
            agent.id,
            agent.name,
            list(agent.queues),
            agent.hostname,
            agent.status,
            as_utc(agent.heartbeat_at) or uow.now(),
        )


def register_wandb_agent(
    uow: UnitOfWork, principal: Principal, entity: str, body: agents.AgentRegistration
) -> str:
    """Register an official W&B agent; it is named after its id (its own run's name)."""
    check_entity_access(principal, entity, Action.WRITE)
    with uow.write_transaction() as session:
        found = session.scalars(select(Entity).where(Entity.name == entity)).first()
        if found is None:
            raise ServiceError(ErrorCode.NOT_FOUND, f"entityName: entity {entity!r} does not exist")
        agent = agents.register(session, found, body, uow.now(), principal.user_id)
        # W&B agents create a run named after themselves: make the name unique per start.
        agent.name = f"agent-{agent.id[:12]}"
        return agent.id


def run_outcome(
    uow: UnitOfWork, entity: str, project: str, run: str
) -> tuple[str, int | None] | None:
    """The state and exit code of a run (what settles a launched item), or None."""
    with uow.read_session() as session:
        row = session.execute(
            select(Run.state, Run.exit_code)
            .join(Project, Run.project_id == Project.id)
            .join(Entity, Project.entity_id == Entity.id)
            .where(Entity.name == entity, Project.name == project, Run.name == run)
        ).first()
    return (row[0], row[1]) if row else None
