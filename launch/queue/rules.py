"""The decisions every queue store makes the same way: which item a claim gets, what an
expired lease does, and which state reports are allowed. Pure functions; stores call them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..gangs import gang_fits
from ..models import REPORTABLE, ItemError, ItemState, QueueItem, Requirements

# A claim looks at this many pending items at most when it must skip ones that don't fit.
CLAIM_WINDOW = 256
# Priority and enqueue order packed into one sortable number (Redis sorted-set score).
SEQ_LIMIT = 10**13


def order_key(priority: int, seq: int) -> int:
    """Sort key: priority first (0 = critical), then FIFO by enqueue sequence."""
    if not 0 <= seq < SEQ_LIMIT:
        raise ValueError(f"enqueue sequence {seq} out of range")
    return priority * SEQ_LIMIT + seq


@dataclass(frozen=True)
class Candidate:
    """A pending item as a claim sees it, in queue order."""

    item_id: str
    gpus: int
    pods: int = 1


def fits(candidate: Candidate, capacity: Requirements | None) -> bool:
    """Whether an item fits an agent's free capacity (None: the agent sets no limit).

    A gang needs room for all its pods at once: node by node when the agent tells its
    nodes' free GPUs, else within the GPUs of one node (all the agent knows of).
    """
    if capacity is None:
        return True
    if candidate.pods > capacity.pods:
        return False
    if candidate.pods > 1 and capacity.node_free is not None:
        return gang_fits(candidate.gpus, candidate.pods, capacity.node_free)
    return candidate.gpus * candidate.pods <= capacity.gpus


def pick_claim(
    candidates: Sequence[Candidate], capacity: Requirements | None, backfill: bool
) -> str | None:
    """The item a claim takes: the first that fits; without backfill, only the head may go.

    `capacity` None means the agent does not limit what it takes.
    """
    for candidate in candidates:
        if fits(candidate, capacity):
            return candidate.item_id
        if not backfill:
            return None  # the head waits for room; nothing may overtake it
    return None


def after_expired_lease(attempts: int, max_attempts: int) -> tuple[ItemState, ItemError | None]:
    """What an item whose lease ran out becomes, given the attempts made so far."""
    if attempts >= max_attempts:
        return ItemState.FAILED, ItemError(
            stage="lease",
            message=(
                f"the agent stopped heartbeating {attempts} time(s); giving up after "
                f"max_attempts={max_attempts} (raise it on the queue to retry more)"
            ),
        )
    return ItemState.PENDING, None


class TransitionError(ValueError):
    """A state report the item's current state does not allow."""


def check_transition(current: ItemState, wanted: ItemState) -> None:
    """Refuse reports that skip back or leave a final state, naming what is allowed."""
    allowed = REPORTABLE.get(current, frozenset())
    if wanted not in allowed:
        names = ", ".join(sorted(s.value for s in allowed)) or "nothing (the item is final)"
        raise TransitionError(
            f"item is {current.value}: it can move to {names}, not {wanted.value}"
        )


def apply_report(
    item: QueueItem,
    agent_id: str,
    state: ItemState,
    now: datetime,
    run_id: str | None = None,
    error: ItemError | None = None,
    warning: str | None = None,
    requeue: bool = False,
) -> QueueItem:
    """Apply an agent's report to an item (in place); TransitionError if it is not allowed.

    `requeue` with a `preempted` report puts the item back in line with its run id kept,
    so the next launch resumes the same run (the agent decides, it knows the pool's limit).
    """
    if requeue and state is not ItemState.PREEMPTED:
        raise TransitionError(f"only a preempted item can be requeued, not a {state.value} one")
    if item.agent_id != agent_id and state != item.state:
        raise TransitionError(
            f"item {item.id} is not leased to agent {agent_id!r} "
            f"(state {item.state.value}); it may have been requeued or canceled"
        )
    if warning:
        item.warnings.append(warning)
    if state != item.state:
        check_transition(item.state, state)
        item.state = state
        item.state_times[state.value] = now
    if run_id:
        item.run_id = run_id
    if error is not None:
        item.error = error
    if item.state.is_final:
        item.lease_expires_at = None
    if requeue:
        item.preemptions += 1
        item.state = ItemState.PENDING
        item.state_times[ItemState.PENDING.value] = now
        item.agent_id = None
    return item


def adoption(item: QueueItem, agent_id: str, holder_alive: bool) -> ItemState | None:
    """Whether a restarted agent may take over an item whose workload it found running.

    Leased items move to the new agent unless the holder is still alive; pending ones
    (their lease ran out while no agent watched) are claimed again. None: leave it.
    """
    if item.state.holds_lease:
        if item.agent_id == agent_id or not holder_alive:
            return item.state
        return None
    if item.state is ItemState.PENDING:
        return ItemState.CLAIMED
    return None
