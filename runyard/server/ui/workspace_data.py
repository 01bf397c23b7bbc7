"""JSON and files the workspace script reads with the session cookie: saved views and media."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from runyard.server.api.workspaces import ViewOut, view_out
from runyard.server.auth import Principal
from runyard.server.tracking.run_reads import RunPath
from runyard.server.ui.session import ui_principal
from runyard.server.unit_of_work import UnitOfWork
from runyard.server.workspaces import media, saved

router = APIRouter(prefix="/ui/api", include_in_schema=False)
MeDep = Annotated[Principal, Depends(ui_principal)]
VIEWS = "/projects/{entity}/{project}/workspace-views"
# A logged HTML page or SVG opened from this URL must never run as this origin: CSP `sandbox`
# makes it an opaque origin. Logged HTML may run its own inline scripts there (plots do), in
# the workspace's iframe only (frame-ancestors 'self'), and may fetch nothing.
MEDIA_CSP = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'"
HTML_CSP = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
)


def media_headers(content_type: str) -> dict[str, str]:
    """Headers of a served media file: the sandbox above, and same-origin framing for HTML."""
    headers = {"cache-control": "private, max-age=3600"}
    if content_type.startswith("text/html"):
        return {**headers, "content-security-policy": HTML_CSP, "x-frame-options": "SAMEORIGIN"}
    return {**headers, "content-security-policy": MEDIA_CSP}


@router.get(VIEWS, response_model=list[ViewOut])
def list_views(request: Request, me: MeDep, entity: str, project: str) -> list[ViewOut]:
    """The signed-in user's own saved views of the project."""
    with UnitOfWork(request.app.state.runyard) as uow:
        return [view_out(v) for v in saved.list_views(uow, me, entity, project)]


@router.put(VIEWS + "/{name}", response_model=ViewOut)
def save_view(
    request: Request,
    me: MeDep,
    entity: str,
    project: str,
    name: str,
    body: Annotated[dict[str, Any], Body()],
) -> ViewOut:
    """Save the signed-in user's view `name` (400 naming the field when the layout is bad)."""
    with UnitOfWork(request.app.state.runyard, write=True) as uow:
        return view_out(saved.save_view(uow, me, entity, project, name, body.get("layout")))


@router.delete(VIEWS + "/{name}", status_code=204)
def delete_view(request: Request, me: MeDep, entity: str, project: str, name: str) -> Response:
    """Delete the signed-in user's view `name`."""
    with UnitOfWork(request.app.state.runyard, write=True) as uow:
        saved.delete_view(uow, me, entity, project, name)
    return Response(status_code=204)


@router.get("/projects/{entity}/{project}/media")
def media_of_runs(
    request: Request,
    me: MeDep,
    entity: str,
    project: str,
    runs: Annotated[str, Query(description="Comma-separated run ids")],
) -> dict[str, Any]:
    """Media keys the runs logged over steps, with each step's files or histogram."""
    names = [r for r in runs.split(",") if r]
    with UnitOfWork(request.app.state.runyard) as uow:
        return media.media_of_runs(uow, me, entity, project, names)


@router.get("/runs/{entity}/{project}/{run}/media/{name:path}")
def media_file(
    request: Request, me: MeDep, entity: str, project: str, run: str, name: str
) -> Response:
    """A run file's bytes with its content type, so `<img>`, `<audio>` and `<video>` play it."""
    with UnitOfWork(request.app.state.runyard) as uow:
        found = media.media_file(uow, me, RunPath(entity, project, run), name)
    return Response(
        found.data, media_type=found.content_type, headers=media_headers(found.content_type)
    )
