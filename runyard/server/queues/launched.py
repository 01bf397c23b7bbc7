"""Links between launch items and the runs they started: where a run lands, which item made it.

An item records the W&B run id its agent gave the run (`run_id`); the run lives in the
entity and project of the item's run spec, as the agent sets WANDB_ENTITY/WANDB_PROJECT
(`runyard.launch.agent.run_env.wandb_values`).
"""

from __future__ import annotations

from typing import NamedTuple

from runyard.launch.models import QueueItem
from runyard.launch.queue.store import QueueStore

DEFAULT_RUN_PROJECT = "uncategorized"  # the agent's WANDB_PROJECT when the spec names none
ITEMS_SCANNED_PER_QUEUE = 1000


class RunPath(NamedTuple):
    """Where a launched run's page is: entity, project and run id."""

    entity: str
    project: str
    run: str


def run_path(item: QueueItem) -> RunPath | None:
    """The run an item launched, or None before its agent has reported one."""
    if not item.run_id:
        return None
    spec = item.run_spec
    entity = str(spec.get("entity") or item.entity)
    return RunPath(entity, str(spec.get("project") or DEFAULT_RUN_PROJECT), item.run_id)


def item_for_run(store: QueueStore, entity: str, project: str, run: str) -> QueueItem | None:
    """The launch item that started this run, looked for in the entity's queues.

    The store has no index by run id, so this reads each queue's items (the first
    `ITEMS_SCANNED_PER_QUEUE` in claim order): fine for a run page, not for bulk use.
    The most recent matching item wins (a requeued item keeps the same run id).
    """
    wanted = RunPath(entity, project, run)
    found: list[QueueItem] = []
    for queue in store.list_queues(entity):
        for item in store.list_items(queue, None, ITEMS_SCANNED_PER_QUEUE):
            if item.run_id == run and run_path(item) == wanted:
                found.append(item)
    return max(found, key=lambda i: i.created_at, default=None)
