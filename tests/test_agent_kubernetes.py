"""The agent with its Kubernetes runner against kmock, a stateful in-memory API server.

No real kube-apiserver can run here; kmock stands in for it. It has no scheduler or
kubelet, so each test plays them: it creates the Job's pod and moves its status along
(Pending, Running, Succeeded, image-pull errors, disruption). The full cluster simulator
is still to come (issue 4).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import kmock
import pytest
from kubernetes import client

from runyard.launch.agent.api import AgentApi
from runyard.launch.agent.config import AgentConfig
from runyard.launch.agent.loop import Agent
from runyard.launch.kubernetes.pool import PoolSettings
from runyard.launch.kubernetes.runner import KubernetesRunner
from support.server import LiveServer

NS = "ml-jobs"
SELECTOR = {"nvidia.com/gpu.product": "A100-SXM4-80GB"}
TEMPLATE = {
    "spec": {
        "template": {
            "spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "{{gpus}}"}}}]}
        }
    }
}


@pytest.fixture(scope="module")
def kube() -> Iterator[client.ApiClient]:
    """kmock's emulator serving on a port, in its own thread and event loop."""
    ready = threading.Event()
    stop = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
            # kmock serves only declared resources.
            for resource in ("v1/nodes", "v1/pods", "batch/v1/jobs"):
                emulator.resources[resource] = {}
            box["url"] = str(server.url).rstrip("/")
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(20), "kmock did not start"
    config = client.Configuration()
    config.host = box["url"]
    api = client.ApiClient(config)
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "gpu-node-1", "labels": SELECTOR},
        "spec": {},
        "status": {"allocatable": {"nvidia.com/gpu": "8"}},
    }
    client.CoreV1Api(api).create_node(node)
    yield api
    stop.set()
    thread.join(timeout=10)


class RunningAgent:
    """An in-process agent on its own event loop thread."""

    def __init__(
        self,
        server: LiveServer,
        api_client: client.ApiClient,
        queue: str,
        pool: PoolSettings | None = None,
    ) -> None:
        self.pool = pool or PoolSettings(
            name=f"a100-{uuid.uuid4().hex[:6]}",
            namespace=NS,
            node_selector=SELECTOR,
            server_url=server.url,
            max_preemptions=1,
        )
        config = AgentConfig(
            queues=[queue], runner="kubernetes", pool=self.pool, heartbeat_interval_s=0.5
        )
        self.runner = KubernetesRunner(self.pool, api_client=api_client)
        self.loop = asyncio.new_event_loop()
        self.api = AgentApi(server.url, server.admin_key)
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
def env(
    sqlite_server: LiveServer, kube: client.ApiClient
) -> Iterator[tuple[httpx.Client, str, RunningAgent]]:
    api = sqlite_server.api()
    queue = _create_queue(api, lease_seconds=30)
    agent = RunningAgent(sqlite_server, kube, queue)
    yield api, queue, agent
    agent.stop()
    api.close()


def _create_queue(api: httpx.Client, lease_seconds: float) -> str:
    queue = f"k8s-{uuid.uuid4().hex[:6]}"
    body = {
        "name": queue,
        "entity": "admin",
        "resource": "kubernetes",
        "config": TEMPLATE,
        "variables": [{"name": "gpus", "type": "integer", "minimum": 0, "maximum": 8}],
        "lease_seconds": lease_seconds,
    }
    assert api.post("/api/v1/queues", json=body).status_code == 201
    return queue


def _until(check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {check}")


def _enqueue(api: httpx.Client, queue: str, gpus: int, **spec: Any) -> str:
    run_spec = {"docker": {"docker_image": "org/train:1"}, "project": "llm", **spec}
    body = {"run_spec": run_spec, "template_values": {"gpus": gpus}}
    response = api.post(f"/api/v1/queues/admin/{queue}/items", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _job_of(kube: client.ApiClient, item_id: str) -> dict[str, Any] | None:
    jobs = client.BatchV1Api(kube).list_namespaced_job(NS)
    for job in jobs.items:
        if (job.metadata.labels or {}).get("runyard.dev/item") == item_id:
            return dict(kube.sanitize_for_serialization(job))
    return None


def _play_kubelet(kube: client.ApiClient, job: dict[str, Any], status: dict[str, Any]) -> str:
    """Create (or update) the Job's pod with this status, as scheduler and kubelet would."""
    core = client.CoreV1Api(kube)
    name = f"{job['metadata']['name']}-abcde"
    template = job["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": template["metadata"]["labels"]},
        "spec": {**template["spec"], "nodeName": "gpu-node-1"},
        "status": status,
    }
    try:
        core.create_namespaced_pod(NS, pod)
    except client.ApiException as exc:
        assert exc.status == 409
        core.patch_namespaced_pod_status(name, NS, {"status": status})
    return name


def _item(api: httpx.Client, item_id: str) -> dict[str, Any]:
    return dict(api.get(f"/api/v1/items/{item_id}").json())


def test_item_becomes_a_job_and_follows_its_pod_to_the_end(
    env: tuple[httpx.Client, str, RunningAgent], kube: client.ApiClient
) -> None:
    api, queue, _agent = env
    item_id = _enqueue(api, queue, gpus=4)
    job = _until(lambda: _job_of(kube, item_id))
    main = job["spec"]["template"]["spec"]["containers"][0]
    assert main["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert job["spec"]["template"]["spec"]["nodeSelector"] == SELECTOR
    assert _until(lambda: _item(api, item_id)["state"] == "launching")

    _play_kubelet(kube, job, {"phase": "Running"})
    running = _until(lambda: (i := _item(api, item_id))["state"] == "running" and i)
    run_env = {e["name"]: e.get("value") for e in main["env"]}
    assert running["run_id"] == run_env["WANDB_RUN_ID"]

    _play_kubelet(kube, job, {"phase": "Succeeded"})
    done = _until(lambda: (i := _item(api, item_id))["state"] == "finished" and i)
    assert list(done["state_times"]) == ["pending", "claimed", "launching", "running", "finished"]
    labels = _until(
        lambda: (_job_of(kube, item_id) or {})["metadata"]["labels"].get("runyard.dev/done")
    )
    assert labels == "finished"


def test_image_pull_error_fails_the_item_with_the_image_named(
    env: tuple[httpx.Client, str, RunningAgent], kube: client.ApiClient
) -> None:
    api, queue, _agent = env
    item_id = _enqueue(api, queue, gpus=1, docker={"docker_image": "org/trian:1"})
    job = _until(lambda: _job_of(kube, item_id))
    waiting = {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "org/trian:1"'}
    status = {
        "phase": "Pending",
        "containerStatuses": [
            {
                "name": "job",
                "image": "org/trian:1",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": waiting},
            }
        ],
    }
    _play_kubelet(kube, job, status)
    failed = _until(lambda: (i := _item(api, item_id))["state"] == "failed" and i)
    assert failed["error"]["stage"] == "image_pull"
    assert failed["error"]["message"].startswith("cannot pull image org/trian:1: ImagePullBackOff")
    assert _until(lambda: _job_of(kube, item_id) is None)  # the stuck Job is removed


def test_preempted_pod_requeues_the_item_to_resume_the_same_run(
    env: tuple[httpx.Client, str, RunningAgent], kube: client.ApiClient
) -> None:
    api, queue, _agent = env
    item_id = _enqueue(api, queue, gpus=2)
    first = _until(lambda: _job_of(kube, item_id))
    _play_kubelet(kube, first, {"phase": "Running"})
    run_id = _until(lambda: _item(api, item_id)["run_id"])
    disrupted = {
        "phase": "Failed",
        "conditions": [
            {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}
        ],
    }
    _play_kubelet(kube, first, disrupted)
    # Requeued and claimed again: a new Job for the second attempt, same run id.
    second = _until(
        lambda: (
            (j := _job_of(kube, item_id))
            and j["metadata"]["name"] != first["metadata"]["name"]
            and j
        )
    )
    assert second["metadata"]["name"].endswith("-r1")
    item = _item(api, item_id)
    assert item["preemptions"] == 1 and item["run_id"] == run_id
    assert any("preempted" in w for w in item["warnings"])
    env_of = {
        e["name"]: e.get("value")
        for e in second["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env_of["WANDB_RUN_ID"] == run_id and env_of["WANDB_RESUME"] == "allow"


def test_cancel_deletes_the_job(
    env: tuple[httpx.Client, str, RunningAgent], kube: client.ApiClient
) -> None:
    api, queue, _agent = env
    item_id = _enqueue(api, queue, gpus=1)
    job = _until(lambda: _job_of(kube, item_id))
    _play_kubelet(kube, job, {"phase": "Running"})
    _until(lambda: _item(api, item_id)["state"] == "running")
    assert api.post(f"/api/v1/items/{item_id}/cancel").status_code == 200
    assert _until(lambda: _job_of(kube, item_id) is None)
    assert _item(api, item_id)["state"] == "canceled"


def test_unschedulable_job_fails_after_the_pools_start_timeout(
    sqlite_server: LiveServer, kube: client.ApiClient
) -> None:
    with sqlite_server.api() as api:
        queue = _create_queue(api, lease_seconds=30)
        pool = PoolSettings(
            name=f"a100-{uuid.uuid4().hex[:6]}",
            namespace=NS,
            node_selector=SELECTOR,
            server_url=sqlite_server.url,
            start_timeout_s=1,
        )
        agent = RunningAgent(sqlite_server, kube, queue, pool)
        try:
            # The test plays a scheduler that finds no room (earlier tests' pods hold GPUs).
            item_id = _enqueue(api, queue, gpus=1)
            job = _until(lambda: _job_of(kube, item_id))
            scheduled = {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
            }
            core = client.CoreV1Api(kube)
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{job['metadata']['name']}-x",
                    "namespace": NS,
                    "labels": job["spec"]["template"]["metadata"]["labels"],
                },
                "spec": job["spec"]["template"]["spec"],
                "status": {"phase": "Pending", "conditions": [scheduled]},
            }
            core.create_namespaced_pod(NS, pod)
            # First a warning on the item, then a failure once the deadline passed.
            warned = _until(lambda: (i := _item(api, item_id))["warnings"] and i)
            assert "no node in pool" in warned["warnings"][0]
            failed = _until(lambda: (i := _item(api, item_id))["state"] == "failed" and i)
            assert failed["error"]["stage"] == "unschedulable"
            assert "the pool's start_timeout_s" in failed["error"]["message"]
            assert _until(lambda: _job_of(kube, item_id) is None)
        finally:
            agent.stop()


def test_restarted_agent_adopts_the_existing_job_instead_of_creating_another(
    sqlite_server: LiveServer, kube: client.ApiClient
) -> None:
    with sqlite_server.api() as api:
        queue = _create_queue(api, lease_seconds=2)
        first = RunningAgent(sqlite_server, kube, queue)
        item_id = _enqueue(api, queue, gpus=1)
        job = _until(lambda: _job_of(kube, item_id))
        _play_kubelet(kube, job, {"phase": "Running"})
        held = _until(lambda: (i := _item(api, item_id))["state"] == "running" and i)
        first.stop()  # the Job keeps running; its lease runs out
        second = RunningAgent(sqlite_server, kube, queue, first.pool)
        try:
            adopted = _until(
                lambda: (
                    (i := _item(api, item_id))["agent_id"] not in (None, held["agent_id"])
                    and i["state"] == "running"
                    and i
                )
            )
            assert adopted["run_id"] == held["run_id"]
            jobs = client.BatchV1Api(kube).list_namespaced_job(NS).items
            mine = [j for j in jobs if (j.metadata.labels or {}).get("runyard.dev/item") == item_id]
            assert len(mine) == 1  # adopted (409 on create), not launched twice
            _play_kubelet(kube, job, {"phase": "Succeeded"})
            assert _until(lambda: _item(api, item_id)["state"] == "finished")
        finally:
            second.stop()
