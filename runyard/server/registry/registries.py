"""Registries: create (W&B's `upsertModel` on the org entity), read, list, update and delete.

A registry is a project `wandb-registry-<name>` of the organization's entity plus a
`registries` row with its settings. The core registries `model` and `dataset` are made at
first start with organization visibility, as the seeds describe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from runyard.server.access import Action
from runyard.server.auth import Principal, Role
from runyard.server.clock import utcnow
from runyard.server.db.models import Entity, Project
from runyard.server.db.registry_models import Registry, RegistryMember
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.people.directory import ORGANIZATION, org_entity
from runyard.server.registry import access
from runyard.server.registry.names import (
    CORE_REGISTRIES,
    check_registry_project_name,
    project_name_of,
    registry_name,
)
from runyard.server.tracking.ids import decode_id
from runyard.server.tracking.runs import get_or_create_project
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

# W&B's wire values of a registry's visibility (Project.access) and Runyard's names.
_VISIBILITY_IN = {
    "PRIVATE": access.ORGANIZATION_VISIBILITY,
    "ORGANIZATION": access.ORGANIZATION_VISIBILITY,
    "RESTRICTED": access.RESTRICTED_VISIBILITY,
}
VISIBILITY_OUT = {
    access.ORGANIZATION_VISIBILITY: "PRIVATE",
    access.RESTRICTED_VISIBILITY: "RESTRICTED",
}
MAX_TYPE_NAME = 128


class TypeInput(BaseModel):
    """An accepted artifact type (`{"name": "model"}`)."""

    name: str


class RegistrySpec(BaseModel):
    """The UpsertModelInput fields a registry uses; the rest are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    name: str
    entityName: str | None = None
    description: str | None = None
    access: str | None = None
    allowAllArtifactTypesInRegistry: bool | None = None
    artifactTypes: list[TypeInput] | None = None


@dataclass(frozen=True)
class RegistryView:
    """A registry project with its settings, as the adapters show it."""

    project: Project
    registry: Registry


def parse_visibility(value: str | None, field: str = "access") -> str | None:
    """Runyard's visibility for a wire value (None when not given)."""
    if value is None:
        return None
    found = _VISIBILITY_IN.get(value.upper())
    if found is None:
        raise ServiceError(
            ErrorCode.INVALID,
            f"{field}: {value!r} is not a registry visibility: use PRIVATE (organization: "
            "everyone may use it) or RESTRICTED (only its members)",
        )
    return found


def check_types(types: list[TypeInput] | None) -> list[str]:
    """The accepted type names, checked like artifact type names."""
    names = []
    for item in types or []:
        name = item.name
        if not name or len(name) > MAX_TYPE_NAME or any(c in name for c in "/:"):
            raise ServiceError(
                ErrorCode.INVALID,
                f"artifactTypes: {name!r} is not a valid artifact type: use 1 to "
                f"{MAX_TYPE_NAME} characters without '/' or ':'",
            )
        if name not in names:
            names.append(name)
    return names


def _org(session: Session) -> Entity:
    entity = org_entity(session)
    if entity is None:
        raise ServiceError(
            ErrorCode.UNAVAILABLE,
            f"the organization entity {ORGANIZATION!r} is unavailable (a user has its name), "
            "so this server has no Registry; rename that user and restart",
        )
    return entity


def _check_org_entity(entity_name: str | None) -> None:
    if entity_name not in (None, ORGANIZATION):
        raise ServiceError(
            ErrorCode.INVALID,
            f"entityName: registries live in the organization entity {ORGANIZATION!r}, not "
            f"{entity_name!r}",
        )


def ensure_core_registries(session: Session) -> None:
    """Make the core registries (model, dataset) if the org entity exists and they do not."""
    entity = org_entity(session)
    if entity is None:
        return
    for name, type_name in CORE_REGISTRIES.items():
        project = get_or_create_project(session, entity, project_name_of(name))
        if session.get(Registry, project.id) is None:
            session.add(
                Registry(
                    project_id=project.id,
                    description=f"The organization's {name} registry",
                    visibility=access.ORGANIZATION_VISIBILITY,
                    allow_all_types=False,
                    artifact_types=[type_name],
                )
            )
            session.flush()


def upsert_registry(
    uow: UnitOfWork, principal: Principal, spec: RegistrySpec
) -> tuple[RegistryView, bool]:
    """Create the registry `spec.name`, or update the one of that name; return it and whether
    it was created. Creating needs only an account (the creator becomes its admin)."""
    session = uow.session
    _check_org_entity(spec.entityName)
    project_name = check_registry_project_name(spec.name)
    visibility = parse_visibility(spec.access)
    types = check_types(spec.artifactTypes)
    entity = _org(session)
    existing = access.find_registry_project(session, project_name)
    if existing is not None:
        return update_registry(uow, principal, existing, spec, visibility, types), False
    if session.scalars(
        select(Project.id).where(Project.entity_id == entity.id, Project.name == project_name)
    ).first():
        raise ServiceError(
            ErrorCode.CONFLICT, f"name: project {project_name!r} exists and is not a registry"
        )
    project = Project(entity_id=entity.id, name=project_name)
    session.add(project)
    session.flush()
    registry = Registry(
        project_id=project.id,
        description=spec.description,
        visibility=visibility or access.ORGANIZATION_VISIBILITY,
        allow_all_types=spec.allowAllArtifactTypesInRegistry is not False or not types,
        artifact_types=types,
    )
    session.add(registry)
    session.add(RegistryMember(project_id=project.id, user_id=principal.user_id, role="admin"))
    session.flush()
    logger.info(
        "registry created",
        extra={"registry": registry_name(project_name), "visibility": registry.visibility},
    )
    return RegistryView(project, registry), True


def update_registry(
    uow: UnitOfWork,
    principal: Principal,
    project: Project,
    spec: RegistrySpec,
    visibility: str | None,
    types: list[str],
) -> RegistryView:
    """Change a registry's description, visibility or accepted types (types are only added)."""
    session = uow.session
    name = registry_name(project.name)
    access.require_registry(session, principal, project, name, Action.WRITE)
    registry = session.get(Registry, project.id)
    assert registry is not None  # find_registry_project joins on it
    core = name in CORE_REGISTRIES
    if visibility is not None and visibility != registry.visibility:
        access.require_registry(session, principal, project, name, Action.MANAGE)
        if core or registry.visibility == access.RESTRICTED_VISIBILITY:
            raise ServiceError(
                ErrorCode.INVALID,
                f"access: the visibility of registry {name!r} cannot change from "
                f"{registry.visibility} to {visibility} (core registries are always "
                "organization-wide; a restricted registry stays restricted)",
            )
        registry.visibility = visibility
    if spec.description is not None:
        registry.description = spec.description
    if spec.allowAllArtifactTypesInRegistry is not None:
        registry.allow_all_types = spec.allowAllArtifactTypesInRegistry
    if types:
        access.require_registry(session, principal, project, name, Action.MANAGE)
        # Accepted types are only ever added (the seeds: saved types cannot be removed).
        registry.artifact_types = list(dict.fromkeys([*registry.artifact_types, *types]))
    registry.updated_at = utcnow()
    session.flush()
    return RegistryView(project, registry)


def view_of(uow: UnitOfWork, project: Project) -> RegistryView | None:
    """The registry settings of a project, None when it is not a registry."""
    registry = uow.session.get(Registry, project.id)
    return RegistryView(project, registry) if registry is not None else None


def find_registry(
    uow: UnitOfWork, principal: Principal, entity_name: str, project_name: str
) -> Project | None:
    """A registry project the caller may read, None when missing or hidden."""
    if not access.governs(entity_name, project_name):
        return None
    try:
        return access.accessible_registry(uow.session, principal, project_name)
    except ServiceError as exc:
        if exc.code is ErrorCode.NOT_FOUND:
            return None
        raise


def delete_registry(uow: UnitOfWork, principal: Principal, node_id: str) -> None:
    """Delete a registry by its project node id (its collections and links go with it)."""
    session = uow.session
    try:
        pk = decode_id("Project", node_id)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"id: {exc}") from exc
    project = session.get(Project, pk)
    registry = session.get(Registry, pk) if project is not None else None
    if project is None or registry is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"id: {node_id!r} is no registry you may see (Runyard deletes only registries)",
        )
    name = registry_name(project.name)
    access.require_registry(session, principal, project, name, Action.MANAGE)
    if name in CORE_REGISTRIES:
        raise ServiceError(
            ErrorCode.INVALID, f"id: {name!r} is a core registry and cannot be deleted"
        )
    session.execute(delete(Project).where(Project.id == project.id))
    session.flush()
    session.expunge(project)
    logger.info("registry deleted", extra={"registry": name})


def registry_attrs(view: RegistryView) -> dict[str, Any]:
    """The registry fields the adapters answer (description, access, types)."""
    registry = view.registry
    return {
        "description": registry.description,
        "access": VISIBILITY_OUT.get(registry.visibility, "PRIVATE"),
        "allowAllArtifactTypesInRegistry": registry.allow_all_types,
        "artifactTypes": list(registry.artifact_types or []),
        "updatedAt": registry.updated_at,
    }


def role_in(uow: UnitOfWork, principal: Principal, project: Project) -> Role | None:
    """The caller's role in a registry project."""
    return access.registry_role(uow.session, principal, project)
