"""How many agents an AgentPool runs: a pure function of queue stats and the pool's bounds."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ScaleDecision:
    """The replica count to set, and why (for logs and events)."""

    replicas: int
    reason: str

    @property
    def changed(self) -> bool:
        """Whether the reason says the count moved."""
        return self.reason.startswith(("scale up", "scale down"))


def pending_that_fit(items: Iterable[dict[str, Any]], gpus_per_node: int) -> int:
    """Pending items whose GPU request fits one node of the pool (others can never start)."""
    count = 0
    for item in items:
        gpus = int((item.get("requirements") or {}).get("gpus") or 0)
        if gpus <= gpus_per_node:
            count += 1
    return count


def decide(
    *,
    current: int,
    pending_fit: int,
    running: int,
    max_jobs_per_agent: int,
    target_jobs_per_agent: int | None,
    min_replicas: int,
    max_replicas: int,
    requested: int | None,
    last_scale_change: datetime | None,
    cooldown_seconds: float,
    now: datetime,
) -> ScaleDecision:
    """Replicas: work per target clamped to min/max, never below running needs, cool-down."""
    needed_by_running = math.ceil(running / max_jobs_per_agent)
    target = target_jobs_per_agent or max_jobs_per_agent
    if requested is not None:
        want, why = requested, f"requested {requested} (scale subresource)"
    else:
        want = math.ceil((running + pending_fit) / target)
        why = f"{running} running + {pending_fit} pending at {target} per agent"
    want = min(max(want, min_replicas), max_replicas)
    if want < needed_by_running:
        want, why = needed_by_running, f"{running} running jobs need {needed_by_running} agents"
    if want > current:
        return ScaleDecision(want, f"scale up {current} -> {want}: {why}")
    if want < current:
        if last_scale_change is not None:
            waited = (now - last_scale_change).total_seconds()
            if waited < cooldown_seconds:
                left = cooldown_seconds - waited
                return ScaleDecision(current, f"hold {current}: cool-down, {left:.0f}s left")
        return ScaleDecision(want, f"scale down {current} -> {want}: {why}")
    return ScaleDecision(current, f"hold {current}: {why}")
