"""Idle GPU detection: the pure detector, the agent's idle watch and the queue policy.

No GPU machine is available in CI: telemetry is simulated samples, or a fake NVML
(`support/fake_nvml.py`) for the sampler.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from runyard.launch.agent.telemetry import IdleWatch, idle_warning, sample_gpus
from runyard.launch.idle import GpuSample, IdlePolicy, idle_since, is_idle
from runyard.launch.models import QueueSpec
from runyard.queue_cli import load_queue_file
from support.fake_nvml import FakeGpu, FakeNvml
from support.server import LiveServer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = IdlePolicy(threshold_percent=10, window_minutes=30)


def _tick(minute: float, *utilization: float) -> list[GpuSample]:
    at = T0 + timedelta(minutes=minute)
    return [
        GpuSample(at=at, gpu=i, utilization_percent=u, memory_used_mib=1024, power_w=70)
        for i, u in enumerate(utilization)
    ]


def test_an_idle_job_is_flagged_after_the_window_and_a_busy_one_never() -> None:
    watch = IdleWatch()
    flagged_at: dict[str, float] = {}
    for minute in range(0, 120):  # two hours of simulated telemetry, one tick a minute
        for job, ticks in {
            "idle": _tick(minute, 0, 3),
            "busy": _tick(minute, 95, 88),
            # Busy on one GPU now and then: each busy minute starts the window anew.
            "bursty": _tick(minute, 40 if minute % 20 == 0 else 0, 0),
        }.items():
            if watch.observe(job, ticks, POLICY):
                flagged_at[job] = minute
    assert flagged_at == {"idle": 30}  # flagged once, as soon as 30 idle minutes passed
    assert [s.gpu for s in watch.latest("idle")] == [0, 1]
    watch.forget("idle")
    assert watch.latest("idle") == []


def test_the_detector_starts_the_streak_after_the_last_busy_tick() -> None:
    samples = [*_tick(0, 50), *_tick(1, 2), *_tick(2, 2, 30), *_tick(3, 1), *_tick(40, 0)]
    assert idle_since(samples, 10) == T0 + timedelta(minutes=3)
    assert is_idle(samples, POLICY)  # minutes 3 to 40
    assert not is_idle(samples[:-1], POLICY)
    assert idle_since(_tick(0, 99), 10) is None
    assert not is_idle([], POLICY)


def test_an_idle_policy_with_a_negative_window_names_the_field() -> None:
    with pytest.raises(ValidationError, match=r"window_minutes\n.*must be more than 0, not -5"):
        IdlePolicy(window_minutes=-5)
    with pytest.raises(ValidationError, match=r"idle_policy\.window_minutes"):
        QueueSpec(name="q", entity="lab", idle_policy={"window_minutes": 0})
    with pytest.raises(ValidationError, match=r"threshold_percent"):
        IdlePolicy(threshold_percent=150)
    assert "requeued and stopped" in idle_warning(IdlePolicy(action="requeue"))


def test_a_queue_with_a_negative_idle_window_is_refused_over_rest(
    sqlite_server: LiveServer,
) -> None:
    with sqlite_server.api() as api:
        body = {"name": "idle-q", "entity": "admin", "idle_policy": {"window_minutes": -1}}
        refused = api.post("/api/v1/queues", json=body)
        assert refused.status_code == 422
        assert "window_minutes" in refused.text and "must be more than 0" in refused.text
        body["idle_policy"] = {"window_minutes": 15, "action": "requeue"}
        created = api.post("/api/v1/queues", json=body)
        assert created.status_code == 201, created.text
        stored = api.get("/api/v1/queues/admin/idle-q").json()
        assert stored["idle_policy"]["window_minutes"] == 15
        assert stored["idle_policy"]["action"] == "requeue"


def test_a_queue_file_may_set_the_idle_policy(tmp_path: Path) -> None:
    queue_file = tmp_path / "queue.yaml"
    queue_file.write_text("config: {}\nidle_policy: {window_minutes: 20, action: requeue}\n")
    assert load_queue_file(queue_file)["idle_policy"] == {"window_minutes": 20, "action": "requeue"}


def test_the_sampler_reads_the_pinned_gpus_through_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml(gpus=[FakeGpu(utilization=7), FakeGpu(utilization=93, power_mw=350_500)])
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    samples = sample_gpus([1], T0)
    assert [(s.gpu, s.utilization_percent, s.power_w) for s in samples] == [(1, 93.0, 350.5)]
    assert samples[0].memory_used_mib == 1024
    nvml.driver = False
    assert sample_gpus([0, 1], T0) == []  # no driver: no telemetry, no error
    assert sample_gpus([], T0) == []


def test_the_incremental_watch_flags_exactly_when_the_pure_detector_first_says_idle() -> None:
    rng = random.Random(20)
    for _ in range(50):
        policy = IdlePolicy(threshold_percent=10, window_minutes=rng.choice([3, 5, 8]))
        watch, history = IdleWatch(), []
        flagged, first_idle = None, None
        for minute in range(40):
            tick = _tick(minute, *(rng.choice([0, 2, 50]) for _ in range(2)))
            history += tick
            if watch.observe("job", tick, policy):
                flagged = minute
            if first_idle is None and is_idle(history, policy):
                first_idle = minute
        assert flagged == first_idle


def test_a_heartbeat_with_too_much_telemetry_is_refused_naming_the_field(
    sqlite_server: LiveServer,
) -> None:
    with sqlite_server.api() as api:
        assert api.post("/api/v1/queues", json={"name": "tele-q", "entity": "admin"}).is_success
        registration = {"name": "a", "queues": ["admin/tele-q"], "capacity": {"gpus": 1}}
        agent = api.post("/api/v1/agents", json=registration).json()["id"]
        sample = {"at": T0.isoformat(), "gpu": 0, "utilization_percent": 5}
        body = {"agent_id": agent, "telemetry": {"x": [sample] * 65}}
        refused = api.post("/api/v1/agents/heartbeat", json=body)
        assert refused.status_code == 422 and "telemetry.x: at most 64 samples" in refused.text
        body["telemetry"] = {"x": [{**sample, "utilization_percent": 140}]}
        refused = api.post("/api/v1/agents/heartbeat", json=body)
        assert refused.status_code == 422 and "utilization_percent" in refused.text
        body["telemetry"] = {"x": [sample]}  # an item the agent does not hold: ignored
        assert api.post("/api/v1/agents/heartbeat", json=body).status_code == 200
