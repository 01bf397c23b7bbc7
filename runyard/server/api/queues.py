"""`/api/v1/queues`, `/api/v1/items` and `/api/v1/agents`: launch queues over REST.

Claims are long polls: an agent asks with its free capacity and waits up to `wait`
seconds; an enqueue (or a requeued lease) wakes it at once.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi import Query as QueryParam
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from runyard.launch.models import (
    EnqueueRequest,
    ItemError,
    ItemState,
    Priority,
    Queue,
    QueueItem,
    QueueSpec,
    Requirements,
)
from runyard.launch.queue.store import Conflict, NotFound, QueueStore
from runyard.launch.templating import TemplateValueError
from runyard.server.access import Action, allows
from runyard.server.api.errors import http_error
from runyard.server.auth import Principal
from runyard.server.clock import utcnow
from runyard.server.deps import PrincipalDep, StateDep
from runyard.server.errors import ServiceError
from runyard.server.queues import agents, pending, pools, service
from runyard.server.queues.capacity_board import CapacityBoard, wait_any
from runyard.server.queues.item_ids import resolve_item_id
from runyard.server.queues.wakeup import Wakeup
from runyard.server.tracking.access import check_entity_access
from runyard.server.tracking.runs import TrackingError, get_or_create_project, resolve_entity

router = APIRouter(prefix="/api/v1", tags=["launch"])
MAX_WAIT_S = 30.0


class QueueOut(Queue):
    """A queue with its item counts."""

    stats: service.QueueStats


class ClaimRequest(BaseModel):
    """An agent asking for work."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(min_length=1, max_length=128)
    queues: list[str] = Field(min_length=1, description="`entity/name` of each queue served.")
    capacity: Requirements | None = Field(None, description="Free capacity; null: no limit.")
    backfill: bool = Field(True, description="Let smaller items overtake one that doesn't fit.")
    wait: float = Field(0, ge=0, le=MAX_WAIT_S, description="Seconds to wait for work.")


class HeartbeatRequest(BaseModel):
    """An agent renewing the leases of the items it runs."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(min_length=1, max_length=128)
    item_ids: list[str] = Field(default_factory=list)
    status: str | None = Field(None, max_length=32, description="e.g. polling, running.")
    capacity: Requirements | None = Field(
        None, description="Free capacity now; wakes the agent's waiting claim to use it."
    )


class ItemPatch(BaseModel):
    """What may change on a waiting item."""

    model_config = ConfigDict(extra="forbid")

    priority: Priority = Field(description="critical, high, medium, low (or 0-3).")

    @field_validator("priority", mode="before")
    @classmethod
    def _parse_priority(cls, value: object) -> Priority:
        return Priority.parse(value)


class ReportRequest(BaseModel):
    """An agent's progress report on one item."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(min_length=1, max_length=128)
    state: ItemState
    run_id: str | None = None
    error: ItemError | None = None
    warning: str | None = Field(None, max_length=10_000)
    requeue: bool = Field(
        False, description="With `preempted`: put the item back in line, keeping its run id."
    )


class AdoptRequest(BaseModel):
    """A restarted agent taking over the items whose workloads it found still there."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(min_length=1, max_length=128)
    item_ids: list[str] = Field(max_length=10_000)


def wakeup(request: Request) -> Wakeup:
    """The app's claimer wake-up signal."""
    signal: Wakeup = request.app.state.queue_wakeup
    return signal


def _store_error(
    exc: NotFound | Conflict | TemplateValueError | service.SpecTooLarge,
) -> HTTPException:
    """The HTTP error a refused queue request becomes."""
    if isinstance(exc, NotFound):
        return HTTPException(404, str(exc))
    if isinstance(exc, Conflict):
        return HTTPException(409, str(exc))
    if isinstance(exc, TemplateValueError):
        return HTTPException(422, {"message": str(exc), "problems": exc.problems})
    return HTTPException(413, str(exc))


def _allowed(principal: Principal, entity: str, action: Action = Action.READ) -> None:
    try:
        check_entity_access(principal, entity, action)
    except TrackingError as exc:
        raise http_error(exc) from exc


def _queue(
    store: QueueStore,
    principal: Principal,
    entity: str,
    name: str,
    action: Action = Action.READ,
) -> Queue:
    _allowed(principal, entity, action)
    queue = store.get_queue(entity, name)
    if queue is None:
        known = ", ".join(q.name for q in store.list_queues(entity)) or "none"
        raise HTTPException(
            404, f"queue {entity}/{name} does not exist (queues of {entity}: {known})"
        )
    return queue


def _with_stats(store: QueueStore, queue: Queue) -> QueueOut:
    stats = service.queue_stats(store.count_by_state(queue), store.pending_summary(queue), utcnow())
    return QueueOut(**queue.model_dump(), stats=stats)


@router.post("/queues", status_code=201, response_model=QueueOut)
def create_queue(spec: QueueSpec, state: StateDep, principal: PrincipalDep) -> QueueOut:
    """Create a queue with its config template and template variables."""
    _allowed(principal, spec.entity, Action.MANAGE)
    # W&B clients look queues up through their project (`model-registry` by default).
    with state.write_sessions.begin() as session:
        try:
            entity = resolve_entity(session, principal, spec.entity)
        except TrackingError as exc:
            raise http_error(exc) from exc
        get_or_create_project(session, entity, spec.project)
    try:
        queue = state.queue_store.create_queue(spec, utcnow())
    except (NotFound, Conflict) as exc:
        raise _store_error(exc) from exc
    return _with_stats(state.queue_store, queue)


@router.get("/queues", response_model=list[QueueOut])
def list_queues(
    state: StateDep, principal: PrincipalDep, entity: str | None = None
) -> list[QueueOut]:
    """Queues of an entity (default: yours), with counts."""
    wanted = entity or principal.entity_name
    _allowed(principal, wanted)
    store = state.queue_store
    return [_with_stats(store, q) for q in store.list_queues(wanted)]


@router.get("/queues/{entity}/{name}", response_model=QueueOut)
def get_queue(entity: str, name: str, state: StateDep, principal: PrincipalDep) -> QueueOut:
    """One queue with its counts."""
    return _with_stats(state.queue_store, _queue(state.queue_store, principal, entity, name))


@router.put("/queues/{entity}/{name}", response_model=QueueOut)
def update_queue(
    entity: str, name: str, spec: QueueSpec, state: StateDep, principal: PrincipalDep
) -> QueueOut:
    """Replace a queue's settings; its items stay."""
    if (spec.entity, spec.name) != (entity, name):
        raise HTTPException(400, f"body names {spec.entity}/{spec.name}, path {entity}/{name}")
    _check_owner(_queue(state.queue_store, principal, entity, name, Action.MANAGE), spec.managed_by)
    return _with_stats(state.queue_store, state.queue_store.update_queue(spec))


def _check_owner(queue: Queue, caller: str | None) -> None:
    """Refuse changes to a queue someone else manages: they would be undone at its next sync."""
    if queue.managed_by and caller != queue.managed_by:
        raise HTTPException(
            409,
            f"queue {queue.entity}/{queue.name} is managed by {queue.managed_by}: change it "
            "there (for runyard-operator, its LaunchQueue resource), or send "
            f"managed_by={queue.managed_by!r} to take over",
        )


@router.delete("/queues/{entity}/{name}", status_code=204)
def delete_queue(
    entity: str,
    name: str,
    state: StateDep,
    principal: PrincipalDep,
    managed_by: Annotated[str | None, QueryParam(description="The queue's owner, if any.")] = None,
) -> Response:
    """Delete a queue and all its items."""
    _check_owner(_queue(state.queue_store, principal, entity, name, Action.MANAGE), managed_by)
    state.queue_store.delete_queue(entity, name)
    return Response(status_code=204)


@router.post(
    "/queues/{entity}/{name}/items",
    response_model=QueueItem,
    responses={200: {"description": "an item with this request_id existed"}, 201: {}},
)
async def enqueue(
    entity: str,
    name: str,
    body: EnqueueRequest,
    state: StateDep,
    principal: PrincipalDep,
    request: Request,
    response: Response,
) -> QueueItem:
    """Validate template values, render the config and add an item."""

    def work() -> tuple[QueueItem, bool]:
        queue = _queue(state.queue_store, principal, entity, name, Action.WRITE)
        policies = pools.serving_policies(state.sessions, queue, utcnow())
        try:
            return service.enqueue(
                state.queue_store,
                queue,
                body,
                utcnow(),
                state.settings.max_value_bytes,
                pools=policies,
            )
        except pools.PoolPolicyRefused as exc:
            raise HTTPException(422, {"message": str(exc), "problems": exc.problems}) from exc
        except (TemplateValueError, service.SpecTooLarge) as exc:
            raise _store_error(exc) from exc
        except ValueError as exc:  # the template itself cannot be rendered
            raise HTTPException(422, str(exc)) from exc

    item, created = await run_in_threadpool(work)
    if created:
        wakeup(request).notify()
    response.status_code = 201 if created else 200
    return item


@router.get("/queues/{entity}/{name}/items", response_model=list[QueueItem])
def list_items(
    entity: str,
    name: str,
    state: StateDep,
    principal: PrincipalDep,
    item_state: Annotated[list[ItemState] | None, QueryParam(alias="state")] = None,
    limit: Annotated[int, QueryParam(ge=1, le=10_000)] = 1000,
) -> list[QueueItem]:
    """A queue's items in claim order (priority, then FIFO), optionally by state."""
    queue = _queue(state.queue_store, principal, entity, name)
    items = state.queue_store.list_items(queue, item_state, limit)
    with state.sessions() as session:
        return pending.with_reasons(state.queue_store, session, queue, items, utcnow())


def _speak_for(state: StateDep, principal: Principal, agent_id: str) -> None:
    with state.sessions() as session:
        agents.speak_for(session, principal, agent_id)


def _item(
    state: StateDep, principal: Principal, item_id: str, action: Action = Action.READ
) -> QueueItem:
    """The item `item_id` (or the one item it is a unique prefix of) that the caller may see."""
    try:
        item_id = resolve_item_id(
            state.queue_store, item_id, lambda entity: allows(principal, entity, Action.READ)
        )
    except ServiceError as exc:
        raise http_error(exc) from exc
    item = state.queue_store.get_item(item_id)
    if item is None:
        raise HTTPException(404, f"queue item {item_id} does not exist")
    _allowed(principal, item.entity, action)
    return item


@router.get("/items/{item_id}", response_model=QueueItem)
def get_item(item_id: str, state: StateDep, principal: PrincipalDep) -> QueueItem:
    """One item with its state history (and why it waits, while pending)."""
    item = _item(state, principal, item_id)
    queue = state.queue_store.get_queue(item.entity, item.queue)
    if queue is None:
        return item
    with state.sessions() as session:
        return pending.with_reasons(state.queue_store, session, queue, [item], utcnow())[0]


@router.patch("/items/{item_id}", response_model=QueueItem)
def patch_item(
    item_id: str, body: ItemPatch, state: StateDep, principal: PrincipalDep
) -> QueueItem:
    """Re-prioritise a pending item; it keeps its enqueue order within the new level."""
    item_id = _item(state, principal, item_id, Action.WRITE).id
    try:
        return state.queue_store.set_priority(item_id, body.priority)
    except (NotFound, Conflict) as exc:
        raise _store_error(exc) from exc


@router.post("/items/{item_id}/cancel", response_model=QueueItem)
def cancel_item(
    item_id: str, state: StateDep, principal: PrincipalDep, request: Request
) -> QueueItem:
    """Cancel an item; a running one is stopped by its agent at its next heartbeat."""
    item_id = _item(state, principal, item_id, Action.WRITE).id
    try:
        item = state.queue_store.cancel(item_id, utcnow())
    except (NotFound, Conflict) as exc:
        raise _store_error(exc) from exc
    request.app.state.metrics.items_done.labels(f"{item.entity}/{item.queue}", "canceled").inc()
    return item


@router.post("/items/{item_id}/report", response_model=QueueItem)
def report_item(
    item_id: str, body: ReportRequest, state: StateDep, principal: PrincipalDep, request: Request
) -> QueueItem:
    """An agent's progress: launching, running (with the run id), finished, failed."""
    before = _item(state, principal, item_id, Action.WRITE)
    # Both the reporting agent and the one holding the item must be the caller's to speak for:
    # a same-state report (run id, warning, error) is accepted from any agent id.
    for agent_id in {body.agent_id, before.agent_id or body.agent_id}:
        _speak_for(state, principal, agent_id)
    item_id = before.id
    try:
        item = state.queue_store.report(
            item_id,
            body.agent_id,
            body.state,
            utcnow(),
            run_id=body.run_id,
            error=body.error,
            warning=body.warning,
            requeue=body.requeue,
        )
    except (NotFound, Conflict) as exc:
        raise _store_error(exc) from exc
    if body.requeue:
        request.app.state.queue_wakeup.notify()  # the item is claimable again
    elif item.state.is_final and not before.state.is_final:
        queue = f"{item.entity}/{item.queue}"
        request.app.state.metrics.items_done.labels(queue, item.state.value).inc()
    return item


@router.post("/agents/claim", response_model=QueueItem | None)
async def claim(
    body: ClaimRequest, state: StateDep, principal: PrincipalDep, request: Request
) -> Any:
    """Lease the best item that fits, waiting up to `wait` seconds; null if none came."""
    store = state.queue_store

    def resolve() -> list[Queue]:
        _speak_for(state, principal, body.agent_id)
        queues = []
        for path in body.queues:
            entity, sep, name = path.partition("/")
            if not sep:
                raise HTTPException(400, f"queues: {path!r} must be 'entity/name'")
            queues.append(_queue(store, principal, entity, name, Action.WRITE))
        return queues

    queues = await run_in_threadpool(resolve)
    signal = wakeup(request)
    board: CapacityBoard = request.app.state.capacity_board
    deadline = time.monotonic() + body.wait
    board.open(body.agent_id, body.capacity)
    try:
        while True:
            # Tickets before the attempt: work or capacity arriving during it wakes us.
            tickets = [signal.ticket(), board.ticket(body.agent_id)]
            capacity = board.current(body.agent_id)
            item = await run_in_threadpool(
                store.claim, queues, body.agent_id, capacity, body.backfill, utcnow()
            )
            remaining = deadline - time.monotonic()
            if item is not None or remaining <= 0:
                if item is not None:
                    metrics = request.app.state.metrics
                    metrics.claims.inc()
                    waited = (utcnow() - item.created_at).total_seconds()
                    metrics.queue_wait.labels(f"{item.entity}/{item.queue}").observe(waited)
                return item
            # Wake at least once a second to notice a claimer that hung up (an agent that
            # stopped): its wait must not hold the worker, nor a server shutdown, for 30 s.
            await wait_any(tickets, min(remaining, 1.0))
            if await request.is_disconnected():
                return None
    finally:
        board.close(body.agent_id)


@router.post("/agents/heartbeat", response_model=list[QueueItem])
async def heartbeat(
    body: HeartbeatRequest, state: StateDep, principal: PrincipalDep, request: Request
) -> list[QueueItem]:
    """Renew the agent's leases; items come back with their state (stop canceled ones).
    A `capacity` reaches the agent's waiting claim at once."""
    await run_in_threadpool(_speak_for, state, principal, body.agent_id)
    if body.capacity is not None:
        request.app.state.capacity_board.update(body.agent_id, body.capacity)

    def renew() -> list[QueueItem]:
        store = state.queue_store
        mine = []
        for item_id in body.item_ids:
            item = store.get_item(item_id)
            if item is None:
                raise HTTPException(404, f"queue item {item_id} does not exist")
            _allowed(principal, item.entity, Action.WRITE)
            mine.append(item_id)
        now = utcnow()
        with state.write_sessions.begin() as session:
            # Registered agents only; the capacity is kept for pending items' reasons.
            capacity = body.capacity.model_dump() if body.capacity is not None else None
            agents.touch(session, body.agent_id, now, body.status, capacity)
        return store.renew(body.agent_id, mine, now)

    return await run_in_threadpool(renew)


@router.post("/agents/adopt", response_model=list[QueueItem])
def adopt(
    body: AdoptRequest, state: StateDep, principal: PrincipalDep, request: Request
) -> list[QueueItem]:
    """Lease to a restarted agent the items its workloads belong to, unless a live agent
    holds them; every found item comes back (final ones tell the agent to clean up)."""
    store = state.queue_store
    _speak_for(state, principal, body.agent_id)
    for item_id in body.item_ids:
        _item(state, principal, item_id, Action.WRITE)
    now = utcnow()
    with state.write_sessions.begin() as session:
        agents.touch(session, body.agent_id, now)
        alive = agents.alive_ids(session, now) - {body.agent_id}
    return store.adopt(body.agent_id, body.item_ids, alive, now)
