"""The sweep pages at W&B's URLs: a project's sweeps (`/<entity>/<project>/sweeps`) and one
sweep (`/<entity>/<project>/sweeps/<id>`) with its trials, best run, a parallel-coordinates
chart and parameter importance."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from runyard.server.sweeps import views
from runyard.server.ui.pages import _me, _page, _to_login, _uow, check_entity_segment

router = APIRouter(include_in_schema=False)


@router.get("/{entity}/{project}/sweeps", response_class=HTMLResponse, response_model=None)
def sweeps(request: Request, entity: str, project: str) -> Response:
    """The project's sweeps: state, method, runs, best value and launch queue."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    with _uow(request) as uow:
        rows = views.list_sweeps(uow, me, entity, project)
    return _page(request, "sweeps.html", me, entity=entity, project=project, sweeps=rows)


@router.get("/{entity}/{project}/sweeps/{sweep}", response_class=HTMLResponse, response_model=None)
def sweep(request: Request, entity: str, project: str, sweep: str) -> Response:
    """One sweep: its trials, best run, parallel coordinates and parameter importance."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    with _uow(request) as uow:
        detail = views.detail(uow, me, entity, project, sweep)
    chart = {
        "metric": detail.metric,
        "goal": detail.goal,
        "trials": [
            {"run": t.run, "state": t.state, "params": t.params, "metric": t.metric}
            for t in detail.trials
        ],
    }
    return _page(
        request,
        "sweep.html",
        me,
        entity=entity,
        project=project,
        sweep=detail,
        params=sorted({k for t in detail.trials for k in views.flat_params(t.params)}),
        chart=chart,
        flat_params=views.flat_params,
    )
