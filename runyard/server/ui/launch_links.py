"""From a launch item to the run it started: `/launch/items/{id}/run` redirects to the run page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from runyard.server.queues import launched, queue_service
from runyard.server.ui.pages import _error, _me, _to_login
from runyard.server.unit_of_work import UnitOfWork

router = APIRouter(include_in_schema=False)


@router.get("/launch/items/{item_id}/run", response_model=None)
def item_run(request: Request, item_id: str) -> Response:
    """Open the run a queue item launched (the queue page links each item here)."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    item = queue_service.get_item(UnitOfWork(request.app.state.runyard), me, item_id)
    path = launched.run_path(item)
    if path is None:
        return _error(request, me, 404, f"queue item {item_id} has not started a run yet")
    return RedirectResponse(f"/{path.entity}/{path.project}/runs/{path.run}", status_code=303)
