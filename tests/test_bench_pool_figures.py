"""The pool benchmark's figures (`hack/bench/pool_figures.py`): occupancy while work waits,
time lost to startable waiting work, waits by priority."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "hack" / "bench"))

from pool_figures import (
    PoolState,
    Stretch,
    Waiting,
    launches_per_second,
    occupancy,
    percentile,
    waits_by_priority,
)


def test_occupancy_counts_only_pool_time_in_which_items_waited() -> None:
    full = PoolState(total=16, free_per_node=(0, 0), waiting=(Waiting(8),))
    half = PoolState(total=16, free_per_node=(4, 4), waiting=(Waiting(8),))
    idle_no_work = PoolState(total=16, free_per_node=(8, 8))
    stretches = [
        Stretch(0, 3600, {"a": full, "b": idle_no_work}),  # b has nothing waiting: not counted
        Stretch(3600, 7200, {"a": half, "b": idle_no_work}),
    ]
    figures = occupancy(stretches)
    assert figures.percent == pytest.approx(75.0)  # (16 + 8) / (16 + 16)
    assert figures.waiting_hours == pytest.approx(2.0)
    # 4 + 4 free GPUs never fit one 8-GPU pod: that wait was not the agent's to end.
    assert figures.missed_percent == 0.0


def test_free_gpus_that_a_waiting_item_fits_count_as_missed() -> None:
    startable = PoolState(total=16, free_per_node=(8, 0), waiting=(Waiting(8), Waiting(1)))
    gang = PoolState(total=16, free_per_node=(8, 4), waiting=(Waiting(4, pods=4),))
    stretches = [Stretch(0, 60, {"a": startable}), Stretch(60, 120, {"a": gang})]
    figures = occupancy(stretches)
    assert figures.percent == pytest.approx(100 * (8 + 4) / 32)
    # The gang needs four 4-GPU slots at once and there are 2 + 1: not startable.
    assert figures.missed_percent == pytest.approx(50.0)
    assert occupancy([]).percent == 100.0


def test_waits_are_grouped_by_priority_and_read_by_percentile() -> None:
    enqueued = {"c1": 0.0, "c2": 10.0, "l1": 0.0, "l2": 0.0, "never": 0.0}
    started = {"c1": 60.0, "c2": 10.0, "l1": 3600.0, "l2": 7200.0}
    priority = {"c1": "critical", "c2": "critical", "l1": "low", "l2": "low", "never": "low"}
    waits = waits_by_priority(enqueued, started, priority)
    assert waits == {"critical": [60.0, 0.0], "low": [3600.0, 7200.0]}
    assert percentile(waits["critical"], 90) == 60.0
    assert percentile(waits["low"], 50) in (3600.0, 7200.0)
    assert percentile([], 50) == 0.0
    assert launches_per_second(30, 2.0) == 15.0
    assert launches_per_second(0, 0.0) == 0.0
