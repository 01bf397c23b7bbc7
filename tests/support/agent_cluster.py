"""An agent with the Kubernetes runner against the simulated cluster, for end-to-end tests.

No real cluster can run here: `support.kube.FakeKubernetes` (kmock) is the API server and
`support.cluster_sim.ClusterSimulator` plays the scheduler, the Job (and JobSet) controller
and kubelet. Nodes form pools (a100, h100, cpu) with GPUs and the `nvidia.com/gpu` taint.
Where a test needs a real workload, the pod's container runs as a local process
(`LocalContainers`): the official wandb client logs to the live server with the environment
the agent put in the pod, the API key read from the pool's Secret, as kubelet would.
"""

from __future__ import annotations

import asyncio
import base64
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from conftest import SCRIPTS, WandbClient
from runyard.launch.agent.api import AgentApi
from runyard.launch.agent.config import AgentConfig
from runyard.launch.agent.loop import Agent
from runyard.launch.kubernetes.pool import PoolSettings
from runyard.launch.kubernetes.runner import KubernetesRunner
from support.cluster_sim import ClusterSimulator
from support.kube import FakeKubernetes
from support.server import LiveServer
from support.sim_process import LocalContainers

NS = "ml-jobs"
A100 = {"nvidia.com/gpu.product": "A100-SXM4-80GB"}
H100 = {"nvidia.com/gpu.product": "H100-SXM5-80GB"}
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
TEMPLATE = {
    "spec": {
        "template": {
            "spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "{{gpus}}"}}}]}
        }
    }
}
FINAL = {"finished", "failed", "canceled", "preempted"}


@dataclass
class Cluster:
    fake: FakeKubernetes
    sim: ClusterSimulator
    server: LiveServer
    api: httpx.Client
    wandb: WandbClient

    def jobs_of(self, item_id: str) -> list[dict[str, Any]]:
        return self.sim.jobs(NS, f"runyard.dev/item={item_id}")

    def job_of(self, item_id: str) -> dict[str, Any] | None:
        jobs = self.jobs_of(item_id)
        assert len(jobs) <= 1, [j["metadata"]["name"] for j in jobs]
        return jobs[0] if jobs else None

    def pod_of(self, item_id: str) -> dict[str, Any] | None:
        pods = self.sim.pods(NS, f"runyard.dev/item={item_id}")
        live = [p for p in pods if p["status"].get("phase") not in ("Succeeded", "Failed")]
        return (live or pods or [None])[-1]

    def item(self, item_id: str) -> dict[str, Any]:
        return dict(self.api.get(f"/api/v1/items/{item_id}").json())


@pytest.fixture
def cluster(sqlite_server: LiveServer, tmp_path: Path) -> Iterator[Cluster]:
    """Two GPU pools and a CPU node; the pool's API key Secret; pods may run processes."""
    wandb = WandbClient(tmp_path, sqlite_server)
    # What a job image provides (PATH, a home for the client); the W&B settings come from
    # the Job's environment, as in a real pod.
    image_env = {k: v for k, v in wandb.env.items() if k not in ("WANDB_BASE_URL", "WANDB_API_KEY")}
    processes = LocalContainers(tmp_path / "containers", image_env, grace_s=2)
    with (
        FakeKubernetes(namespaces=("default", NS)) as fake,
        ClusterSimulator(fake, processes=processes) as sim,
        sqlite_server.api() as api,
    ):
        for i in range(2):
            sim.add_node(f"a100-{i}", A100, gpus=8, taints=[GPU_TAINT])
        sim.add_node("h100-0", H100, gpus=8, taints=[GPU_TAINT])
        sim.add_node("cpu-0", {"pool": "cpu"})
        key = base64.b64encode(sqlite_server.admin_key.encode()).decode()
        secret = {"metadata": {"name": "runyard-api-key"}, "data": {"api-key": key}}
        client.CoreV1Api(fake.api_client()).create_namespaced_secret(NS, secret)
        yield Cluster(fake, sim, sqlite_server, api, wandb)
    wandb.kill_leftovers()


class RunningAgent:
    """An in-process agent with the Kubernetes runner, on its own event loop thread."""

    def __init__(self, cluster: Cluster, queue: str, **pool: Any) -> None:
        self.pool = PoolSettings(
            name=pool.pop("name", f"a100-{uuid.uuid4().hex[:6]}"),
            namespace=NS,
            node_selector=A100,
            server_url=cluster.server.url,
            **pool,
        )
        config = AgentConfig(
            queues=[queue], runner="kubernetes", pool=self.pool, heartbeat_interval_s=0.5
        )
        self.runner = KubernetesRunner(self.pool, api_client=cluster.fake.api_client())
        self.loop = asyncio.new_event_loop()
        self.api = AgentApi(cluster.server.url, cluster.server.admin_key)
        self.agent = Agent(config, self.api, self.runner)
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
def start_agent(cluster: Cluster) -> Iterator[Callable[..., RunningAgent]]:
    agents: list[RunningAgent] = []

    def start(queue: str, **pool: Any) -> RunningAgent:
        agents.append(RunningAgent(cluster, queue, **pool))
        return agents[-1]

    yield start
    for agent in agents:
        agent.stop()


def create_queue(
    api: httpx.Client, config: dict[str, Any] | None = None, lease_seconds: float = 30
) -> str:
    queue = f"k8s-{uuid.uuid4().hex[:6]}"
    body = {
        "name": queue,
        "entity": "admin",
        "resource": "kubernetes",
        "config": TEMPLATE if config is None else config,
        "variables": [{"name": "gpus", "type": "integer", "minimum": 0, "maximum": 8}],
        "lease_seconds": lease_seconds,
    }
    response = api.post("/api/v1/queues", json=body)
    assert response.status_code == 201, response.text
    return queue


def enqueue(api: httpx.Client, queue: str, gpus: int, **spec: Any) -> str:
    run_spec = {"docker": {"docker_image": "org/train:1"}, "project": "llm", **spec}
    body = {"run_spec": run_spec, "template_values": {"gpus": gpus}}
    response = api.post(f"/api/v1/queues/admin/{queue}/items", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def train_spec(project: str, *args: str) -> dict[str, Any]:
    """A run spec whose container runs tests/scripts/train.py with the official client."""
    command = [sys.executable, str(SCRIPTS / "train.py"), "--project", project, *args]
    return {"project": project, "entry_point": command}


def until(cluster: Cluster, check: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
    try:
        return cluster.sim.wait_for(check, timeout=timeout, what=what or None)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what or check}") from None


def final(cluster: Cluster, item_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = cluster.item(item_id)
        if item["state"] in FINAL:
            return item
        time.sleep(0.1)
    raise AssertionError(f"item did not end: {cluster.item(item_id)}")


def history(cluster: Cluster, project: str, run_id: str) -> list[dict[str, Any]]:
    response = cluster.api.get(f"/api/v1/runs/admin/{project}/{run_id}/history")
    assert response.status_code == 200, response.text
    body = response.json()
    return list(body["rows"] if isinstance(body, dict) else body)
