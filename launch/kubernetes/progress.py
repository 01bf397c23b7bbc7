"""Where a workload's item stands, from its pods and (for custom kinds) its status (pure).

A Job runs one pod, so the pod's end is the item's. A custom workload (JobSet, ...) has
several pods and a controller that may retry a failed one: its status conditions decide
the end, and pods only say whether it runs, waits (and why), or was disrupted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..models import ItemState
from .capacity import PoolCapacity
from .pending import PodVerdict, explain_pod, is_disrupted
from .pool import PoolSettings
from .workload import workload_outcome


@dataclass(frozen=True)
class Progress:
    """What to report: an end (finished, failed, preempted), running, or a wait's verdict."""

    state: ItemState | None = None  # None: still launching
    disruption: str = ""  # why it was preempted
    failed_pod: dict[str, Any] | None = None  # exit code and log come from it
    message: str = ""  # the workload controller's words on a failure
    verdict: PodVerdict | None = None  # why a pod waits, if one does


def _phase(pod: dict[str, Any]) -> str | None:
    return (pod.get("status") or {}).get("phase")


def progress(
    pods: list[dict[str, Any]],
    workload: dict[str, Any] | None,
    pool: PoolSettings,
    capacity: PoolCapacity | None,
) -> Progress:
    """The item's progress; `workload` is the custom object, None for a Job."""
    for pod in pods:
        disruption = is_disrupted(pod)
        if disruption is not None and _phase(pod) != "Succeeded":
            return Progress(ItemState.PREEMPTED, disruption=disruption)
    failed = next((p for p in pods if _phase(p) == "Failed"), None)
    if workload is None:
        if pods and all(_phase(p) == "Succeeded" for p in pods):
            return Progress(ItemState.FINISHED)
        if failed is not None:
            return Progress(ItemState.FAILED, failed_pod=failed)
    else:
        outcome = workload_outcome(workload)
        if outcome is not None:
            return Progress(outcome[0], failed_pod=failed, message=outcome[1])
    waiting = (p for p in pods if _phase(p) in (None, "Pending"))
    verdicts = (explain_pod(p, pool, capacity) for p in waiting)
    verdict = next((v for v in verdicts if v is not None), None)
    running = any(_phase(p) == "Running" for p in pods)
    return Progress(ItemState.RUNNING if running else None, verdict=verdict)
