"""Resolvers for who is calling and what the server offers: `viewer`, `serverInfo`, `entity`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ariadne import ObjectType, QueryType
from graphql import GraphQLResolveInfo

from runyard import __version__
from runyard.server.auth import Principal
from runyard.server.graphql.context import ctx
from runyard.server.tracking import entities
from runyard.server.tracking.ids import encode_id

if TYPE_CHECKING:
    from runyard.server.db.models import Entity

query = QueryType()
user = ObjectType("User")
entity_type = ObjectType("Entity")


@query.field("viewer")
def resolve_viewer(_: Any, info: GraphQLResolveInfo) -> Principal:
    """The user owning the request's API key."""
    return ctx(info).principal


@user.field("id")
def resolve_user_id(principal: Principal, _: GraphQLResolveInfo) -> str:
    """Node id of the user."""
    return encode_id("User", principal.user_id)


@user.field("entity")
def resolve_user_entity(principal: Principal, _: GraphQLResolveInfo) -> str:
    """The user's default entity: where runs go when the client sends no entity."""
    return principal.entity_name


@user.field("name")
def resolve_user_name(principal: Principal, _: GraphQLResolveInfo) -> str:
    """Display name of the user."""
    return principal.username


@user.field("flags")
def resolve_user_flags(*_: Any) -> str:
    """Feature flags (a JSON string); Runyard sets none."""
    return "{}"


@user.field("admin")
def resolve_user_admin(principal: Principal, _: GraphQLResolveInfo) -> bool:
    """Whether the user administers this server."""
    return principal.is_admin


@user.field("teams")
def resolve_user_teams(principal: Principal, _: GraphQLResolveInfo) -> dict[str, Any]:
    """Entities the user may use; for now their personal one."""
    return {"edges": [{"node": {"name": principal.entity_name}}]}


@user.field("apiKeys")
def resolve_user_api_keys(principal: Principal, info: GraphQLResolveInfo) -> dict[str, Any]:
    """The user's API keys, identified by their last characters (never the key itself)."""
    keys = entities.api_keys_of(ctx(info).uow, principal)
    return {
        "edges": [
            {
                "node": {
                    "id": encode_id("ApiKey", k.id),
                    "name": k.hint,
                    "description": k.description,
                }
            }
            for k in keys
        ]
    }


@query.field("serverInfo")
def resolve_server_info(*_: Any) -> dict[str, Any]:
    """Server version and feature flags; the client treats missing features as off."""
    return {
        "features": [],
        "cliVersionInfo": {"max_cli_version": None},
        "latestLocalVersionInfo": {
            "outOfDate": False,
            "latestVersionString": __version__,
            "versionOnThisInstanceString": __version__,
        },
    }


@query.field("entity")
def resolve_entity(_: Any, info: GraphQLResolveInfo, name: str | None = None) -> Entity | None:
    """An entity by name (default: the caller's)."""
    wanted = name or ctx(info).principal.entity_name
    return entities.find_entity(ctx(info).uow, wanted)


@entity_type.field("id")
def resolve_entity_id(entity: Entity, _: GraphQLResolveInfo) -> str:
    """Node id of the entity."""
    return encode_id("Entity", entity.id)


@entity_type.field("organization")
def resolve_entity_organization(*_: Any) -> None:
    """Runyard has no organizations above entities."""
    return None


BINDABLES = [query, user, entity_type]
