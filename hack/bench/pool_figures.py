"""The pool benchmark's figures, computed from what it recorded (pure; tested in
tests/test_bench_pool_figures.py).

The benchmark runs on a simulated clock that moves only when the agents have nothing left
to do, so between two moves of the clock each pool is in one state: a `Stretch`. Figures:

- occupancy while fitting work waits: GPU-time used over GPU-time available, counted only
  for a pool while items of its queue wait (every item fits an empty pool);
- missed: the share of that pool-time in which a waiting item would fit the free GPUs right
  now, yet nothing was started (a decision of the agent, not a full cluster);
- waits by priority, in simulated seconds from enqueue to the job's start.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from runyard.launch.gangs import gang_fits


@dataclass(frozen=True)
class Waiting:
    """An item that waits: GPUs per pod and pods (a gang's pods must all start at once)."""

    gpus: int
    pods: int = 1


@dataclass(frozen=True)
class PoolState:
    """One pool between two moves of the clock."""

    total: int
    free_per_node: tuple[int, ...]
    waiting: tuple[Waiting, ...] = ()

    @property
    def used(self) -> int:
        """GPUs held by jobs."""
        return self.total - sum(self.free_per_node)

    @property
    def fitting_waits(self) -> bool:
        """A waiting item would fit the free GPUs now."""
        return any(gang_fits(w.gpus, w.pods, self.free_per_node) for w in self.waiting)


@dataclass(frozen=True)
class Stretch:
    """Simulated time [start, end) and each pool's state in it."""

    start: float
    end: float
    pools: Mapping[str, PoolState] = field(default_factory=dict)


@dataclass(frozen=True)
class Occupancy:
    """GPU occupancy while work waited, and the pool-time lost to startable waiting work."""

    percent: float
    missed_percent: float
    waiting_hours: float


def occupancy(stretches: Iterable[Stretch]) -> Occupancy:
    """Used over available GPU-time of pools with waiting items; see the module docstring."""
    used = available = missed = pool_time = 0.0
    for stretch in stretches:
        span = max(0.0, stretch.end - stretch.start)
        for pool in stretch.pools.values():
            if not pool.waiting or pool.total <= 0:
                continue
            used += pool.used * span
            available += pool.total * span
            pool_time += span
            if pool.fitting_waits:
                missed += span
    return Occupancy(
        percent=100 * used / available if available else 100.0,
        missed_percent=100 * missed / pool_time if pool_time else 0.0,
        waiting_hours=pool_time / 3600,
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def waits_by_priority(
    enqueued: Mapping[str, float], started: Mapping[str, float], priority: Mapping[str, str]
) -> dict[str, list[float]]:
    """Each started item's wait (start - enqueue), grouped by its priority."""
    waits: dict[str, list[float]] = defaultdict(list)
    for item_id, at in started.items():
        if item_id in enqueued:
            waits[priority[item_id]].append(max(0.0, at - enqueued[item_id]))
    return dict(waits)


def launches_per_second(launches: int, busy_seconds: float) -> float:
    """Launches over the wall-clock time the agents spent launching (0 when none)."""
    return launches / busy_seconds if busy_seconds > 0 else 0.0
