"""Artifacts: collections of versions, their files, aliases and uses (W&B's artifact protocol).

A version is created PENDING (CreateArtifact), gets its files and manifest uploaded through
signed URLs, and becomes readable when committed: only then does it get its version
index (v0, v1, ...) and do its aliases move to it. Logging contents whose digest equals a
committed version of the same collection returns that version instead of a new one.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from runyard.server.automations import firing
from runyard.server.clock import utcnow
from runyard.server.db.models import (
    Artifact,
    ArtifactAlias,
    ArtifactCollection,
    ArtifactFile,
    ArtifactUse,
    Project,
    Run,
)
from runyard.server.db.registry_models import ArtifactLink
from runyard.server.input_limits import check_file_name, loads_limited
from runyard.server.storage import ObjectStore
from runyard.server.tracking import artifact_drafts, artifact_manifests
from runyard.server.tracking.artifact_files import (
    files_of,
    read_manifest,
    stored_copy,
)
from runyard.server.tracking.runs import TrackingError

logger = logging.getLogger(__name__)

LATEST = "latest"
SEQUENCE = "SEQUENCE"
# A collection of links to versions of other collections (a registry collection, or a
# legacy model-registry "registered model"); see runyard.server.registry.links.
PORTFOLIO = "PORTFOLIO"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_ALIAS_RE = re.compile(r"^[^/:]{1,128}$")
_VERSION_RE = re.compile(r"^v(\d+)$")


class AliasInput(BaseModel):
    """One alias the client asks for (`{"alias": "latest", "artifactCollectionName": "ds"}`)."""

    alias: str
    artifactCollectionName: str | None = None


class CreateArtifactSpec(BaseModel):
    """The fields of CreateArtifactInput that Runyard acts on; the rest are accepted."""

    model_config = ConfigDict(extra="ignore")

    entityName: str
    projectName: str
    artifactTypeName: str
    artifactCollectionName: str | None = None
    artifactCollectionNames: list[str] | None = None
    runName: str | None = None
    digest: str
    description: str | None = None
    metadata: str | None = None
    aliases: list[AliasInput] | None = None
    clientID: str | None = None
    enableDigestDeduplication: bool | None = None
    # Runs sharing it add to one pending version (`run.upsert_artifact`); see artifact_drafts.
    distributedID: str | None = None

    def collection_name(self) -> str:
        """The collection named by either the singular or the list field."""
        name = self.artifactCollectionName or next(iter(self.artifactCollectionNames or []), None)
        if not name:
            raise TrackingError("artifactCollectionName: an artifact needs a name")
        return name


@dataclass(frozen=True)
class Membership:
    """A version seen through its collection (W&B's ArtifactCollectionMembership); in a
    portfolio, through its link there, which has its own v<N>."""

    artifact: Artifact
    collection: ArtifactCollection
    link: ArtifactLink | None = None

    @property
    def version_index(self) -> int | None:
        """v<N> of the version in this collection."""
        return self.link.version_index if self.link else self.artifact.version_index

    @property
    def created_at(self) -> datetime:
        """When the version joined this collection (created, or linked)."""
        return self.link.created_at if self.link else self.artifact.created_at

    @property
    def key(self) -> str:
        """What the membership's node id encodes: the version, or the link."""
        return f"link-{self.link.id}" if self.link else str(self.artifact.id)


# --- names and keys ---------------------------------------------------------------------------


def split_name(name: str) -> tuple[str, str]:
    """Split `ds:alias` or `ds:v3` into collection and selector; a bare name means `latest`."""
    collection, _, selector = name.partition(":")
    return collection, selector or LATEST


def check_collection_name(name: str) -> str:
    """Refuse collection names W&B would refuse (letters, digits, `_`, `-`, `.`)."""
    if not _NAME_RE.fullmatch(name):
        raise TrackingError(
            f"artifactCollectionName: {name!r} is not a valid artifact name "
            "(1-128 letters, digits, '_', '-' or '.')"
        )
    return name


def check_alias(alias: str) -> str:
    """Refuse aliases that would be ambiguous with versions or names."""
    if not _ALIAS_RE.fullmatch(alias) or _VERSION_RE.fullmatch(alias):
        raise TrackingError(
            f"aliases: {alias!r} is not a valid alias (no '/' or ':', and v<N> is reserved "
            "for versions)"
        )
    return alias


# --- lookups ---------------------------------------------------------------------------------


def find_collection(session: Session, project: Project, name: str) -> ArtifactCollection | None:
    """A collection of `project` by name."""
    return session.scalars(
        select(ArtifactCollection).where(
            ArtifactCollection.project_id == project.id, ArtifactCollection.name == name
        )
    ).first()


def find_version(
    session: Session, collection: ArtifactCollection, selector: str
) -> Artifact | None:
    """The committed version a selector (`latest`, `v3`, a user alias) points at."""
    match = _VERSION_RE.fullmatch(selector)
    if match and collection.kind == PORTFOLIO:
        return session.scalars(
            select(Artifact)
            .join(ArtifactLink, ArtifactLink.artifact_id == Artifact.id)
            .where(
                ArtifactLink.collection_id == collection.id,
                ArtifactLink.version_index == int(match.group(1)),
                Artifact.state == "COMMITTED",
            )
        ).first()
    if match:
        return session.scalars(
            select(Artifact).where(
                Artifact.collection_id == collection.id,
                Artifact.version_index == int(match.group(1)),
                Artifact.state == "COMMITTED",
            )
        ).first()
    return session.scalars(
        select(Artifact)
        .join(ArtifactAlias, ArtifactAlias.artifact_id == Artifact.id)
        .where(ArtifactAlias.collection_id == collection.id, ArtifactAlias.alias == selector)
    ).first()


def find_membership(session: Session, project: Project, name: str) -> Membership | None:
    """Resolve `name:selector` within a project; None when either part is unknown."""
    collection_name, selector = split_name(name)
    collection = find_collection(session, project, collection_name)
    if collection is None:
        return None
    artifact = find_version(session, collection, selector)
    return membership_of(session, collection, artifact) if artifact else None


def membership_of(
    session: Session, collection: ArtifactCollection, artifact: Artifact
) -> Membership:
    """The version seen through `collection` (with its link when that is a portfolio)."""
    if collection.kind != PORTFOLIO:
        return Membership(artifact, collection)
    link = session.scalars(
        select(ArtifactLink).where(
            ArtifactLink.collection_id == collection.id, ArtifactLink.artifact_id == artifact.id
        )
    ).first()
    return Membership(artifact, collection, link)


def aliases_of(session: Session, artifact: Artifact) -> list[ArtifactAlias]:
    """The aliases pointing at a version, `latest` first."""
    rows = session.scalars(
        select(ArtifactAlias).where(ArtifactAlias.artifact_id == artifact.id)
    ).all()
    return sorted(rows, key=lambda a: (a.alias != LATEST, a.alias))


def latest_version(session: Session, collection: ArtifactCollection) -> Artifact | None:
    """The version `latest` points at, if any."""
    return find_version(session, collection, LATEST)


# --- writes ----------------------------------------------------------------------------------


def _parse_metadata(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = loads_limited(text, "metadata")
    except json.JSONDecodeError as exc:
        raise TrackingError(f"metadata: not valid JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise TrackingError("metadata: must be a JSON object")
    return value


def create_artifact(
    session: Session, project: Project, run: Run | None, spec: CreateArtifactSpec
) -> Artifact:
    """Create a PENDING version, or return the one a retry or identical contents map to."""
    if spec.clientID:
        existing = session.scalars(
            select(Artifact).where(Artifact.client_id == spec.clientID)
        ).first()
        if existing is not None:
            return existing
    name = check_collection_name(spec.collection_name())
    aliases = sorted({check_alias(a.alias) for a in spec.aliases or []} | {LATEST})
    metadata = _parse_metadata(spec.metadata)
    collection = find_collection(session, project, name)
    if collection is None:
        collection = ArtifactCollection(
            project_id=project.id, name=name, type_name=spec.artifactTypeName
        )
        session.add(collection)
        session.flush()
    elif collection.kind == PORTFOLIO:
        raise TrackingError(
            f"artifactCollectionName: {name!r} in this project is a collection of linked "
            "versions (a registry collection or registered model): log to another name and "
            "link the version to it"
        )
    elif collection.type_name != spec.artifactTypeName:
        raise TrackingError(
            f"artifactTypeName: artifact {name!r} has type {collection.type_name!r}, "
            f"not {spec.artifactTypeName!r}: use another name or the same type"
        )
    if spec.distributedID:
        # Runs of a group create at once: one at a time per collection (PostgreSQL row lock;
        # SQLite writers are serialised anyway), so they all find the same open version.
        session.execute(
            select(ArtifactCollection.id)
            .where(ArtifactCollection.id == collection.id)
            .with_for_update()
        )
        draft = artifact_drafts.distributed_draft(session, collection, spec.distributedID)
        if draft is not None:
            # Another run of the group adds to the open version; its aliases join.
            draft.requested_aliases = sorted(set(draft.requested_aliases or []) | set(aliases))
            return draft
    # A distributed version's digest covers one run's share only: never deduplicated by it.
    if spec.enableDigestDeduplication is not False and not spec.distributedID:
        same = session.scalars(
            select(Artifact)
            .where(
                Artifact.collection_id == collection.id,
                Artifact.digest == spec.digest,
                Artifact.state == "COMMITTED",
            )
            .order_by(Artifact.version_index.desc())
        ).first()
        if same is not None:
            # W&B gives identical contents the existing version and moves the aliases to it.
            for alias in aliases:
                move_alias(session, collection, alias, same)
            logger.info(
                "artifact deduplicated",
                extra={"collection": name, "version": same.version_index, "digest": spec.digest},
            )
            return same
    artifact = Artifact(
        collection_id=collection.id,
        client_id=spec.clientID or uuid.uuid4().hex,
        digest=spec.digest,
        description=spec.description,
        metadata_json=metadata,
        requested_aliases=aliases,
        created_by_run_id=run.id if run else None,
    )
    session.add(artifact)
    session.flush()
    if spec.distributedID:
        artifact_drafts.open_distributed(session, artifact, spec.distributedID)
    return artifact


def commit_artifact(session: Session, store: ObjectStore, artifact: Artifact) -> Artifact:
    """Check every manifest file is stored, then number the version and move its aliases."""
    if artifact.state == "COMMITTED":
        return artifact
    # Incremental and distributed versions were uploaded in parts: assemble them first.
    artifact_drafts.assemble_parts(session, store, artifact)
    manifest = read_manifest(store, artifact)
    files = {f.name: f for f in files_of(session, artifact)}
    size = 0
    for path, entry in manifest.contents.items():
        size += entry.size or 0
        if entry.ref is not None:
            artifact_manifests.check_reference(path, entry.ref)
            continue
        row = files.get(path)
        if row is None or not row.uploaded:
            stored = stored_copy(session, artifact, entry.digest)
            if stored is None:
                raise TrackingError(f"manifest: file {path!r} was never uploaded; upload it first")
            if row is None:
                check_file_name(path, "manifest.contents")
                row = ArtifactFile(artifact_id=artifact.id, name=path, md5_b64=entry.digest)
                session.add(row)
            row.storage_key, row.size, row.uploaded = stored.storage_key, stored.size, True
        elif row.md5_b64 != entry.digest:
            raise TrackingError(f"manifest: file {path!r} digest differs from the uploaded file")
    collection = artifact.collection
    # Lock the collection row (PostgreSQL) so concurrent commits number versions one by one.
    session.execute(
        select(ArtifactCollection.id)
        .where(ArtifactCollection.id == collection.id)
        .with_for_update()
    )
    last = session.scalar(
        select(func.max(Artifact.version_index)).where(Artifact.collection_id == collection.id)
    )
    artifact.version_index = 0 if last is None else last + 1
    artifact.state = "COMMITTED"
    artifact.size = size
    artifact.file_count = len(manifest.contents)
    artifact.committed_at = artifact.updated_at = utcnow()
    artifact_drafts.close_distributed(session, artifact)
    session.flush()
    firing.on_artifact_event(
        session,
        "CREATE_ARTIFACT",
        collection,
        artifact,
        aliases=list(artifact.requested_aliases or [LATEST]),
    )
    for alias in artifact.requested_aliases or [LATEST]:
        move_alias(session, collection, alias, artifact)
    logger.info(
        "artifact committed",
        extra={"collection": collection.name, "version": artifact.version_index, "size": size},
    )
    return artifact


def move_alias(
    session: Session, collection: ArtifactCollection, alias: str, artifact: Artifact
) -> None:
    """Point `alias` of the collection at `artifact` (an alias names one version at a time).

    Every alias change goes through here, so this is where ADD_ARTIFACT_ALIAS events start.
    """
    row = session.scalars(
        select(ArtifactAlias).where(
            ArtifactAlias.collection_id == collection.id, ArtifactAlias.alias == alias
        )
    ).first()
    if row is not None and row.artifact_id == artifact.id:
        return
    if row is None:
        session.add(
            ArtifactAlias(collection_id=collection.id, alias=alias, artifact_id=artifact.id)
        )
    else:
        row.artifact_id = artifact.id
    session.flush()
    firing.on_artifact_event(session, "ADD_ARTIFACT_ALIAS", collection, artifact, alias=alias)


def use_artifact(session: Session, run: Run, artifact: Artifact, used_as: str | None) -> None:
    """Record that `run` used `artifact` as an input; repeating it changes nothing."""
    if artifact.state != "COMMITTED":
        raise TrackingError("artifactID: the artifact is not committed yet; wait for it first")
    if session.get(ArtifactUse, (run.id, artifact.id)) is None:
        session.add(ArtifactUse(run_id=run.id, artifact_id=artifact.id, used_as=used_as))
        session.flush()


def delete_created_by(session: Session, run: Run) -> int:
    """Delete the versions `run` created; `latest` falls back to the newest one left."""
    doomed = list(session.scalars(select(Artifact).where(Artifact.created_by_run_id == run.id)))
    collections = {a.collection_id: a.collection for a in doomed}
    # The portfolios the versions are linked into lose those links (and aliases) with them.
    portfolios = {
        c.id: c
        for c in session.scalars(
            select(ArtifactCollection)
            .join(ArtifactLink, ArtifactLink.collection_id == ArtifactCollection.id)
            .where(ArtifactLink.artifact_id.in_([a.id for a in doomed]))
        )
    }
    for artifact in doomed:
        session.delete(artifact)
    session.flush()
    for collection in [*collections.values(), *portfolios.values()]:
        if latest_version(session, collection) is None:
            newest = _newest_version(session, collection)
            if newest is not None:
                move_alias(session, collection, LATEST, newest)
    return len(doomed)


def _newest_version(session: Session, collection: ArtifactCollection) -> Artifact | None:
    """The newest committed version of a sequence, or the last linked one of a portfolio."""
    if collection.kind == PORTFOLIO:
        return session.scalars(
            select(Artifact)
            .join(ArtifactLink, ArtifactLink.artifact_id == Artifact.id)
            .where(ArtifactLink.collection_id == collection.id, Artifact.state == "COMMITTED")
            .order_by(ArtifactLink.version_index.desc())
        ).first()
    return session.scalars(
        select(Artifact)
        .where(Artifact.collection_id == collection.id, Artifact.state == "COMMITTED")
        .order_by(Artifact.version_index.desc())
    ).first()


def update_artifact(artifact: Artifact, description: str | None, metadata: str | None) -> Artifact:
    """Replace the version's metadata (when given) and description (when given), as W&B does:
    what a partial job's run writes (its input and output types) drops `_partial`."""
    if metadata is not None:
        artifact.metadata_json = _parse_metadata(metadata)
    if description is not None:
        artifact.description = description
    return artifact
