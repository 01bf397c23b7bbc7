"""Per-job GPU telemetry on a local machine (NVML) and the agent's idle watch.

Sampling reads utilisation, memory and power of the GPUs a job is pinned to; without an
NVIDIA driver it reads nothing. `IdleWatch` keeps each job's recent samples and says,
once per job, when the queue's idle policy flags it (the deciding is `launch/idle.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from ..idle import GpuSample, IdleAction, IdlePolicy, idle_since

logger = logging.getLogger(__name__)


@runtime_checkable
class PinsGpus(Protocol):
    """A runner that knows which GPU indices each of its jobs holds."""

    def pinned(self, item_id: str) -> tuple[int, ...]:
        """The item's GPU indices (empty: none)."""
        ...


def sample_gpus(indices: Sequence[int], at: datetime) -> list[GpuSample]:
    """One sample of each of these GPUs through NVML; [] without a driver or on failure."""
    if not indices:
        return []
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []
    try:
        samples = []
        for index in indices:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            rates = pynvml.nvmlDeviceGetUtilizationRates(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            power_mw = pynvml.nvmlDeviceGetPowerUsage(handle)
            samples.append(
                GpuSample(
                    at=at,
                    gpu=index,
                    utilization_percent=float(rates.gpu),
                    memory_used_mib=int(memory.used) // 2**20,
                    power_w=power_mw / 1000.0,
                )
            )
        return samples
    except pynvml.NVMLError as exc:
        logger.warning("NVML sampling failed", extra={"reason": str(exc)})
        return []
    finally:
        pynvml.nvmlShutdown()


class IdleWatch:
    """Each job's idle streak and latest tick, and which jobs were flagged idle already.

    Incremental: a tick costs its own samples only, however long the window (the streak
    rule is `idle.idle_since`'s, applied one tick at a time).
    """

    def __init__(self) -> None:
        self._since: dict[str, datetime | None] = {}
        self._latest: dict[str, list[GpuSample]] = {}
        self._flagged: set[str] = set()

    def observe(self, item_id: str, samples: Sequence[GpuSample], policy: IdlePolicy) -> bool:
        """Add a tick of samples; True the first time the job counts as idle."""
        if not samples:
            return False
        self._latest[item_id] = list(samples)
        tick_idle = idle_since(samples, policy.threshold_percent)
        since = self._since.get(item_id) if tick_idle is not None else None
        since = since or tick_idle
        self._since[item_id] = since
        if since is None or item_id in self._flagged:
            return False
        if max(s.at for s in samples) - since < policy.window:
            return False
        self._flagged.add(item_id)
        return True

    def latest(self, item_id: str) -> list[GpuSample]:
        """The job's most recent tick (one sample per GPU)."""
        return list(self._latest.get(item_id) or [])

    def forget(self, item_id: str) -> None:
        """The job ended: drop what is kept of it."""
        self._since.pop(item_id, None)
        self._latest.pop(item_id, None)
        self._flagged.discard(item_id)


# Without a queue policy samples are still kept (for the heartbeat): nothing is under 0 %.
NEVER_IDLE = IdlePolicy(threshold_percent=0, window_minutes=1, action=IdleAction.NOTIFY)


def idle_warning(policy: IdlePolicy) -> str:
    """The warning an idle job's item gets."""
    then = "it is requeued and stopped" if policy.action == "requeue" else "it keeps running"
    return (
        f"idle GPUs: all of the job's GPUs stayed under {policy.threshold_percent:g} % "
        f"utilisation for {policy.window_minutes:g} minutes; {then} (queue idle_policy)"
    )
