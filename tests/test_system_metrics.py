"""System metrics from `wandb-events.jsonl`: points over run time, buckets, and chart panels."""

from __future__ import annotations

import json

from runyard.server.tracking.rollups import Bucket
from runyard.server.tracking.system_metrics import Line, bucket_points, event_points, panels


def test_event_points_keep_system_metrics_over_run_time() -> None:
    lines = [
        json.dumps({"system.cpu": 10, "system.gpu.0.gpu": 50, "_runtime": 12.5, "other": 1}),
        "not json",
        json.dumps({"system.cpu": 30, "_timestamp": 1000.0}),  # no _runtime: from the first stamp
        json.dumps({"system.cpu": 20, "_timestamp": 1015.0}),
    ]
    points = event_points(lines)
    assert points == {
        "system.cpu": [(12.5, 10.0), (0.0, 30.0), (15.0, 20.0)],
        "system.gpu.0.gpu": [(12.5, 50.0)],
    }


def test_bucket_points_summarises_equal_time_ranges() -> None:
    points = [(float(t), float(t % 3)) for t in range(0, 100, 10)]
    got = bucket_points(points, 5)
    assert len(got) == 5
    assert got[0] == Bucket(x_min=0, x_max=10, count=2, min=0.0, max=1.0, last=1.0)


def test_gpu_metrics_share_a_panel_per_measure_in_their_own_section() -> None:
    keys = [
        "system.gpu.1.gpu",
        "system.gpu.0.gpu",
        "system.cpu",
        "system.gpu.0.temp",
        "system.gpu.10.gpu",
    ]
    got = panels(keys)
    assert [(p.section, p.title) for p in got] == [
        ("system", "cpu"),
        ("gpu", "GPU gpu"),
        ("gpu", "GPU temp"),
    ]
    assert got[1].lines == [
        Line("system.gpu.0.gpu", "GPU 0"),
        Line("system.gpu.1.gpu", "GPU 1"),
        Line("system.gpu.10.gpu", "GPU 10"),
    ]


def test_no_gpu_keys_means_no_gpu_section() -> None:
    assert {p.section for p in panels(["system.cpu", "system.memory_percent"])} == {"system"}


def test_bucket_points_keep_every_sample_and_the_end() -> None:
    points = [(float(t), 1.0) for t in range(0, 100, 10)] + [(5.0, 9.0)]
    got = bucket_points(points, 5)
    assert sum(b.count for b in got) == 11
    assert got[-1].x_max == 90.0
    assert got[0].max == 9.0 and got[0].last == 1.0  # last by time, not by arrival
