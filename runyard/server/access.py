"""The one access rule: who may read, write or manage what an entity holds.

Everything a user can touch (projects, runs, artifacts, queues, items, agents) lives in an
entity: a user's personal entity or a team. A principal's role on an entity decides:

| role            | read | write | manage |
|-----------------|------|-------|--------|
| instance admin  | yes  | yes   | yes    |
| admin (owner)   | yes  | yes   | yes    |
| member          | yes  | yes   | no     |
| viewer          | yes  | no    | no     |
| none            | no   | no    | no     |

"write" is logging runs, artifacts and enqueuing; "manage" is changing who belongs and
queue settings. A caller without any role learns nothing, not even that the entity exists.
These functions are pure: the principal carries its roles, loaded once per request.
"""

from __future__ import annotations

from enum import StrEnum

from runyard.server.auth import Principal, Role
from runyard.server.errors import ErrorCode, ServiceError


class Action(StrEnum):
    """What a caller wants to do with an entity's contents."""

    READ = "read"
    WRITE = "write"
    MANAGE = "manage"


_ALLOWED: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.MEMBER: frozenset({Action.READ, Action.WRITE}),
    Role.VIEWER: frozenset({Action.READ}),
}


def role_on(principal: Principal, entity_name: str) -> Role | None:
    """The caller's role on an entity; the instance admin counts as its admin."""
    if principal.is_admin:
        return Role.ADMIN
    return principal.roles.get(entity_name)


def role_allows(role: Role, action: Action) -> bool:
    """Whether a role allows `action` (the table above; registries apply it per registry)."""
    return action in _ALLOWED[role]


def allows(principal: Principal, entity_name: str, action: Action) -> bool:
    """Whether the caller may do `action` on what `entity_name` holds."""
    role = role_on(principal, entity_name)
    return role is not None and action in _ALLOWED[role]


def require(principal: Principal, entity_name: str, action: Action) -> None:
    """Raise unless the caller may do `action` on `entity_name`.

    Callers with no role at all get `not found`, so entity names cannot be probed; members
    with too small a role get `forbidden` naming their role and who can help.
    """
    if allows(principal, entity_name, action):
        return
    role = role_on(principal, entity_name)
    if role is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"entity {entity_name!r} does not exist or you are not a member of it: ask a team "
            "admin to add you (runyard team add-member), or use your own entity "
            f"{principal.entity_name!r}",
        )
    raise ServiceError(
        ErrorCode.FORBIDDEN,
        f"permission denied: you are a {role.value} of {entity_name!r}, and {action.value} "
        f"needs {_least_role(action).value}; ask an admin of {entity_name!r} to change your role",
    )


def _least_role(action: Action) -> Role:
    for role in (Role.VIEWER, Role.MEMBER, Role.ADMIN):
        if action in _ALLOWED[role]:
            return role
    return Role.ADMIN


def readable_entities(principal: Principal) -> frozenset[str] | None:
    """Names of the entities the caller may read; None means all (the instance admin)."""
    if principal.is_admin:
        return None
    return frozenset(principal.roles)
