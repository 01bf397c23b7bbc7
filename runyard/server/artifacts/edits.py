"""Editing versions and collections: aliases, description, metadata, tags and TTL, and
deleting them. Service functions over a unit of work and a principal; every input is
checked before the first write, so a refused request leaves nothing half-written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from runyard.server.access import Action
from runyard.server.artifacts import deletion, tags, ttl
from runyard.server.artifacts.tags import TagInput
from runyard.server.auth import Principal
from runyard.server.db.models import Artifact, ArtifactAlias, ArtifactCollection
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.registry.links import require_collection
from runyard.server.tracking import artifacts as versions
from runyard.server.tracking.artifact_service import artifact_by_id, project_of
from runyard.server.tracking.ids import decode_id
from runyard.server.unit_of_work import UnitOfWork


class CollectionAlias(BaseModel):
    """One alias of AddAliasesInput / DeleteAliasesInput, naming its collection."""

    model_config = ConfigDict(extra="ignore")

    alias: str
    artifactCollectionName: str
    entityName: str | None = None
    projectName: str | None = None


class UpdateArtifactSpec(BaseModel):
    """The fields of UpdateArtifactInput that Runyard acts on."""

    model_config = ConfigDict(extra="ignore")

    artifactID: str
    description: str | None = None
    metadata: str | None = None
    ttlDurationSeconds: int | None = None
    tagsToAdd: list[TagInput] | None = None
    tagsToDelete: list[TagInput] | None = None
    # Servers before W&B 0.13 took the version's full alias list here (old clients).
    aliases: list[CollectionAlias] | None = None


# --- lookups ---------------------------------------------------------------------------


def _label(artifact: Artifact) -> str:
    return f"{artifact.collection.name}:v{artifact.version_index}"


def editable_version(
    uow: UnitOfWork, principal: Principal, node_id: str, field: str = "artifactID"
) -> Artifact:
    """A committed version the caller may write; a missing or deleted one is refused."""
    artifact = artifact_by_id(uow, principal, node_id, field, Action.WRITE)
    if artifact.state == deletion.DELETED:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"{field}: version {_label(artifact)} was deleted; log it again to edit it",
        )
    if artifact.state != deletion.COMMITTED:
        raise ServiceError(
            ErrorCode.INVALID,
            f"{field}: the version is not committed yet; wait for it (artifact.wait()) first",
        )
    return artifact


def collection_by_id(
    uow: UnitOfWork, principal: Principal, node_id: str, field: str, action: Action
) -> ArtifactCollection:
    """A collection by node id, if the caller may `action` on its entity."""
    try:
        pk = decode_id("ArtifactCollection", node_id)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"{field}: {exc}") from exc
    collection = uow.session.get(ArtifactCollection, pk)
    if collection is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"{field}: no artifact collection {node_id!r}")
    # A registry's collections follow the registry's roles; others their entity's.
    require_collection(uow.session, principal, collection, action)
    return collection


def collection_by_name(
    uow: UnitOfWork, principal: Principal, entity: str | None, project: str, name: str
) -> ArtifactCollection:
    """A collection by entity/project/name that the caller may write."""
    proj = project_of(uow, principal, entity, project, Action.READ)
    collection = versions.find_collection(uow.session, proj, name)
    if collection is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"artifactCollectionName: no artifact collection {name!r} in "
            f"{proj.entity.name}/{proj.name}",
        )
    require_collection(uow.session, principal, collection, Action.WRITE)
    return collection


def _check_targets(artifact: Artifact, aliases: list[CollectionAlias]) -> list[str]:
    """The alias names, each checked, naming the version's own collection."""
    collection = artifact.collection
    project = collection.project
    names: list[str] = []
    for item in aliases:
        where = (
            item.entityName or project.entity.name,
            item.projectName or project.name,
            item.artifactCollectionName,
        )
        if where != (project.entity.name, project.name, collection.name):
            raise ServiceError(
                ErrorCode.INVALID,
                f"aliases: {'/'.join(where)} is not the collection of version "
                f"{project.entity.name}/{project.name}/{_label(artifact)}; an alias names a "
                "version of its own collection",
            )
        names.append(versions.check_alias(item.alias))
    return names


# --- aliases ---------------------------------------------------------------------------


def add_aliases(
    uow: UnitOfWork, principal: Principal, node_id: str, aliases: list[CollectionAlias]
) -> Artifact:
    """Point each alias at the version (moving it from another version of the collection)."""
    artifact = editable_version(uow, principal, node_id)
    for name in _check_targets(artifact, aliases):
        versions.move_alias(uow.session, artifact.collection, name, artifact)
    artifact.updated_at = uow.now()
    return artifact


def delete_aliases(
    uow: UnitOfWork, principal: Principal, node_id: str, aliases: list[CollectionAlias]
) -> Artifact:
    """Remove the aliases that point at the version; others are left alone."""
    artifact = editable_version(uow, principal, node_id)
    names = _check_targets(artifact, aliases)
    rows = uow.session.scalars(
        select(ArtifactAlias).where(
            ArtifactAlias.artifact_id == artifact.id, ArtifactAlias.alias.in_(names)
        )
    )
    for row in rows:
        uow.session.delete(row)
    artifact.updated_at = uow.now()
    uow.session.flush()
    return artifact


def _replace_aliases(uow: UnitOfWork, artifact: Artifact, names: list[str]) -> None:
    """Old clients' updateArtifact(aliases=...): the version's aliases become `names`."""
    wanted = set(names)
    for row in versions.aliases_of(uow.session, artifact):
        if row.alias not in wanted:
            uow.session.delete(row)
    for name in sorted(wanted):
        versions.move_alias(uow.session, artifact.collection, name, artifact)


# --- versions --------------------------------------------------------------------------


def ttl_of(artifact: Artifact) -> ttl.TtlSetting:
    """The version's TTL policy as stored."""
    return ttl.TtlSetting(artifact.ttl_is_inherited, artifact.ttl_duration_seconds)


def ttl_answer(artifact: Artifact) -> int:
    """`ttlDurationSeconds` as W&B answers it: the TTL that applies, -2 when none."""
    return ttl.wire_value(ttl_of(artifact), artifact.collection.ttl_duration_seconds)


def apply_ttl(artifact: Artifact, setting: ttl.TtlSetting, created_at: datetime) -> None:
    """Store a version's TTL policy and the expiry it gives."""
    artifact.ttl_is_inherited = setting.inherited
    artifact.ttl_duration_seconds = setting.seconds
    seconds = ttl.effective_ttl(setting, artifact.collection.ttl_duration_seconds)
    artifact.expires_at = ttl.expiry(created_at, seconds)


def update_artifact(uow: UnitOfWork, principal: Principal, spec: UpdateArtifactSpec) -> Artifact:
    """Change a version's description, metadata, tags, TTL (and, for old clients, aliases).

    Metadata given replaces the old (W&B semantics: a partial job's run writes its types
    here, dropping `_partial`)."""
    artifact = artifact_by_id(uow, principal, spec.artifactID, "artifactID", Action.WRITE)
    if artifact.state == deletion.DELETED:
        editable_version(uow, principal, spec.artifactID)  # raises, naming the version
    committed = artifact.state == deletion.COMMITTED
    setting = None
    if spec.ttlDurationSeconds is not None:
        setting = ttl.parse_ttl(spec.ttlDurationSeconds)
        ttl.check_not_past(ttl.aware(artifact.created_at), setting, uow.now())
    added = tags.check_tags([t.tagName for t in spec.tagsToAdd or []], "tagsToAdd")
    removed = tags.check_tags([t.tagName for t in spec.tagsToDelete or []], "tagsToDelete")
    new_tags = tags.changed_tags(list(artifact.tags or []), added, removed, "tagsToAdd")
    alias_names = None
    if spec.aliases is not None:
        if not committed:
            editable_version(uow, principal, spec.artifactID)  # raises: not committed
        alias_names = _check_targets(artifact, spec.aliases)
    metadata = versions.parse_metadata(spec.metadata) if spec.metadata is not None else None
    # Every input is valid: now write.
    if metadata is not None:
        artifact.metadata_json = metadata
    if spec.description is not None:
        artifact.description = spec.description
    artifact.tags = new_tags
    if setting is not None:
        apply_ttl(artifact, setting, ttl.aware(artifact.created_at))
    if alias_names is not None:
        _replace_aliases(uow, artifact, alias_names)
    artifact.updated_at = uow.now()
    uow.session.flush()
    return artifact


def delete_artifact(
    uow: UnitOfWork, principal: Principal, node_id: str, delete_aliases: bool
) -> Artifact:
    """Delete a version (refused while aliases point at it, unless `delete_aliases`).

    Deleting a deleted version again answers like the first delete.
    """
    artifact = artifact_by_id(uow, principal, node_id, "artifactID", Action.WRITE)
    deletion.delete_version(uow.session, artifact, uow.now(), delete_aliases=delete_aliases)
    return artifact


# --- collections -----------------------------------------------------------------------


@dataclass(frozen=True)
class CollectionUpdate:
    """UpdateArtifactSequenceInput: what to change (None: leave as is)."""

    name: str | None = None
    description: str | None = None
    ttl_duration_seconds: int | None = None


def update_collection(
    uow: UnitOfWork, principal: Principal, node_id: str, change: CollectionUpdate
) -> ArtifactCollection:
    """Rename a collection or change its description or default TTL."""
    collection = collection_by_id(uow, principal, node_id, "artifactSequenceID", Action.WRITE)
    name = collection.name
    if change.name is not None and change.name != collection.name:
        name = versions.check_collection_name(change.name)
        if versions.find_collection(uow.session, collection.project, name) is not None:
            raise ServiceError(
                ErrorCode.CONFLICT,
                f"name: {collection.project.name} already has an artifact collection "
                f"{name!r}; choose another name",
            )
    default_ttl = collection.ttl_duration_seconds
    if change.ttl_duration_seconds is not None:
        default_ttl = ttl.parse_default_ttl(change.ttl_duration_seconds)
    collection.name = name
    if change.description is not None:
        collection.description = change.description
    if default_ttl != collection.ttl_duration_seconds:
        collection.ttl_duration_seconds = default_ttl
        _reexpire_inheriting(uow, collection)
    uow.session.flush()
    return collection


_TYPE_RE = re.compile(r"^[-\w]+( *[-.\w]+)*$")


def move_collection(
    uow: UnitOfWork, principal: Principal, node_id: str, type_name: str
) -> ArtifactCollection:
    """Give a collection (and so each of its versions) another artifact type."""
    collection = collection_by_id(uow, principal, node_id, "artifactSequenceID", Action.WRITE)
    if len(type_name) > 128 or not _TYPE_RE.fullmatch(type_name):
        raise ServiceError(
            ErrorCode.INVALID,
            f"destinationArtifactTypeName: {type_name!r} is not a valid artifact type (up to "
            "128 letters, digits, '_', '-', '.' and spaces)",
        )
    reserved = [n for n in (collection.type_name, type_name) if n.startswith("wandb-")]
    if reserved and collection.type_name != type_name:
        raise ServiceError(
            ErrorCode.INVALID,
            f"destinationArtifactTypeName: {reserved[0]!r} is an internal type; collections "
            "cannot move to or from it",
        )
    collection.type_name = type_name
    uow.session.flush()
    return collection


def _reexpire_inheriting(uow: UnitOfWork, collection: ArtifactCollection) -> None:
    """Recompute the expiry of the versions that inherit the collection's TTL."""
    inheriting = uow.session.scalars(
        select(Artifact).where(
            Artifact.collection_id == collection.id,
            Artifact.state != deletion.DELETED,
            Artifact.ttl_is_inherited.is_(True),
        )
    )
    for artifact in inheriting:
        artifact.expires_at = ttl.expiry(
            ttl.aware(artifact.created_at), collection.ttl_duration_seconds
        )


def change_collection_tags(
    uow: UnitOfWork,
    principal: Principal,
    where: tuple[str | None, str, str],
    add: list[str],
    remove: list[str],
) -> ArtifactCollection:
    """Add or remove tags of the collection `where` = (entity, project, name)."""
    collection = collection_by_name(uow, principal, *where)
    added = tags.check_tags(add, "tags")
    removed = tags.check_tags(remove, "tags")
    collection.tags = tags.changed_tags(list(collection.tags or []), added, removed, "tags")
    uow.session.flush()
    return collection


def delete_collection(uow: UnitOfWork, principal: Principal, node_id: str) -> ArtifactCollection:
    """Delete a collection with all its versions and aliases."""
    collection = collection_by_id(uow, principal, node_id, "artifactSequenceID", Action.WRITE)
    deletion.delete_collection(uow.session, collection, uow.now())
    return collection
