"""Launch pages: queues with counts, a queue's items with cancel, agents with heartbeats,
and GPU-hours used."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from runyard.launch.models import Priority
from runyard.server.queues import queue_service
from runyard.server.ui import views
from runyard.server.ui.pages import _error, _me, _page, _to_login
from runyard.server.unit_of_work import UnitOfWork
from runyard.server.usage.accounting import UsageKey
from runyard.server.usage.service import gpu_usage

router = APIRouter(include_in_schema=False)


@router.get("/launch", response_class=HTMLResponse, response_model=None)
def launch(request: Request) -> Response:
    """Queues (pending by priority, running) and agents (heartbeat, running jobs, GPUs free)."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    uow = UnitOfWork(request.app.state.runyard)
    now = uow.now()
    overview = queue_service.launch_overview(uow, me)
    queues = [(q.queue, q.stats) for q in overview.queues]
    agent_rows = overview.agents
    return _page(
        request,
        "launch.html",
        me,
        queues=queues,
        agents=agent_rows,
        priorities=views.PRIORITY_NAMES,
        now=now,
    )


@router.get("/launch/usage", response_class=HTMLResponse, response_model=None)
def usage_page(request: Request, by: str = "user", since: str = "7d") -> Response:
    """GPU-hours of launched items by user, project, queue, pool or run, over a window."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    uow = UnitOfWork(request.app.state.runyard)
    report = gpu_usage(uow, me, by, since)
    keys = [key.value for key in UsageKey]
    windows = ["1d", "7d", "30d", "90d"]
    return _page(request, "usage.html", me, report=report, keys=keys, windows=windows, since=since)


@router.get("/launch/{entity}/{name}", response_class=HTMLResponse, response_model=None)
def queue_page(request: Request, entity: str, name: str) -> Response:
    """A queue's items in claim order, with template values, wait, attempts and reasons."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    uow = UnitOfWork(request.app.state.runyard)
    contents = queue_service.queue_contents(uow, me, entity, name, 1000)
    now = uow.now()
    items = contents.items
    rows = []
    pending_seen = 0
    for item in items:
        position = None
        if item.state == "pending":
            position = pending_seen
            pending_seen += 1
        rows.append(
            {
                "item": item,
                "priority": views.PRIORITY_NAMES[int(item.priority)],
                "wait": views.wait_seconds(item, now),
                "reason": views.item_reason(item, position),
                "gpus": views.gpu_figures(request.app.state.telemetry_board.get(item.id)),
                "final": item.state.is_final,
            }
        )
    queue, stats = contents.queue.queue, contents.queue.stats
    return _page(
        request,
        "queue.html",
        me,
        queue=queue,
        rows=rows,
        stats=stats,
        priorities=views.PRIORITY_NAMES,
    )


@router.post("/launch/items/{item_id}/priority", response_model=None)
def set_priority(request: Request, item_id: str, priority: Annotated[str, Form()]) -> Response:
    """Re-prioritise a pending item from the queue page, then show the queue again."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    try:
        wanted = Priority.parse(priority)
    except ValueError as exc:
        return _error(request, me, 422, str(exc))
    item = queue_service.set_priority(UnitOfWork(request.app.state.runyard), me, item_id, wanted)
    return RedirectResponse(f"/launch/{item.entity}/{item.queue}", status_code=303)


@router.post("/launch/items/{item_id}/cancel", response_model=None)
def cancel(request: Request, item_id: str) -> Response:
    """Cancel an item from the queue page, then show the queue again."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    item = queue_service.cancel_item(UnitOfWork(request.app.state.runyard), me, item_id)
    request.app.state.metrics.items_done.labels(f"{item.entity}/{item.queue}", "canceled").inc()
    return RedirectResponse(f"/launch/{item.entity}/{item.queue}", status_code=303)
