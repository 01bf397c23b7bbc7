"""`/api/v1/sweeps`: create sweeps (optionally on a launch queue), list and read them with
their trials and parameter importance, and pause, resume, stop or cancel them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from runyard.server.deps import PrincipalDep, UowDep
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.sweeps import service, views

router = APIRouter(prefix="/api/v1", tags=["sweeps"])


class StateIn(BaseModel):
    """A sweep's new state."""

    state: str = Field(description="RUNNING (resume), PAUSED, FINISHED (stop) or CANCELED")


@router.post("/sweeps", response_model=views.SweepSummary, status_code=201)
def create_sweep(
    body: service.NativeSweepIn, uow: UowDep, principal: PrincipalDep
) -> views.SweepSummary:
    """Create a sweep; with `queue`, its trials become items of that launch queue."""
    sweep = service.create_native(uow, principal, body)
    return views.summary(uow, sweep)


@router.get("/sweeps", response_model=list[views.SweepSummary])
def list_sweeps(
    uow: UowDep,
    principal: PrincipalDep,
    project: Annotated[str, Query(description="`entity/project`")],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[views.SweepSummary]:
    """A project's sweeps, newest first."""
    entity, sep, name = project.partition("/")
    if not sep or not entity or not name:
        raise ServiceError(ErrorCode.INVALID, f"project must be 'entity/project', got {project!r}")
    return views.list_sweeps(uow, principal, entity, name, limit)


@router.get("/sweeps/{entity}/{project}/{sweep}", response_model=views.SweepDetail)
def get_sweep(
    entity: str, project: str, sweep: str, uow: UowDep, principal: PrincipalDep
) -> views.SweepDetail:
    """A sweep with its trials, agents, best run and parameter importance."""
    return views.detail(uow, principal, entity, project, sweep)


@router.post("/sweeps/{entity}/{project}/{sweep}/state", response_model=views.SweepSummary)
def set_state(
    entity: str, project: str, sweep: str, body: StateIn, uow: UowDep, principal: PrincipalDep
) -> views.SweepSummary:
    """Pause, resume, stop or cancel a sweep."""
    return views.change_state(uow, principal, entity, project, sweep, body.state)
