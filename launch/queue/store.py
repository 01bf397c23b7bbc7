"""The `QueueStore` interface: what the server needs from a queue backend (SQL or Redis).

Both implementations pass one contract suite (tests/test_queue_store_contract.py).
Every method is atomic on its own; `claim` in particular hands one item to exactly
one caller however many race for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..models import (
    EnqueueRequest,
    ItemError,
    ItemState,
    Priority,
    Queue,
    QueueItem,
    QueueSpec,
    Requirements,
)


class QueueStoreError(ValueError):
    """A request the store refuses; the message says why and what to do."""


class NotFound(QueueStoreError):
    """The queue or item does not exist."""


class Conflict(QueueStoreError):
    """The queue exists already, or the item is not in a state that allows the request."""


@dataclass(frozen=True)
class PendingSummary:
    """Pending items of a queue by priority (0-3), and when the oldest was enqueued."""

    by_priority: dict[int, int]
    oldest_created_at: datetime | None


class QueueStore(Protocol):
    """Durable priority queues with leases."""

    def create_queue(self, spec: QueueSpec, now: datetime) -> Queue:
        """Create a queue; Conflict if one with that entity and name exists."""
        ...

    def update_queue(self, spec: QueueSpec) -> Queue:
        """Replace a queue's settings (its items stay); NotFound if it does not exist."""
        ...

    def get_queue(self, entity: str, name: str) -> Queue | None:
        """A queue by entity and name."""
        ...

    def list_queues(self, entity: str | None = None) -> list[Queue]:
        """All queues, or one entity's, by name."""
        ...

    def delete_queue(self, entity: str, name: str) -> None:
        """Delete a queue and its items; NotFound if it does not exist."""
        ...

    def enqueue(
        self,
        queue: Queue,
        request: EnqueueRequest,
        values: dict[str, object],
        rendered: dict[str, object],
        requirements: Requirements,
        now: datetime,
        enqueued_by: str | None = None,
    ) -> tuple[QueueItem, bool]:
        """Add a validated item; with a known request_id return that item and False."""
        ...

    def claim(
        self,
        queues: list[Queue],
        agent_id: str,
        capacity: Requirements | None,
        backfill: bool,
        now: datetime,
    ) -> QueueItem | None:
        """Lease the best pending item of these queues that fits `capacity`, or None."""
        ...

    def renew(self, agent_id: str, item_ids: list[str], now: datetime) -> list[QueueItem]:
        """Extend the agent's leases on these items; return them (canceled ones say so)."""
        ...

    def expire_leases(self, now: datetime) -> list[QueueItem]:
        """Requeue (or fail, past max_attempts) items whose lease ran out; return them."""
        ...

    def report(
        self,
        item_id: str,
        agent_id: str,
        state: ItemState,
        now: datetime,
        run_id: str | None = None,
        error: ItemError | None = None,
        warning: str | None = None,
        requeue: bool = False,
    ) -> QueueItem:
        """An agent's progress report; Conflict for a transition the state does not allow.

        `requeue` (with `preempted`) puts the item back in line, keeping its run id.
        """
        ...

    def adopt(
        self, agent_id: str, item_ids: list[str], alive_agents: set[str], now: datetime
    ) -> list[QueueItem]:
        """Lease to a restarted agent the items whose workloads it found (rules.adoption).

        Items held by an agent in `alive_agents` stay with it; the rest come back as they are.
        """
        ...

    def cancel(self, item_id: str, now: datetime) -> QueueItem:
        """Cancel an item: a pending one at once; a leased one when its agent next hears."""
        ...

    def set_priority(self, item_id: str, priority: Priority) -> QueueItem:
        """Move a pending item to another priority level, keeping its place in the FIFO
        order of that level (by when it was enqueued); Conflict once it is claimed."""
        ...

    def get_item(self, item_id: str) -> QueueItem | None:
        """One item."""
        ...

    def find_item_ids(self, prefix: str, limit: int = 10) -> list[str]:
        """Ids of items that start with `prefix` (lowercase hex), at most `limit`, sorted."""
        ...

    def list_items(
        self, queue: Queue, states: list[ItemState] | None = None, limit: int = 1000
    ) -> list[QueueItem]:
        """A queue's items in claim order (priority, then FIFO), optionally by state."""
        ...

    def count_by_state(self, queue: Queue) -> dict[str, int]:
        """How many of a queue's items are in each state (states with none are left out)."""
        ...

    def pending_summary(self, queue: Queue) -> PendingSummary:
        """Pending counts by priority and the oldest pending item's age (cheap: for metrics)."""
        ...
