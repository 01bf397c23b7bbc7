"""Listing a project's artifacts: its types, the collections of a type, a collection's versions
and aliases. One read serves the GraphQL API (`api.artifact_types`, `api.artifact_collections`,
`api.artifacts`, `wandb artifact ls`, `wandb job list`) and the web UI (the jobs page).

Pages are offset pages: a cursor is the position after the last row a page held, so any
`order` pages the same way. Only committed versions are listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, func, select

from runyard.server.artifacts.filters import (
    collection_filter,
    collection_order,
    version_filter,
    version_order,
)
from runyard.server.auth import Principal
from runyard.server.db.models import Artifact, ArtifactAlias, ArtifactCollection, Project
from runyard.server.db.registry_models import Registry
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.registry import access as registry_access
from runyard.server.tracking.access import accessible_project
from runyard.server.tracking.artifacts import find_version, split_name
from runyard.server.tracking.ids import decode_id, encode_id
from runyard.server.unit_of_work import UnitOfWork

MAX_PAGE = 1000
DEFAULT_PAGE = 50
COMMITTED = "COMMITTED"
CURSOR = "ArtifactListCursor"
JOB_TYPE = "job"

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows, the cursor after each row, whether more follow, and the total."""

    rows: list[T]
    cursors: list[str]
    has_next: bool
    total: int


@dataclass(frozen=True)
class TypeInProject:
    """An artifact type as seen in one project (`Project.artifactType(name:)`)."""

    project: Project
    name: str
    created_at: datetime | None = None


# --- paging ----------------------------------------------------------------------------------


def page_size(first: int | None) -> int:
    """The page size asked for, or a clear error when it is outside 1..MAX_PAGE."""
    if first is None:
        return DEFAULT_PAGE
    if not 1 <= first <= MAX_PAGE:
        raise ServiceError(
            ErrorCode.INVALID, f"first: {first} is out of range: ask for 1 to {MAX_PAGE} items"
        )
    return first


def page_start(after: str | None) -> int:
    """The position a cursor names (0 for the first page); bad cursors name the argument."""
    if not after:
        return 0
    try:
        return decode_id(CURSOR, after)
    except ValueError:
        raise ServiceError(
            ErrorCode.INVALID,
            f"after: {after!r} is not a cursor of this listing; pass the endCursor of the "
            "previous page, or nothing for the first page",
        ) from None


def paged(
    uow: UnitOfWork,
    query: Select[Any],
    ordering: Sequence[Any],
    after: str | None,
    first: int | None,
) -> Page[Any]:
    """Run `query` for one page in `ordering`, with cursors and the total count."""
    size = page_size(first)
    start = page_start(after)
    total = uow.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(uow.session.scalars(query.order_by(*ordering).offset(start).limit(size + 1)))
    kept = rows[:size]
    cursors = [encode_id(CURSOR, start + i + 1) for i in range(len(kept))]
    return Page(kept, cursors, len(rows) > size, total)


# --- types -----------------------------------------------------------------------------------


def _types_query(project: Project) -> Select[str, datetime]:
    return (
        select(ArtifactCollection.type_name, func.min(ArtifactCollection.created_at))
        .where(ArtifactCollection.project_id == project.id)
        .group_by(ArtifactCollection.type_name)
    )


def type_in_project(uow: UnitOfWork, project: Project, name: str) -> TypeInProject | None:
    """The artifact type `name` if the project holds a collection of it; null otherwise
    (W&B answers null for a type a project never used)."""
    row = uow.session.execute(
        _types_query(project).where(ArtifactCollection.type_name == name)
    ).first()
    return TypeInProject(project, row[0], row[1]) if row else None


def types_in_project(
    uow: UnitOfWork, project: Project, after: str | None = None, first: int | None = None
) -> Page[TypeInProject]:
    """The artifact types the project holds collections of, by name; a registry's also the
    types it accepts (what `Registry.artifact_types` shows)."""
    size = page_size(first)
    start = page_start(after)
    registry = uow.session.get(Registry, project.id)
    if registry is not None and registry.artifact_types:
        # Registries accept few types: merge them with the used ones in Python.
        used = {name: made for name, made in uow.session.execute(_types_query(project))}
        names = sorted({*used, *registry.artifact_types})
        window = names[start : start + size + 1]
        kinds = [TypeInProject(project, name, used.get(name)) for name in window[:size]]
        cursors = [encode_id(CURSOR, start + i + 1) for i in range(len(kinds))]
        return Page(kinds, cursors, len(window) > size, len(names))
    rows = uow.session.execute(
        _types_query(project).order_by(ArtifactCollection.type_name).offset(start).limit(size + 1)
    ).all()
    kinds = [TypeInProject(project, name, created) for name, created in rows[:size]]
    total = (
        uow.session.scalar(
            select(func.count(func.distinct(ArtifactCollection.type_name))).where(
                ArtifactCollection.project_id == project.id
            )
        )
        or 0
    )
    cursors = [encode_id(CURSOR, start + i + 1) for i in range(len(kinds))]
    return Page(kinds, cursors, len(rows) > size, total)


# --- collections -----------------------------------------------------------------------------


def collections(
    uow: UnitOfWork,
    project: Project,
    type_name: str | None = None,
    *,
    after: str | None = None,
    first: int | None = None,
    filters: str | None = None,
    order: str | None = None,
) -> Page[ArtifactCollection]:
    """The project's collections (of one type, or all), filtered and ordered (default:
    newest first, as W&B lists them)."""
    where: list[ColumnElement[bool]] = [
        ArtifactCollection.project_id == project.id,
        collection_filter(filters),
    ]
    if type_name is not None:
        where.append(ArtifactCollection.type_name == type_name)
    query = select(ArtifactCollection).where(*where)
    return paged(uow, query, collection_order(order), after, first)


def collection_in_type(
    uow: UnitOfWork, kind: TypeInProject, name: str
) -> ArtifactCollection | None:
    """The collection `name` of the type in the type's project; null when there is none."""
    return uow.session.scalar(
        select(ArtifactCollection).where(
            ArtifactCollection.project_id == kind.project.id,
            ArtifactCollection.type_name == kind.name,
            ArtifactCollection.name == name,
        )
    )


def collection_by_id(
    uow: UnitOfWork, principal: Principal, node_id: str
) -> ArtifactCollection | None:
    """A collection by node id if the caller may read it; null otherwise (as W&B answers)."""
    try:
        pk = decode_id("ArtifactCollection", node_id)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"id: {exc}") from exc
    found = uow.session.get(ArtifactCollection, pk)
    if found is None or not registry_access.may_read_project(uow.session, principal, found.project):
        return None
    return found


def collection_updated_at(uow: UnitOfWork, collection: ArtifactCollection) -> datetime:
    """When the collection last changed: its newest committed version's update, or creation."""
    newest = uow.session.scalar(
        select(func.max(Artifact.updated_at)).where(
            Artifact.collection_id == collection.id, Artifact.state == COMMITTED
        )
    )
    return newest or collection.created_at


def collection_aliases(
    uow: UnitOfWork, collection: ArtifactCollection, after: str | None, first: int | None
) -> Page[ArtifactAlias]:
    """The aliases of the collection's versions, by name."""
    query = select(ArtifactAlias).where(ArtifactAlias.collection_id == collection.id)
    return paged(uow, query, [ArtifactAlias.alias, ArtifactAlias.id], after, first)


# --- versions --------------------------------------------------------------------------------


def versions(
    uow: UnitOfWork,
    collection: ArtifactCollection,
    *,
    after: str | None = None,
    first: int | None = None,
    filters: str | None = None,
    order: str | None = None,
) -> Page[Artifact]:
    """The collection's committed versions, filtered and ordered (default: newest first)."""
    query = select(Artifact).where(
        Artifact.collection_id == collection.id,
        Artifact.state == COMMITTED,
        version_filter(filters, uow.dialect),
    )
    return paged(uow, query, version_order(order), after, first)


def version_in_type(uow: UnitOfWork, kind: TypeInProject, name: str) -> Artifact | None:
    """The committed version `collection:alias` (or `:vN`) of the type; null when none."""
    collection_name, selector = split_name(name)
    collection = collection_in_type(uow, kind, collection_name)
    return find_version(uow.session, collection, selector) if collection else None


# --- the web UI: collections of a type with their versions -----------------------------------

# A page lists at most this many collections and versions (the newest): a project that
# made thousands of job versions must not make one page load them all.
MAX_COLLECTIONS = 200
MAX_VERSIONS = 2_000


class VersionRow(BaseModel):
    """One committed version: `v3`, its aliases, when it was made."""

    version: str
    aliases: list[str]
    created_at: datetime
    description: str | None


class CollectionRow(BaseModel):
    """A collection and its committed versions, newest first."""

    name: str
    type: str
    versions: list[VersionRow]


def collections_with_versions(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, type_name: str
) -> list[CollectionRow]:
    """The project's collections of `type_name` (by name) with their versions, for a reader.

    At most MAX_COLLECTIONS collections and MAX_VERSIONS versions, the newest.
    """
    owner = accessible_project(uow.session, principal, entity, project)
    found = collections(uow, owner, type_name, first=MAX_COLLECTIONS, order="+name").rows
    ids = [c.id for c in found]
    newest = list(
        uow.session.scalars(
            select(Artifact)
            .where(Artifact.collection_id.in_(ids), Artifact.state == COMMITTED)
            .order_by(Artifact.id.desc())
            .limit(MAX_VERSIONS)
        )
    )
    aliases: dict[int, list[str]] = {}
    for alias in uow.session.scalars(
        select(ArtifactAlias)
        .where(ArtifactAlias.artifact_id.in_([v.id for v in newest]))
        .order_by(ArtifactAlias.alias)
    ):
        aliases.setdefault(alias.artifact_id, []).append(alias.alias)
    by_collection: dict[int, list[VersionRow]] = {}
    for version in newest:
        by_collection.setdefault(version.collection_id, []).append(
            VersionRow(
                version=f"v{version.version_index}",
                aliases=aliases.get(version.id, []),
                created_at=version.created_at,
                description=version.description,
            )
        )
    return [
        CollectionRow(name=c.name, type=c.type_name, versions=by_collection.get(c.id, []))
        for c in found
    ]
