"""Queries and mutations for people and teams: users, teams, members, API keys, the organization.

What the official client's `wandb.Api` sends for `create_user`, `create_team`, `user`, `users`,
`viewer`, `Team.invite`, `Team.create_service_account`, `User.generate_api_key` and
`delete_api_key`, and `Member.delete`. Each resolver calls one people service and shapes the
answer; the services decide who may do what. The types' fields are in `people_types`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ariadne import MutationType, QueryType
from graphql import GraphQLResolveInfo

from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.graphql.context import ctx
from runyard.server.graphql.people_types import iso, key_node, organization_id, organization_node
from runyard.server.people import directory, keys, teams, users
from runyard.server.tracking.ids import decode_id, encode_id

if TYPE_CHECKING:
    from runyard.server.db.models import User

query = QueryType()
mutation = MutationType()

# How many numbered names `createUser` tries after the email's local part is taken.
_MAX_NAME_TRIES = 100
_NAME_CHARS = re.compile(r"[^a-z0-9_-]+")


def username_from_email(email: str, attempt: int = 0) -> str:
    """The username `createUser` gives an email: its local part, lowercased, in [a-z0-9_-].

    Attempt n > 0 appends `-n`, for when the plain name is taken.
    """
    local = email.partition("@")[0].lower()
    base = _NAME_CHARS.sub("-", local).strip("-_")[:60] or "user"
    return base if attempt == 0 else f"{base}-{attempt}"


def _decode(type_name: str, node_id: str, field: str) -> int:
    try:
        return decode_id(type_name, node_id)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"{field}: {exc}") from exc


# ---- Queries ----


@query.field("users")
def resolve_users(
    _: Any, info: GraphQLResolveInfo, query: str | None = None, first: int | None = None
) -> dict[str, Any]:
    """Users whose username or email contains `query`, exact matches first (admins only)."""
    context = ctx(info)
    found = users.list_users(ctx(info).uow, context.principal)
    wanted = matching_users(found, query)
    if first is not None:
        wanted = wanted[: max(first, 0)]
    return {"edges": [{"node": u} for u in wanted]}


def matching_users(candidates: list[User], query: str | None) -> list[User]:
    """Users whose username or email contains `query` (case-insensitive), exact matches first."""
    if not query:
        return list(candidates)
    needle = query.lower()
    hits = [u for u in candidates if needle in u.username.lower() or needle in u.email.lower()]
    return sorted(hits, key=lambda u: (needle not in (u.username.lower(), u.email.lower()), u.id))


@query.field("user")
def resolve_user(
    _: Any, info: GraphQLResolveInfo, userName: str | None = None, id: str | None = None
) -> User:
    """A user by username, email or node id: the caller itself, or anyone for instance admins."""
    context = ctx(info)
    if id is not None:
        return directory.find_user(ctx(info).uow, context.principal, _decode("User", id, "id"))
    if not userName:
        raise ServiceError(ErrorCode.INVALID, "user: pass userName (a username or email) or id")
    return directory.find_user(ctx(info).uow, context.principal, userName)


@query.field("organization")
def resolve_organization(
    _: Any, info: GraphQLResolveInfo, name: str | None = None, id: str | None = None
) -> dict[str, Any] | None:
    """The server's one implicit organization; null for any other name."""
    if name is not None and name != directory.ORGANIZATION:
        return None
    if id is not None and id != organization_id():
        return None
    return organization_node()


# ---- Mutations ----


@mutation.field("createUser")
def resolve_create_user(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Create a user from an email; the username is the local part, numbered when taken."""
    context = ctx(info)
    email = (input.get("email") or "").strip()
    if "@" not in email:
        raise ServiceError(
            ErrorCode.INVALID, f"email: {email!r} is not an email address (name@example.com)"
        )
    for attempt in range(_MAX_NAME_TRIES):
        try:
            user, key = users.create_user(
                ctx(info).uow,
                context.principal,
                username_from_email(email, attempt),
                email=email,
                admin=bool(input.get("admin")),
            )
        except ServiceError as exc:
            if exc.code is ErrorCode.CONFLICT:
                continue
            raise
        return {"user": user, "apiKey": key}
    raise ServiceError(
        ErrorCode.CONFLICT,
        f"email: the usernames {username_from_email(email)!r} to "
        f"{username_from_email(email, _MAX_NAME_TRIES - 1)!r} are all taken; create the user "
        "with `runyard user create NAME --email E`",
    )


@mutation.field("updateUser")
def resolve_update_user(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Change a user's default entity (the caller's, or another's for instance admins)."""
    context = ctx(info)
    target = (
        directory.find_user(ctx(info).uow, context.principal, _decode("User", input["id"], "id"))
        if input.get("id")
        else directory.current_user(ctx(info).uow, context.principal)
    )
    if input.get("defaultEntity"):
        target = users.set_default_entity(
            ctx(info).uow, context.principal, target.username, input["defaultEntity"]
        )
    return {"user": target}


@mutation.field("createTeam")
def resolve_create_team(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Create a team with `teamAdminUserName` (default: the caller) as its admin."""
    context = ctx(info)
    entity = teams.create_team(
        ctx(info).uow,
        context.principal,
        input["teamName"],
        admin_username=input.get("teamAdminUserName") or None,
        users_can_create=context.state.settings.users_can_create_teams,
    )
    return {"entity": entity}


@mutation.field("createInvite")
def resolve_create_invite(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Add an existing user (by username or email) to a team, as admin or member."""
    context = ctx(info)
    team = input["entityName"]
    username = input.get("username")
    if not username:
        email = input.get("email")
        if not email:
            raise ServiceError(ErrorCode.INVALID, "createInvite: pass username or email")
        found = users.find_user_by_email(ctx(info).uow, email)
        # An unknown email is refused like a non-member would be: nothing to probe.
        username = found.username if found is not None else email
    role = input.get("role") or ("admin" if input.get("admin") else "member")
    member = teams.add_member(ctx(info).uow, context.principal, team, username, role)
    user = member.user
    return {
        "invite": {
            "id": encode_id("User", user.id),
            "name": user.username,
            "email": user.email,
            "createdAt": iso(member.created_at),
            "toUser": user,
        }
    }


@mutation.field("deleteInvite")
def resolve_delete_invite(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Remove a member (by the id `Entity.members` gives) from a team."""
    context = ctx(info)
    team = input.get("entityName")
    if not team or not input.get("id"):
        raise ServiceError(
            ErrorCode.INVALID, "deleteInvite: pass id (a member's id) and entityName (the team)"
        )
    user_id = _decode("User", input["id"], "id")
    members = teams.list_members(ctx(info).uow, context.principal, team)
    member = next((m for m in members if m.user_id == user_id), None)
    if member is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"id: {input['id']!r} is not a member of {team!r}")
    teams.remove_member(ctx(info).uow, context.principal, team, member.user.username)
    return {"success": True}


@mutation.field("createServiceAccount")
def resolve_create_service_account(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Create a team's service account; its key is in the answer, this once."""
    context = ctx(info)
    user, key = teams.create_service_account(
        ctx(info).uow, context.principal, input["entityName"], input.get("description") or ""
    )
    return {"user": user, "apiKey": key}


@mutation.field("generateApiKey")
def resolve_generate_api_key(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """A new key for the caller (or `userName`); the answer's `name` is the key itself."""
    context = ctx(info)
    username = input.get("userName") or None
    key = keys.create_key(
        ctx(info).uow,
        context.principal,
        username=username,
        description=input.get("description") or "",
    )
    rows = keys.list_keys(ctx(info).uow, context.principal, username)
    row = max((r for r in rows if key.endswith(r.hint)), key=lambda r: r.id)
    return {"apiKey": key_node(row, name=key)}


@mutation.field("deleteApiKey")
def resolve_delete_api_key(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Revoke a key by its node id."""
    context = ctx(info)
    keys.revoke_key(ctx(info).uow, context.principal, _decode("ApiKey", input["id"], "id"))
    return {"success": True}


BINDABLES = [query, mutation]
