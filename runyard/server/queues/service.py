"""What the queue routes do, over any QueueStore: validate and render at enqueue, report
size problems, and summarise a queue. Synchronous; routes run it in a worker thread."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from runyard.launch.kubernetes.allowlists import PoolPolicy
from runyard.launch.models import EnqueueRequest, Priority, Queue, QueueItem
from runyard.launch.queue.store import PendingSummary, QueueStore
from runyard.launch.templating import render_config, requirements_of, validate_values
from runyard.server.queues.pools import check_pools


class SpecTooLarge(ValueError):
    """An item whose run spec is over the server's value limit."""


class QueueStats(BaseModel):
    """A queue's items by state, pending ones by priority, and the oldest pending age."""

    by_state: dict[str, int]
    pending_by_priority: dict[str, int]
    oldest_pending_s: float | None


def enqueue(
    store: QueueStore,
    queue: Queue,
    request: EnqueueRequest,
    now: datetime,
    max_bytes: int,
    pools: Sequence[PoolPolicy] = (),
) -> tuple[QueueItem, bool]:
    """Validate template values, render the queue's config, check it against the allow-lists
    of the serving `pools` (`pools.serving_policies`), and add the item."""
    size = len(json.dumps(request.run_spec))
    if size > max_bytes:
        raise SpecTooLarge(
            f"run_spec is {size:,} bytes, over the {max_bytes:,}-byte limit: "
            "put large inputs in an artifact or file and reference it"
        )
    values = validate_values(queue.variables, request.template_values)
    fields: dict[str, Any] = {"queue": queue.name, "entity": queue.entity}
    project = request.run_spec.get("project")
    if isinstance(project, str):
        fields["project"] = project
    rendered = render_config(queue.config, values, fields)
    check_pools(rendered, pools)
    return store.enqueue(queue, request, values, rendered, requirements_of(values), now)


def queue_stats(by_state: dict[str, int], pending: PendingSummary, now: datetime) -> QueueStats:
    """A queue's stats from the store's counts (pure)."""
    oldest = pending.oldest_created_at
    return QueueStats(
        by_state=by_state,
        pending_by_priority={p.name.lower(): pending.by_priority.get(p.value, 0) for p in Priority},
        oldest_pending_s=(now - oldest).total_seconds() if oldest else None,
    )
