"""Resolvers for who is calling and what the server offers: `viewer`, `serverInfo`, `entity`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ariadne import ObjectType, QueryType
from graphql import GraphQLResolveInfo

from runyard import __version__
from runyard.server import server_info
from runyard.server.graphql.context import ctx
from runyard.server.graphql.people_types import organization_node
from runyard.server.people import directory
from runyard.server.tracking.ids import encode_id

if TYPE_CHECKING:
    from runyard.server.db.models import Entity, User

query = QueryType()
entity_type = ObjectType("Entity")


@query.field("viewer")
def resolve_viewer(_: Any, info: GraphQLResolveInfo) -> User:
    """The user owning the request's API key."""
    context = ctx(info)
    return directory.current_user(ctx(info).uow, context.principal)


@query.field("serverInfo")
def resolve_server_info(_: Any, info: GraphQLResolveInfo) -> dict[str, Any]:
    """Server version, supported client versions and features (missing features are off)."""
    return {
        "features": [{"name": name, "isEnabled": True} for name in server_info.FEATURES],
        "cliVersionInfo": server_info.cli_version_info(ctx(info).state.settings),
        "latestLocalVersionInfo": {
            "outOfDate": False,
            "latestVersionString": __version__,
            "versionOnThisInstanceString": __version__,
        },
    }


@query.field("entity")
def resolve_entity(_: Any, info: GraphQLResolveInfo, name: str | None = None) -> Entity | None:
    """An entity by name (default: the caller's); null when missing or not readable alike."""
    context = ctx(info)
    return directory.entity_for(
        ctx(info).uow, context.principal, name or context.principal.entity_name
    )


@entity_type.field("id")
def resolve_entity_id(entity: Entity, _: GraphQLResolveInfo) -> str:
    """Node id of the entity."""
    return encode_id("Entity", entity.id)


@entity_type.field("organization")
def resolve_entity_organization(entity: Entity, _: GraphQLResolveInfo) -> dict[str, Any] | None:
    """Every entity is in the server's one implicit organization, personal ones too: every
    user belongs to it, and clients before 0.20 link to the Registry only through
    `entity.organization` of the run's entity (newer ones also try `user.organizations`)."""
    return organization_node()


BINDABLES = [query, entity_type]
