"""W&B's entity page (`/<entity>`: its projects) and a project's Overview tab
(`/<entity>/<project>/overview`). Mounted after `pages`, so `/login` and the other fixed
one-segment paths win over `/<entity>`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from runyard.server.tracking import project_overview
from runyard.server.ui.pages import _me, _page, _to_login, _uow, check_entity_segment, projects_of

router = APIRouter(include_in_schema=False)


@router.get("/{entity}", response_class=HTMLResponse, response_model=None)
def entity_projects(request: Request, entity: str) -> Response:
    """An entity's projects (W&B's entity URL)."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    return projects_of(request, me, entity)


@router.get("/{entity}/{project}/overview", response_class=HTMLResponse, response_model=None)
def overview(request: Request, entity: str, project: str) -> Response:
    """A project's Overview: runs by state, latest runs, last activity, links to every tab."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    with _uow(request) as uow:
        found = project_overview.project_overview(uow, me, entity, project)
    return _page(request, "overview.html", me, entity=entity, project=project, o=found)
