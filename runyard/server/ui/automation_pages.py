"""The project's automations page: its automations, their delivery history with each try and
its answer, and the entity's integrations and team secrets (names only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from runyard.server.automations import integrations, secrets, service
from runyard.server.automations.firing import describe
from runyard.server.errors import ServiceError
from runyard.server.ui.pages import _me, _page, _to_login, _uow, check_entity_segment

router = APIRouter(include_in_schema=False)


@router.get("/{entity}/{project}/automations", response_class=HTMLResponse, response_model=None)
def automations(request: Request, entity: str, project: str) -> Response:
    """Automations and delivery history of a project."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    with _uow(request) as uow:
        rows, deliveries = service.deliveries_of_project(uow, me, entity, project)
        hooks, _ = integrations.list_integrations(uow, me, entity, limit=200)
        try:
            names = [s.name for s in secrets.list_secrets(uow, me, entity)]
        except ServiceError:  # viewers do not see which secrets exist
            names = None
        return _page(
            request,
            "automations.html",
            me,
            entity=entity,
            project=project,
            automations=[(a, describe(a)) for a in rows],
            deliveries=deliveries,
            integrations=hooks,
            secrets=names,
        )
