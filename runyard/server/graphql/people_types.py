"""Fields of the people types: User, Entity (its people fields), Member and Organization.

A User object may be a user row or, where a resolver answers with the caller's principal, a
`Principal`; `as_user` turns either into the row. The people services decide what a caller
may see; these resolvers only shape it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ariadne import ObjectType
from graphql import GraphQLResolveInfo

from runyard.server.access import Action, allows
from runyard.server.auth import Principal
from runyard.server.graphql.context import ctx
from runyard.server.people import directory, teams
from runyard.server.tracking.ids import encode_id

if TYPE_CHECKING:
    from runyard.server.db.models import ApiKey, Entity, User

user_type = ObjectType("User")
entity_type = ObjectType("Entity")
member_type = ObjectType("Member")
organization_type = ObjectType("Organization")


def iso(moment: datetime | None) -> str | None:
    """A timestamp in ISO 8601 form, or None."""
    return moment.isoformat() if moment is not None else None


def key_node(row: ApiKey, name: str | None = None) -> dict[str, Any]:
    """An ApiKey node: its `name` is the key's last characters (the full key only when new)."""
    return {
        "id": encode_id("ApiKey", row.id),
        "name": name or row.hint,
        "description": row.description,
    }


def member_node(user: User, role: str) -> dict[str, Any]:
    """A Member object: a user and its role in a team."""
    return {
        "id": encode_id("User", user.id),
        "admin": role == "admin",
        "role": role,
        "pending": False,
        "email": user.email,
        "username": user.username,
        "name": user.username,
        "photoUrl": None,
        "accountType": account_type(user),
        "apiKey": None,
    }


def account_type(user: User) -> str:
    """USER, or SERVICE for a team's service account."""
    return "SERVICE" if user.is_service_account else "USER"


def organization_id() -> str:
    """Node id of the implicit organization."""
    return encode_id("Organization", directory.ORGANIZATION)


def organization_node() -> dict[str, Any]:
    """The implicit organization as a GraphQL object."""
    return {"id": organization_id(), "name": directory.ORGANIZATION}


@organization_type.field("orgEntity")
def resolve_org_entity(_: Any, info: GraphQLResolveInfo) -> Entity | None:
    """The entity that holds the organization's registries."""
    return directory.organization(ctx(info).uow)


# ---- User ----


def as_user(parent: User | Principal, info: GraphQLResolveInfo) -> User:
    """The user row behind a User object (some resolvers answer with a principal)."""
    if isinstance(parent, Principal):
        return directory.user_by_id(ctx(info).uow, parent.user_id)
    return parent


@user_type.field("id")
def resolve_user_id(parent: User | Principal, info: GraphQLResolveInfo) -> str:
    """Node id of the user."""
    user = as_user(parent, info)
    return encode_id("User", user.id)


@user_type.field("name")
def resolve_user_name(parent: User | Principal, info: GraphQLResolveInfo) -> str:
    """Display name of the user (its username)."""
    user = as_user(parent, info)
    return user.username


@user_type.field("entity")
def resolve_user_entity(parent: User | Principal, info: GraphQLResolveInfo) -> str:
    """The user's default entity: where runs go when the client sends no entity."""
    user = as_user(parent, info)
    return user.default_entity.name


@user_type.field("admin")
def resolve_user_admin(parent: User | Principal, info: GraphQLResolveInfo) -> bool:
    """Whether the user administers this server."""
    user = as_user(parent, info)
    return user.is_admin


@user_type.field("flags")
def resolve_user_flags(*_: Any) -> str:
    """Feature flags (a JSON string); Runyard sets none."""
    return "{}"


@user_type.field("deletedAt")
def resolve_user_deleted_at(parent: User | Principal, info: GraphQLResolveInfo) -> str | None:
    """When the user was disabled."""
    user = as_user(parent, info)
    return iso(user.disabled_at)


@user_type.field("accountType")
def resolve_user_account_type(parent: User | Principal, info: GraphQLResolveInfo) -> str:
    """USER, or SERVICE for a service account."""
    user = as_user(parent, info)
    return account_type(user)


@user_type.field("teams")
def resolve_user_teams(parent: User | Principal, info: GraphQLResolveInfo) -> dict[str, Any]:
    """The user's personal entity and teams that the caller may see."""
    user = as_user(parent, info)
    context = ctx(info)
    found = directory.teams_of(ctx(info).uow, context.principal, user)
    return {"edges": [{"node": e} for e in found]}


@user_type.field("apiKeys")
def resolve_user_api_keys(parent: User | Principal, info: GraphQLResolveInfo) -> dict[str, Any]:
    """The user's keys by their last characters; empty unless the caller is the user or admin."""
    user = as_user(parent, info)
    context = ctx(info)
    found = directory.keys_of(ctx(info).uow, context.principal, user)
    return {"edges": [{"node": key_node(k)} for k in found]}


@user_type.field("organizations")
def resolve_user_organizations(*_: Any) -> list[dict[str, Any]]:
    """Every user belongs to the one implicit organization."""
    return [organization_node()]


# ---- Entity ----


@entity_type.field("available")
def resolve_entity_available(*_: Any) -> bool:
    """An existing entity's name is taken."""
    return False


@entity_type.field("readOnly")
def resolve_entity_read_only(entity: Entity, info: GraphQLResolveInfo) -> bool:
    """Whether the caller may only read (a viewer)."""
    return not allows(ctx(info).principal, entity.name, Action.WRITE)


@entity_type.field("readOnlyAdmin")
def resolve_entity_read_only_admin(entity: Entity, info: GraphQLResolveInfo) -> bool:
    """Whether the caller may not manage the entity."""
    return not allows(ctx(info).principal, entity.name, Action.MANAGE)


@entity_type.field("entityType")
def resolve_entity_type(entity: Entity, _: GraphQLResolveInfo) -> str:
    """user, team or organization."""
    if entity.name == directory.ORGANIZATION and entity.is_team:
        return "organization"
    return "team" if entity.is_team else "user"


@entity_type.field("privateOnly")
def resolve_entity_private_only(*_: Any) -> bool:
    """Projects are private to their entity."""
    return True


@entity_type.field("storageBytes")
def resolve_entity_storage_bytes(*_: Any) -> int:
    """Storage is not metered per entity."""
    return 0


@entity_type.field("codeSavingEnabled")
def resolve_entity_code_saving(*_: Any) -> bool:
    """Code saving is the client's choice."""
    return False


@entity_type.field("defaultAccess")
def resolve_entity_default_access(*_: Any) -> str:
    """Projects are visible to their entity only."""
    return "PRIVATE"


@entity_type.field("isPaid")
def resolve_entity_is_paid(*_: Any) -> bool:
    """No billing."""
    return False


@entity_type.field("limits")
def resolve_entity_limits(*_: Any) -> str:
    """No plan limits."""
    return "{}"


@entity_type.field("members")
def resolve_entity_members(entity: Entity, info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    """A team's members; a personal entity's only member is its owner (as admin)."""
    context = ctx(info)
    if entity.is_team:
        found = teams.list_members(ctx(info).uow, context.principal, entity.name)
        # Oldest membership first, as W&B lists them: a new service account comes last.
        return [member_node(m.user, m.role) for m in sorted(found, key=lambda m: m.id)]
    owner = directory.owner_of(ctx(info).uow, entity)
    return [] if owner is None else [member_node(owner, "admin")]


@entity_type.field("user")
def resolve_entity_user(entity: Entity, info: GraphQLResolveInfo) -> User | None:
    """The owner of a personal entity; null for teams."""
    return directory.owner_of(ctx(info).uow, entity)


BINDABLES = [user_type, entity_type, member_type, organization_type]
