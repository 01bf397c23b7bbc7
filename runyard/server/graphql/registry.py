"""Resolvers for the Registry: thin adapters over `runyard.server.registry` services.

Registries, their collections (ArtifactPortfolio), links, collection descriptions and tags,
and the organization-wide search the public API's `api.registries()` uses.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ariadne import MutationType, ObjectType
from graphql import GraphQLResolveInfo

from runyard.server.api.models import as_utc
from runyard.server.artifacts.listing import TypeInProject
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.graphql.context import ctx
from runyard.server.people.directory import ORGANIZATION
from runyard.server.registry import collections, links, members, registries, search
from runyard.server.tracking import artifact_service, project_list, project_reads
from runyard.server.tracking.ids import decode_id, encode_id

if TYPE_CHECKING:
    from runyard.server.db.models import Artifact, ArtifactCollection, Entity, Project
    from runyard.server.tracking.artifacts import Membership

mutation = MutationType()
entity_type = ObjectType("Entity")
organization_type = ObjectType("Organization")
project_type = ObjectType("Project")
portfolio_type = ObjectType("ArtifactPortfolio")


def _iso(value: datetime | None) -> str | None:
    aware = as_utc(value)
    return aware.strftime("%Y-%m-%dT%H:%M:%S") if aware else None


def _connection(page: search.Page[Any]) -> dict[str, Any]:
    start = int(page.end_cursor or 0) - len(page.rows)
    edges = [{"node": row, "cursor": str(start + i + 1)} for i, row in enumerate(page.rows)]
    return {
        "totalCount": page.total,
        "edges": edges,
        "pageInfo": {"endCursor": page.end_cursor, "hasNextPage": page.has_next},
    }


def _tag_node(collection: ArtifactCollection, name: str) -> dict[str, Any]:
    return {"id": encode_id("Tag", f"{collection.id}:{name}"), "name": name}


def _require_org(entity: Entity, field: str) -> None:
    if entity.name != ORGANIZATION:
        raise ServiceError(
            ErrorCode.INVALID,
            f"Entity.{field}: only the organization entity {ORGANIZATION!r} holds registries",
        )


# --- the organization entity ------------------------------------------------------------------


@entity_type.field("project")
def resolve_entity_project(
    entity: Entity, info: GraphQLResolveInfo, name: str | None = None
) -> Project | None:
    """A project of the entity by name (a registry by its roles, for the org entity)."""
    context = ctx(info)
    return project_reads.find_readable_project(
        context.uow, context.principal, entity.name, name or "uncategorized"
    )


@entity_type.field("projects")
def resolve_entity_projects(
    entity: Entity,
    info: GraphQLResolveInfo,
    filters: str | None = None,
    after: str | None = None,
    first: int | None = None,
    order: str | None = None,
) -> dict[str, Any]:
    """The org entity's readable registries matching `filters`; another entity's projects."""
    context = ctx(info)
    if entity.name != ORGANIZATION:
        if filters or order:
            raise ServiceError(
                ErrorCode.INVALID,
                "filters: only the organization's registries can be filtered; list an "
                "entity's projects without filters",
            )
        try:
            after_id = decode_id("Project", after) if after else 0
        except ValueError as exc:
            raise ServiceError(ErrorCode.INVALID, f"after: {exc}") from exc
        rows, more = project_list.list_projects(
            context.uow, context.principal, entity.name, after_id=after_id, limit=first or 50
        )
        edges = [{"node": p, "cursor": encode_id("Project", p.id)} for p in rows]
        end = edges[-1]["cursor"] if edges else None
        return {"edges": edges, "pageInfo": {"endCursor": end, "hasNextPage": more}}
    page = search.registries(context.uow, context.principal, filters, order, after, first)
    return _connection(
        search.Page([v.project for v in page.rows], page.end_cursor, page.has_next, page.total)
    )


@entity_type.field("artifactCollections")
def resolve_entity_collections(
    entity: Entity,
    info: GraphQLResolveInfo,
    projectFilters: str | None = None,
    filters: str | None = None,
    collectionTypes: list[str] | None = None,
    after: str | None = None,
    first: int | None = None,
    order: str | None = None,
) -> dict[str, Any]:
    """Collections of the registries the caller may read matching both filters."""
    _require_org(entity, "artifactCollections")
    context = ctx(info)
    if collectionTypes is not None and "PORTFOLIO" not in collectionTypes:
        return _connection(search.Page([], after, False, 0))
    page = search.collections(
        context.uow, context.principal, projectFilters, filters, order, after, first
    )
    return _connection(page)


@entity_type.field("artifactMemberships")
def resolve_entity_memberships(
    entity: Entity,
    info: GraphQLResolveInfo,
    projectFilters: str | None = None,
    collectionFilters: str | None = None,
    filters: str | None = None,
    after: str | None = None,
    first: int | None = None,
    order: str | None = None,
) -> dict[str, Any]:
    """Versions linked into the readable registries that match the filters."""
    _require_org(entity, "artifactMemberships")
    if order:
        raise ServiceError(
            ErrorCode.INVALID,
            "order: Runyard's registry search lists versions newest link first and cannot "
            "order them otherwise; leave order out",
        )
    context = ctx(info)
    page = search.memberships(
        context.uow, context.principal, projectFilters, collectionFilters, filters, after, first
    )
    return _connection(page)


@organization_type.field("advancedRegistryFeatures")
def resolve_advanced_features(*_: Any) -> dict[str, bool]:
    """Runyard has the basic registry search only."""
    return {"advancedSearch": False}


# --- registry projects ------------------------------------------------------------------------


def _registry_attrs(project: Project, info: GraphQLResolveInfo) -> dict[str, Any] | None:
    view = registries.view_of(ctx(info).uow, project)
    return registries.registry_attrs(view) if view is not None else None


@project_type.field("description")
def resolve_project_description(project: Project, info: GraphQLResolveInfo) -> str | None:
    """A registry's description; other projects their own (None until a writer sets one)."""
    attrs = _registry_attrs(project, info)
    return attrs["description"] if attrs else project.description


@project_type.field("updatedAt")
def resolve_project_updated(project: Project, info: GraphQLResolveInfo) -> str | None:
    """When a registry last changed; when another project was made."""
    attrs = _registry_attrs(project, info)
    return _iso(attrs["updatedAt"] if attrs else project.created_at)


@project_type.field("allowAllArtifactTypesInRegistry")
def resolve_project_allow_all(project: Project, info: GraphQLResolveInfo) -> bool | None:
    """Whether a registry accepts every artifact type."""
    attrs = _registry_attrs(project, info)
    return attrs["allowAllArtifactTypesInRegistry"] if attrs else None


# --- collections ------------------------------------------------------------------------------


def tags_connection(collection: ArtifactCollection) -> dict[str, Any]:
    """A collection's tags as a TagConnection (one page: there are few)."""
    edges = [
        {"node": _tag_node(collection, name), "cursor": name}
        for name in collections.tags_of(collection)
    ]
    end = edges[-1]["cursor"] if edges else None
    return {"edges": edges, "pageInfo": {"endCursor": end, "hasNextPage": False}}


def tag_nodes(collection: ArtifactCollection, names: list[str]) -> list[dict[str, Any]]:
    """Tag objects of a collection."""
    return [_tag_node(collection, name) for name in names]


@portfolio_type.field("description")
def resolve_portfolio_description(collection: ArtifactCollection, _: GraphQLResolveInfo) -> Any:
    """The collection's description."""
    return collection.description


@portfolio_type.field("createdAt")
def resolve_portfolio_created(collection: ArtifactCollection, _: GraphQLResolveInfo) -> Any:
    """When the collection was made (its first link)."""
    return _iso(collection.created_at)


@portfolio_type.field("updatedAt")
def resolve_portfolio_updated(collection: ArtifactCollection, info: GraphQLResolveInfo) -> Any:
    """When a version was last linked into it (its creation before that)."""
    return _iso(collections.updated_at(ctx(info).uow, collection))


@portfolio_type.field("defaultArtifactType")
def resolve_portfolio_type(collection: ArtifactCollection, _: GraphQLResolveInfo) -> Any:
    """The type of the collection's versions."""
    return TypeInProject(collection.project, collection.type_name)


@portfolio_type.field("tags")
def resolve_portfolio_tags(
    collection: ArtifactCollection, info: GraphQLResolveInfo, **_: Any
) -> dict[str, Any]:
    """The collection's tags by name."""
    return tags_connection(collection)


@portfolio_type.field("aliases")
def resolve_portfolio_aliases(
    collection: ArtifactCollection, info: GraphQLResolveInfo, **_: Any
) -> dict[str, Any]:
    """The collection's aliases by name (one page: there are few)."""
    rows = collections.aliases_in(ctx(info).uow, collection)
    edges = [{"node": a, "cursor": a.alias} for a in rows]
    end = edges[-1]["cursor"] if edges else None
    return {"edges": edges, "pageInfo": {"endCursor": end, "hasNextPage": False}}


@portfolio_type.field("state")
def resolve_portfolio_state(*_: Any) -> str:
    """A registry collection that exists is READY."""
    return "READY"


@portfolio_type.field("ttlDurationSeconds")
def resolve_portfolio_ttl(*_: Any) -> None:
    """Registry collections keep no TTL."""
    return None


@portfolio_type.field("id")
def resolve_portfolio_id(collection: ArtifactCollection, _: GraphQLResolveInfo) -> str:
    """Node id of the collection."""
    return encode_id("ArtifactCollection", collection.id)


@portfolio_type.field("artifactMembership")
def resolve_portfolio_membership(
    collection: ArtifactCollection, info: GraphQLResolveInfo, aliasName: str
) -> Membership | None:
    """The linked version an alias or v<N> of this collection points at."""
    uow = ctx(info).uow
    artifact = artifact_service.find_version(uow, collection, aliasName)
    return artifact_service.membership_of(uow, collection, artifact) if artifact else None


@portfolio_type.field("latestArtifact")
def resolve_portfolio_latest(
    collection: ArtifactCollection, info: GraphQLResolveInfo
) -> Artifact | None:
    """The version linked last (`latest` of this collection)."""
    return artifact_service.latest_version(ctx(info).uow, collection)


def _linked_page(
    collection: ArtifactCollection,
    info: GraphQLResolveInfo,
    after: str | None,
    first: int | None,
    filters: str | None = None,
    order: str | None = None,
) -> search.Page[Membership]:
    rows = collections.linked_versions(ctx(info).uow, collection, filters, order)
    return search.page_of(rows, after, first)


@portfolio_type.field("artifacts")
def resolve_portfolio_artifacts(
    collection: ArtifactCollection,
    info: GraphQLResolveInfo,
    after: str | None = None,
    first: int | None = None,
    filters: str | None = None,
    order: str | None = None,
) -> dict[str, Any]:
    """The linked versions, newest first, with their v<N> in this collection."""
    connection = _connection(_linked_page(collection, info, after, first, filters, order))
    for edge in connection["edges"]:
        membership: Membership = edge["node"]
        edge["node"] = membership.artifact
        edge["version"] = f"v{membership.version_index}"
    return connection


@portfolio_type.field("artifactMemberships")
def resolve_portfolio_memberships(
    collection: ArtifactCollection,
    info: GraphQLResolveInfo,
    after: str | None = None,
    first: int | None = None,
) -> dict[str, Any]:
    """The linked versions as memberships, newest first."""
    return _connection(_linked_page(collection, info, after, first))


# --- mutations --------------------------------------------------------------------------------


@mutation.field("linkArtifact")
def resolve_link(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Link a committed version into a registry collection or a project's portfolio."""
    context = ctx(info)
    membership = links.link_artifact(
        context.uow, context.principal, links.LinkSpec.model_validate(input)
    )
    return {
        "versionIndex": membership.version_index,
        "artifactMembership": membership,
        "clientMutationId": input.get("clientMutationId"),
    }


@mutation.field("unlinkArtifact")
def resolve_unlink(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Remove a version's link from a portfolio."""
    context = ctx(info)
    links.unlink_artifact(
        context.uow, context.principal, input["artifactID"], input["artifactPortfolioID"]
    )
    return {"success": True}


@mutation.field("deleteModel")
def resolve_delete_model(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Delete a registry by its project id."""
    context = ctx(info)
    registries.delete_registry(context.uow, context.principal, input["id"])
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


@mutation.field("updateArtifactPortfolio")
def resolve_update_portfolio(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Rename a portfolio or change its description."""
    context = ctx(info)
    collection = collections.update_collection(
        context.uow,
        context.principal,
        input["artifactPortfolioID"],
        "artifactPortfolioID",
        input.get("name"),
        input.get("description"),
    )
    return {"artifactCollection": collection, "clientMutationId": input.get("clientMutationId")}


# --- members ----------------------------------------------------------------------------------


@project_type.field("members")
def resolve_project_members(project: Project, info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    """The users a registry names with their roles."""
    context = ctx(info)
    return [
        {
            "id": encode_id("User", user.id),
            "name": user.username,
            "username": user.username,
            "email": user.email,
            "role": {"name": role.value},
        }
        for user, role in members.user_members(context.uow, context.principal, project)
    ]


@project_type.field("teamMembers")
def resolve_project_team_members(
    project: Project, info: GraphQLResolveInfo
) -> list[dict[str, Any]]:
    """The teams a registry names with their roles."""
    context = ctx(info)
    return [
        {"team": team, "role": {"name": role.value}}
        for team, role in members.team_members(context.uow, context.principal, project)
    ]


@mutation.field("createProjectMembers")
def resolve_add_members(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Add users and teams to a registry as viewers."""
    context = ctx(info)
    members.add_members(
        context.uow,
        context.principal,
        input["projectId"],
        input.get("userIds") or [],
        input.get("teamIds") or [],
    )
    return {"success": True}


@mutation.field("deleteProjectMembers")
def resolve_remove_members(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Remove users and teams from a registry."""
    context = ctx(info)
    members.remove_members(
        context.uow,
        context.principal,
        input["projectId"],
        input.get("userIds") or [],
        input.get("teamIds") or [],
    )
    return {"success": True}


@mutation.field("updateProjectMember")
def resolve_user_role(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Set a user's role in a registry."""
    context = ctx(info)
    members.set_role(
        context.uow,
        context.principal,
        input["projectId"],
        user_id=input["userId"],
        role=input["userProjectRole"],
    )
    return {"success": True}


@mutation.field("updateProjectTeamMember")
def resolve_team_role(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Set a team's role in a registry."""
    context = ctx(info)
    members.set_role(
        context.uow,
        context.principal,
        input["projectId"],
        team_id=input["teamId"],
        role=input["teamProjectRole"],
    )
    return {"success": True}


BINDABLES = [
    mutation,
    entity_type,
    organization_type,
    project_type,
    portfolio_type,
]
