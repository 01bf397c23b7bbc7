"""Why a pending item waits, in words: no live agent serves its queue, the agents are busy,
or it needs more GPUs than any of them has free (with the numbers).

`pending_reason` decides from the item, how many items are ahead of it, and the live agents
serving the queue with the free capacity they last reported (pure); `with_reasons` fills
the item's `pending_reason` from the store and the agent table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.launch.models import ItemState, Queue, QueueItem, Requirements
from runyard.launch.queue.rules import Candidate, fits
from runyard.launch.queue.store import QueueStore
from runyard.server.db.models import LaunchAgent
from runyard.server.queues import agents

BUSY = "busy"  # the status an agent heartbeats while all its job slots are taken


@dataclass(frozen=True)
class AgentView:
    """A live agent serving the item's queue, as the reason needs it."""

    name: str
    free_gpus: int | None  # None: it reported no GPU limit
    busy: bool
    # Per-node free GPUs and pod slots, when the agent reports them (gangs are judged so).
    capacity: Requirements | None = None


def _ahead(count: int) -> str:
    return f"{count} item(s) ahead in claim order" if count else "next in line"


def pending_reason(item: QueueItem, ahead: int, serving: list[AgentView]) -> str:
    """Why `item` (pending, `ahead` items before it) is not running yet (pure)."""
    queue = f"{item.entity}/{item.queue}"
    requeued = (
        f"requeued after attempt {item.attempts} (agent lost or preempted); "
        if item.attempts
        else ""
    )
    if not serving:
        return (
            f"{requeued}no live agent serves {queue}: start one with "
            f"`runyard agent -q {item.queue}` (or `wandb launch-agent -q {item.queue}`)"
        )
    free = [a for a in serving if not a.busy]
    if not free:
        return (
            f"{requeued}all {len(serving)} agent(s) serving {queue} are busy (every job slot "
            f"taken); it starts when one frees up; {_ahead(ahead)}"
        )
    needed, pods = item.requirements.gpus, item.requirements.pods
    if pods > 1:
        gang = Candidate(item.id, needed, pods)
        fitting = [a for a in free if a.free_gpus is None or fits(gang, a.capacity)]
        if not fitting:
            nodes = "; ".join(
                f"{a.name}: {a.capacity.node_free if a.capacity else '?'}" for a in free
            )
            return (
                f"{requeued}a gang of {pods} pods with {needed} GPU(s) each: it is claimed only "
                f"when all its pods fit at once, one node each, and no agent serving {queue} "
                f"has that room (free GPUs per node: {nodes}); it starts when enough nodes free"
            )
    else:
        fitting = [a for a in free if a.free_gpus is None or a.free_gpus >= needed]
    if not fitting:
        most = max(a.free_gpus or 0 for a in free)
        counts = ", ".join(f"{a.name}: {a.free_gpus}" for a in free)
        return (
            f"{requeued}needs {needed} GPU(s), more than any agent serving {queue} has free "
            f"(at most {most}; {counts}); it starts when enough are free"
        )
    return (
        f"{requeued}waiting for an agent to claim it ({len(fitting)} live agent(s) with free "
        f"capacity serve {queue}); {_ahead(ahead)}"
    )


def agent_view(agent: LaunchAgent) -> AgentView:
    """How a stored agent counts for pending reasons."""
    gpus = (agent.capacity or {}).get("gpus")
    try:
        capacity = Requirements.model_validate(agent.capacity) if agent.capacity else None
    except ValidationError:
        capacity = None  # an older agent's shape: judged by its GPUs alone
    return AgentView(
        name=agent.name,
        free_gpus=int(gpus) if isinstance(gpus, int | float) else None,
        busy=(agent.status or "").lower() == BUSY,
        capacity=capacity,
    )


def serving_agents(session: Session, queue: Queue, now: datetime) -> list[AgentView]:
    """The live agents serving `queue`, with the free capacity they last reported."""
    alive = agents.alive_ids(session, now)
    if not alive:
        return []
    path = f"{queue.entity}/{queue.name}"
    rows = session.scalars(select(LaunchAgent).where(LaunchAgent.id.in_(alive)))
    return [agent_view(a) for a in rows if path in (a.queues or [])]


def with_reasons(
    store: QueueStore, session: Session, queue: Queue, items: list[QueueItem], now: datetime
) -> list[QueueItem]:
    """The items with `pending_reason` set on the pending ones (others unchanged)."""
    if not any(i.state == ItemState.PENDING for i in items):
        return items
    serving = serving_agents(session, queue, now)
    order = [i.id for i in store.list_items(queue, [ItemState.PENDING], 10_000)]
    position = {item_id: n for n, item_id in enumerate(order)}
    return [
        item.model_copy(
            update={"pending_reason": pending_reason(item, position.get(item.id, 0), serving)}
        )
        if item.state == ItemState.PENDING
        else item
        for item in items
    ]
