"""Manifests as the adapters start and update them: whole (`wandb_manifest.json`) or in parts
(incremental and distributed versions, see `artifact_drafts`)."""

from __future__ import annotations

from dataclasses import dataclass

from runyard.server.access import Action
from runyard.server.auth import Principal
from runyard.server.db.models import Artifact
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking import artifact_drafts, artifact_files, artifact_manifests
from runyard.server.tracking.access import check_entity_access
from runyard.server.tracking.artifact_service import artifact_by_id
from runyard.server.tracking.ids import decode_id, encode_id
from runyard.server.unit_of_work import UnitOfWork

PART_NODE = "ArtifactManifestPart"
WHOLE_NODE = "ArtifactManifest"


@dataclass(frozen=True)
class ManifestUpload:
    """A manifest of a version: its node id, where its bytes live and whether they may still
    be uploaded (the version is pending)."""

    node_id: str
    storage_key: str
    name: str
    artifact: Artifact

    @property
    def pending(self) -> bool:
        """Whether the client may still upload it."""
        return self.artifact.state == "PENDING"


def whole(artifact: Artifact) -> ManifestUpload:
    """The version's full manifest, `wandb_manifest.json`."""
    return ManifestUpload(
        encode_id(WHOLE_NODE, artifact.id),
        artifact_files.manifest_key(artifact),
        artifact_files.MANIFEST_NAME,
        artifact,
    )


def start_manifest(
    uow: UnitOfWork,
    principal: Principal,
    artifact_node: str,
    name: str,
    manifest_type: str | None,
    base_node: str | None,
) -> ManifestUpload:
    """createArtifactManifest: the full manifest, or a new part (incremental: on top of
    `base_node`; patch: one run's share of a distributed version)."""
    artifact = artifact_by_id(uow, principal, artifact_node, action=Action.WRITE)
    kind = artifact_manifests.manifest_kind(name, manifest_type)
    if kind == artifact_manifests.FULL:
        return whole(artifact)
    base_id = None
    if base_node and kind == artifact_manifests.INCREMENTAL:
        try:
            base_id = decode_id("Artifact", base_node)
        except ValueError as exc:
            raise ServiceError(ErrorCode.INVALID, f"baseArtifactID: {exc}") from exc
    part = artifact_drafts.start_part(uow.session, artifact, kind, base_id)
    return ManifestUpload(encode_id(PART_NODE, part.id), part.storage_key, name, artifact)


def manifest_by_id(uow: UnitOfWork, principal: Principal, manifest_node: str) -> ManifestUpload:
    """updateArtifactManifest: a manifest createArtifactManifest returned, if the caller may
    write its entity (the client asks for the upload URL here for parts)."""
    try:
        part_pk: int | None = decode_id(PART_NODE, manifest_node)
    except ValueError:
        part_pk = None
    if part_pk is not None:
        part = artifact_drafts.find_part(uow.session, part_pk)
        artifact = uow.session.get(Artifact, part.artifact_id) if part is not None else None
        if part is None or artifact is None:
            raise ServiceError(
                ErrorCode.NOT_FOUND, f"artifactManifestID: no manifest {manifest_node!r}"
            )
        check_entity_access(principal, artifact.collection.project.entity.name, Action.WRITE)
        name = next(n for n, k in artifact_manifests.MANIFEST_NAMES.items() if k == part.kind)
        return ManifestUpload(manifest_node, part.storage_key, name, artifact)
    try:
        artifact_pk = decode_id(WHOLE_NODE, manifest_node)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"artifactManifestID: {exc}") from exc
    artifact = artifact_by_id(
        uow, principal, encode_id("Artifact", artifact_pk), "artifactManifestID", Action.WRITE
    )
    return whole(artifact)
