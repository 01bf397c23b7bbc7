"""Registry members: users and teams with a role in a registry (`registry.add_members`,
`update_member`, `remove_members`, `user_members`, `team_members`).

Only a registry's admins (and instance admins) change who belongs; anyone who may read the
registry may see its members (the seeds: viewers see "the registry's settings and user
list"). A team's role applies to each of its members (see `access.decide_role`).
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.server.access import Action
from runyard.server.auth import Principal, Role
from runyard.server.db.models import Entity, Project, User
from runyard.server.db.registry_models import RegistryMember
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.registry import access
from runyard.server.registry.names import registry_name
from runyard.server.tracking.ids import decode_id
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)
# Roles a registry member may hold; W&B's restricted_viewer reads as viewer here.
ROLE_NAMES = {"admin": "admin", "member": "member", "viewer": "viewer"}
ROLE_ALIASES = {"restricted_viewer": "viewer"}


def _registry(uow: UnitOfWork, principal: Principal, node_id: str, action: Action) -> Project:
    session = uow.session
    try:
        pk = decode_id("Project", node_id)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"projectId: {exc}") from exc
    project = session.get(Project, pk)
    name = registry_name(project.name) if project is not None else node_id
    if project is not None and not access.governs(project.entity.name, project.name):
        project = None
    return access.require_registry(session, principal, project, name, action)


def _role(value: str, field: str) -> str:
    role = ROLE_NAMES.get(value) or ROLE_ALIASES.get(value)
    if role is None:
        raise ServiceError(
            ErrorCode.INVALID,
            f"{field}: {value!r} is not a registry role: use admin, member or viewer",
        )
    return role


def _users(session: Session, ids: list[str]) -> list[User]:
    users = []
    for node_id in ids:
        try:
            user = session.get(User, decode_id("User", node_id))
        except ValueError as exc:
            raise ServiceError(ErrorCode.INVALID, f"userIds: {exc}") from exc
        if user is None:
            raise ServiceError(ErrorCode.NOT_FOUND, f"userIds: no user {node_id!r}")
        users.append(user)
    return users


def _teams(session: Session, ids: list[str]) -> list[Entity]:
    teams = []
    for node_id in ids:
        try:
            team = session.get(Entity, decode_id("Entity", node_id))
        except ValueError as exc:
            raise ServiceError(ErrorCode.INVALID, f"teamIds: {exc}") from exc
        if team is None or not team.is_team:
            raise ServiceError(ErrorCode.NOT_FOUND, f"teamIds: no team {node_id!r}")
        teams.append(team)
    return teams


def _row(
    session: Session, project: Project, user: User | None, team: Entity | None
) -> RegistryMember | None:
    query = select(RegistryMember).where(RegistryMember.project_id == project.id)
    if user is not None:
        query = query.where(RegistryMember.user_id == user.id)
    else:
        assert team is not None
        query = query.where(RegistryMember.team_id == team.id)
    return session.scalars(query).first()


def add_members(
    uow: UnitOfWork, principal: Principal, node_id: str, user_ids: list[str], team_ids: list[str]
) -> None:
    """Add users and teams to a registry as viewers (the seeds' default role); members
    already there keep their role."""
    session = uow.session
    project = _registry(uow, principal, node_id, Action.MANAGE)
    if not user_ids and not team_ids:
        raise ServiceError(ErrorCode.INVALID, "userIds: name at least one user or team to add")
    for user in _users(session, user_ids):
        if _row(session, project, user, None) is None:
            session.add(RegistryMember(project_id=project.id, user_id=user.id, role="viewer"))
    for team in _teams(session, team_ids):
        if _row(session, project, None, team) is None:
            session.add(RegistryMember(project_id=project.id, team_id=team.id, role="viewer"))
    session.flush()


def remove_members(
    uow: UnitOfWork, principal: Principal, node_id: str, user_ids: list[str], team_ids: list[str]
) -> None:
    """Remove users and teams from a registry (those not in it are ignored)."""
    session = uow.session
    project = _registry(uow, principal, node_id, Action.MANAGE)
    rows = [_row(session, project, u, None) for u in _users(session, user_ids)]
    rows += [_row(session, project, None, t) for t in _teams(session, team_ids)]
    for row in rows:
        if row is not None:
            session.delete(row)
    session.flush()


def set_role(
    uow: UnitOfWork,
    principal: Principal,
    node_id: str,
    *,
    user_id: str | None = None,
    team_id: str | None = None,
    role: str,
) -> None:
    """Give a user or a team a role in a registry (adding it when it is not there yet)."""
    session = uow.session
    project = _registry(uow, principal, node_id, Action.MANAGE)
    field = "userProjectRole" if user_id is not None else "teamProjectRole"
    name = _role(role, field)
    user = _users(session, [user_id])[0] if user_id is not None else None
    team = _teams(session, [team_id])[0] if team_id is not None else None
    row = _row(session, project, user, team)
    if row is None:
        row = RegistryMember(
            project_id=project.id,
            user_id=user.id if user else None,
            team_id=team.id if team else None,
        )
        session.add(row)
    row.role = name
    session.flush()
    logger.info(
        "registry role set",
        extra={"registry": project.name, "user": user_id, "team": team_id, "role": name},
    )


def user_members(
    uow: UnitOfWork, principal: Principal, project: Project
) -> list[tuple[User, Role]]:
    """The users a registry names, with their roles there."""
    rows = uow.session.scalars(
        select(RegistryMember)
        .where(RegistryMember.project_id == project.id, RegistryMember.user_id.is_not(None))
        .order_by(RegistryMember.id)
    )
    return [(row.user, Role(row.role)) for row in rows if row.user is not None]


def team_members(
    uow: UnitOfWork, principal: Principal, project: Project
) -> list[tuple[Entity, Role]]:
    """The teams a registry names, with their roles there."""
    rows = uow.session.scalars(
        select(RegistryMember)
        .where(RegistryMember.project_id == project.id, RegistryMember.team_id.is_not(None))
        .order_by(RegistryMember.id)
    )
    return [(row.team, Role(row.role)) for row in rows if row.team is not None]
