"""What the web UI's registry pages show, as plain models: the organization's registries
the caller may read, a registry's collections, and a collection's linked versions (each
with the version it links to, where it was logged).

Reads only, through `registry.search`, `registry.registries` and `registry.collections`.
"""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel

from runyard.server.auth import Principal
from runyard.server.db.models import ArtifactCollection, Project
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.people.directory import ORGANIZATION
from runyard.server.registry import access, collections, registries, search
from runyard.server.registry.names import project_name_of, registry_name
from runyard.server.unit_of_work import UnitOfWork

MAX_ROWS = 500


class RegistryRow(BaseModel):
    """A registry in the organization's list."""

    name: str
    description: str | None
    visibility: str
    types: list[str]
    collections: int


class SourceRef(BaseModel):
    """The version a link points at, where it was logged (`entity/project/collection:vN`)."""

    entity: str
    project: str
    type: str
    collection: str
    version: str


class LinkedVersion(BaseModel):
    """A version linked into a registry collection: its `vN` and aliases there, and the
    version it links to."""

    version: str
    aliases: list[str]
    linked_at: datetime
    source: SourceRef
    size: int
    metadata: dict[str, object]
    description: str | None


class CollectionRow(BaseModel):
    """A collection of a registry, with its linked versions, newest link first."""

    name: str
    type: str
    description: str | None
    tags: list[str]
    versions: list[LinkedVersion]


class RegistryPage(BaseModel):
    """A registry and its collections; `selected` names a collection's `vN` to show."""

    org: str
    name: str
    description: str | None
    visibility: str
    types: list[str]
    role: str
    collections: list[CollectionRow]


def _check_org(org: str) -> None:
    if org != ORGANIZATION:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"organization {org!r} does not exist: this server's organization is "
            f"{ORGANIZATION!r} (/orgs/{ORGANIZATION}/registry lists its registries)",
        )


def registries_list(uow: UnitOfWork, principal: Principal, org: str) -> list[RegistryRow]:
    """The registries of the organization the caller may read, by name."""
    _check_org(org)
    page = search.registries(uow, principal, None, "name", None, MAX_ROWS)
    rows = []
    for view in page.rows:
        attrs = registries.registry_attrs(view)
        found = search.collections(
            uow, principal, json.dumps({"name": view.project.name}), None, None, None, MAX_ROWS
        )
        rows.append(
            RegistryRow(
                name=registry_name(view.project.name),
                description=attrs["description"],
                visibility=view.registry.visibility,
                types=attrs["artifactTypes"],
                collections=found.total,
            )
        )
    return rows


def _registry(uow: UnitOfWork, principal: Principal, org: str, name: str) -> Project:
    _check_org(org)
    project = registries.find_registry(uow, principal, ORGANIZATION, project_name_of(name))
    if project is None:
        raise access.not_found(name)
    return project


def _versions(uow: UnitOfWork, collection: ArtifactCollection) -> list[LinkedVersion]:
    by_version: dict[int, list[str]] = {}
    for alias in collections.aliases_in(uow, collection):
        by_version.setdefault(alias.artifact_id, []).append(alias.alias)
    rows = []
    for member in collections.linked_versions(uow, collection)[:MAX_ROWS]:
        source = member.artifact
        origin = source.collection
        rows.append(
            LinkedVersion(
                version=f"v{member.version_index}",
                aliases=by_version.get(source.id, []),
                linked_at=member.link.created_at if member.link else source.created_at,
                source=SourceRef(
                    entity=origin.project.entity.name,
                    project=origin.project.name,
                    type=origin.type_name,
                    collection=origin.name,
                    version=f"v{source.version_index}",
                ),
                size=source.size,
                metadata=dict(source.metadata_json or {}),
                description=source.description,
            )
        )
    return rows


def registry_page(
    uow: UnitOfWork, principal: Principal, org: str, name: str, collection: str | None = None
) -> RegistryPage:
    """A registry with its collections (or only `collection`) and their linked versions."""
    project = _registry(uow, principal, org, name)
    view = registries.view_of(uow, project)
    assert view is not None  # find_registry answers registries only
    attrs = registries.registry_attrs(view)
    found = search.collections(
        uow, principal, json.dumps({"name": project.name}), None, "name", None, MAX_ROWS
    )
    rows = []
    for portfolio in found.rows:
        if collection is not None and portfolio.name != collection:
            continue
        rows.append(
            CollectionRow(
                name=portfolio.name,
                type=portfolio.type_name,
                description=portfolio.description,
                tags=collections.tags_of(portfolio),
                versions=_versions(uow, portfolio),
            )
        )
    if collection is not None and not rows:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"registry {name!r} has no collection {collection!r}: its collections are listed "
            f"at /orgs/{org}/registry/{name}",
        )
    role = registries.role_in(uow, principal, project)
    return RegistryPage(
        org=org,
        name=registry_name(project.name),
        description=attrs["description"],
        visibility=view.registry.visibility,
        types=attrs["artifactTypes"],
        role=role.value if role else "viewer",
        collections=rows,
    )


def selected_collection(selection_path: str, org: str, name: str) -> str | None:
    """The collection a W&B registry URL's `selectionPath` (`<org entity>/wandb-registry-
    <name>/<collection>`) names; None when it names none. Pure."""
    if not selection_path:
        return None
    parts = selection_path.split("/")
    if len(parts) != 3 or parts[1] != project_name_of(name) or not parts[2]:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"selectionPath: {selection_path!r} names no collection of registry {name!r}; "
            f"use {ORGANIZATION}/{project_name_of(name)}/<collection>",
        )
    return parts[2]
