"""The agent samples its jobs' GPUs, reports them with its heartbeat and flags idle jobs.

No GPU machine is available in CI: the machine's GPUs come from a fake NVML
(`support/fake_nvml.py`) and time is simulated (each sample is one minute later); the
server, the agent and the jobs' processes are real.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from runyard.agent_cli import make_runner
from runyard.launch.agent.api import AgentApi
from runyard.launch.agent.config import AgentConfig
from runyard.launch.agent.loop import Agent
from support.fake_nvml import FakeGpu, FakeNvml
from support.server import LiveServer

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


class SimulatedClock:
    """Each reading is one minute after the previous one."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        self.readings = 0

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        self.readings += 1
        return self.now


class InProcessAgent:
    """An agent with the local-process runner on its own event loop thread."""

    def __init__(self, server: LiveServer, queue: str, workdir: Path) -> None:
        self.config = AgentConfig(
            queues=[queue],
            max_jobs=2,
            workdir=workdir,
            heartbeat_interval_s=0.2,
            telemetry_interval_s=0.02,
        )
        self.runner = make_runner(self.config, server.url, server.admin_key)
        self.api = AgentApi(server.url, server.admin_key)
        self.clock = SimulatedClock()
        self.agent = Agent(self.config, self.api, self.runner, clock=self.clock)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self.agent.run())
        finally:
            self.loop.run_until_complete(self.api.close())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.agent.stop)
        self.thread.join(timeout=30)


@pytest.fixture
def gpus(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    # GPU 0 is idle, GPU 1 busy: the first job (pinned to GPU 0) idles, the second works.
    nvml = FakeNvml(gpus=[FakeGpu(utilization=1), FakeGpu(utilization=90, power_mw=300_000)])
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    return nvml


@pytest.fixture
def start_agent(
    sqlite_server: LiveServer, tmp_path: Path
) -> Iterator[Callable[[str], InProcessAgent]]:
    agents: list[InProcessAgent] = []

    def start(queue: str) -> InProcessAgent:
        agents.append(InProcessAgent(sqlite_server, queue, tmp_path / "jobs"))
        return agents[-1]

    yield start
    for agent in agents:
        agent.stop()
    for job_file in (tmp_path / "jobs").glob("*/job.json"):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(json.loads(job_file.read_text())["pid"], signal.SIGKILL)


def _queue(api: httpx.Client, action: str) -> str:
    name = f"idle-{uuid.uuid4().hex[:6]}"
    body = {
        "name": name,
        "entity": "admin",
        "resource": "local-process",
        "config": {"gpus": "{{gpus}}"},
        "variables": [{"name": "gpus", "type": "integer"}],
        "idle_policy": {"threshold_percent": 10, "window_minutes": 30, "action": action},
    }
    assert api.post("/api/v1/queues", json=body).status_code == 201
    return name


def _enqueue(api: httpx.Client, queue: str) -> str:
    body = {"run_spec": {"entry_point": SLEEPER}, "template_values": {"gpus": 1}}
    response = api.post(f"/api/v1/queues/admin/{queue}/items", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _wait(
    api: httpx.Client, item_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        item: dict[str, Any] = api.get(f"/api/v1/items/{item_id}").json()
        if done(item):
            return item
        assert time.monotonic() < deadline, item
        time.sleep(0.05)


def _idle_warnings(item: dict[str, Any]) -> list[str]:
    return [w for w in item["warnings"] if w.startswith("idle GPUs")]


def test_an_idle_job_is_flagged_after_the_window_and_a_busy_one_never(
    sqlite_server: LiveServer, gpus: FakeNvml, start_agent: Callable[[str], InProcessAgent]
) -> None:
    with sqlite_server.api() as api:
        queue = _queue(api, "notify")
        agent = start_agent(queue)
        idle = _enqueue(api, queue)
        _wait(api, idle, lambda i: i["state"] == "running")
        busy = _enqueue(api, queue)
        _wait(api, busy, lambda i: i["state"] == "running")
        flagged = _wait(api, idle, lambda i: bool(_idle_warnings(i)))
        assert "under 10 % utilisation for 30 minutes; it keeps running" in flagged["warnings"][0]
        assert flagged["state"] == "running"  # notify: it goes on
        # Another two simulated hours: the busy job is never flagged, the idle one once.
        later = agent.clock.readings + 120
        seen = _wait(
            api,
            busy,
            lambda i: agent.clock.readings > later and i["gpu_telemetry"] != [],
        )
        assert _idle_warnings(seen) == []
        assert seen["gpu_telemetry"][0]["gpu"] == 1
        assert seen["gpu_telemetry"][0]["utilization_percent"] == 90
        assert seen["gpu_telemetry"][0]["power_w"] == 300
        assert len(_idle_warnings(api.get(f"/api/v1/items/{idle}").json())) == 1
        metrics = api.get("/metrics").text
        assert f'runyard_item_gpu_utilization_percent{{gpu="1",item="{busy}"}} 90.0' in metrics
    with httpx.Client(base_url=sqlite_server.url) as browser:
        browser.post("/login", data={"api_key": sqlite_server.admin_key, "next": "/"})
        page = browser.get(f"/launch/admin/{queue}").text
        assert "GPU 1: 90 %, 1.0 GiB, 300 W" in page  # the busy job's figures
    assert agent.agent.metrics.idle_jobs.labels(f"admin/{queue}")._value.get() == 1


def test_an_idle_job_on_a_requeue_queue_is_stopped_and_requeued(
    sqlite_server: LiveServer, gpus: FakeNvml, start_agent: Callable[[str], InProcessAgent]
) -> None:
    with sqlite_server.api() as api:
        queue = _queue(api, "requeue")
        agent = start_agent(queue)
        item_id = _enqueue(api, queue)
        _wait(api, item_id, lambda i: i["state"] == "running")
        job = json.loads((agent.config.workdir / item_id / "job.json").read_text())
        requeued = _wait(api, item_id, lambda i: i["preemptions"] >= 1)
        deadline = time.monotonic() + 30
        while _alive(job["pid"]):  # stopped: its whole process group is gone
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert "it is requeued and stopped" in _idle_warnings(requeued)[0]
        assert requeued["state_times"].get("preempted") is not None


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True
