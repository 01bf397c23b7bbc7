"""`upsertModel`: creating a project explicitly (runs create theirs on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ariadne import MutationType, ObjectType
from graphql import GraphQLResolveInfo

from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.graphql.context import ctx
from runyard.server.registry import access as registry_access
from runyard.server.registry import registries
from runyard.server.tracking import project_description, run_writes

if TYPE_CHECKING:
    from runyard.server.db.models import Project

mutation = MutationType()
project_type = ObjectType("Project")


@mutation.field("upsertModel")
def resolve_upsert_model(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Create project `name` of `entityName` (default: the caller's entity) if missing, and
    set its description when the input gives one."""
    context = ctx(info)
    name = input.get("name")
    if not name:
        raise ServiceError(ErrorCode.INVALID, "upsertModel: name is required (the project's name)")
    entity_name = input.get("entityName") or context.principal.entity_name
    if registry_access.governs(entity_name, name):
        spec = registries.RegistrySpec.model_validate(input)
        view, inserted = registries.upsert_registry(context.uow, context.principal, spec)
        return {"project": view.project, "model": view.project, "inserted": inserted}
    project, inserted = run_writes.upsert_project(context.uow, context.principal, entity_name, name)
    if input.get("description") is not None:
        # As on W&B: a description given replaces the stored one; one left out keeps it.
        project_description.apply_description(project, input["description"])
    return {"project": project, "model": project, "inserted": inserted}


@project_type.field("access")
def resolve_project_access(project: Project, info: GraphQLResolveInfo) -> str:
    """Projects are visible to their entity only; a registry answers its visibility
    (PRIVATE: the whole organization, RESTRICTED: its members)."""
    view = registries.view_of(ctx(info).uow, project)
    return registries.registry_attrs(view)["access"] if view is not None else "PRIVATE"


@project_type.field("views")
def resolve_project_views(*_: Any) -> str:
    """No saved views."""
    return "{}"


BINDABLES = [mutation, project_type]
