"""`upsertModel`: creating a project explicitly (runs create theirs on first use)."""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, ObjectType
from graphql import GraphQLResolveInfo
from sqlalchemy import select

from runyard.server.access import Action
from runyard.server.db.models import Entity
from runyard.server.graphql.context import ctx
from runyard.server.tracking.access import check_entity_access
from runyard.server.tracking.runs import TrackingError, find_project, get_or_create_project

mutation = MutationType()
project_type = ObjectType("Project")


@mutation.field("upsertModel")
def resolve_upsert_model(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Create project `name` of `entityName` (default: the caller's entity) if missing."""
    context = ctx(info)
    name = input.get("name")
    if not name:
        raise TrackingError("upsertModel: name is required (the project's name)")
    entity_name = input.get("entityName") or context.principal.entity_name
    check_entity_access(context.principal, entity_name, Action.WRITE)
    entity = context.session.scalars(select(Entity).where(Entity.name == entity_name)).first()
    if entity is None:
        raise TrackingError(f"entityName: entity {entity_name!r} does not exist", status=404)
    existed = find_project(context.session, entity_name, name) is not None
    project = get_or_create_project(context.session, entity, name)
    return {"project": project, "model": project, "inserted": not existed}


@project_type.field("access")
def resolve_project_access(*_: Any) -> str:
    """Projects are visible to their entity only."""
    return "PRIVATE"


@project_type.field("views")
def resolve_project_views(*_: Any) -> str:
    """No saved views."""
    return "{}"


BINDABLES = [mutation, project_type]
