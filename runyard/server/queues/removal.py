"""Deleting queues by their W&B node ids (`deleteRunQueues`): all are checked before any
is deleted, so a bad id in the list leaves every queue in place."""

from __future__ import annotations

import contextlib

from runyard.launch.models import Queue
from runyard.launch.queue.store import QueueStore, QueueStoreError
from runyard.server.access import Action, require
from runyard.server.auth import Principal
from runyard.server.errors import ErrorCode, ServiceError
from runyard.server.tracking.ids import decode_key


def delete_queues(store: QueueStore, principal: Principal, node_ids: list[str]) -> list[Queue]:
    """Delete the queues named by `RunQueue` node ids, with their items; returns them."""
    by_id = {queue.id: queue for queue in store.list_queues()}
    doomed = []
    for node_id in node_ids:
        try:
            queue = by_id.get(decode_key("RunQueue", node_id))
        except ValueError as exc:
            raise ServiceError(ErrorCode.INVALID, f"queueIDs: {exc}") from exc
        if queue is None:
            raise ServiceError(
                ErrorCode.NOT_FOUND, f"queueIDs: launch queue {node_id} does not exist"
            )
        require(principal, queue.entity, Action.MANAGE)
        if queue.managed_by:
            raise ServiceError(
                ErrorCode.CONFLICT,
                f"queue {queue.entity}/{queue.name} is managed by {queue.managed_by}: "
                "delete it there (for runyard-operator, its LaunchQueue resource)",
            )
        doomed.append(queue)
    for queue in doomed:
        with contextlib.suppress(QueueStoreError):  # deleted meanwhile: the goal is reached
            store.delete_queue(queue.entity, queue.name)
    return doomed
