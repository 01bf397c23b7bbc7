"""Launch queues as the adapters use them: queues, items, claims, leases and adoption.

Every call takes the caller and applies the access rule; queue-store refusals become
ServiceErrors (not found, conflict, invalid template values, too large).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from runyard.launch.models import (
    EnqueueRequest,
    ItemError,
    ItemState,
    Priority,
    Queue,
    QueueItem,
    QueueSpec,
    Requirements,
    capacity_doc,
)
from runyard.launch.queue.rules import TransitionError
from runyard.launch.queue.store import Conflict, NotFound, QueueStoreError
from runyard.launch.templating import TemplateValueError
from runyard.server.access import Action, allows, require
from runyard.server.auth import Principal
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.queues import agent_service, pending, pools, removal, service
from runyard.server.queues.agents import AgentOut
from runyard.server.queues.item_ids import resolve_item_id
from runyard.server.tracking.runs import get_or_create_project, resolve_entity
from runyard.server.unit_of_work import UnitOfWork


@contextmanager
def store_errors() -> Iterator[None]:
    """Turn a queue store's or template's refusal into a ServiceError."""
    try:
        yield
    except NotFound as exc:
        raise ServiceError(ErrorCode.NOT_FOUND, str(exc)) from exc
    except (Conflict, QueueStoreError, TransitionError) as exc:
        raise ServiceError(ErrorCode.CONFLICT, str(exc)) from exc
    except TemplateValueError as exc:
        raise ServiceError(
            ErrorCode.UNPROCESSABLE, str(exc), details={"problems": exc.problems}
        ) from exc
    except service.SpecTooLarge as exc:
        raise ServiceError(ErrorCode.TOO_LARGE, str(exc)) from exc


@dataclass(frozen=True)
class QueueWithStats:
    """A queue and its item counts."""

    queue: Queue
    stats: service.QueueStats


def with_stats(uow: UnitOfWork, queue: Queue) -> QueueWithStats:
    """A queue with its counts by state and its pending items by priority."""
    store = uow.queue_store
    now = uow.now()
    stats = service.queue_stats(store.count_by_state(queue), store.pending_summary(queue), now)
    return QueueWithStats(queue, stats)


# --- queues ----------------------------------------------------------------------------------


def get_queue(
    uow: UnitOfWork,
    principal: Principal,
    entity: str,
    name: str,
    action: Action = Action.READ,
    *,
    what: str = "queue",
    hint: str = "",
) -> Queue:
    """A queue the caller may `action` on; not found names the entity's queues (and `hint`)."""
    require(principal, entity, action)
    store = uow.queue_store
    queue = store.get_queue(entity, name)
    if queue is None:
        known = ", ".join(q.name for q in store.list_queues(entity)) or "none"
        raise ServiceError(
            ErrorCode.NOT_FOUND,
            f"{what} {entity}/{name} does not exist (queues of {entity}: {known}){hint}",
        )
    return queue


def find_queue(uow: UnitOfWork, principal: Principal, entity: str, name: str) -> Queue | None:
    """A queue of an entity the caller may read, or None."""
    require(principal, entity, Action.READ)
    return uow.queue_store.get_queue(entity, name)


def queues_of(uow: UnitOfWork, principal: Principal, entity: str | None = None) -> list[Queue]:
    """The queues of an entity the caller may read (None: every queue it may read)."""
    if entity is not None:
        require(principal, entity, Action.READ)
        return uow.queue_store.list_queues(entity)
    return [q for q in uow.queue_store.list_queues() if allows(principal, q.entity, Action.READ)]


def queue_by_id(
    uow: UnitOfWork,
    principal: Principal,
    queue_id: str,
    action: Action = Action.READ,
    *,
    field: str = "queue",
) -> Queue:
    """A queue by its id, if the caller may `action` on its entity."""
    for queue in uow.queue_store.list_queues():
        if queue.id == queue_id:
            require(principal, queue.entity, action)
            return queue
    raise ServiceError(ErrorCode.NOT_FOUND, f"{field}: launch queue {queue_id} does not exist")


def put_queue(uow: UnitOfWork, principal: Principal, spec: QueueSpec) -> Queue:
    """Create the queue, or replace its settings (pending items keep their rendered config)."""
    require(principal, spec.entity, Action.MANAGE)
    store = uow.queue_store
    with store_errors():
        if store.get_queue(spec.entity, spec.name) is None:
            return store.create_queue(spec, uow.now())
        return store.update_queue(spec)


def create_queue(uow: UnitOfWork, principal: Principal, spec: QueueSpec) -> QueueWithStats:
    """Create a queue (and its project: W&B clients look queues up through it)."""
    require(principal, spec.entity, Action.MANAGE)
    # A short transaction of its own: the SQL queue store needs the lock next.
    with uow.write_transaction() as session:
        entity = resolve_entity(session, principal, spec.entity)
        get_or_create_project(session, entity, spec.project)
    with store_errors():
        queue = uow.queue_store.create_queue(spec, uow.now())
    return with_stats(uow, queue)


def list_queues(uow: UnitOfWork, principal: Principal, entity: str | None) -> list[QueueWithStats]:
    """Queues of an entity (default: the caller's), with counts."""
    wanted = entity or principal.entity_name
    require(principal, wanted, Action.READ)
    return [with_stats(uow, q) for q in uow.queue_store.list_queues(wanted)]


def _check_owner(queue: Queue, caller: str | None) -> None:
    """Refuse changes to a queue someone else manages: they would be undone at its next sync."""
    if queue.managed_by and caller != queue.managed_by:
        raise ServiceError(
            ErrorCode.CONFLICT,
            f"queue {queue.entity}/{queue.name} is managed by {queue.managed_by}: change it "
            "there (for runyard-operator, its LaunchQueue resource), or send "
            f"managed_by={queue.managed_by!r} to take over",
        )


def update_queue(
    uow: UnitOfWork, principal: Principal, entity: str, name: str, spec: QueueSpec
) -> QueueWithStats:
    """Replace a queue's settings; its items stay."""
    if (spec.entity, spec.name) != (entity, name):
        raise ServiceError(
            ErrorCode.INVALID, f"body names {spec.entity}/{spec.name}, path {entity}/{name}"
        )
    _check_owner(get_queue(uow, principal, entity, name, Action.MANAGE), spec.managed_by)
    return with_stats(uow, uow.queue_store.update_queue(spec))


def delete_queue(
    uow: UnitOfWork, principal: Principal, entity: str, name: str, managed_by: str | None
) -> None:
    """Delete a queue and all its items."""
    _check_owner(get_queue(uow, principal, entity, name, Action.MANAGE), managed_by)
    uow.queue_store.delete_queue(entity, name)


# --- items -----------------------------------------------------------------------------------


def enqueue(
    uow: UnitOfWork, principal: Principal, entity: str, name: str, body: EnqueueRequest
) -> tuple[QueueItem, bool]:
    """Validate template values, render the config and add an item; True when it is new."""
    return enqueue_on(uow, principal, get_queue(uow, principal, entity, name, Action.WRITE), body)


def enqueue_on(
    uow: UnitOfWork, principal: Principal, queue: Queue, body: EnqueueRequest
) -> tuple[QueueItem, bool]:
    """Like `enqueue`, on a queue already found."""
    require(principal, queue.entity, Action.WRITE)
    # The serving pools' allow-lists, read in a short session of its own: an enqueue must
    # not hold SQLite's write lock that the queue store waits for.
    policies = pools.serving_policies(uow.state.sessions, queue, uow.now())
    with store_errors():
        try:
            return service.enqueue(
                uow.queue_store,
                queue,
                body,
                uow.now(),
                uow.settings.max_value_bytes,
                pools=policies,
                enqueued_by=principal.username,
            )
        except (TemplateValueError, service.SpecTooLarge):
            raise
        except ValueError as exc:  # the template itself cannot be rendered
            raise ServiceError(ErrorCode.UNPROCESSABLE, str(exc)) from exc


def list_items(
    uow: UnitOfWork,
    principal: Principal,
    entity: str,
    name: str,
    states: list[ItemState] | None,
    limit: int,
) -> list[QueueItem]:
    """A queue's items in claim order (priority, then FIFO), optionally by state; pending
    ones say why they wait."""
    queue = get_queue(uow, principal, entity, name)
    return _with_reasons(uow, queue, uow.queue_store.list_items(queue, states, limit))


def _with_reasons(uow: UnitOfWork, queue: Queue, items: list[QueueItem]) -> list[QueueItem]:
    """The items with why each pending one waits (agents read in a short session)."""
    with uow.read_session() as session:
        return pending.with_reasons(uow.queue_store, session, queue, items, uow.now())


def item_with_reason(uow: UnitOfWork, principal: Principal, item_id: str) -> QueueItem:
    """One item the caller may read, with its state history (and why it waits, if pending)."""
    item = get_item(uow, principal, item_id)
    queue = uow.queue_store.get_queue(item.entity, item.queue)
    if queue is None:
        return item
    return _with_reasons(uow, queue, [item])[0]


def items_of(uow: UnitOfWork, queue: Queue, limit: int) -> list[QueueItem]:
    """The items of a queue already found, in claim order."""
    return uow.queue_store.list_items(queue, None, limit)


def get_item(
    uow: UnitOfWork,
    principal: Principal,
    item_id: str,
    action: Action = Action.READ,
    *,
    field: str = "",
) -> QueueItem:
    """An item the caller may `action` on, by its id or a unique prefix of it (as git takes
    commit prefixes; other people's items neither match nor show); `field` prefixes the
    message with the input."""
    item_id = resolve_item_id(
        uow.queue_store, item_id, lambda entity: allows(principal, entity, Action.READ)
    )
    item = uow.queue_store.get_item(item_id)
    if item is None:
        prefix = f"{field}: " if field else ""
        raise ServiceError(ErrorCode.NOT_FOUND, f"{prefix}queue item {item_id} does not exist")
    require(principal, item.entity, action)
    return item


def item_of_queue(uow: UnitOfWork, queue: Queue, item_id: str) -> QueueItem | None:
    """An item of a queue already found, or None (also when it is another queue's)."""
    item = uow.queue_store.get_item(item_id)
    if item is None or (item.entity, item.queue) != (queue.entity, queue.name):
        return None
    return item


def set_priority(
    uow: UnitOfWork, principal: Principal, item_id: str, priority: Priority
) -> QueueItem:
    """Re-prioritise a pending item; it keeps its enqueue order within the new level."""
    item_id = get_item(uow, principal, item_id, Action.WRITE).id
    with store_errors():
        return uow.queue_store.set_priority(item_id, priority)


def cancel_item(uow: UnitOfWork, principal: Principal, item_id: str) -> QueueItem:
    """Cancel an item; a running one is stopped by its agent at its next heartbeat."""
    item_id = get_item(uow, principal, item_id, Action.WRITE).id
    with store_errors():
        return uow.queue_store.cancel(item_id, uow.now())


@dataclass(frozen=True)
class Report:
    """An agent's progress report on one item."""

    agent_id: str
    state: ItemState
    run_id: str | None = None
    error: ItemError | None = None
    warning: str | None = None
    requeue: bool = False


def report_item(
    uow: UnitOfWork, principal: Principal, item_id: str, report: Report
) -> tuple[QueueItem, QueueItem]:
    """Apply an agent's report; return the item before and after."""
    before = get_item(uow, principal, item_id, Action.WRITE)
    # Both the reporting agent and the one holding the item must be the caller's to speak for:
    # a same-state report (run id, warning, error) is accepted from any agent id.
    for agent_id in {report.agent_id, before.agent_id or report.agent_id}:
        agent_service.speak_for(uow, principal, agent_id)
    with store_errors():
        item = uow.queue_store.report(
            before.id,
            report.agent_id,
            report.state,
            uow.now(),
            run_id=report.run_id,
            error=report.error,
            warning=report.warning,
            requeue=report.requeue,
        )
    return before, item


def held_item(uow: UnitOfWork, principal: Principal, item_id: str, field: str) -> QueueItem:
    """An item to report on for the agent holding it (acks, failures, warnings): a write to
    the item, by someone who may speak for that agent."""
    item = get_item(uow, principal, item_id, Action.WRITE, field=field)
    if item.agent_id:
        agent_service.speak_for(uow, principal, item.agent_id)
    return item


def report_held(
    uow: UnitOfWork,
    item: QueueItem,
    state: ItemState,
    *,
    run_id: str | None = None,
    error: ItemError | None = None,
    warning: str | None = None,
) -> QueueItem:
    """Report on an item (already found) on behalf of the agent holding it."""
    with store_errors():
        return uow.queue_store.report(
            item.id,
            item.agent_id or "",
            state,
            uow.now(),
            run_id=run_id,
            error=error,
            warning=warning,
        )


HELD = [ItemState.CLAIMED, ItemState.LAUNCHING, ItemState.RUNNING]


def held_items(uow: UnitOfWork, agent_id: str, queue_paths: list[str]) -> list[QueueItem]:
    """The items an agent holds in the queues it serves (`entity/name` each)."""
    store = uow.queue_store
    mine: list[QueueItem] = []
    for path in queue_paths:
        entity, _, name = path.partition("/")
        queue = store.get_queue(entity, name)
        if queue is not None:
            mine += [i for i in store.list_items(queue, HELD) if i.agent_id == agent_id]
    return mine


def renew_leases(uow: UnitOfWork, agent_id: str, item_ids: list[str]) -> list[QueueItem]:
    """Renew the leases of items the agent holds (found through `held_items`)."""
    return uow.queue_store.renew(agent_id, item_ids, uow.now())


# --- agents: claims, leases, adoption ----------------------------------------------------


def claim_queues(
    uow: UnitOfWork, principal: Principal, paths: list[str], agent_id: str
) -> list[Queue]:
    """The queues agent `agent_id` asks to be served from (`entity/name` each), for claiming."""
    agent_service.speak_for(uow, principal, agent_id)
    queues = []
    for path in paths:
        entity, sep, name = path.partition("/")
        if not sep:
            raise ServiceError(ErrorCode.INVALID, f"queues: {path!r} must be 'entity/name'")
        queues.append(get_queue(uow, principal, entity, name, Action.WRITE))
    return queues


def claim(
    uow: UnitOfWork,
    queues: list[Queue],
    agent_id: str,
    capacity: Requirements | None,
    backfill: bool,
) -> QueueItem | None:
    """Lease the best item that fits the capacity, or None."""
    return uow.queue_store.claim(queues, agent_id, capacity, backfill, uow.now())


def renew(
    uow: UnitOfWork,
    principal: Principal,
    agent_id: str,
    item_ids: list[str],
    status: str | None,
    capacity: Requirements | None = None,
) -> list[QueueItem]:
    """An agent's heartbeat: renew the leases of its items; they come back with their state.

    Registered agents also record their status and free capacity (for pending items'
    reasons)."""
    agent_service.speak_for(uow, principal, agent_id)
    mine = [get_item(uow, principal, item_id, Action.WRITE).id for item_id in item_ids]
    # Stored as said: the gang fields (pods, node_free) only when they say something.
    free = capacity_doc(capacity) if capacity is not None else None
    agent_service.touch(uow, agent_id, status, free)
    return uow.queue_store.renew(agent_id, mine, uow.now())


def adopt(
    uow: UnitOfWork, principal: Principal, agent_id: str, item_ids: list[str]
) -> list[QueueItem]:
    """Lease to a restarted agent the items its workloads belong to, unless a live agent
    holds them; every found item comes back (final ones tell the agent to clean up)."""
    agent_service.speak_for(uow, principal, agent_id)
    for item_id in item_ids:
        get_item(uow, principal, item_id, Action.WRITE)
    alive = agent_service.touch_and_list_alive(uow, agent_id)
    return uow.queue_store.adopt(agent_id, item_ids, alive, uow.now())


# --- overviews (what the UI pages show) ------------------------------------------------------


def queue_with_stats(
    uow: UnitOfWork, principal: Principal, entity: str, name: str
) -> QueueWithStats:
    """One queue the caller may read, with its counts."""
    return with_stats(uow, get_queue(uow, principal, entity, name))


@dataclass(frozen=True)
class QueueContents:
    """A queue with its counts and its items in claim order."""

    queue: QueueWithStats
    items: list[QueueItem]


def queue_contents(
    uow: UnitOfWork, principal: Principal, entity: str, name: str, limit: int
) -> QueueContents:
    """A queue the caller may read, its counts, and its first `limit` items in claim order."""
    queue = get_queue(uow, principal, entity, name)
    items = _with_reasons(uow, queue, uow.queue_store.list_items(queue, None, limit))
    return QueueContents(with_stats(uow, queue), items)


@dataclass(frozen=True)
class LaunchOverview:
    """The caller's queues with counts, and its agents with their heartbeats."""

    queues: list[QueueWithStats]
    agents: list[AgentOut]


def launch_overview(uow: UnitOfWork, principal: Principal) -> LaunchOverview:
    """The queues and agents of the caller's own entity."""
    return LaunchOverview(
        queues=list_queues(uow, principal, None),
        agents=agent_service.list_agents(uow, principal, None),
    )


def delete_queues(uow: UnitOfWork, principal: Principal, node_ids: list[str]) -> list[Queue]:
    """Delete each queue named by W&B node id (all or none); return them."""
    return removal.delete_queues(uow.queue_store, principal, node_ids)
