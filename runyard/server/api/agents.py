"""`/api/v1/agents`: launch agents register, and anyone may see which are alive."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from runyard.server.deps import PrincipalDep, UowDep
from runyard.server.queues import agent_service, agents

router = APIRouter(prefix="/api/v1", tags=["launch"])


@router.post("/agents", status_code=201, response_model=agents.AgentOut)
def register_agent(
    body: agents.AgentRegistration,
    uow: UowDep,
    principal: PrincipalDep,
    entity: str | None = None,
) -> agents.AgentOut:
    """Register an agent; use the returned id as `agent_id` in claims and heartbeats."""
    for path in body.queues:
        if "/" not in path:
            raise HTTPException(422, f"queues: {path!r} must be 'entity/name'")
    return agent_service.register(uow, principal, entity, body)


@router.get("/agents", response_model=list[agents.AgentOut])
def list_agents(
    uow: UowDep, principal: PrincipalDep, entity: str | None = None
) -> list[agents.AgentOut]:
    """An entity's agents (default: yours), most recently heard from first."""
    return agent_service.list_agents(uow, principal, entity)
