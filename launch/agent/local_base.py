"""What the runners that start jobs on this machine share: GPU pins, capacity, updates.

`LocalProcessRunner` (process groups) and `LocalContainerRunner` (Docker containers) differ
in how a job starts, ends and is found again after a restart; both pin each job to GPUs of
its own among the machine's, report the GPUs left free, stop a job another agent takes
over, and hand job updates to the agent loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from ..models import QueueItem, Requirements
from .gpu_pinning import GpuRequestError, free_gpus, pick_gpus
from .runner import JobUpdate, LaunchError


class LocalRunnerBase:
    """GPU pinning, capacity, `forget` and the update queue of a runner on this machine."""

    def __init__(
        self,
        workdir: Path,
        server_url: str,
        api_key: str,
        gpus: Sequence[int] | None,
        log_tail_lines: int = 50,
    ) -> None:
        # Absolute: jobs run in folders of their own, where a relative path means another.
        self.workdir = workdir.resolve()
        self.server_url = server_url
        self.api_key = api_key
        # The machine's GPU indices in NVML order; None: no GPU limit, nothing pinned.
        self.gpus = list(gpus) if gpus is not None else None
        self.log_tail_lines = log_tail_lines
        # Item id -> the GPU indices its job holds, also for jobs an earlier agent started.
        self._pinned: dict[str, tuple[int, ...]] = {}
        # Items being prepared (pulled, built...) that were canceled or taken away meanwhile.
        self._dropped: set[str] = set()
        self._updates: asyncio.Queue[JobUpdate] | None = None

    def _pin(self, item: QueueItem) -> tuple[int, ...]:
        """Reserve the item's GPUs; LaunchError naming the field when they are not here."""
        if self.gpus is None:
            return ()
        try:
            indices = pick_gpus(self.gpus, self._pinned, item.requirements.gpus)
        except GpuRequestError as exc:
            raise LaunchError("launch", str(exc)) from None
        self._pinned[item.id] = indices
        return indices

    def pinned(self, item_id: str) -> tuple[int, ...]:
        """The GPU indices the item's job holds (empty when none or unknown)."""
        return self._pinned.get(item_id, ())

    async def capacity(self) -> Requirements | None:
        """Free GPUs of this machine; None when it has no GPU limit configured or found."""
        if self.gpus is None:
            return None
        return Requirements(gpus=len(free_gpus(self.gpus, self._pinned)))

    async def cancel(self, item_id: str) -> None:
        """Stop the item's job (each runner its own way)."""
        raise NotImplementedError

    async def forget(self, item_id: str) -> None:
        """Another agent runs the item anew (a local job cannot be handed over): stop ours."""
        await self.cancel(item_id)

    def _put(self, update: JobUpdate) -> None:
        assert self._updates is not None, "start() first"
        self._updates.put_nowait(update)
