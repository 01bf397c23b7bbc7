"""REST: each user's saved workspace views of a project, and the media a run set logged."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from pydantic import BaseModel

from runyard.server.deps import PrincipalDep, UowDep
from runyard.server.workspaces import media, saved
from runyard.server.workspaces.layout import WorkspaceLayout

router = APIRouter(prefix="/api/v1", tags=["workspaces"])
VIEWS = "/projects/{entity}/{project}/workspace-views"


class ViewOut(BaseModel):
    """A saved view as its owner reads it."""

    name: str
    layout: WorkspaceLayout
    updated_at: datetime


def view_out(view: saved.SavedView) -> ViewOut:
    """The wire shape of a saved view."""
    return ViewOut(name=view.name, layout=view.layout, updated_at=view.updated_at)


@router.get(VIEWS, response_model=list[ViewOut])
def list_views(uow: UowDep, principal: PrincipalDep, entity: str, project: str) -> list[ViewOut]:
    """The caller's own saved views of the project (other users' views are never listed)."""
    return [view_out(v) for v in saved.list_views(uow, principal, entity, project)]


@router.put(VIEWS + "/{name}", response_model=ViewOut)
def save_view(
    uow: UowDep,
    principal: PrincipalDep,
    entity: str,
    project: str,
    name: str,
    body: Annotated[dict[str, Any], Body(description="{layout: {sections, hidden_runs, ...}}")],
) -> ViewOut:
    """Create or replace the caller's view `name`; a bad layout is a 400 naming the field."""
    return view_out(saved.save_view(uow, principal, entity, project, name, body.get("layout")))


@router.delete(VIEWS + "/{name}", status_code=204)
def delete_view(
    uow: UowDep, principal: PrincipalDep, entity: str, project: str, name: str
) -> Response:
    """Delete the caller's view `name` (204 whether or not it existed)."""
    saved.delete_view(uow, principal, entity, project, name)
    return Response(status_code=204)


@router.get("/projects/{entity}/{project}/media")
def media_of_runs(
    uow: UowDep,
    principal: PrincipalDep,
    entity: str,
    project: str,
    runs: Annotated[str, Query(description="Comma-separated run ids")],
) -> dict[str, Any]:
    """Media keys the runs logged over steps: `{key: {kind, runs: {run: [{step, ...}]}}}`."""
    names = [r for r in runs.split(",") if r]
    return media.media_of_runs(uow, principal, entity, project, names)
