"""`models`: an entity's projects for `wandb.Api().projects()`, and the Project fields it reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ariadne import ObjectType, QueryType
from graphql import GraphQLResolveInfo

from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.graphql.context import ctx
from runyard.server.people import directory
from runyard.server.tracking.ids import decode_id, encode_id
from runyard.server.tracking.project_list import list_projects

if TYPE_CHECKING:
    from runyard.server.db.models import Project, User

query = QueryType()
project_type = ObjectType("Project")


@query.field("models")
def resolve_models(
    _: Any,
    info: GraphQLResolveInfo,
    entityName: str | None = None,
    after: str | None = None,
    first: int | None = None,
) -> dict[str, Any]:
    """The entity's projects (default: the caller's entity), a page after cursor `after`."""
    context = ctx(info)
    after_id = 0
    if after:
        try:
            after_id = decode_id("Project", after)
        except ValueError as exc:
            raise ServiceError(ErrorCode.INVALID, f"after: {exc}") from exc
    projects, more = list_projects(
        ctx(info).uow,
        context.principal,
        entityName or context.principal.entity_name,
        after_id=after_id,
        limit=50 if first is None else first,
    )
    edges = [{"node": p, "cursor": encode_id("Project", p.id)} for p in projects]
    return {
        "edges": edges,
        "pageInfo": {"endCursor": edges[-1]["cursor"] if edges else None, "hasNextPage": more},
    }


@project_type.field("createdAt")
def resolve_project_created_at(project: Project, _: GraphQLResolveInfo) -> str:
    """When the project was created."""
    return project.created_at.isoformat()


@project_type.field("isBenchmark")
def resolve_project_is_benchmark(*_: Any) -> bool:
    """Runyard has no benchmarks."""
    return False


@project_type.field("user")
def resolve_project_user(project: Project, info: GraphQLResolveInfo) -> User | None:
    """The owner of the project's entity when it is a person's; null for team projects."""
    return directory.owner_of(ctx(info).uow, project.entity)


BINDABLES = [query, project_type]
