"""What a runner is to the agent loop: it starts workloads and tells what happens to them.

The loop owns the queue side (claims, leases, reports); a runner owns the workloads
(processes, Kubernetes Jobs). Runners never report to the server: they put `JobUpdate`s
on the queue the loop gives them, and the loop reports those in order (the local-process
runner only reads W&B job artifacts from it, `code_jobs.py`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from ..models import ItemError, ItemState, QueueItem, Requirements


@dataclass(frozen=True)
class JobUpdate:
    """Something that happened to an item's workload."""

    item_id: str
    state: ItemState
    run_id: str | None = None
    error: ItemError | None = None
    warning: str | None = None
    requeue: bool = False
    # Why the workload waits (unschedulable, image_pull ...), sent once per item and kind.
    pending: str | None = None


class LaunchError(RuntimeError):
    """The workload could not be started; the item fails with this stage and message."""

    def __init__(self, stage: str, message: str, log: str = "") -> None:
        super().__init__(message)
        self.error = ItemError(stage=stage, message=message, log=log)


class Runner(Protocol):
    """Starts and watches workloads for the agent loop."""

    async def start(self, agent_id: str, updates: asyncio.Queue[JobUpdate]) -> None:
        """Begin watching; updates go on `updates`."""
        ...

    async def recover(self) -> list[str]:
        """Item ids of workloads of this pool left by an earlier agent (restart safety)."""
        ...

    async def launch(self, item: QueueItem) -> None:
        """Start (or, for a redelivered item, adopt) the item's workload; LaunchError if not."""
        ...

    async def resume(self, item: QueueItem) -> None:
        """Watch an adopted item's existing workload again."""
        ...

    async def cancel(self, item_id: str) -> None:
        """Stop and remove the workload (the item was canceled or is final elsewhere)."""
        ...

    async def forget(self, item_id: str) -> None:
        """Stop watching, leave the workload (another agent holds the item now)."""
        ...

    async def capacity(self) -> Requirements | None:
        """The most one more item may need (free GPUs on one node); None: no limit."""
        ...

    async def stop(self) -> None:
        """Stop watching; workloads keep running for the next agent to adopt."""
        ...
