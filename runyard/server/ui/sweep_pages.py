"""The sweep pages at W&B's URLs: a project's sweeps (`/<entity>/<project>/sweeps`) and one
sweep (`/<entity>/<project>/sweeps/<id>`) with its trials, best run, a parallel-coordinates
chart and parameter importance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from runyard.server.sweeps import views
from runyard.server.ui.pages import _me, _page, _to_login, _uow, check_entity_segment
from runyard.server.unit_of_work import UnitOfWork

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
            {
                "run": t.run,
                "name": t.run_name or t.run,
                "state": t.state,
                "params": t.params,
                "metric": t.metric,
            }
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


@router.post("/{entity}/{project}/sweeps/{sweep}/state", response_model=None)
def set_state(
    request: Request, entity: str, project: str, sweep: str, state: Annotated[str, Form()]
) -> Response:
    """Pause, resume, stop or cancel the sweep from its page, then show it again."""
    check_entity_segment(entity)
    me = _me(request)
    if me is None:
        return _to_login(request)
    with UnitOfWork(request.app.state.runyard, write=True) as uow:
        views.change_state(uow, me, entity, project, sweep, state)
    return RedirectResponse(f"/{entity}/{project}/sweeps/{sweep}", status_code=303)
