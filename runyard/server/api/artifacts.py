"""`/api/v1/artifacts`: a committed artifact version with signed download URLs (read only).

The runyard agent reads W&B jobs through it: the job artifact by name, then the code
artifact its `wandb-job.json` names by id. Also W&B's own download URLs of artifact files
(`/artifactsV2/...`, `/artifacts/{entity}/{md5}`), which the official client builds itself
for `artifact.get_entry(name).download()`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from runyard.server.api.errors import http_error
from runyard.server.deps import PrincipalDep, SessionDep, StateDep, public_base_url
from runyard.server.tracking import artifact_read
from runyard.server.tracking.runs import TrackingError

router = APIRouter(tags=["artifacts"])


@router.get("/api/v1/artifacts/id/{node_id}", response_model=artifact_read.ArtifactOut)
def artifact_by_id(
    node_id: str, session: SessionDep, principal: PrincipalDep, state: StateDep, request: Request
) -> artifact_read.ArtifactOut:
    """A committed version by node id, with its files."""
    try:
        artifact = artifact_read.by_id(session, principal, node_id)
    except TrackingError as exc:
        raise http_error(exc) from exc
    base = public_base_url(request)
    return artifact_read.describe(session, artifact, lambda key: state.signer.url(base, "GET", key))


@router.get("/api/v1/artifacts/{entity}/{project}/{name}", response_model=artifact_read.ArtifactOut)
def artifact_by_name(
    entity: str,
    project: str,
    name: str,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    request: Request,
) -> artifact_read.ArtifactOut:
    """A committed version by `NAME:alias` or `NAME:vN` (a bare name means latest)."""
    try:
        artifact = artifact_read.by_name(session, principal, entity, project, name)
    except TrackingError as exc:
        raise http_error(exc) from exc
    base = public_base_url(request)
    return artifact_read.describe(session, artifact, lambda key: state.signer.url(base, "GET", key))


def _stream(
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
    entity: str,
    birth_id: str | None,
    hexhash: str,
) -> StreamingResponse:
    try:
        key = artifact_read.stored_file(session, principal, entity, birth_id, hexhash)
    except TrackingError as exc:
        raise http_error(exc) from exc
    return StreamingResponse(state.store.open_chunks(key), media_type="application/octet-stream")


@router.get("/artifactsV2/{region}/{entity}/{project}/{collection}/{birth_id}/{hexhash}/{name}")
def wandb_file_v2(
    region: str,
    entity: str,
    project: str,
    collection: str,
    birth_id: str,
    hexhash: str,
    name: str,
    session: SessionDep,
    principal: PrincipalDep,
    state: StateDep,
) -> StreamingResponse:
    """An artifact file by the version it was first logged in and its MD5 (W&B layout V2)."""
    return _stream(session, principal, state, entity, birth_id, hexhash)


@router.get("/artifacts/{entity}/{hexhash}")
def wandb_file_v1(
    entity: str, hexhash: str, session: SessionDep, principal: PrincipalDep, state: StateDep
) -> StreamingResponse:
    """An artifact file of the entity by its MD5 (W&B layout V1)."""
    return _stream(session, principal, state, entity, None, hexhash)
