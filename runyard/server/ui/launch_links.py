"""From a launch item to the run it started: `/launch/items/{id}/run` redirects to the run
page, or to the item's page (which says why there is no run) while no run exists."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from runyard.server.queues import item_views
from runyard.server.ui.pages import _me, _to_login
from runyard.server.unit_of_work import UnitOfWork

router = APIRouter(include_in_schema=False)


@router.get("/launch/items/{item_id}/run", response_model=None)
def item_run(request: Request, item_id: str) -> Response:
    """Open the run a queue item launched (the queue page links each item here)."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    uow = UnitOfWork(request.app.state.runyard)
    with uow:
        detail = item_views.item_detail(uow, me, item_id)
    if detail.run is None:
        return RedirectResponse(f"/launch/items/{detail.item.id}", status_code=303)
    path = detail.run.path
    return RedirectResponse(f"/{path.entity}/{path.project}/runs/{path.run}", status_code=303)
