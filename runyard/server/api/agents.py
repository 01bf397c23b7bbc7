"""`/api/v1/agents`: launch agents register, and anyone may see which are alive."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from runyard.server.access import Action
from runyard.server.api.errors import http_error
from runyard.server.clock import utcnow
from runyard.server.deps import PrincipalDep, SessionDep
from runyard.server.queues import agents
from runyard.server.tracking.runs import TrackingError, resolve_entity

router = APIRouter(prefix="/api/v1", tags=["launch"])


@router.post("/agents", status_code=201, response_model=agents.AgentOut)
def register_agent(
    body: agents.AgentRegistration,
    session: SessionDep,
    principal: PrincipalDep,
    entity: str | None = None,
) -> agents.AgentOut:
    """Register an agent; use the returned id as `agent_id` in claims and heartbeats."""
    for path in body.queues:
        if "/" not in path:
            raise HTTPException(422, f"queues: {path!r} must be 'entity/name'")
    try:
        owner = resolve_entity(session, principal, entity)
    except TrackingError as exc:
        raise http_error(exc) from exc
    now = utcnow()
    agent = agents.register(session, owner, body, now, principal.user_id)
    return agents.agent_out(agent, owner.name, now)


@router.get("/agents", response_model=list[agents.AgentOut])
def list_agents(
    session: SessionDep, principal: PrincipalDep, entity: str | None = None
) -> list[agents.AgentOut]:
    """An entity's agents (default: yours), most recently heard from first."""
    try:
        owner = resolve_entity(session, principal, entity, Action.READ)
    except TrackingError as exc:
        raise http_error(exc) from exc
    now = utcnow()
    return [agents.agent_out(a, owner.name, now) for a in agents.list_agents(session, owner)]
