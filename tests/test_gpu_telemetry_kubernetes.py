"""Per-job GPU figures of Kubernetes jobs: from dcgm-exporter through Prometheus, or from the
`gpu.*` system metrics the job's own wandb client logs; idle jobs are flagged either way.

No real cluster, GPU, Prometheus or dcgm-exporter can run here. kmock is the API server and
the cluster simulator plays scheduler and kubelet (`support.agent_cluster`). Prometheus
with dcgm-exporter behind it is stood in for by a small real HTTP server in this file that
answers `/api/v1/query` with DCGM-shaped instant vectors (the labels dcgm-exporter sets:
`pod`, `namespace`, `container`, `gpu`, `UUID`, `Hostname`, ...). The client-metrics path
runs the official wandb client in the pod; this machine has no GPU, so the `gpu.*` lines a
GPU machine's client adds are posted in the client's own file_stream shape
(`/work/shared/wandb-protocol/*-launch.jsonl`, key names from W&B's system-metrics docs).
Time is simulated: each telemetry tick is one minute later.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from runyard.launch.agent.api import AgentApi
from runyard.launch.agent.config import AgentConfig, ConfigError, load_agent_config
from runyard.launch.agent.loop import Agent
from runyard.launch.agent.run_gpu_metrics import wandb_gpu_samples
from runyard.launch.agent.telemetry_sources import merge_pods
from runyard.launch.kubernetes.dcgm import PromAnswer, dcgm_query, dcgm_samples
from runyard.launch.kubernetes.pool import PoolSettings
from runyard.launch.kubernetes.runner import KubernetesRunner
from support.agent_cluster import A100, NS, Cluster, train_spec, until

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
IDLE_POLICY = {"threshold_percent": 10, "window_minutes": 30, "action": "notify"}


class SimulatedClock:
    """Each reading is one minute after the previous one."""

    def __init__(self) -> None:
        self.now = T0
        self.readings = 0

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        self.readings += 1
        return self.now


def _series(name: str, pod: str, gpu: int, value: float, /, **labels: str) -> dict[str, Any]:
    """One series as Prometheus returns a dcgm-exporter gauge (its usual label set)."""
    metric = {
        "__name__": name,
        "gpu": str(gpu),
        "UUID": f"GPU-{uuid.uuid5(uuid.NAMESPACE_DNS, f'{pod}/{gpu}')}",
        "device": f"nvidia{gpu}",
        "modelName": "NVIDIA A100-SXM4-80GB",
        "Hostname": "a100-0",
        "DCGM_FI_DRIVER_VERSION": "550.54.15",
        "container": "main",
        "namespace": NS,
        "pod": pod,
        "instance": "10.0.3.7:9400",
        "job": "dcgm-exporter",
        **labels,
    }
    return {"metric": metric, "value": [1772441000.123, f"{value:g}"]}


class FakePrometheus:
    """Prometheus's query API over what dcgm-exporter would report for the asked pods.

    Each item's pods show the figures the test set for the item: (utilisation %, framebuffer
    MiB, watts) for each of the pod's GPUs, as GPU 2, 3, ... of its node.
    """

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.figures: dict[str, tuple[float, float, float]] = {}
        self.queries: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path != "/api/v1/query":
                    self.send_error(404)
                    return
                query = parse_qs(url.query)["query"][0]
                fake.queries.append(query)
                body = json.dumps(fake.answer(query)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, query: str) -> dict[str, Any]:
        asked = re.search(r'namespace="([^"]+)",pod=~"([^"]+)"', query)
        result = []
        if asked and asked[1] == NS:
            names = set(asked[2].replace("\\\\", "").split("|"))
            for pod in self.cluster.sim.pods(NS):
                name = pod["metadata"]["name"]
                item_id = pod["metadata"]["labels"].get("runyard.dev/item", "")
                if name not in names or item_id not in self.figures:
                    continue
                limits = pod["spec"]["containers"][0]["resources"]["limits"]
                util, memory, power = self.figures[item_id]
                for gpu in range(2, 2 + int(limits["nvidia.com/gpu"])):
                    result.append(_series("DCGM_FI_DEV_GPU_UTIL", name, gpu, util))
                    result.append(_series("DCGM_FI_DEV_FB_USED", name, gpu, memory))
                    result.append(_series("DCGM_FI_DEV_POWER_USAGE", name, gpu, power))
        return {"status": "success", "data": {"resultType": "vector", "result": result}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TelemetryAgent:
    """A Kubernetes agent sampling every 20 ms on a simulated clock, on its own thread."""

    def __init__(self, cluster: Cluster, queue: str, prometheus_url: str | None) -> None:
        pool = PoolSettings(
            name=f"a100-{uuid.uuid4().hex[:6]}",
            namespace=NS,
            node_selector=A100,
            server_url=cluster.server.url,
        )
        config = AgentConfig(
            queues=[queue],
            runner="kubernetes",
            pool=pool,
            max_jobs=4,
            heartbeat_interval_s=0.2,
            telemetry_interval_s=0.02,
            prometheus_url=prometheus_url,
        )
        self.clock = SimulatedClock()
        self.api = AgentApi(cluster.server.url, cluster.server.admin_key)
        runner = KubernetesRunner(pool, api_client=cluster.fake.api_client())
        self.agent = Agent(config, self.api, runner, clock=self.clock)
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
def telemetry_agent(cluster: Cluster) -> Iterator[Callable[[str, str | None], TelemetryAgent]]:
    agents: list[TelemetryAgent] = []

    def start(queue: str, prometheus_url: str | None) -> TelemetryAgent:
        agents.append(TelemetryAgent(cluster, queue, prometheus_url))
        return agents[-1]

    yield start
    for agent in agents:
        agent.stop()


def _queue(cluster: Cluster, seconds: float) -> str:
    """A queue whose simulated pods run `seconds` (the real-process pods run until done)."""
    container = {
        "resources": {"limits": {"nvidia.com/gpu": "{{gpus}}"}},
        "env": [{"name": "SIM_DURATION_S", "value": str(seconds)}],
    }
    name = f"tele-{uuid.uuid4().hex[:6]}"
    body = {
        "name": name,
        "entity": "admin",
        "resource": "kubernetes",
        "config": {"spec": {"template": {"spec": {"containers": [container]}}}},
        "variables": [{"name": "gpus", "type": "integer", "minimum": 0, "maximum": 8}],
        "idle_policy": IDLE_POLICY,
    }
    response = cluster.api.post("/api/v1/queues", json=body)
    assert response.status_code == 201, response.text
    return name


def _enqueue(cluster: Cluster, queue: str, gpus: int, **spec: Any) -> str:
    run_spec = {"docker": {"docker_image": "org/train:1"}, "project": "llm", **spec}
    body = {"run_spec": run_spec, "template_values": {"gpus": gpus}}
    response = cluster.api.post(f"/api/v1/queues/admin/{queue}/items", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _idle_warnings(item: dict[str, Any]) -> list[str]:
    return [w for w in item["warnings"] if w.startswith("idle GPUs")]


def _queue_page(cluster: Cluster, queue: str) -> str:
    with httpx.Client(base_url=cluster.server.url) as browser:
        browser.post("/login", data={"api_key": cluster.server.admin_key, "next": "/"})
        return browser.get(f"/launch/admin/{queue}").text


# --- pure parts ----------------------------------------------------------------------------


def test_dcgm_vectors_become_each_pods_gpu_samples() -> None:
    query = dcgm_query(NS, ["train-a.b-x1", "train-c"])
    assert 'namespace="ml-jobs",pod=~"train-a\\\\.b-x1|train-c"' in query
    assert 'exported_namespace="ml-jobs",exported_pod=~' in query  # honor_labels off
    answer = PromAnswer.model_validate(
        {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [
                    _series("DCGM_FI_DEV_GPU_UTIL", "train-c", 5, 97),
                    _series("DCGM_FI_DEV_FB_USED", "train-c", 5, 61440),
                    _series("DCGM_FI_DEV_POWER_USAGE", "train-c", 5, 412.25),
                    # Scraped without honor_labels: the exporter's labels come renamed.
                    _series(
                        "DCGM_FI_DEV_GPU_UTIL",
                        "",
                        1,
                        3,
                        exported_pod="train-a.b-x1",
                        exported_namespace=NS,
                        namespace="gpu-operator",
                        pod="",
                    ),
                    _series("DCGM_FI_DEV_GPU_UTIL", "elsewhere", 0, 50, namespace="other"),
                    _series("DCGM_FI_DEV_FB_USED", "no-util", 0, 100),
                ],
            },
        }
    )
    samples = dcgm_samples(answer, NS, T0)
    assert sorted(samples) == ["train-a.b-x1", "train-c"]
    [busy] = samples["train-c"]
    assert (busy.gpu, busy.utilization_percent, busy.memory_used_mib, busy.power_w) == (
        5,
        97.0,
        61440,
        412.25,
    )
    assert samples["train-a.b-x1"][0].utilization_percent == 3
    # A gang's pods each hold their node's GPU 0: the job's GPUs are then numbered in order.
    gpu0 = busy.model_copy(update={"gpu": 0})
    by_pod = {"w-0": [gpu0], "w-1": [gpu0]}
    assert [s.gpu for s in merge_pods(by_pod, ["w-1", "w-0"])] == [0, 1]


def test_the_clients_gpu_system_metrics_become_samples() -> None:
    latest = {
        "system.gpu.0.gpu": 88.0,
        "system.gpu.0.memoryAllocatedBytes": 42 * 2**30,
        "system.gpu.0.memoryAllocated": 52.5,
        "system.gpu.0.powerWatts": 301.5,
        "system.gpu.1.gpu": 2.0,
        "system.gpu.process.0.gpu": 88.0,  # the process's share: not a GPU of its own
        "system.gpu.2.temp": 40.0,  # no utilisation: no sample
        "system.cpu": 12.0,
    }
    samples = wandb_gpu_samples(latest, T0)
    assert [(s.gpu, s.utilization_percent, s.memory_used_mib, s.power_w) for s in samples] == [
        (0, 88.0, 42 * 1024, 301.5),
        (1, 2.0, 0, 0.0),
    ]


def test_a_prometheus_url_that_is_not_http_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"prometheus_url: .*must be an http\(s\) URL"):
        load_agent_config(
            None,
            {
                "queues": ["q"],
                "runner": "kubernetes",
                "pool.name": "a100",
                "prometheus_url": "prometheus:9090",
            },
        )


# --- end to end ----------------------------------------------------------------------------


def test_dcgm_figures_show_on_the_item_and_an_idle_job_is_flagged(
    cluster: Cluster, telemetry_agent: Callable[[str, str | None], TelemetryAgent]
) -> None:
    prometheus = FakePrometheus(cluster)
    try:
        queue = _queue(cluster, seconds=3600)
        busy = _enqueue(cluster, queue, 2)
        idle = _enqueue(cluster, queue, 1)
        prometheus.figures[busy] = (93, 40960, 350)
        prometheus.figures[idle] = (1, 512, 60)
        agent = telemetry_agent(queue, prometheus.url)

        flagged = until(
            cluster,
            lambda: (i := cluster.item(idle)) and _idle_warnings(i) and i,
            timeout=60,
            what="the idle job flagged",
        )
        assert "under 10 % utilisation for 30 minutes; it keeps running" in flagged["warnings"][0]
        assert flagged["state"] == "running"
        assert agent.clock.readings >= 30  # flagged after 30 simulated minutes, not sooner
        item = cluster.item(busy)
        assert _idle_warnings(item) == []
        figures = [
            (s["gpu"], s["utilization_percent"], s["memory_used_mib"], s["power_w"])
            for s in item["gpu_telemetry"]
        ]
        assert figures == [(2, 93, 40960, 350), (3, 93, 40960, 350)]
        metrics = cluster.api.get("/metrics").text
        assert f'runyard_item_gpu_utilization_percent{{gpu="3",item="{busy}"}} 93.0' in metrics
        assert "GPU 2: 93 %, 40.0 GiB, 350 W; GPU 3: 93 %, 40.0 GiB, 350 W" in _queue_page(
            cluster, queue
        )
        pod = cluster.pod_of(busy)
        assert pod is not None
        assert any(pod["metadata"]["name"] in q for q in prometheus.queries)
    finally:
        prometheus.close()


def _post_gpu_events(cluster: Cluster, project: str, run_id: str, util: float) -> None:
    """What a GPU machine's client adds to wandb-events.jsonl, in its file_stream shape."""
    lines = []
    for n in range(3):
        row = {
            "system.cpu": 4.5,
            "system.memory_percent": 3.1,
            "system.gpu.0.gpu": util,
            "system.gpu.0.memory": util / 2,
            "system.gpu.0.memoryAllocated": 48.8,
            "system.gpu.0.memoryAllocatedBytes": 40 * 2**30,
            "system.gpu.0.temp": 61,
            "system.gpu.0.powerWatts": 287.5,
            "system.gpu.0.powerPercent": 71.9,
            "_wandb": True,
            "_timestamp": 1.7954231648621085e09 + 1000 + 15 * n,
            "_runtime": 1000 + 15 * n,
        }
        lines.append(json.dumps(row, separators=(",", ":")))
    # Far past the lines the real client in the pod writes, so the two never overlap.
    body = {"files": {"wandb-events.jsonl": {"offset": 100_000, "content": lines}}}
    response = httpx.post(
        f"{cluster.server.url}/files/admin/{project}/{run_id}/file_stream",
        json=body,
        auth=("api", cluster.server.admin_key),
        headers={"User-Agent": "wandb-core"},
    )
    assert response.status_code == 200, response.text


def test_without_prometheus_the_jobs_own_client_metrics_are_its_figures(
    cluster: Cluster, telemetry_agent: Callable[[str, str | None], TelemetryAgent]
) -> None:
    queue = _queue(cluster, seconds=3600)
    project = f"p-{uuid.uuid4().hex[:6]}"
    # Real pods: the official client runs in each, logs a few steps and keeps running.
    items = {
        util: _enqueue(cluster, queue, 1, **train_spec(project, "--steps", "3", "--hang"))
        for util in (91.0, 2.0)
    }
    agent = telemetry_agent(queue, None)
    for util, item_id in items.items():
        run_id = until(cluster, lambda i=item_id: cluster.item(i)["run_id"], what="a run id")
        until(
            cluster,
            lambda r=run_id: (
                cluster.api.get(f"/api/v1/runs/admin/{project}/{r}").status_code == 200
            ),
            what="the client's run",
        )
        _post_gpu_events(cluster, project, run_id, util)
    busy, idle = items[91.0], items[2.0]
    flagged = until(
        cluster,
        lambda: (i := cluster.item(idle)) and _idle_warnings(i) and i,
        timeout=90,
        what="the idle job flagged",
    )
    assert flagged["state"] == "running" and agent.clock.readings >= 30
    item = until(
        cluster,
        lambda: (i := cluster.item(busy)) and i["gpu_telemetry"] and i,
        what="the busy job's figures",
    )
    assert _idle_warnings(item) == []
    [gpu] = item["gpu_telemetry"]
    assert (gpu["gpu"], gpu["utilization_percent"], gpu["memory_used_mib"], gpu["power_w"]) == (
        0,
        91,
        40 * 1024,
        287.5,
    )
    assert "GPU 0: 91 %, 40.0 GiB, 288 W" in _queue_page(cluster, queue)
    # The run's launch item carries them too (what the run page shows of its job).
    launched = cluster.api.get(f"/api/v1/runs/admin/{project}/{item['run_id']}/launch-item")
    assert launched.json()["gpu_telemetry"][0]["utilization_percent"] == 91
    metrics = cluster.api.get("/metrics").text
    assert f'runyard_item_gpu_power_w{{gpu="0",item="{busy}"}} 287.5' in metrics
