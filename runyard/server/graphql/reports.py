"""Resolvers for saved views (reports): thin adapters over `runyard.server.reports.views`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ariadne import MutationType, ObjectType, QueryType
from graphql import GraphQLResolveInfo

from runyard.server.access import Action, allows
from runyard.server.api.models import as_utc
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.graphql.context import ctx
from runyard.server.reports import sharing, views
from runyard.server.tracking.ids import decode_id, encode_id

if TYPE_CHECKING:
    from runyard.server.db.models import Project, View, ViewAccessToken

query = QueryType()
mutation = MutationType()
project_type = ObjectType("Project")
view_type = ObjectType("View")
token_type = ObjectType("ViewAccessToken")
MAX_PAGE = 1000
DEFAULT_PAGE = 50


def _iso(value: datetime | None) -> str | None:
    aware = as_utc(value)
    return aware.strftime("%Y-%m-%dT%H:%M:%S") if aware else None


@query.field("view")
def resolve_view(_: Any, info: GraphQLResolveInfo, id: str) -> View | None:
    """A readable view by node id."""
    context = ctx(info)
    return views.get_view(context.uow, context.principal, id)


@mutation.field("upsertView")
def resolve_upsert_view(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Create or revise a view."""
    context = ctx(info)
    given = views.ViewInput(
        id=input.get("id"),
        entity_name=input.get("entityName"),
        project_name=input.get("projectName"),
        name=input.get("name"),
        display_name=input.get("displayName"),
        description=input.get("description"),
        type=input.get("type"),
        spec=input.get("spec") or "",
    )
    view, inserted = views.upsert_view(context.uow, context.principal, given)
    return {"view": view, "inserted": inserted}


@mutation.field("deleteView")
def resolve_delete_view(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Delete a view."""
    context = ctx(info)
    if not input.get("id"):
        raise ServiceError(ErrorCode.INVALID, "id: required; pass the report's id")
    views.delete_view(context.uow, context.principal, input["id"])
    return {"success": True, "pendingDrafts": False}


@project_type.field("allViews")
def resolve_all_views(
    project: Project,
    info: GraphQLResolveInfo,
    viewType: str | None = None,
    viewName: str | None = None,
    userName: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    """A page of the project's views, newest first."""
    size = DEFAULT_PAGE if first is None else first
    if not 1 <= size <= MAX_PAGE:
        raise ServiceError(ErrorCode.INVALID, f"first: must lie within 1..{MAX_PAGE}, got {size}")
    after_pk = None
    if after:
        try:
            after_pk = decode_id("View", after)
        except ValueError as exc:
            raise ServiceError(ErrorCode.INVALID, f"after: {exc}") from exc
    page = views.list_views(ctx(info).uow, project, viewType, viewName, size, after_pk)
    edges = [{"node": v, "cursor": encode_id("View", v.id)} for v in page.views]
    return {
        "edges": edges,
        "pageInfo": {
            "endCursor": edges[-1]["cursor"] if edges else None,
            "hasNextPage": page.has_next,
        },
    }


@view_type.field("id")
def resolve_view_id(view: View, _: GraphQLResolveInfo) -> str:
    """The view's node id (`View:<pk>` in base64, as W&B's report URLs carry)."""
    return encode_id("View", view.id)


@view_type.field("displayName")
def resolve_display_name(view: View, _: GraphQLResolveInfo) -> str:
    """The report's title."""
    return view.display_name


@view_type.field("entityName")
def resolve_entity_name(view: View, _: GraphQLResolveInfo) -> str:
    """The entity owning the view's project."""
    return views.entity_of(view).name


@view_type.field("projectName")
def resolve_project_name(view: View, _: GraphQLResolveInfo) -> str:
    """The view's project."""
    return view.project.name


@view_type.field("createdAt")
def resolve_created_at(view: View, _: GraphQLResolveInfo) -> str | None:
    """When the view was first saved."""
    return _iso(view.created_at)


@view_type.field("updatedAt")
def resolve_updated_at(view: View, _: GraphQLResolveInfo) -> str | None:
    """When the view was last saved."""
    return _iso(view.updated_at)


@view_type.field("accessTokens")
def resolve_access_tokens(view: View, info: GraphQLResolveInfo) -> list[ViewAccessToken]:
    """The view's share links, for those who may edit it (readers see none)."""
    context = ctx(info)
    if not allows(context.principal, views.entity_of(view).name, Action.WRITE):
        return []
    return sharing.tokens_of(context.uow, view)


@mutation.field("createAccessToken")
def resolve_create_token(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """A new share link."""
    context = ctx(info)
    row = sharing.create_token(context.uow, context.principal, input["viewId"], input["projects"])
    return {"accessToken": row}


@mutation.field("updateAccessTokenProjects")
def resolve_update_token(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Re-scope a share link."""
    context = ctx(info)
    sharing.update_projects(context.uow, context.principal, input["token"], input["projects"])
    return {"success": True}


@mutation.field("revokeAccessToken")
def resolve_revoke_token(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """End a share link."""
    context = ctx(info)
    sharing.revoke(context.uow, context.principal, input["token"])
    return {"success": True}


@token_type.field("id")
def resolve_token_id(row: ViewAccessToken, _: GraphQLResolveInfo) -> str:
    """The link's node id."""
    return encode_id("AccessToken", row.id)


@token_type.field("type")
def resolve_token_type(*_: Any) -> str:
    """Every link is PUBLIC: anyone holding it may read."""
    return "PUBLIC"


@token_type.field("createdAt")
def resolve_token_created(row: ViewAccessToken, _: GraphQLResolveInfo) -> str | None:
    """When the link was made."""
    return _iso(row.created_at)


@token_type.field("revokedAt")
def resolve_token_revoked(row: ViewAccessToken, _: GraphQLResolveInfo) -> str | None:
    """When the link was ended; null while it works."""
    return _iso(row.revoked_at)


@token_type.field("projects")
def resolve_token_projects(row: ViewAccessToken, info: GraphQLResolveInfo) -> list[Project]:
    """The projects the link draws."""
    return sharing.token_projects(ctx(info).uow, row)


BINDABLES = [query, mutation, project_type, view_type, token_type]
