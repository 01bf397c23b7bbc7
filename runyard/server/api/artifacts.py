"""`/api/v1/artifacts`: a committed artifact version with signed download URLs (read only).

The runyard agent reads W&B jobs through it: the job artifact by name, then the code
artifact its `wandb-job.json` names by id. Also W&B's own download URLs of artifact files
(`/artifactsV2/...`, `/artifacts/{entity}/{md5}`), which the official client builds itself
for `artifact.get_entry(name).download()`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from runyard.server.deps import PrincipalDep, UowDep, public_base_url
from runyard.server.tracking import artifact_read

router = APIRouter(tags=["artifacts"])


@router.get("/api/v1/artifacts/id/{node_id}", response_model=artifact_read.ArtifactOut)
def artifact_by_id(
    node_id: str, uow: UowDep, principal: PrincipalDep, request: Request
) -> artifact_read.ArtifactOut:
    """A committed version by node id, with its files."""
    artifact = artifact_read.by_id(uow, principal, node_id)
    base = public_base_url(request)
    return artifact_read.describe(uow, artifact, lambda key: uow.signer.url(base, "GET", key))


@router.get("/api/v1/artifacts/{entity}/{project}/{name}", response_model=artifact_read.ArtifactOut)
def artifact_by_name(
    entity: str,
    project: str,
    name: str,
    uow: UowDep,
    principal: PrincipalDep,
    request: Request,
) -> artifact_read.ArtifactOut:
    """A committed version by `NAME:alias` or `NAME:vN` (a bare name means latest)."""
    artifact = artifact_read.by_name(uow, principal, entity, project, name)
    base = public_base_url(request)
    return artifact_read.describe(uow, artifact, lambda key: uow.signer.url(base, "GET", key))


def _stream(
    uow: UowDep,
    principal: PrincipalDep,
    entity: str,
    birth_id: str | None,
    hexhash: str,
) -> StreamingResponse:
    key = artifact_read.stored_file(uow, principal, entity, birth_id, hexhash)
    return StreamingResponse(uow.objects.open_chunks(key), media_type="application/octet-stream")


@router.get("/artifactsV2/{region}/{entity}/{birth_id}/{hexhash}")
def wandb_file_v2_short(
    region: str,
    entity: str,
    birth_id: str,
    hexhash: str,
    uow: UowDep,
    principal: PrincipalDep,
) -> StreamingResponse:
    """An artifact file by the version it was first logged in and its MD5: the W&B layout V2
    URL clients before 0.23 build when the server does not announce the collection handler."""
    return _stream(uow, principal, entity, birth_id, hexhash)


@router.get("/artifactsV2/{region}/{entity}/{project}/{collection}/{birth_id}/{hexhash}/{name}")
def wandb_file_v2(
    region: str,
    entity: str,
    project: str,
    collection: str,
    birth_id: str,
    hexhash: str,
    name: str,
    uow: UowDep,
    principal: PrincipalDep,
) -> StreamingResponse:
    """An artifact file by the version it was first logged in and its MD5 (W&B layout V2)."""
    return _stream(uow, principal, entity, birth_id, hexhash)


@router.get(
    "/artifactsV2/{region}/{entity}/{project}/{collection}/{artifact_id}/{birth_id}/{hexhash}/{name}"
)
def wandb_file_v2_with_version(
    region: str,
    entity: str,
    project: str,
    collection: str,
    artifact_id: str,
    birth_id: str,
    hexhash: str,
    name: str,
    uow: UowDep,
    principal: PrincipalDep,
) -> StreamingResponse:
    """An artifact file of the version being read (`artifact_id`), first logged in
    `birth_id`, by MD5: the URL newer clients build when the handler takes a version id."""
    return _stream(uow, principal, entity, birth_id, hexhash)


@router.get("/artifacts/{entity}/{hexhash}")
def wandb_file_v1(
    entity: str, hexhash: str, uow: UowDep, principal: PrincipalDep
) -> StreamingResponse:
    """An artifact file of the entity by its MD5 (W&B layout V1)."""
    return _stream(uow, principal, entity, None, hexhash)
