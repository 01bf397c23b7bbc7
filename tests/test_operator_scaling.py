"""AgentPool scaling: queue stats rising and falling move replicas within min/max."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from runyard.operator.scaling import ScaleDecision, decide, pending_that_fit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _decide(**kwargs: Any) -> ScaleDecision:
    args: dict[str, Any] = {
        "current": 1,
        "pending_fit": 0,
        "running": 0,
        "max_jobs_per_agent": 4,
        "target_jobs_per_agent": None,
        "min_replicas": 1,
        "max_replicas": 5,
        "requested": None,
        "last_scale_change": None,
        "cooldown_seconds": 300,
        "now": T0,
    }
    args.update(kwargs)
    return decide(**args)


def test_pending_work_scales_up_at_once_and_clamps_to_max() -> None:
    """Rising queue depth adds agents immediately, never past maxReplicas."""
    assert _decide(pending_fit=9).replicas == 3  # ceil(9 / 4)
    assert _decide(pending_fit=9).changed
    assert _decide(pending_fit=100).replicas == 5
    assert _decide(pending_fit=9, target_jobs_per_agent=2).replicas == 5


def test_idle_pool_scales_down_to_min_after_the_cool_down() -> None:
    """Falling depth removes agents, but not within the cool-down of the last change."""
    recent = T0 - timedelta(seconds=100)
    held = _decide(current=4, last_scale_change=recent)
    assert held.replicas == 4 and "cool-down, 200s left" in held.reason
    down = _decide(current=4, last_scale_change=T0 - timedelta(seconds=301))
    assert down.replicas == 1 and down.changed
    assert _decide(current=4, min_replicas=0).replicas == 0


def test_never_below_what_running_jobs_need() -> None:
    """Running jobs keep their agents even when max/requested is lower."""
    assert _decide(current=3, running=10).replicas == 3  # ceil(10 / 4)
    assert _decide(current=3, running=10, max_replicas=2).replicas == 3
    assert _decide(current=3, running=10, requested=1).replicas == 3


def test_a_requested_count_is_kept_within_bounds() -> None:
    """`kubectl scale` sets spec.replicas; it is honoured inside min/max."""
    assert _decide(requested=3).replicas == 3
    assert _decide(requested=50).replicas == 5
    assert _decide(requested=0, min_replicas=1).replicas == 1


def test_a_full_rise_and_fall() -> None:
    """Replicas follow a burst of work up and, after cool-downs, back down."""
    current, changed_at, history = 1, None, []
    timeline = [(0, 0, 0), (60, 20, 0), (120, 4, 16), (180, 0, 8), (600, 0, 2), (1000, 0, 0)]
    for second, pending, running in timeline:
        now = T0 + timedelta(seconds=second)
        decision = _decide(
            current=current,
            pending_fit=pending,
            running=running,
            last_scale_change=changed_at,
            now=now,
        )
        if decision.replicas != current:
            changed_at = now
        current = decision.replicas
        history.append(current)
    assert history == [1, 5, 5, 5, 1, 1]


def test_items_too_big_for_a_node_do_not_scale_the_pool() -> None:
    """A pending item asking for more GPUs than a node has can never start here."""
    items = [{"requirements": {"gpus": 8}}, {"requirements": {"gpus": 16}}, {"requirements": {}}]
    assert pending_that_fit(items, gpus_per_node=8) == 2
