"""Collection edits: description and name (`updateArtifactPortfolio/Sequence`) and tags
(`createArtifactCollectionTagAssignments` / `delete...`), and a collection's own reads.

Descriptions and tags are the collection's own columns, which the artifact edits keep too:
for sequences those serve the same mutations; this module is what registry collections
(portfolios) need, and a stand-in for sequences until the artifact edits are merged.

A collection in a registry follows the registry's roles (editing needs member); any other
collection follows its entity's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from runyard.server.access import Action
from runyard.server.auth import Principal
from runyard.server.db.models import Artifact, ArtifactAlias, ArtifactCollection
from runyard.server.db.registry_models import ArtifactLink
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.registry import filters
from runyard.server.registry.links import require_collection
from runyard.server.tracking.artifact_service import project_of
from runyard.server.tracking.artifacts import (
    PORTFOLIO,
    Membership,
    check_collection_name,
    find_collection,
)
from runyard.server.tracking.ids import decode_id, encode_id
from runyard.server.unit_of_work import UnitOfWork

MAX_TAGS_PER_CALL = 20
MAX_DESCRIPTION = 10_000
_TAG_RE = re.compile(r"^[-\w]+( +[-\w]+)*$")


class TagSpec(BaseModel):
    """One tag (`{"tagName": "prod"}`); categories and attributes are accepted, unused."""

    model_config = ConfigDict(extra="ignore")

    tagName: str


def collection_by_id(
    uow: UnitOfWork, principal: Principal, node_id: str, field: str, action: Action
) -> ArtifactCollection:
    """A collection by node id that the caller may `action` on."""
    try:
        pk = decode_id("ArtifactCollection", node_id)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"{field}: {exc}") from exc
    collection = uow.session.get(ArtifactCollection, pk)
    if collection is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"{field}: no artifact collection {node_id!r}")
    require_collection(uow.session, principal, collection, action)
    return collection


def update_collection(
    uow: UnitOfWork,
    principal: Principal,
    node_id: str,
    field: str,
    name: str | None,
    description: str | None,
) -> ArtifactCollection:
    """Rename a collection or change its description."""
    collection = collection_by_id(uow, principal, node_id, field, Action.WRITE)
    if description is not None:
        if len(description) > MAX_DESCRIPTION:
            raise ServiceError(
                ErrorCode.INVALID,
                f"description: {len(description):,} characters, over the limit of "
                f"{MAX_DESCRIPTION:,}",
            )
        collection.description = description
    if name is not None and name != collection.name:
        check_collection_name(name)
        if find_collection(uow.session, collection.project, name) is not None:
            raise ServiceError(
                ErrorCode.CONFLICT, f"name: a collection {name!r} exists in this project"
            )
        collection.name = name
    uow.session.flush()
    return collection


def named(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, name: str
) -> ArtifactCollection:
    """A collection by entity, project and name that the caller may write."""
    owner = project_of(uow, principal, entity, project)
    collection = find_collection(uow.session, owner, name)
    if collection is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"artifactCollectionName: no collection {name!r} in {entity}/{project}",
        )
    require_collection(uow.session, principal, collection, Action.WRITE)
    return collection


def _tag_names(tags: list[TagSpec]) -> list[str]:
    if len(tags) > MAX_TAGS_PER_CALL:
        raise ServiceError(
            ErrorCode.INVALID, f"tags: at most {MAX_TAGS_PER_CALL} tags per call, got {len(tags)}"
        )
    for tag in tags:
        if len(tag.tagName) > 128 or not _TAG_RE.fullmatch(tag.tagName):
            raise ServiceError(
                ErrorCode.INVALID,
                f"tags: {tag.tagName!r} is not a valid tag: use letters, digits, '-', '_' and "
                "single spaces between words (at most 128 characters)",
            )
    return list(dict.fromkeys(t.tagName for t in tags))


def add_tags(
    uow: UnitOfWork,
    principal: Principal,
    entity: str,
    project: str,
    name: str,
    tags: list[TagSpec],
) -> list[str]:
    """Tag a collection; tags it has already are kept once. Returns the tags given."""
    collection = named(uow, principal, entity, project, name)
    given = _tag_names(tags)
    collection.tags = [*collection.tags, *(t for t in given if t not in collection.tags)]
    uow.session.flush()
    return given


def remove_tags(
    uow: UnitOfWork,
    principal: Principal,
    entity: str,
    project: str,
    name: str,
    tags: list[TagSpec],
) -> None:
    """Remove tags from a collection (tags it does not have are ignored)."""
    collection = named(uow, principal, entity, project, name)
    doomed = set(_tag_names(tags))
    collection.tags = [t for t in collection.tags if t not in doomed]
    uow.session.flush()


def tags_of(collection: ArtifactCollection) -> list[str]:
    """A collection's tags by name."""
    return sorted(collection.tags or [])


def updated_at(uow: UnitOfWork, collection: ArtifactCollection) -> datetime:
    """When a version was last linked into a portfolio (its creation before that)."""
    newest = uow.session.scalar(
        select(func.max(ArtifactLink.created_at)).where(ArtifactLink.collection_id == collection.id)
    )
    return newest or collection.created_at


def aliases_in(uow: UnitOfWork, collection: ArtifactCollection) -> list[ArtifactAlias]:
    """The aliases of a collection by name."""
    return list(
        uow.session.scalars(
            select(ArtifactAlias)
            .where(ArtifactAlias.collection_id == collection.id)
            .order_by(ArtifactAlias.alias)
        )
    )


VERSION_FIELDS = frozenset(
    {
        "id",
        "state",
        "alias",
        "aliases",
        "version",
        "versionIndex",
        "digest",
        "description",
        "createdAt",
        "updatedAt",
        "metadata",
        "size",
    }
)
_VERSION_ORDER = {
    "id": lambda m: m.link.id if m.link else 0,
    "versionIndex": lambda m: m.version_index,
    "size": lambda m: m.artifact.size,
    "digest": lambda m: m.artifact.digest,
    "createdAt": lambda m: m.created_at,
    "updatedAt": lambda m: m.artifact.updated_at,
}


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def linked_versions(
    uow: UnitOfWork,
    collection: ArtifactCollection,
    filters_text: str | None = None,
    order: str | None = None,
) -> list[Membership]:
    """A portfolio's linked versions matching `filters_text` (W&B's version filter), in
    `order` (default: newest link first)."""
    if collection.kind != PORTFOLIO:
        return []
    links = list(
        uow.session.scalars(
            select(ArtifactLink)
            .join(Artifact, Artifact.id == ArtifactLink.artifact_id)
            .where(ArtifactLink.collection_id == collection.id, Artifact.state == "COMMITTED")
            .order_by(ArtifactLink.version_index.desc())
        )
    )
    aliases: dict[int, list[str]] = {}
    for alias in aliases_in(uow, collection):
        aliases.setdefault(alias.artifact_id, []).append(alias.alias)
    members = [Membership(link.artifact, collection, link) for link in links]
    try:
        document = filters.parse(filters_text, "filters")
        kept = [
            m
            for m in members
            if filters.matches(document, _version_record(m, aliases), VERSION_FIELDS)
        ]
    except filters.FilterError as exc:
        raise ServiceError(ErrorCode.INVALID, str(exc)) from None
    if not order:
        return kept
    key = _VERSION_ORDER.get(order.lstrip("+-"))
    if key is None:
        raise ServiceError(
            ErrorCode.INVALID,
            f"order: cannot order linked versions by {order.lstrip('+-')!r}; use one of "
            f"{', '.join(sorted(_VERSION_ORDER))} (prefix - for descending)",
        )
    return sorted(kept, key=key, reverse=order.startswith("-"))


def _version_record(member: Membership, aliases: dict[int, list[str]]) -> dict[str, object]:
    artifact = member.artifact
    names = aliases.get(artifact.id, [])
    return {
        "id": encode_id("Artifact", artifact.id),
        "state": artifact.state,
        "alias": names,
        "aliases": names,
        "version": f"v{member.version_index}",
        "versionIndex": member.version_index,
        "digest": artifact.digest,
        "description": artifact.description,
        "createdAt": _iso(member.created_at),
        "updatedAt": _iso(artifact.updated_at),
        "metadata": artifact.metadata_json or {},
        "size": artifact.size,
    }
