"""Launch pages: queues with counts, a queue's items with cancel, agents with heartbeats."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from runyard.launch.models import Priority
from runyard.launch.queue.store import Conflict, NotFound
from runyard.server.access import Action
from runyard.server.clock import utcnow
from runyard.server.errors import ServiceError
from runyard.server.queues import agents, pending, service
from runyard.server.tracking.access import check_entity_access
from runyard.server.tracking.runs import resolve_entity
from runyard.server.ui import views
from runyard.server.ui.pages import _error, _me, _page, _to_login

router = APIRouter(include_in_schema=False)


@router.get("/launch", response_class=HTMLResponse, response_model=None)
def launch(request: Request) -> Response:
    """Queues (pending by priority, running) and agents (heartbeat, running jobs, GPUs free)."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    state = request.app.state.runyard
    store = state.queue_store
    now = utcnow()
    queues = [
        (q, service.queue_stats(store.count_by_state(q), store.pending_summary(q), now))
        for q in store.list_queues(me.entity_name)
    ]
    with state.sessions() as session:
        owner = resolve_entity(session, me, None)
        agent_rows = [
            agents.agent_out(a, owner.name, now) for a in agents.list_agents(session, owner)
        ]
    return _page(
        request,
        "launch.html",
        me,
        queues=queues,
        agents=agent_rows,
        priorities=views.PRIORITY_NAMES,
        now=now,
    )


@router.get("/launch/{entity}/{name}", response_class=HTMLResponse, response_model=None)
def queue_page(request: Request, entity: str, name: str) -> Response:
    """A queue's items in claim order, with template values, wait, attempts and reasons."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    try:
        check_entity_access(me, entity)
    except ServiceError as exc:
        return _error(request, me, exc.status, str(exc))
    store = request.app.state.runyard.queue_store
    queue = store.get_queue(entity, name)
    if queue is None:
        return _error(request, me, 404, f"queue {entity}/{name} does not exist")
    now = utcnow()
    items = store.list_items(queue, None, 1000)
    with request.app.state.runyard.sessions() as session:
        items = pending.with_reasons(store, session, queue, items, now)
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
                "final": item.state.is_final,
            }
        )
    stats = service.queue_stats(store.count_by_state(queue), store.pending_summary(queue), now)
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
    store = request.app.state.runyard.queue_store
    item = store.get_item(item_id)
    if item is None:
        return _error(request, me, 404, f"queue item {item_id} does not exist")
    try:
        check_entity_access(me, item.entity, Action.WRITE)
        store.set_priority(item_id, Priority.parse(priority))
    except ServiceError as exc:
        return _error(request, me, exc.status, str(exc))
    except ValueError as exc:
        return _error(request, me, 422, str(exc))
    except (NotFound, Conflict) as exc:
        return _error(request, me, 409, str(exc))
    return RedirectResponse(f"/launch/{item.entity}/{item.queue}", status_code=303)


@router.post("/launch/items/{item_id}/cancel", response_model=None)
def cancel(request: Request, item_id: str) -> Response:
    """Cancel an item from the queue page, then show the queue again."""
    me = _me(request)
    if me is None:
        return _to_login(request)
    store = request.app.state.runyard.queue_store
    item = store.get_item(item_id)
    if item is None:
        return _error(request, me, 404, f"queue item {item_id} does not exist")
    try:
        check_entity_access(me, item.entity, Action.WRITE)
        store.cancel(item_id, utcnow())
    except ServiceError as exc:
        return _error(request, me, exc.status, str(exc))
    except (NotFound, Conflict) as exc:
        return _error(request, me, 409, str(exc))
    request.app.state.metrics.items_done.labels(f"{item.entity}/{item.queue}", "canceled").inc()
    return RedirectResponse(f"/launch/{item.entity}/{item.queue}", status_code=303)
