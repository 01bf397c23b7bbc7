"""`/api/v1/queues`, `/api/v1/items` and `/api/v1/agents`: launch queues over REST.

Claims are long polls: an agent asks with its free capacity and waits up to `wait`
seconds; an enqueue (or a requeued lease) wakes it at once.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi import Query as QueryParam
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from runyard.launch.idle import GpuSample
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
from runyard.server.clock import utcnow
from runyard.server.cluster import messages
from runyard.server.cluster.bus import Bus
from runyard.server.deps import PrincipalDep, UowDep
from runyard.server.queues import queue_service, service
from runyard.server.queues.capacity_board import CapacityBoard, wait_any
from runyard.server.queues.queue_service import QueueWithStats, Report
from runyard.server.queues.wakeup import Wakeup

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


MAX_TELEMETRY_ITEMS = 10_000
MAX_TELEMETRY_SAMPLES = 64


class HeartbeatRequest(BaseModel):
    """An agent renewing the leases of the items it runs."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(min_length=1, max_length=128)
    item_ids: list[str] = Field(default_factory=list)
    status: str | None = Field(None, max_length=32, description="e.g. polling, running.")
    capacity: Requirements | None = Field(
        None, description="Free capacity now; wakes the agent's waiting claim to use it."
    )
    telemetry: dict[str, list[GpuSample]] | None = Field(
        None, description="Latest GPU samples of each held item's job (item id -> samples)."
    )

    @field_validator("telemetry")
    @classmethod
    def _bounded_telemetry(
        cls, value: dict[str, list[GpuSample]] | None
    ) -> dict[str, list[GpuSample]] | None:
        if value is not None:
            if len(value) > MAX_TELEMETRY_ITEMS:
                raise ValueError(f"telemetry: at most {MAX_TELEMETRY_ITEMS} items per heartbeat")
            for item_id, samples in value.items():
                if len(samples) > MAX_TELEMETRY_SAMPLES:
                    raise ValueError(
                        f"telemetry.{item_id}: at most {MAX_TELEMETRY_SAMPLES} samples "
                        "(the latest of each GPU)"
                    )
        return value


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


def bus(request: Request) -> Bus:
    """The bus that carries wake-ups and capacity to every server process."""
    found: Bus = request.app.state.bus
    return found


def _out(found: QueueWithStats) -> QueueOut:
    return QueueOut(**found.queue.model_dump(), stats=found.stats)


@router.post("/queues", status_code=201, response_model=QueueOut)
def create_queue(spec: QueueSpec, uow: UowDep, principal: PrincipalDep) -> QueueOut:
    """Create a queue with its config template and template variables."""
    return _out(queue_service.create_queue(uow, principal, spec))


@router.get("/queues", response_model=list[QueueOut])
def list_queues(uow: UowDep, principal: PrincipalDep, entity: str | None = None) -> list[QueueOut]:
    """Queues of an entity (default: yours), with counts."""
    return [_out(q) for q in queue_service.list_queues(uow, principal, entity)]


@router.get("/queues/{entity}/{name}", response_model=QueueOut)
def get_queue(entity: str, name: str, uow: UowDep, principal: PrincipalDep) -> QueueOut:
    """One queue with its counts."""
    return _out(queue_service.queue_with_stats(uow, principal, entity, name))


@router.put("/queues/{entity}/{name}", response_model=QueueOut)
def update_queue(
    entity: str, name: str, spec: QueueSpec, uow: UowDep, principal: PrincipalDep
) -> QueueOut:
    """Replace a queue's settings; its items stay."""
    return _out(queue_service.update_queue(uow, principal, entity, name, spec))


@router.delete("/queues/{entity}/{name}", status_code=204)
def delete_queue(
    entity: str,
    name: str,
    uow: UowDep,
    principal: PrincipalDep,
    managed_by: Annotated[str | None, QueryParam(description="The queue's owner, if any.")] = None,
) -> Response:
    """Delete a queue and all its items."""
    queue_service.delete_queue(uow, principal, entity, name, managed_by)
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
    uow: UowDep,
    principal: PrincipalDep,
    request: Request,
    response: Response,
) -> QueueItem:
    """Validate template values, render the config and add an item."""
    item, created = await run_in_threadpool(
        queue_service.enqueue, uow, principal, entity, name, body
    )
    if created:
        bus(request).publish(messages.work())
    response.status_code = 201 if created else 200
    return item


@router.get("/queues/{entity}/{name}/items", response_model=list[QueueItem])
def list_items(
    entity: str,
    name: str,
    uow: UowDep,
    principal: PrincipalDep,
    item_state: Annotated[list[ItemState] | None, QueryParam(alias="state")] = None,
    limit: Annotated[int, QueryParam(ge=1, le=10_000)] = 1000,
) -> list[QueueItem]:
    """A queue's items in claim order (priority, then FIFO), optionally by state."""
    return queue_service.list_items(uow, principal, entity, name, item_state, limit)


@router.get("/items/{item_id}", response_model=QueueItem)
def get_item(item_id: str, uow: UowDep, principal: PrincipalDep, request: Request) -> QueueItem:
    """One item with its state history (why it waits, while pending; its GPUs' latest
    figures, while running)."""
    item = queue_service.item_with_reason(uow, principal, item_id)
    item.gpu_telemetry = request.app.state.telemetry_board.get(item.id)
    return item


@router.patch("/items/{item_id}", response_model=QueueItem)
def patch_item(item_id: str, body: ItemPatch, uow: UowDep, principal: PrincipalDep) -> QueueItem:
    """Re-prioritise a pending item; it keeps its enqueue order within the new level."""
    return queue_service.set_priority(uow, principal, item_id, body.priority)


@router.post("/items/{item_id}/cancel", response_model=QueueItem)
def cancel_item(item_id: str, uow: UowDep, principal: PrincipalDep, request: Request) -> QueueItem:
    """Cancel an item; a running one is stopped by its agent at its next heartbeat."""
    item = queue_service.cancel_item(uow, principal, item_id)
    request.app.state.metrics.items_done.labels(f"{item.entity}/{item.queue}", "canceled").inc()
    request.app.state.metrics.count_gpu_seconds(item)
    _forget_telemetry(request, item.id)
    return item


@router.post("/items/{item_id}/report", response_model=QueueItem)
def report_item(
    item_id: str, body: ReportRequest, uow: UowDep, principal: PrincipalDep, request: Request
) -> QueueItem:
    """An agent's progress: launching, running (with the run id), finished, failed."""
    report = Report(
        agent_id=body.agent_id,
        state=body.state,
        run_id=body.run_id,
        error=body.error,
        warning=body.warning,
        requeue=body.requeue,
    )
    before, item = queue_service.report_item(uow, principal, item_id, report)
    if body.requeue:
        bus(request).publish(messages.work())  # the item is claimable again
        request.app.state.metrics.count_gpu_seconds(item)
        _forget_telemetry(request, item.id)
    elif item.state.is_final and not before.state.is_final:
        queue = f"{item.entity}/{item.queue}"
        request.app.state.metrics.items_done.labels(queue, item.state.value).inc()
        request.app.state.metrics.count_gpu_seconds(item)
        _forget_telemetry(request, item.id)
    return item


def _forget_telemetry(request: Request, item_id: str) -> None:
    """The item's job ended or was requeued: drop its GPU figures here and everywhere."""
    # At once here (a publish from this worker thread reaches the loop a moment later).
    request.app.state.telemetry_board.drop(item_id)
    bus(request).publish(messages.telemetry_dropped(item_id))


@router.post("/agents/claim", response_model=QueueItem | None)
async def claim(body: ClaimRequest, uow: UowDep, principal: PrincipalDep, request: Request) -> Any:
    """Lease the best item that fits, waiting up to `wait` seconds; null if none came."""
    queues = await run_in_threadpool(
        queue_service.claim_queues, uow, principal, body.queues, body.agent_id
    )
    signal = wakeup(request)
    board: CapacityBoard = request.app.state.capacity_board
    deadline = time.monotonic() + body.wait
    recheck_s = request.app.state.runyard.settings.claim_recheck_s
    board.open(body.agent_id, body.capacity)
    try:
        while True:
            # Tickets before the attempt: work or capacity arriving during it wakes us.
            tickets = [signal.ticket(), board.ticket(body.agent_id)]
            capacity = board.current(body.agent_id)
            item = await run_in_threadpool(
                queue_service.claim, uow, queues, body.agent_id, capacity, body.backfill
            )
            remaining = deadline - time.monotonic()
            if item is not None or remaining <= 0:
                if item is not None:
                    metrics = request.app.state.metrics
                    metrics.claims.inc()
                    waited = (utcnow() - item.created_at).total_seconds()
                    metrics.queue_wait.labels(f"{item.entity}/{item.queue}").observe(waited)
                return item
            # Try again on a wake-up (an enqueue or capacity on any replica, via the bus) or
            # at the re-check (the safety net for a lost bus message), whichever comes first;
            # meanwhile look once a second for a claimer that hung up (an agent that stopped):
            # its wait must not hold the worker, nor a server shutdown, for 30 s.
            recheck_at = time.monotonic() + recheck_s
            while True:
                woken = await wait_any(tickets, min(deadline - time.monotonic(), 1.0))
                if await request.is_disconnected():
                    return None
                now = time.monotonic()
                if woken or now >= recheck_at or now >= deadline:
                    break
    finally:
        board.close(body.agent_id)


@router.post("/agents/heartbeat", response_model=list[QueueItem])
async def heartbeat(
    body: HeartbeatRequest, uow: UowDep, principal: PrincipalDep, request: Request
) -> list[QueueItem]:
    """Renew the agent's leases; items come back with their state (stop canceled ones).
    A `capacity` reaches the agent's waiting claim at once (once the caller may speak for
    the agent: renew checks that first)."""
    items = await run_in_threadpool(
        queue_service.renew,
        uow,
        principal,
        body.agent_id,
        body.item_ids,
        body.status,
        body.capacity,
    )
    if body.capacity is not None:
        # The agent's claim may wait on another replica or worker: the bus finds it.
        bus(request).publish(messages.capacity(body.agent_id, body.capacity))
    if body.telemetry:
        held = {i.id for i in items if i.agent_id == body.agent_id and i.state.holds_lease}
        samples = {i: s for i, s in body.telemetry.items() if i in held}
        request.app.state.telemetry_board.update(held, samples)  # here at once, whatever its size
        # Every replica and worker keeps the board: item pages read it wherever they land.
        for message in messages.telemetry(samples):
            bus(request).publish(message)
    return items


@router.post("/agents/adopt", response_model=list[QueueItem])
def adopt(body: AdoptRequest, uow: UowDep, principal: PrincipalDep) -> list[QueueItem]:
    """Lease to a restarted agent the items its workloads belong to, unless a live agent
    holds them; every found item comes back (final ones tell the agent to clean up)."""
    return queue_service.adopt(uow, principal, body.agent_id, body.item_ids)
