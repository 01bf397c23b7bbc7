"""Registry search: the organization's registries, collections and linked versions that the
caller may read, filtered by W&B's documents (see `filters`) and paged.

What `api.registries(filter=...)`, `.collections(filter=...)` and `.versions(filter=...)`
ask for through `organization.orgEntity { projects / artifactCollections /
artifactMemberships }`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import select

from runyard.server.auth import Principal
from runyard.server.db.models import Artifact, ArtifactAlias, ArtifactCollection, Project
from runyard.server.db.registry_models import ArtifactLink, Registry
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.people.directory import org_entity
from runyard.server.registry import access, filters
from runyard.server.registry.registries import RegistryView
from runyard.server.tracking.artifacts import PORTFOLIO, Membership
from runyard.server.tracking.ids import encode_id
from runyard.server.unit_of_work import UnitOfWork

T = TypeVar("T")
MAX_PAGE = 1_000
DEFAULT_PAGE = 100

REGISTRY_FIELDS = frozenset(
    {"id", "project_id", "name", "entity_id", "description", "created_at", "updated_at"}
)
COLLECTION_FIELDS = frozenset(
    {
        "id",
        "artifact_collection_id",
        "collection_id",
        "name",
        "collection_name",
        "artifact_collection_name",
        "tag",
        "tags",
        "description",
        "created_at",
        "updated_at",
    }
)
VERSION_FIELDS = frozenset(
    {
        "id",
        "artifact_id",
        "version",
        "version_index",
        "tag",
        "tags",
        "alias",
        "aliases",
        "metadata",
        "artifact_metadata",
        "created_at",
        "artifact_created_at",
        "updated_at",
        "artifact_size",
        "acm_created_at",
        "linked_at",
    }
)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results, where the next starts, and how many match in all."""

    rows: list[T]
    end_cursor: str | None
    has_next: bool
    total: int


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    # SQLite hands back naive datetimes; every stored time is UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def page_of(rows: Sequence[T], after: str | None, first: int | None) -> Page[T]:
    """The page of `rows` after the offset cursor `after`."""
    if after and not after.isdigit():
        raise ServiceError(ErrorCode.INVALID, f"after: {after!r} is not a cursor of this list")
    start = int(after) if after else 0
    size = max(1, min(first or DEFAULT_PAGE, MAX_PAGE))
    chunk = list(rows[start : start + size])
    end = start + len(chunk)
    return Page(chunk, str(end) if chunk else after, end < len(rows), len(rows))


def _parse(text: str | None, argument: str) -> Any:
    try:
        return filters.parse(text, argument)
    except filters.FilterError as exc:
        raise ServiceError(ErrorCode.INVALID, str(exc)) from None


def _keep(
    items: Iterable[T],
    document: Any,
    record: Callable[[T], dict[str, Any]],
    fields: frozenset[str],
    argument: str,
) -> list[T]:
    try:
        return [item for item in items if filters.matches(document, record(item), fields)]
    except filters.FilterError as exc:
        raise ServiceError(ErrorCode.INVALID, f"{argument}: {exc}") from None


def _sorted(items: list[T], order: str | None, keys: dict[str, Callable[[T], Any]]) -> list[T]:
    if not order:
        return items
    field = order.lstrip("+-")
    key = keys.get(field)
    if key is None:
        raise ServiceError(
            ErrorCode.INVALID,
            f"order: cannot order by {field!r}; use one of {', '.join(sorted(keys))} "
            "(prefix - for descending)",
        )
    return sorted(items, key=key, reverse=order.startswith("-"))


# --- registries -------------------------------------------------------------------------------


def _readable_registries(uow: UnitOfWork, principal: Principal) -> list[RegistryView]:
    session = uow.session
    entity = org_entity(session)
    if entity is None:
        return []
    ids = access.readable_registry_ids(session, principal)
    query = (
        select(Project, Registry)
        .join(Registry, Registry.project_id == Project.id)
        .where(Project.entity_id == entity.id)
        .order_by(Project.id)
    )
    if ids is not None:
        query = query.where(Project.id.in_(ids))
    return [RegistryView(project, registry) for project, registry in session.execute(query)]


def _registry_record(view: RegistryView) -> dict[str, Any]:
    project = view.project
    return {
        "id": project.id,
        "project_id": project.id,
        "name": project.name,
        "entity_id": project.entity_id,
        "description": view.registry.description,
        "created_at": _iso(project.created_at),
        "updated_at": _iso(view.registry.updated_at),
    }


def _registries(
    uow: UnitOfWork, principal: Principal, registry_filter: str | None, argument: str
) -> list[RegistryView]:
    document = _parse(registry_filter, argument)
    views = _readable_registries(uow, principal)
    return _keep(views, document, _registry_record, REGISTRY_FIELDS, argument)


def registries(
    uow: UnitOfWork,
    principal: Principal,
    filters_text: str | None,
    order: str | None,
    after: str | None,
    first: int | None,
) -> Page[RegistryView]:
    """The registries the caller may read that match the filter, paged."""
    views = _registries(uow, principal, filters_text, "filters")
    views = _sorted(
        views,
        order,
        {
            "name": lambda v: v.project.name,
            "created_at": lambda v: v.project.created_at,
            "updated_at": lambda v: v.registry.updated_at,
        },
    )
    return page_of(views, after, first)


# --- collections ------------------------------------------------------------------------------


def _collections(
    uow: UnitOfWork,
    principal: Principal,
    registry_filter: str | None,
    collection_filter: str | None,
    collection_argument: str,
) -> list[ArtifactCollection]:
    views = _registries(uow, principal, registry_filter, "projectFilters")
    document = _parse(collection_filter, collection_argument)
    rows = list(
        uow.session.scalars(
            select(ArtifactCollection)
            .where(
                ArtifactCollection.project_id.in_([v.project.id for v in views]),
                ArtifactCollection.kind == PORTFOLIO,
            )
            .order_by(ArtifactCollection.id)
        )
    )

    def record(collection: ArtifactCollection) -> dict[str, Any]:
        node_id = encode_id("ArtifactCollection", collection.id)
        names = list(collection.tags or [])
        return {
            "id": node_id,
            "artifact_collection_id": node_id,
            "collection_id": node_id,
            "name": collection.name,
            "collection_name": collection.name,
            "artifact_collection_name": collection.name,
            "tag": names,
            "tags": names,
            "description": collection.description,
            "created_at": _iso(collection.created_at),
            "updated_at": _iso(collection.created_at),
        }

    return _keep(rows, document, record, COLLECTION_FIELDS, collection_argument)


def collections(
    uow: UnitOfWork,
    principal: Principal,
    registry_filter: str | None,
    collection_filter: str | None,
    order: str | None,
    after: str | None,
    first: int | None,
) -> Page[ArtifactCollection]:
    """The collections of the readable registries that match both filters, paged."""
    rows = _collections(uow, principal, registry_filter, collection_filter, "filters")
    rows = _sorted(
        rows,
        order,
        {
            "name": lambda c: c.name,
            "created_at": lambda c: c.created_at,
            "updated_at": lambda c: c.created_at,
        },
    )
    return page_of(rows, after, first)


# --- versions ---------------------------------------------------------------------------------


def memberships(
    uow: UnitOfWork,
    principal: Principal,
    registry_filter: str | None,
    collection_filter: str | None,
    version_filter: str | None,
    after: str | None,
    first: int | None,
) -> Page[Membership]:
    """The versions linked into the matching collections that match the version filter,
    newest link first, paged."""
    session = uow.session
    portfolios = {
        c.id: c
        for c in _collections(
            uow, principal, registry_filter, collection_filter, "collectionFilters"
        )
    }
    document = _parse(version_filter, "filters")
    links = list(
        session.scalars(
            select(ArtifactLink)
            .join(Artifact, Artifact.id == ArtifactLink.artifact_id)
            .where(ArtifactLink.collection_id.in_(list(portfolios)), Artifact.state == "COMMITTED")
            .order_by(ArtifactLink.created_at.desc(), ArtifactLink.id.desc())
        )
    )
    aliases: dict[tuple[int, int], list[str]] = {}
    for alias in session.scalars(
        select(ArtifactAlias)
        .where(ArtifactAlias.collection_id.in_(list(portfolios)))
        .order_by(ArtifactAlias.alias)
    ):
        aliases.setdefault((alias.collection_id, alias.artifact_id), []).append(alias.alias)

    def record(link: ArtifactLink) -> dict[str, Any]:
        artifact = link.artifact
        names = aliases.get((link.collection_id, link.artifact_id), [])
        tags = list(artifact.tags or [])
        node_id = encode_id("Artifact", artifact.id)
        return {
            "id": node_id,
            "artifact_id": node_id,
            "version": f"v{link.version_index}",
            "version_index": link.version_index,
            "alias": names,
            "aliases": names,
            "tag": tags,
            "tags": tags,
            "metadata": artifact.metadata_json or {},
            "artifact_metadata": artifact.metadata_json or {},
            "created_at": _iso(artifact.created_at),
            "artifact_created_at": _iso(artifact.created_at),
            "updated_at": _iso(artifact.updated_at),
            "artifact_size": artifact.size,
            "acm_created_at": _iso(link.created_at),
            "linked_at": _iso(link.created_at),
        }

    kept = _keep(links, document, record, VERSION_FIELDS, "filters")
    page = page_of(kept, after, first)
    members = [
        Membership(link.artifact, portfolios[link.collection_id], link) for link in page.rows
    ]
    return Page(members, page.end_cursor, page.has_next, page.total)
