"""`/api/v1/artifacts`: a committed artifact version with signed download URLs (read only).

The runyard agent reads W&B jobs through it: the job artifact by name, then the code
artifact its `wandb-job.json` names by id.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from runyard.server.api.errors import http_error
from runyard.server.deps import PrincipalDep, SessionDep, StateDep, public_base_url
from runyard.server.tracking import artifact_read
from runyard.server.tracking.runs import TrackingError

router = APIRouter(prefix="/api/v1", tags=["artifacts"])


@router.get("/artifacts/id/{node_id}", response_model=artifact_read.ArtifactOut)
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


@router.get("/artifacts/{entity}/{project}/{name}", response_model=artifact_read.ArtifactOut)
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
