"""Listing an entity's projects, a page at a time (`wandb.Api().projects()`)."""

from __future__ import annotations

from sqlalchemy import select

from runyard.server.access import Action, require
from runyard.server.auth import Principal
from runyard.server.db.models import Entity, Project
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.unit_of_work import UnitOfWork

MAX_PAGE = 1000


def list_projects(
    uow: UnitOfWork, principal: Principal, entity_name: str, *, after_id: int = 0, limit: int = 50
) -> tuple[list[Project], bool]:
    """The entity's projects with ids above `after_id`, oldest first, and whether more follow."""
    session = uow.session
    if not 1 <= limit <= MAX_PAGE:
        raise ServiceError(
            ErrorCode.INVALID, f"first: {limit} is out of range: ask for 1 to {MAX_PAGE} projects"
        )
    require(principal, entity_name, Action.READ)
    rows = list(
        session.scalars(
            select(Project)
            .join(Entity, Entity.id == Project.entity_id)
            .where(Entity.name == entity_name, Project.id > after_id)
            .order_by(Project.id)
            .limit(limit + 1)
        )
    )
    return rows[:limit], len(rows) > limit
