"""Resolvers for artifacts: thin adapters over `runyard.server.tracking.artifacts`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ariadne import InterfaceType, MutationType, ObjectType, QueryType
from graphql import GraphQLResolveInfo

from runyard.server.access import Action
from runyard.server.api.models import as_utc
from runyard.server.artifacts import edits
from runyard.server.artifacts.listing import TypeInProject
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.graphql.artifact_edits import tag_nodes
from runyard.server.graphql.context import GraphQLContext, ctx
from runyard.server.tracking import artifact_files as files
from runyard.server.tracking import artifact_manifest_service as manifests
from runyard.server.tracking import artifact_service as service
from runyard.server.tracking.artifact_service import VersionAlias
from runyard.server.tracking.artifacts import PORTFOLIO, CreateArtifactSpec, Membership
from runyard.server.tracking.direct_uploads import UploadPart, UploadTarget
from runyard.server.tracking.ids import encode_id
from runyard.server.tracking.run_files import mimetype_for

if TYPE_CHECKING:
    from runyard.server.db.models import (
        Artifact,
        ArtifactAlias,
        ArtifactCollection,
        ArtifactFile,
        Project,
    )

query = QueryType()
mutation = MutationType()
project_type = ObjectType("Project")
artifact_type = ObjectType("Artifact")
sequence_type = ObjectType("ArtifactSequence")
collection_interface = InterfaceType("ArtifactCollection")
membership_type = ObjectType("ArtifactCollectionMembership")
alias_type = ObjectType("ArtifactAlias")

MAX_FILES_PAGE = 10000


def _iso(value: datetime | None) -> str | None:
    aware = as_utc(value)
    return aware.strftime("%Y-%m-%dT%H:%M:%S") if aware else None


def _artifact(
    context: GraphQLContext, node_id: str, field: str = "artifactID", action: Action = Action.READ
) -> Artifact:
    return service.artifact_by_id(context.uow, context.principal, node_id, field, action)


def _files_page(
    context: GraphQLContext,
    artifact: Artifact,
    after: str | None,
    first: int | None,
    names: list[str] | None,
) -> dict[str, Any]:
    rows = service.listed_files(context.uow, artifact)
    if names is not None:
        wanted = set(names)
        rows = [r for r in rows if r.name in wanted]
    start = int(after) + 1 if after and after.isdigit() else 0
    size = max(1, min(first or MAX_FILES_PAGE, MAX_FILES_PAGE))
    page = rows[start : start + size]
    edges = [
        {"node": _file_node(context, row, artifact), "cursor": str(start + i)}
        for i, row in enumerate(page)
    ]
    return {
        "edges": edges,
        "pageInfo": {
            "endCursor": edges[-1]["cursor"] if edges else None,
            "hasNextPage": start + size < len(rows),
        },
        "totalCount": len(rows),
    }


def _file_node(
    context: GraphQLContext,
    row: ArtifactFile | files.ReferenceEntry,
    artifact: Artifact,
    upload: bool = False,
    parts: list[UploadPart] | None = None,
) -> dict[str, Any]:
    if isinstance(row, files.ReferenceEntry):
        return _reference_node(row, artifact)
    signer = context.state.signer
    url = signer.url(context.base_url, "GET", row.storage_key)
    target = service.upload_target(context.uow, context.base_url, row, parts) if upload else None
    return {
        "id": encode_id("File", row.id),
        "name": row.name,
        "displayName": row.name.rsplit("/", 1)[-1],
        "digest": row.md5_b64,
        "md5": row.md5_b64,
        "sizeBytes": row.size,
        "mimetype": mimetype_for(row.name),
        "updatedAt": None,
        "directUrl": url,
        "url": url,
        "storagePath": row.storage_key,
        "uploadUrl": target.url if target else None,
        "uploadHeaders": target.headers if target else [],
        "uploadMultipartUrls": _multipart_urls(target),
        "artifact": artifact,
    }


def _multipart_urls(target: UploadTarget | None) -> dict[str, Any] | None:
    if target is None or target.upload_id is None:
        return None
    return {
        "uploadID": target.upload_id,
        "uploadUrlParts": [{"partNumber": p.number, "uploadUrl": p.url} for p in target.parts],
    }


def _reference_node(ref: files.ReferenceEntry, artifact: Artifact) -> dict[str, Any]:
    """A reference entry: its URL is the reference itself (the client reads it from there)."""
    return {
        "id": encode_id("File", f"{ref.artifact_id}:{ref.name}"),
        "name": ref.name,
        "displayName": ref.name.rsplit("/", 1)[-1],
        "digest": ref.digest,
        "md5": None,
        "sizeBytes": ref.size,
        "directUrl": ref.ref,
        "url": ref.ref,
        "storagePath": None,
        "uploadUrl": None,
        "uploadHeaders": [],
        "uploadMultipartUrls": None,
        "artifact": artifact,
    }


# --- queries ---------------------------------------------------------------------------------


@query.field("artifact")
def resolve_artifact(_: Any, info: GraphQLResolveInfo, id: str) -> Artifact | None:
    """A version by node id; unknown ids answer null like W&B."""
    try:
        return _artifact(ctx(info), id, "id")
    except ServiceError as exc:
        if exc.code is ErrorCode.NOT_FOUND:
            return None
        raise


@project_type.field("artifact")
def resolve_project_artifact(
    project: Project, info: GraphQLResolveInfo, name: str
) -> Artifact | None:
    """The committed version `name` points at."""
    found = service.find_membership(ctx(info).uow, project, name)
    return found.artifact if found else None


@project_type.field("artifactCollectionMembership")
def resolve_membership(project: Project, info: GraphQLResolveInfo, name: str) -> Membership | None:
    """The version `name` points at, seen through its collection."""
    return service.find_membership(ctx(info).uow, project, name)


@project_type.field("artifactCollection")
@project_type.field("artifactSequence")
def resolve_collection(
    project: Project, info: GraphQLResolveInfo, name: str
) -> ArtifactCollection | None:
    """A collection by name."""
    return service.find_collection(ctx(info).uow, project, name)


# --- collections, memberships, aliases ------------------------------------------------------


@collection_interface.type_resolver
def resolve_collection_type(collection: ArtifactCollection, *_: Any) -> str:
    """Sequences hold logged versions; portfolios (registry collections) hold links."""
    return "ArtifactPortfolio" if collection.kind == PORTFOLIO else "ArtifactSequence"


@sequence_type.field("id")
def resolve_collection_id(collection: ArtifactCollection, _: GraphQLResolveInfo) -> str:
    """Node id of the collection."""
    return encode_id("ArtifactCollection", collection.id)


@sequence_type.field("artifactMembership")
def resolve_collection_membership(
    collection: ArtifactCollection, info: GraphQLResolveInfo, aliasName: str
) -> Membership | None:
    """The version an alias or `vN` of this collection points at."""
    uow = ctx(info).uow
    artifact = service.find_version(uow, collection, aliasName)
    return service.membership_of(uow, collection, artifact) if artifact else None


@sequence_type.field("latestArtifact")
def resolve_latest(collection: ArtifactCollection, info: GraphQLResolveInfo) -> Artifact | None:
    """The version `latest` points at."""
    return service.latest_version(ctx(info).uow, collection)


@membership_type.field("id")
def resolve_membership_id(membership: Membership, _: GraphQLResolveInfo) -> str:
    """Node id of the membership (the version in its sequence, or its link)."""
    return encode_id("ArtifactCollectionMembership", membership.key)


@membership_type.field("versionIndex")
def resolve_membership_version(membership: Membership, _: GraphQLResolveInfo) -> int | None:
    """v<N> of the version in this collection."""
    return membership.version_index


@membership_type.field("createdAt")
def resolve_membership_created(membership: Membership, _: GraphQLResolveInfo) -> str | None:
    """When the version was created (or linked, in a portfolio)."""
    return _iso(membership.created_at)


@membership_type.field("aliases")
def resolve_membership_aliases(
    membership: Membership, info: GraphQLResolveInfo
) -> list[ArtifactAlias | VersionAlias]:
    """The aliases of the version in this collection (with its v<N> there)."""
    return service.aliases_of(ctx(info).uow, membership.artifact, membership.collection)


@membership_type.field("artifactCollection")
def resolve_membership_collection(
    membership: Membership, _: GraphQLResolveInfo
) -> ArtifactCollection:
    """The collection."""
    return membership.collection


@membership_type.field("artifact")
def resolve_membership_artifact(membership: Membership, _: GraphQLResolveInfo) -> Artifact:
    """The version."""
    return membership.artifact


@membership_type.field("files")
def resolve_membership_files(
    membership: Membership,
    info: GraphQLResolveInfo,
    after: str | None = None,
    first: int | None = None,
    names: list[str] | None = None,
) -> dict[str, Any]:
    """The version's files with signed download URLs."""
    return _files_page(ctx(info), membership.artifact, after, first, names)


@alias_type.field("id")
def resolve_alias_id(alias: ArtifactAlias | VersionAlias, _: GraphQLResolveInfo) -> str:
    """Node id of the alias."""
    return encode_id("ArtifactAlias", alias.id)


@alias_type.field("artifactCollection")
def resolve_alias_collection(
    alias: ArtifactAlias | VersionAlias, info: GraphQLResolveInfo
) -> ArtifactCollection | None:
    """The collection the alias belongs to."""
    return service.collection_of_alias(ctx(info).uow, alias)


# --- Artifact --------------------------------------------------------------------------------

ARTIFACT_ATTRIBUTES = {
    "id": lambda a: encode_id("Artifact", a.id),
    "artifactSequence": lambda a: a.collection,
    "versionIndex": lambda a: a.version_index,
    # The type as seen in the version's project (graphql/artifact_reads.py resolves it).
    "artifactType": lambda a: TypeInProject(a.collection.project, a.collection.type_name),
    "metadata": lambda a: json.dumps(a.metadata_json or {}),
    "ttlDurationSeconds": edits.ttl_answer,
    "ttlIsInherited": lambda a: a.ttl_is_inherited,
    "tags": lambda a: tag_nodes(a.tags),
    "historyStep": lambda a: None,
    "commitHash": lambda a: a.digest[:12],
    "fileCount": lambda a: a.file_count,
    "createdAt": lambda a: _iso(a.created_at),
    "updatedAt": lambda a: _iso(a.updated_at),
}

for _field, _getter in ARTIFACT_ATTRIBUTES.items():
    artifact_type.set_field(_field, lambda a, _info, _get=_getter: _get(a))


@artifact_type.field("aliases")
def resolve_artifact_aliases(
    artifact: Artifact, info: GraphQLResolveInfo
) -> list[ArtifactAlias | VersionAlias]:
    """The aliases pointing at the version."""
    return service.aliases_of(ctx(info).uow, artifact)


@artifact_type.field("currentManifest")
def resolve_manifest(artifact: Artifact, info: GraphQLResolveInfo) -> dict[str, Any]:
    """The manifest file with a signed download URL (and an upload URL while pending)."""
    return _manifest(ctx(info), artifact)


@artifact_type.field("files")
def resolve_artifact_files(
    artifact: Artifact,
    info: GraphQLResolveInfo,
    after: str | None = None,
    first: int | None = None,
    names: list[str] | None = None,
) -> dict[str, Any]:
    """The version's files with signed download URLs."""
    return _files_page(ctx(info), artifact, after, first, names)


def _manifest(context: GraphQLContext, artifact: Artifact) -> dict[str, Any]:
    return manifest_node(context, manifests.whole(artifact))


def manifest_node(context: GraphQLContext, manifest: manifests.ManifestUpload) -> dict[str, Any]:
    """An ArtifactManifest: its file with a signed download URL, and an upload URL while the
    version is pending."""
    signer = context.state.signer
    key, artifact = manifest.storage_key, manifest.artifact
    url = signer.url(context.base_url, "GET", key)
    return {
        "id": manifest.node_id,
        "file": {
            "id": encode_id("File", f"manifest-{manifest.node_id}"),
            "name": manifest.name,
            "displayName": manifest.name,
            "directUrl": url,
            "url": url,
            "storagePath": key,
            "uploadUrl": signer.url(context.base_url, "PUT", key) if manifest.pending else None,
            "uploadHeaders": [],
            "uploadMultipartUrls": None,
            "artifact": artifact,
        },
    }


# --- mutations -------------------------------------------------------------------------------


@mutation.field("createArtifact")
def resolve_create_artifact(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Start a version (or return the one a retry or identical contents map to)."""
    context = ctx(info)
    spec = CreateArtifactSpec.model_validate(input)
    return {"artifact": service.create_artifact(context.uow, context.principal, spec)}


@mutation.field("createArtifactManifest")
def resolve_create_manifest(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """The version's manifest (whole, or an incremental or distributed part) and, while
    pending, where to upload it."""
    context = ctx(info)
    manifest = manifests.start_manifest(
        context.uow,
        context.principal,
        input["artifactID"],
        input["name"],
        input.get("type"),
        input.get("baseArtifactID"),
    )
    return {"artifactManifest": manifest_node(context, manifest)}


@mutation.field("createArtifactFiles")
def resolve_create_files(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Signed upload URLs for the files (null where the bytes are already stored)."""
    context = ctx(info)
    specs = [files.FileSpec.model_validate(f) for f in input["artifactFiles"]]
    edges: list[dict[str, Any]] = []
    by_artifact: dict[str, list[files.FileSpec]] = {}
    for spec in specs:
        by_artifact.setdefault(spec.artifactID, []).append(spec)
    for node_id, group in by_artifact.items():
        artifact = _artifact(context, node_id, action=Action.WRITE)
        registered = service.register_files(context.uow, artifact, group)
        for spec, (row, needs_upload) in zip(group, registered, strict=True):
            parts = [UploadPart.model_validate(p) for p in spec.uploadPartsInput or []]
            node = _file_node(context, row, artifact, upload=needs_upload, parts=parts)
            edges.append({"node": node, "cursor": str(len(edges))})
    return {"files": {"edges": edges, "pageInfo": {"endCursor": None, "hasNextPage": False}}}


@mutation.field("commitArtifact")
def resolve_commit(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Commit the version: it gets its v<N> and its aliases."""
    context = ctx(info)
    artifact = _artifact(context, input["artifactID"], action=Action.WRITE)
    return {"artifact": service.commit_artifact(context.uow, artifact)}


@mutation.field("completeMultipartUploadArtifact")
def resolve_complete_multipart(
    _: Any, info: GraphQLResolveInfo, input: dict[str, Any]
) -> dict[str, Any]:
    """Join the parts the client uploaded to the bucket into the file (or drop them)."""
    context = ctx(info)
    artifact = _artifact(context, input["artifactID"], action=Action.WRITE)
    parts = [UploadPart.model_validate(p) for p in input.get("completedParts") or []]
    abort = input.get("completeMultipartAction") == "Abort"
    service.complete_multipart(
        context.uow, artifact, input["storagePath"], input["uploadID"], parts, abort
    )
    return {"digest": None if abort else input["storagePath"]}


@mutation.field("useArtifact")
def resolve_use(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Record a run's use of a version."""
    context = ctx(info)
    artifact = service.use_artifact(
        context.uow,
        context.principal,
        input["entityName"],
        input["projectName"],
        input["runName"],
        input["artifactID"],
        input.get("usedAs"),
    )
    return {"artifact": artifact}


@mutation.field("updateArtifact")
def resolve_update(_: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
    """Change a version's description, metadata, tags or TTL."""
    context = ctx(info)
    spec = edits.UpdateArtifactSpec.model_validate(input)
    artifact = edits.update_artifact(context.uow, context.principal, spec)
    return {"artifact": artifact, "clientMutationId": input.get("clientMutationId")}


BINDABLES = [
    query,
    mutation,
    project_type,
    artifact_type,
    sequence_type,
    collection_interface,
    membership_type,
    alias_type,
]
