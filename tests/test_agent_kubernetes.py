"""`runyard agent --runner kubernetes` against the simulated cluster.

No real cluster can run here: `support.kube.FakeKubernetes` (kmock) is the API server and
`support.cluster_sim.ClusterSimulator` plays the scheduler, the Job controller and kubelet.
Nodes form pools (a100, h100, cpu) with GPUs and the `nvidia.com/gpu` taint. Where a test
needs a real workload, the pod's container runs as a local process (`LocalContainers`):
the official wandb client logs to the live server with the environment the agent put in
the Job, the API key read from the pool's Secret, as kubelet would.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
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
import yaml
from kubernetes import client

from conftest import SCRIPTS, WandbClient
from runyard.launch.agent.api import AgentApi
from runyard.launch.agent.config import AgentConfig
from runyard.launch.agent.loop import Agent
from runyard.launch.kubernetes.pool import PoolSettings
from runyard.launch.kubernetes.runner import KubernetesRunner
from runyard.launch.models import QueueItem
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


def _create_queue(
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


def _enqueue(api: httpx.Client, queue: str, gpus: int, **spec: Any) -> str:
    run_spec = {"docker": {"docker_image": "org/train:1"}, "project": "llm", **spec}
    body = {"run_spec": run_spec, "template_values": {"gpus": gpus}}
    response = api.post(f"/api/v1/queues/admin/{queue}/items", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _train(project: str, *args: str) -> dict[str, Any]:
    """A run spec whose container runs tests/scripts/train.py with the official client."""
    command = [sys.executable, str(SCRIPTS / "train.py"), "--project", project, *args]
    return {"project": project, "entry_point": command}


def _until(cluster: Cluster, check: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
    try:
        return cluster.sim.wait_for(check, timeout=timeout, what=what or None)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what or check}") from None


def _final(cluster: Cluster, item_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = cluster.item(item_id)
        if item["state"] in FINAL:
            return item
        time.sleep(0.1)
    raise AssertionError(f"item did not end: {cluster.item(item_id)}")


def _history(cluster: Cluster, project: str, run_id: str) -> list[dict[str, Any]]:
    response = cluster.api.get(f"/api/v1/runs/admin/{project}/{run_id}/history")
    assert response.status_code == 200, response.text
    body = response.json()
    return list(body["rows"] if isinstance(body, dict) else body)


def test_gpu_item_lands_on_its_pool_runs_and_the_run_tracks_it(
    cluster: Cluster, start_agent: Callable[..., RunningAgent]
) -> None:
    queue = _create_queue(cluster.api)
    start_agent(queue)
    project = f"p-{uuid.uuid4().hex[:6]}"
    item_id = _enqueue(cluster.api, queue, 4, **_train(project, "--steps", "5"))

    item = _final(cluster, item_id)
    assert item["state"] == "finished", item
    assert list(item["state_times"]) == ["pending", "claimed", "launching", "running", "finished"]
    job = cluster.job_of(item_id)
    assert job is not None and job["metadata"]["labels"]["runyard.dev/done"] == "finished"
    pod_spec = job["spec"]["template"]["spec"]
    assert pod_spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert pod_spec["nodeSelector"] == A100
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod_spec[
        "tolerations"
    ]
    pod = cluster.pod_of(item_id)
    assert pod is not None and pod["spec"]["nodeName"].startswith("a100-")
    # The job's own wandb.init() logged the item's run, with the key from the Secret.
    run = cluster.api.get(f"/api/v1/runs/admin/{project}/{item['run_id']}").json()
    assert run["state"] == "finished"
    assert [row["_step"] for row in _history(cluster, project, item["run_id"])] == list(range(5))


def test_evicted_pod_requeues_the_item_and_the_run_resumes_under_the_same_id(
    cluster: Cluster, start_agent: Callable[..., RunningAgent]
) -> None:
    queue = _create_queue(cluster.api)
    start_agent(queue, max_preemptions=2)
    project = f"p-{uuid.uuid4().hex[:6]}"
    item_id = _enqueue(cluster.api, queue, 2, **_train(project, "--steps", "12", "--sleep", "0.25"))
    run_id = _until(cluster, lambda: cluster.item(item_id)["run_id"], what="a run id")
    # Evict once the run has logged a few steps on the server.
    _until(
        cluster,
        lambda: (
            cluster.api.get(f"/api/v1/runs/admin/{project}/{run_id}").status_code == 200
            and len(_history(cluster, project, run_id)) >= 3
        ),
        what="3 logged steps",
    )
    first = cluster.pod_of(item_id)
    assert first is not None
    cluster.sim.evict(first["metadata"]["name"], NS, "PreemptionByScheduler")

    item = _final(cluster, item_id, timeout=90)
    assert item["state"] == "finished", item
    assert item["preemptions"] == 1 and item["run_id"] == run_id
    assert any("preempted" in warning for warning in item["warnings"])
    # The preempted attempt's Job is gone; the item finished as a second attempt.
    job = cluster.job_of(item_id)
    assert job is not None and job["metadata"]["name"].endswith("-r1")
    run = cluster.api.get(f"/api/v1/runs/admin/{project}/{run_id}").json()
    assert run["state"] == "finished"
    steps = [row["_step"] for row in _history(cluster, project, run_id)]
    # The second attempt resumed where the server's history ended: no gap, no repeat, and
    # more steps than one attempt logs.
    assert steps == list(range(len(steps))) and len(steps) > 12


def test_failed_container_reports_exit_code_and_log_tail(
    cluster: Cluster, start_agent: Callable[..., RunningAgent]
) -> None:
    queue = _create_queue(cluster.api)
    start_agent(queue)
    script = "print('loading shard 7'); raise SystemExit(3)"
    item_id = _enqueue(cluster.api, queue, 1, entry_point=[sys.executable, "-c", script])
    item = _final(cluster, item_id)
    assert item["state"] == "failed"
    assert item["error"]["stage"] == "run"
    assert item["error"]["message"] == "the container exited with code 3"
    assert "loading shard 7" in item["error"]["log"]


def test_image_pull_failure_fails_at_once_naming_the_image(
    cluster: Cluster, start_agent: Callable[..., RunningAgent]
) -> None:
    queue = _create_queue(cluster.api)
    start_agent(queue)  # start_timeout_s stays 600: the failure must not wait for it
    cluster.sim.fail_image_pull("org/trian")
    item_id = _enqueue(cluster.api, queue, 1, docker={"docker_image": "org/trian:1"})
    item = _final(cluster, item_id)
    assert item["state"] == "failed"
    assert item["error"]["stage"] == "image_pull"
    assert item["error"]["message"].startswith("cannot pull image org/trian:1")
    _until(cluster, lambda: cluster.job_of(item_id) is None, what="the stuck Job removed")


@pytest.mark.parametrize("timeout_from", ["pool", "queue"])
def test_unschedulable_job_fails_with_the_reason_in_words_after_the_start_timeout(
    cluster: Cluster, start_agent: Callable[..., RunningAgent], timeout_from: str
) -> None:
    main = {"resources": {"requests": {"memory": "4Ti"}, "limits": {"memory": "4Ti"}}}
    huge_memory: dict[str, Any] = {"spec": {"template": {"spec": {"containers": [main]}}}}
    if timeout_from == "queue":
        huge_memory["metadata"] = {"annotations": {"runyard.dev/start-timeout-s": "1"}}
        queue = _create_queue(cluster.api, huge_memory)
        start_agent(queue)  # the pool's start_timeout_s stays 600
        source = "the queue's runyard.dev/start-timeout-s annotation"
    else:
        queue = _create_queue(cluster.api, huge_memory)
        start_agent(queue, start_timeout_s=1)
        source = "the pool's start_timeout_s"
    item_id = _enqueue(cluster.api, queue, 1)
    item = _final(cluster, item_id)
    assert item["state"] == "failed"
    assert item["error"]["stage"] == "unschedulable"
    message = item["error"]["message"]
    assert message.startswith("no node in pool a100-")
    assert "2 nodes lack free memory" in message  # the a100 pair; the others are not its pool
    assert message.endswith(f"gave up after 1s ({source})")
    assert any("no node in pool" in warning for warning in item["warnings"])
    _until(cluster, lambda: cluster.job_of(item_id) is None, what="the stuck Job removed")


def test_cancel_deletes_the_job(cluster: Cluster, start_agent: Callable[..., RunningAgent]) -> None:
    queue = _create_queue(cluster.api)
    start_agent(queue)
    item_id = _enqueue(
        cluster.api, queue, 1, entry_point=[sys.executable, "-c", "import time; time.sleep(120)"]
    )
    _until(cluster, lambda: cluster.item(item_id)["state"] == "running", what="running")
    assert cluster.api.post(f"/api/v1/items/{item_id}/cancel").status_code == 200
    _until(cluster, lambda: cluster.job_of(item_id) is None, what="the Job deleted")
    assert cluster.item(item_id)["state"] == "canceled"


@pytest.mark.parametrize(
    ("container", "field"),
    [
        ({"securityContext": {"privileged": True}}, "securityContext.privileged"),
        ({"resources": {"limits": {"cpu": "lots"}}}, "resources.limits.cpu"),
    ],
)
def test_bad_template_fails_the_item_at_the_agent_stage_and_the_agent_goes_on(
    cluster: Cluster,
    start_agent: Callable[..., RunningAgent],
    container: dict[str, Any],
    field: str,
) -> None:
    bad = {"spec": {"template": {"spec": {"containers": [container]}}}}
    bad_queue, good_queue = _create_queue(cluster.api, bad), _create_queue(cluster.api)
    # One agent serving both queues.
    pool = PoolSettings(
        name="a100", namespace=NS, node_selector=A100, server_url=cluster.server.url
    )
    config = AgentConfig(queues=[bad_queue, good_queue], runner="kubernetes", pool=pool)
    runner = KubernetesRunner(pool, api_client=cluster.fake.api_client())
    api = AgentApi(cluster.server.url, cluster.server.admin_key)
    both = Agent(config, api, runner)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=lambda: loop.run_until_complete(both.run()), daemon=True)
    thread.start()
    try:
        bad_id = _enqueue(cluster.api, bad_queue, 1)
        failed = _final(cluster, bad_id)
        assert failed["state"] == "failed"
        assert failed["error"]["stage"] == "agent"
        assert field in failed["error"]["message"]
        assert cluster.jobs_of(bad_id) == []  # nothing half-created
        good_id = _enqueue(cluster.api, good_queue, 1)
        assert _final(cluster, good_id)["state"] == "finished"
    finally:
        loop.call_soon_threadsafe(both.stop)
        thread.join(timeout=30)
        loop.run_until_complete(api.close())


def test_same_item_delivered_twice_launches_one_job(cluster: Cluster) -> None:
    queue = _create_queue(cluster.api)
    item_id = _enqueue(
        cluster.api, queue, 1, entry_point=[sys.executable, "-c", "import time; time.sleep(120)"]
    )
    queued = QueueItem.model_validate(cluster.item(item_id))
    pool = PoolSettings(name="a100", namespace=NS, node_selector=A100)

    async def launch_twice() -> list[str]:
        updates: asyncio.Queue[Any] = asyncio.Queue()
        runners = [KubernetesRunner(pool, api_client=cluster.fake.api_client()) for _ in "ab"]
        for runner in runners:
            await runner.start("agent-x", updates)
            await runner.launch(queued)
        for runner in runners:
            await runner.stop()
        return [u.state.value for u in [updates.get_nowait() for _ in range(updates.qsize())]]

    states = asyncio.run(launch_twice())
    assert states[:2] == ["launching", "launching"]  # both believe they launched it ...
    assert len(cluster.jobs_of(item_id)) == 1  # ... and one Job exists: the 409 was adoption


def _agent_config(cluster: Cluster, tmp: Path, queue: str, pool: str) -> Path:
    settings = {
        "queues": [queue],
        "runner": "kubernetes",
        "kubeconfig": str(cluster.fake.kubeconfig_path),
        "heartbeat_interval_s": 0.5,
        "pool": {
            "name": pool,
            "namespace": NS,
            "node_selector": A100,
            "server_url": cluster.server.url,
        },
    }
    path = tmp / f"agent-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def _agent_process(cluster: Cluster, config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": cluster.wandb.env["HOME"],
        "RUNYARD_URL": cluster.server.url,
        "RUNYARD_API_KEY": cluster.server.admin_key,
    }
    cmd = [sys.executable, "-m", "runyard.cli", "agent", "--config", str(config)]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_agent_killed_mid_job_restarts_and_adopts_the_job(cluster: Cluster, tmp_path: Path) -> None:
    queue = _create_queue(cluster.api, lease_seconds=2)
    config = _agent_config(cluster, tmp_path, queue, "a100")
    log = tmp_path / "agent.log"
    marker = tmp_path / "release"
    wait_for_marker = (
        f"import pathlib, time\nwhile not pathlib.Path({str(marker)!r}).exists(): time.sleep(0.1)"
    )
    first = _agent_process(cluster, config, log)
    second = None
    try:
        item_id = _enqueue(
            cluster.api, queue, 1, entry_point=[sys.executable, "-c", wait_for_marker]
        )
        held = _until(
            cluster,
            lambda: (i := cluster.item(item_id))["state"] == "running" and i,
            what=f"running\n{log.read_text()}",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = _agent_process(cluster, config, log)
        adopted = _until(
            cluster,
            lambda: (
                (i := cluster.item(item_id))["agent_id"] not in (None, held["agent_id"])
                and i["state"] == "running"
                and i
            ),
            what=f"adopted by the new agent\n{log.read_text()}",
        )
        assert adopted["run_id"] == held["run_id"]
        marker.touch()  # the workload ends normally, watched by the new agent
        item = _final(cluster, item_id)
        assert item["state"] == "finished", (item, log.read_text())
        assert len(cluster.jobs_of(item_id)) == 1  # adopted, never launched twice
        pods = cluster.sim.pods(NS, f"runyard.dev/item={item_id}")
        assert len(pods) == 1  # the workload itself ran once
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)


def test_agent_metrics_count_pending_reasons_failures_and_free_gpus(
    cluster: Cluster, start_agent: Callable[..., RunningAgent]
) -> None:
    queue = _create_queue(cluster.api)
    agent = start_agent(queue)
    cluster.sim.fail_image_pull("org/gone")
    item_id = _enqueue(cluster.api, queue, 1, docker={"docker_image": "org/gone:2"})
    _final(cluster, item_id)
    port = agent.agent.metrics.serve(0, host="127.0.0.1")
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert 'runyard_agent_pending_reasons_total{kind="image_pull"} 1.0' in text
    assert 'runyard_agent_failures_total{stage="image_pull"} 1.0' in text
    # Once the failed Job is gone, claims offer one whole a100 node: the largest free block.
    _until(
        cluster,
        lambda: "runyard_agent_gpus_free 8.0" in httpx.get(f"http://127.0.0.1:{port}/metrics").text,
        what="8 free GPUs offered",
    )


def test_watches_that_expire_midway_relist_and_miss_no_ending(
    cluster: Cluster, start_agent: Callable[..., RunningAgent], tmp_path: Path
) -> None:
    queue = _create_queue(cluster.api)
    agent = start_agent(queue)
    marker = tmp_path / "finish"
    wait_for_marker = (
        f"import pathlib, time\nwhile not pathlib.Path({str(marker)!r}).exists(): time.sleep(0.05)"
    )
    item_id = _enqueue(cluster.api, queue, 1, entry_point=[sys.executable, "-c", wait_for_marker])
    _until(cluster, lambda: cluster.item(item_id)["state"] == "running", what="running")
    listed = agent.runner.relists
    # The API server forgets old resourceVersions (etcd compaction): open watches end with
    # 410 Gone, and so does the next attempt to resume from the last version seen.
    cluster.fake.expire_watches(next_watches=2)
    marker.touch()  # the pod ends while the agent's watches are relisting
    assert _final(cluster, item_id)["state"] == "finished"
    assert agent.runner.relists >= listed + 2  # the pod and Job watches both listed again
