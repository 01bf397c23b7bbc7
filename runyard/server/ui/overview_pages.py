"""W&B's entity page (`/<entity>`: its projects) and a project's Overview tab
(`/<entity>/<project>/overview`). Mounted after `pages`, so `/login` and the other fixed
one-segment paths win over `/<entity>`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking import project_description, project_overview
from runyard.server.ui.pages import _me, _page, _to_login, _uow, check_entity_segment, projects_of
from runyard.server.unit_of_work import UnitOfWork

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
    return _page(
        request,
        "overview.html",
        me,
        entity=entity,
        project=project,
        o=found,
        max_description=project_description.MAX_DESCRIPTION,
    )


@router.post("/{entity}/{project}/overview/description", response_model=None)
def set_description(
    request: Request, entity: str, project: str, description: Annotated[str, Form()] = ""
) -> Response:
    """Change the project's description from its Overview page (blank clears it)."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    try:
        with UnitOfWork(request.app.state.runyard, write=True) as uow:
            project_description.set_description(uow, me, entity, project, description)
    except ServiceError as exc:
        if exc.code is not ErrorCode.INVALID:
            raise
        # Show the Overview again with the refusal beside the form and the text kept.
        with _uow(request) as uow:
            found = project_overview.project_overview(uow, me, entity, project)
        response = _page(
            request,
            "overview.html",
            me,
            entity=entity,
            project=project,
            o=found,
            max_description=project_description.MAX_DESCRIPTION,
            description_error=str(exc),
            description_draft=description,
        )
        response.status_code = 422
        return response
    return RedirectResponse(f"/{entity}/{project}/overview", status_code=303)
