"""Who may do what in a registry: the access rule of `runyard.server.access`, per registry.

A caller's role in a registry is the highest of (as the seeds' "Registry roles" say):
- admin, for the server's instance admins (W&B's org admins);
- the role the registry gives the caller itself;
- the role it gives any team the caller belongs to;
- member, for everyone, when the registry's visibility is `organization`.
A `restricted` registry is invisible to anyone without a role: it reads as missing.
The role then allows actions exactly as on an entity (viewer reads, member writes, admin
manages). `decide_role` is pure; `registry_role` loads what it needs.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.server.access import Action, allows, role_allows
from runyard.server.auth import Principal, Role
from runyard.server.db.models import Artifact, ArtifactCollection, Entity, Project
from runyard.server.db.registry_models import ArtifactLink, Registry, RegistryMember
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.people.directory import ORGANIZATION
from runyard.server.registry.names import is_registry_project, registry_name

ORGANIZATION_VISIBILITY = "organization"
RESTRICTED_VISIBILITY = "restricted"
_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2}


def governs(entity_name: str, project_name: str) -> bool:
    """Whether the registry rule (not the entity rule) decides access to this project."""
    return entity_name == ORGANIZATION and is_registry_project(project_name)


def decide_role(
    *,
    is_admin: bool,
    visibility: str,
    user_role: str | None,
    team_roles: Iterable[str],
) -> Role | None:
    """The caller's role in a registry from what the registry grants (pure)."""
    if is_admin:
        return Role.ADMIN
    granted = [Role(r) for r in (user_role, *team_roles) if r]
    if visibility == ORGANIZATION_VISIBILITY:
        granted.append(Role.MEMBER)
    return max(granted, key=_RANK.__getitem__, default=None)


def registry_role(session: Session, principal: Principal, project: Project) -> Role | None:
    """The caller's role in the registry `project` (None: no access at all)."""
    if principal.is_admin:
        return Role.ADMIN
    registry = session.get(Registry, project.id)
    if registry is None:
        return None
    rows = session.execute(
        select(RegistryMember.user_id, Entity.name, RegistryMember.role)
        .outerjoin(Entity, Entity.id == RegistryMember.team_id)
        .where(RegistryMember.project_id == project.id)
    ).all()
    user_role = next((role for uid, _, role in rows if uid == principal.user_id), None)
    team_roles = [role for _, team, role in rows if team is not None and team in principal.roles]
    return decide_role(
        is_admin=False,
        visibility=registry.visibility,
        user_role=user_role,
        team_roles=team_roles,
    )


def not_found(name: str) -> ServiceError:
    """The answer for a registry that is missing or hidden from the caller (the same one)."""
    return ServiceError(
        ErrorCode.NOT_FOUND,
        f"registry {name!r} does not exist in organization {ORGANIZATION!r} or you are not "
        "a member of it: check the name (wandb.Api().registries() lists yours) or ask a "
        "registry admin to add you",
    )


def require_registry(
    session: Session, principal: Principal, project: Project | None, name: str, action: Action
) -> Project:
    """The registry project if the caller may `action` on it; not found or forbidden else."""
    role = registry_role(session, principal, project) if project is not None else None
    if project is None or role is None:
        raise not_found(name)
    if not role_allows(role, action):
        raise ServiceError(
            ErrorCode.FORBIDDEN,
            f"permission denied: you are a {role.value} of registry {name!r}, and "
            f"{action.value} needs {'admin' if action is Action.MANAGE else 'member'}; ask "
            "a registry admin to change your role",
        )
    return project


def find_registry_project(session: Session, project_name: str) -> Project | None:
    """The org entity's project of that name, if it is a registry."""
    return session.scalars(
        select(Project)
        .join(Entity, Entity.id == Project.entity_id)
        .join(Registry, Registry.project_id == Project.id)
        .where(Entity.name == ORGANIZATION, Project.name == project_name)
    ).first()


def accessible_registry(
    session: Session, principal: Principal, project_name: str, action: Action = Action.READ
) -> Project:
    """A registry by project name that the caller may `action` on."""
    project = find_registry_project(session, project_name)
    return require_registry(session, principal, project, registry_name(project_name), action)


def readable_registry_ids(session: Session, principal: Principal) -> list[int] | None:
    """Project ids of the registries the caller may read; None means all (instance admin)."""
    if principal.is_admin:
        return None
    registries = session.scalars(select(Registry)).all()
    members = session.execute(
        select(RegistryMember.project_id, RegistryMember.user_id, Entity.name).outerjoin(
            Entity, Entity.id == RegistryMember.team_id
        )
    ).all()
    allowed = {
        pid
        for pid, uid, team in members
        if uid == principal.user_id or (team is not None and team in principal.roles)
    }
    return [
        r.project_id
        for r in registries
        if r.visibility == ORGANIZATION_VISIBILITY or r.project_id in allowed
    ]


def may_read_linked(session: Session, principal: Principal, artifact: Artifact) -> bool:
    """Whether the caller may read a version through a collection it is linked into (a
    registry's reader may use its versions without a role where they were logged)."""
    projects = session.scalars(
        select(Project)
        .join(ArtifactCollection, ArtifactCollection.project_id == Project.id)
        .join(ArtifactLink, ArtifactLink.collection_id == ArtifactCollection.id)
        .where(ArtifactLink.artifact_id == artifact.id)
        .distinct()
    ).all()
    return any(may_read_project(session, principal, project) for project in projects)


def may_read_project(session: Session, principal: Principal, project: Project) -> bool:
    """Whether the caller may read a project: a registry by its roles, others by entity."""
    entity_name = project.entity.name
    if governs(entity_name, project.name):
        return registry_role(session, principal, project) is not None
    return allows(principal, entity_name, Action.READ)
