"""Reading a committed artifact version with download URLs: what the runyard agent needs to
run a W&B code job (the job artifact, then the code artifact its `wandb-job.json` names)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from runyard.server.access import Action, allows
from runyard.server.auth import Principal
from runyard.server.db.models import Artifact, ArtifactCollection, ArtifactFile, Entity, Project
from runyard.server.tracking import artifact_files
from runyard.server.tracking.access import accessible_project, check_entity_access
from runyard.server.tracking.artifacts import find_membership
from runyard.server.tracking.ids import decode_id, encode_id
from runyard.server.tracking.runs import TrackingError
from runyard.server.unit_of_work import UnitOfWork


class ArtifactFileOut(BaseModel):
    """One file of a version and a signed URL to download it."""

    name: str
    size: int
    md5: str
    url: str


class ArtifactOut(BaseModel):
    """A committed version: its names, metadata and files."""

    id: str
    entity: str
    project: str
    collection: str
    version: str
    type: str
    metadata: dict[str, Any]
    files: list[ArtifactFileOut]


def by_name(
    uow: UnitOfWork, principal: Principal, entity: str, project: str, name: str
) -> Artifact:
    """The version `name:alias` (or `name:vN`; a bare name means latest) the caller may read."""
    session = uow.session
    owner = accessible_project(session, principal, entity, project)
    found = find_membership(session, owner, name)
    if found is None:
        raise TrackingError(
            f"artifact {entity}/{project}/{name} does not exist (check the name and alias, "
            "e.g. NAME:latest or NAME:v0)",
            status=404,
        )
    return found.artifact


def by_id(uow: UnitOfWork, principal: Principal, node_id: str) -> Artifact:
    """A committed version by its node id (what `wandb-artifact://_id/<id>` names)."""
    session = uow.session
    try:
        pk = decode_id("Artifact", node_id)
    except ValueError as exc:
        raise TrackingError(f"id: {exc}", status=400) from exc
    artifact = session.get(Artifact, pk)
    # Ids are guessable (base64 of `Artifact:<n>`): another entity's version reads as missing.
    if (
        artifact is None
        or artifact.state != "COMMITTED"
        or not allows(principal, artifact.collection.project.entity.name, Action.READ)
    ):
        raise TrackingError(f"artifact {node_id} does not exist", status=404)
    return artifact


def describe(uow: UnitOfWork, artifact: Artifact, url_for: Callable[[str], str]) -> ArtifactOut:
    """The version with a download URL per file (`url_for` signs a storage key)."""
    session = uow.session
    collection = artifact.collection
    return ArtifactOut(
        id=encode_id("Artifact", artifact.id),
        entity=collection.project.entity.name,
        project=collection.project.name,
        collection=collection.name,
        version=f"v{artifact.version_index}",
        type=collection.type_name,
        metadata=dict(artifact.metadata_json or {}),
        files=[
            ArtifactFileOut(name=f.name, size=f.size, md5=f.md5_b64, url=url_for(f.storage_key))
            for f in artifact_files.files_of(session, artifact)
        ],
    )


def stored_file(
    uow: UnitOfWork, principal: Principal, entity: str, birth_id: str | None, hexhash: str
) -> str:
    """The storage key of an entity's artifact file by content digest (hex MD5), from the
    version it was first logged in when given: what W&B's download URLs
    (`/artifactsV2/...`, `/artifacts/{entity}/{md5}`) name, e.g. for `entry.download()`."""
    session = uow.session
    check_entity_access(principal, entity)
    try:
        md5_b64 = base64.b64encode(bytes.fromhex(hexhash)).decode()
    except ValueError as exc:
        raise TrackingError(f"{hexhash!r} is not a hex MD5 digest", status=400) from exc
    query = (
        select(ArtifactFile.storage_key)
        .join(Artifact, Artifact.id == ArtifactFile.artifact_id)
        .join(ArtifactCollection, ArtifactCollection.id == Artifact.collection_id)
        .join(Project, Project.id == ArtifactCollection.project_id)
        .join(Entity, Entity.id == Project.entity_id)
        .where(ArtifactFile.md5_b64 == md5_b64, Entity.name == entity, ArtifactFile.uploaded)
    )
    if birth_id:
        try:
            query = query.where(Artifact.id == decode_id("Artifact", birth_id))
        except (ValueError, binascii.Error) as exc:
            raise TrackingError(f"{birth_id!r} is not an artifact id", status=400) from exc
    key = session.scalars(query.limit(1)).first()
    if key is None:
        raise TrackingError(f"no artifact file of {entity} has the digest {hexhash}", status=404)
    return key
