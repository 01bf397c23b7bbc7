"""Artifacts as the adapters use them: lookups that apply the access rule, and the writes.

Thin service functions over a unit of work; the rules live in `tracking.artifacts` and
`tracking.artifact_files`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from runyard.server.access import Action, allows
from runyard.server.auth import Principal
from runyard.server.db.models import (
    Artifact,
    ArtifactAlias,
    ArtifactCollection,
    ArtifactFile,
    Project,
)
from runyard.server.db.registry_models import ArtifactLink
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.registry import access as registry_access
from runyard.server.tracking import artifact_files, artifacts, direct_uploads
from runyard.server.tracking.access import check_entity_access
from runyard.server.tracking.ids import decode_id
from runyard.server.tracking.runs import find_project, find_run
from runyard.server.unit_of_work import UnitOfWork


def project_of(
    uow: UnitOfWork,
    principal: Principal,
    entity: str | None,
    name: str,
    action: Action = Action.READ,
) -> Project:
    """A project (entity default: the caller's) the caller may `action` on; not found
    otherwise."""
    entity_name = entity or principal.entity_name
    if registry_access.governs(entity_name, name):
        return registry_access.accessible_registry(uow.session, principal, name, action)
    check_entity_access(principal, entity_name, action)
    project = find_project(uow.session, entity_name, name)
    if project is None:
        raise ServiceError(
            ErrorCode.NOT_FOUND, f"projectName: project {entity_name}/{name} does not exist"
        )
    return project


def artifact_by_id(
    uow: UnitOfWork,
    principal: Principal,
    node_id: str,
    field: str = "artifactID",
    action: Action = Action.READ,
) -> Artifact:
    """A version by node id, if the caller may `action` on its entity; `field` names the
    input."""
    try:
        pk = decode_id("Artifact", node_id)
    except ValueError as exc:
        raise ServiceError(ErrorCode.INVALID, f"{field}: {exc}") from exc
    artifact = uow.session.get(Artifact, pk)
    if artifact is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"{field}: no artifact {node_id!r}")
    entity_name = artifact.collection.project.entity.name
    if not (
        action is Action.READ
        and not allows(principal, entity_name, action)
        and registry_access.may_read_linked(uow.session, principal, artifact)
    ):
        check_entity_access(principal, entity_name, action)
    return artifact


def files_of(uow: UnitOfWork, artifact: Artifact) -> list[ArtifactFile]:
    """The version's files by name."""
    return artifact_files.files_of(uow.session, artifact)


def listed_files(
    uow: UnitOfWork, artifact: Artifact
) -> list[ArtifactFile | artifact_files.ReferenceEntry]:
    """What the version's `files` lists, by name: its stored files and its reference entries
    (the client downloads only listed entries; it fetches references from their URI)."""
    stored: list[ArtifactFile | artifact_files.ReferenceEntry] = list(files_of(uow, artifact))
    refs = artifact_files.reference_entries(uow.objects, artifact)
    return sorted([*stored, *refs], key=lambda entry: entry.name)


def find_membership(uow: UnitOfWork, project: Project, name: str) -> artifacts.Membership | None:
    """The version `name` (`collection:alias`) points at, seen through its collection."""
    return artifacts.find_membership(uow.session, project, name)


def find_collection(uow: UnitOfWork, project: Project, name: str) -> ArtifactCollection | None:
    """A collection of the project by name."""
    return artifacts.find_collection(uow.session, project, name)


def find_version(uow: UnitOfWork, collection: ArtifactCollection, selector: str) -> Artifact | None:
    """The committed version a selector (`latest`, `v3`, a user alias) points at."""
    return artifacts.find_version(uow.session, collection, selector)


def membership_of(
    uow: UnitOfWork, collection: ArtifactCollection, artifact: Artifact
) -> artifacts.Membership:
    """The version seen through `collection` (with its link when that is a portfolio)."""
    return artifacts.membership_of(uow.session, collection, artifact)


def latest_version(uow: UnitOfWork, collection: ArtifactCollection) -> Artifact | None:
    """The version `latest` points at."""
    return artifacts.latest_version(uow.session, collection)


@dataclass(frozen=True)
class VersionAlias:
    """The `vN` alias W&B lists beside a version's own aliases; Runyard derives it from the
    version index instead of storing it (clients tell it apart by its shape)."""

    id: str
    alias: str
    collection_id: int
    artifact_id: int


def aliases_of(
    uow: UnitOfWork, artifact: Artifact, collection: ArtifactCollection | None = None
) -> list[ArtifactAlias | VersionAlias]:
    """The aliases pointing at the version, then its `vN` once committed (as W&B answers:
    `wandb job list` prints versions from them); a linked version also has its `vN` in each
    collection it is linked into. Only those of `collection` when given (a membership's)."""
    rows: list[ArtifactAlias | VersionAlias] = list(artifacts.aliases_of(uow.session, artifact))
    if artifact.version_index is not None:
        version = f"v{artifact.version_index}"
        rows.append(
            VersionAlias(f"version-{artifact.id}", version, artifact.collection_id, artifact.id)
        )
    for link in registry_links_of(uow, artifact):
        rows.append(
            VersionAlias(
                f"link-{link.id}", f"v{link.version_index}", link.collection_id, artifact.id
            )
        )
    if collection is not None:
        rows = [row for row in rows if row.collection_id == collection.id]
    return rows


def registry_links_of(uow: UnitOfWork, artifact: Artifact) -> list[ArtifactLink]:
    """The links of a version into portfolio collections, oldest first."""
    return list(
        uow.session.scalars(
            select(ArtifactLink)
            .where(ArtifactLink.artifact_id == artifact.id)
            .order_by(ArtifactLink.id)
        )
    )


def collection_of_alias(
    uow: UnitOfWork, alias: ArtifactAlias | VersionAlias
) -> ArtifactCollection | None:
    """The collection an alias belongs to."""
    return uow.session.get(ArtifactCollection, alias.collection_id)


def create_artifact(
    uow: UnitOfWork, principal: Principal, spec: artifacts.CreateArtifactSpec
) -> Artifact:
    """Start a version (or return the one a retry or identical contents map to)."""
    project = project_of(uow, principal, spec.entityName, spec.projectName, Action.WRITE)
    run = find_run(uow.session, project, spec.runName) if spec.runName else None
    if spec.runName and run is None:
        raise ServiceError(
            ErrorCode.INVALID,
            f"runName: run {spec.runName!r} does not exist in {spec.projectName}",
        )
    return artifacts.create_artifact(uow.session, project, run, spec)


def register_files(
    uow: UnitOfWork, artifact: Artifact, specs: list[artifact_files.FileSpec]
) -> list[tuple[ArtifactFile, bool]]:
    """Record files to upload; each with whether the client must upload it."""
    return artifact_files.register_files(uow.session, artifact, specs)


def commit_artifact(uow: UnitOfWork, artifact: Artifact) -> Artifact:
    """Commit the version: it gets its v<N> and its aliases."""
    # Files PUT straight to a bucket: learn which landed (HEAD) before the manifest check.
    direct_uploads.reconcile_artifact(uow, artifact)
    return artifacts.commit_artifact(uow.session, uow.objects, artifact)


def upload_target(
    uow: UnitOfWork,
    base_url: str,
    row: ArtifactFile,
    parts: list[direct_uploads.UploadPart] | None = None,
) -> direct_uploads.UploadTarget:
    """Where the client uploads an artifact file (server URL, bucket URL, or bucket parts)."""
    return direct_uploads.artifact_upload(uow, base_url, row.storage_key, row.md5_b64, parts)


def complete_multipart(
    uow: UnitOfWork,
    artifact: Artifact,
    storage_path: str,
    upload_id: str,
    parts: list[direct_uploads.UploadPart],
    abort: bool = False,
) -> None:
    """Join (or drop) a file's uploaded parts in the bucket and mark it uploaded."""
    direct_uploads.complete_multipart(uow, artifact, storage_path, upload_id, parts, abort)


def use_artifact(
    uow: UnitOfWork,
    principal: Principal,
    entity: str | None,
    project: str,
    run_name: str,
    artifact_id: str,
    used_as: str | None,
) -> Artifact:
    """Record a run's use of a version; return the version."""
    # Recording a use writes to the run; the artifact itself only has to be readable.
    proj = project_of(uow, principal, entity, project, Action.WRITE)
    run = find_run(uow.session, proj, run_name)
    if run is None:
        raise ServiceError(ErrorCode.NOT_FOUND, f"runName: run {run_name!r} does not exist")
    artifact = artifact_by_id(uow, principal, artifact_id)
    artifacts.use_artifact(uow.session, run, artifact, used_as)
    return artifact
