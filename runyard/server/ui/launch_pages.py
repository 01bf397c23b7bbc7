"""Launch pages: queues with counts, a queue's items with cancel, agents with heartbeats,
and GPU-hours used."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from runyard.launch.models import Priority
from runyard.server.queues import item_views, queue_service
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


@router.get("/launch/items/{item_id}", response_class=HTMLResponse, response_model=None)
def item_page(request: Request, item_id: str) -> Response:
    """One queue item: its state history, exit code and log tail, and its run if one exists."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    uow = UnitOfWork(request.app.state.runyard)
    with uow:
        detail = item_views.item_detail(uow, me, item_id)
    item = detail.item
    return _page(
        request,
        "launch_item.html",
        me,
        detail=detail,
        item=item,
        priority=views.PRIORITY_NAMES[int(item.priority)],
        wait=views.wait_seconds(item, uow.now()),
        reason=views.item_reason(item, None),
        gpus=views.gpu_figures(request.app.state.telemetry_board.get(item.id)),
        now=uow.now(),
    )


@router.get("/launch/agents/{agent_id}", response_class=HTMLResponse, response_model=None)
def agent_page(request: Request, agent_id: str) -> Response:
    """One agent: its heartbeat, capacity and GPUs, and the jobs it claimed."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    uow = UnitOfWork(request.app.state.runyard)
    with uow:
        found = item_views.agent_page(uow, me, agent_id)
        runs = item_views.existing_runs(uow, found.items)
    board = request.app.state.telemetry_board
    jobs = [
        {
            "item": item,
            "run": runs.get(item.id),
            "exit_code": item_views.exit_code_of(item, runs.get(item.id)),
            "gpus": views.gpu_figures(board.get(item.id)) if item.state.holds_lease else "",
            "gpu_indices": sorted({s.gpu for s in board.get(item.id)})
            if item.state.holds_lease
            else [],
        }
        for item in found.items
    ]
    return _page(request, "launch_agent.html", me, agent=found.agent, jobs=jobs, now=uow.now())


@router.get("/launch/{entity}/{name}", response_class=HTMLResponse, response_model=None)
def queue_page(request: Request, entity: str, name: str) -> Response:
    """A queue's items in claim order, with template values, wait, attempts and reasons."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    uow = UnitOfWork(request.app.state.runyard)
    with uow:
        contents = queue_service.queue_contents(uow, me, entity, name, 1000)
        runs = item_views.existing_runs(uow, contents.items)
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
                "run": runs.get(item.id),
                "exit_code": item_views.exit_code_of(item, runs.get(item.id)),
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
