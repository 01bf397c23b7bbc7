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
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from runyard.launch.agent.api import AgentApi
from runyard.launch.agent.config import AgentConfig
from runyard.launch.agent.loop import Agent
from runyard.launch.kubernetes.pool import PoolSettings
from runyard.launch.kubernetes.runner import KubernetesRunner
from runyard.launch.models import QueueItem
from support.agent_cluster import (
    A100,
    NS,
    Cluster,
    RunningAgent,
    create_queue,
    enqueue,
    final,
    history,
    train_spec,
    until,
)


def test_gpu_item_lands_on_its_pool_runs_and_the_run_tracks_it(
    cluster: Cluster, start_agent: Callable[..., RunningAgent]
) -> None:
    queue = create_queue(cluster.api)
    start_agent(queue)
    project = f"p-{uuid.uuid4().hex[:6]}"
    item_id = enqueue(cluster.api, queue, 4, **train_spec(project, "--steps", "5"))

    item = final(cluster, item_id)
    assert item["state"] == "finished", item
    assert list(item["state_times"]) == ["pending", "claimed", "launching", "running", "finished"]
    # The agent reports the end first and labels the Job done right after: wait for the label.
    job = until(
        cluster,
        lambda: (
            (j := cluster.job_of(item_id)) and "runyard.dev/done" in j["metadata"]["labels"] and j
        ),
        what="the job labelled done",
    )
    assert job["metadata"]["labels"]["runyard.dev/done"] == "finished"
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
    assert [row["_step"] for row in history(cluster, project, item["run_id"])] == list(range(5))


def test_evicted_pod_requeues_the_item_and_the_run_resumes_under_the_same_id(
    cluster: Cluster, start_agent: Callable[..., RunningAgent]
) -> None:
    queue = create_queue(cluster.api)
    start_agent(queue, max_preemptions=2)
    project = f"p-{uuid.uuid4().hex[:6]}"
    item_id = enqueue(
        cluster.api, queue, 2, **train_spec(project, "--steps", "12", "--sleep", "0.25")
    )
    run_id = until(cluster, lambda: cluster.item(item_id)["run_id"], what="a run id")
    # Evict once the run has logged a few steps on the server.
    until(
        cluster,
        lambda: (
            cluster.api.get(f"/api/v1/runs/admin/{project}/{run_id}").status_code == 200
            and len(history(cluster, project, run_id)) >= 3
        ),
        what="3 logged steps",
    )
    first = cluster.pod_of(item_id)
    assert first is not None
    cluster.sim.evict(first["metadata"]["name"], NS, "PreemptionByScheduler")

    item = final(cluster, item_id, timeout=90)
    assert item["state"] == "finished", item
    assert item["preemptions"] == 1 and item["run_id"] == run_id
    assert any("preempted" in warning for warning in item["warnings"])
    # The preempted attempt's Job is gone; the item finished as a second attempt.
    job = cluster.job_of(item_id)
    assert job is not None and job["metadata"]["name"].endswith("-r1")
    run = cluster.api.get(f"/api/v1/runs/admin/{project}/{run_id}").json()
    assert run["state"] == "finished"
    steps = [row["_step"] for row in history(cluster, project, run_id)]
    # The second attempt resumed where the server's history ended: no gap, no repeat, and
    # more steps than one attempt logs.
    assert steps == list(range(len(steps))) and len(steps) > 12


def test_failed_container_reports_exit_code_and_log_tail(
    cluster: Cluster, start_agent: Callable[..., RunningAgent]
) -> None:
    queue = create_queue(cluster.api)
    start_agent(queue)
    script = "print('loading shard 7'); raise SystemExit(3)"
    item_id = enqueue(cluster.api, queue, 1, entry_point=[sys.executable, "-c", script])
    item = final(cluster, item_id)
    assert item["state"] == "failed"
    assert item["error"]["stage"] == "run"
    assert item["error"]["message"] == "the container exited with code 3"
    assert "loading shard 7" in item["error"]["log"]


def test_image_pull_failure_fails_at_once_naming_the_image(
    cluster: Cluster, start_agent: Callable[..., RunningAgent]
) -> None:
    queue = create_queue(cluster.api)
    start_agent(queue)  # start_timeout_s stays 600: the failure must not wait for it
    cluster.sim.fail_image_pull("org/trian")
    item_id = enqueue(cluster.api, queue, 1, docker={"docker_image": "org/trian:1"})
    item = final(cluster, item_id)
    assert item["state"] == "failed"
    assert item["error"]["stage"] == "image_pull"
    assert item["error"]["message"].startswith("cannot pull image org/trian:1")
    until(cluster, lambda: cluster.job_of(item_id) is None, what="the stuck Job removed")


@pytest.mark.parametrize("timeout_from", ["pool", "queue"])
def test_unschedulable_job_fails_with_the_reason_in_words_after_the_start_timeout(
    cluster: Cluster, start_agent: Callable[..., RunningAgent], timeout_from: str
) -> None:
    main = {"resources": {"requests": {"memory": "4Ti"}, "limits": {"memory": "4Ti"}}}
    huge_memory: dict[str, Any] = {"spec": {"template": {"spec": {"containers": [main]}}}}
    if timeout_from == "queue":
        huge_memory["metadata"] = {"annotations": {"runyard.dev/start-timeout-s": "1"}}
        queue = create_queue(cluster.api, huge_memory)
        start_agent(queue)  # the pool's start_timeout_s stays 600
        source = "the queue's runyard.dev/start-timeout-s annotation"
    else:
        queue = create_queue(cluster.api, huge_memory)
        start_agent(queue, start_timeout_s=1)
        source = "the pool's start_timeout_s"
    item_id = enqueue(cluster.api, queue, 1)
    item = final(cluster, item_id)
    assert item["state"] == "failed"
    assert item["error"]["stage"] == "unschedulable"
    message = item["error"]["message"]
    assert message.startswith("no node in pool a100-")
    assert "2 nodes lack free memory" in message  # the a100 pair; the others are not its pool
    assert message.endswith(f"gave up after 1s ({source})")
    assert any("no node in pool" in warning for warning in item["warnings"])
    until(cluster, lambda: cluster.job_of(item_id) is None, what="the stuck Job removed")


def test_cancel_deletes_the_job(cluster: Cluster, start_agent: Callable[..., RunningAgent]) -> None:
    queue = create_queue(cluster.api)
    start_agent(queue)
    item_id = enqueue(
        cluster.api, queue, 1, entry_point=[sys.executable, "-c", "import time; time.sleep(120)"]
    )
    until(cluster, lambda: cluster.item(item_id)["state"] == "running", what="running")
    assert cluster.api.post(f"/api/v1/items/{item_id}/cancel").status_code == 200
    until(cluster, lambda: cluster.job_of(item_id) is None, what="the Job deleted")
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
    bad_queue, good_queue = create_queue(cluster.api, bad), create_queue(cluster.api)
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
        bad_id = enqueue(cluster.api, bad_queue, 1)
        failed = final(cluster, bad_id)
        assert failed["state"] == "failed"
        assert failed["error"]["stage"] == "agent"
        assert field in failed["error"]["message"]
        assert cluster.jobs_of(bad_id) == []  # nothing half-created
        good_id = enqueue(cluster.api, good_queue, 1)
        assert final(cluster, good_id)["state"] == "finished"
    finally:
        loop.call_soon_threadsafe(both.stop)
        thread.join(timeout=30)
        loop.run_until_complete(api.close())


def test_same_item_delivered_twice_launches_one_job(cluster: Cluster) -> None:
    queue = create_queue(cluster.api)
    item_id = enqueue(
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
    # Both believe they launched it (a pod may already report running in between) ...
    assert states.count("launching") == 2
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
    queue = create_queue(cluster.api, lease_seconds=2)
    config = _agent_config(cluster, tmp_path, queue, "a100")
    log = tmp_path / "agent.log"
    marker = tmp_path / "release"
    wait_for_marker = (
        f"import pathlib, time\nwhile not pathlib.Path({str(marker)!r}).exists(): time.sleep(0.1)"
    )
    first = _agent_process(cluster, config, log)
    second = None
    try:
        item_id = enqueue(
            cluster.api, queue, 1, entry_point=[sys.executable, "-c", wait_for_marker]
        )
        held = until(
            cluster,
            lambda: (i := cluster.item(item_id))["state"] == "running" and i,
            what=f"running\n{log.read_text()}",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = _agent_process(cluster, config, log)
        adopted = until(
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
        item = final(cluster, item_id)
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
    queue = create_queue(cluster.api)
    agent = start_agent(queue)
    cluster.sim.fail_image_pull("org/gone")
    item_id = enqueue(cluster.api, queue, 1, docker={"docker_image": "org/gone:2"})
    final(cluster, item_id)
    port = agent.agent.metrics.serve(0, host="127.0.0.1")
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert 'runyard_agent_pending_reasons_total{kind="image_pull"} 1.0' in text
    assert 'runyard_agent_failures_total{stage="image_pull"} 1.0' in text
    # Once the failed Job is gone, claims offer one whole a100 node: the largest free block.
    until(
        cluster,
        lambda: "runyard_agent_gpus_free 8.0" in httpx.get(f"http://127.0.0.1:{port}/metrics").text,
        what="8 free GPUs offered",
    )


def test_watches_that_expire_midway_relist_and_miss_no_ending(
    cluster: Cluster, start_agent: Callable[..., RunningAgent], tmp_path: Path
) -> None:
    queue = create_queue(cluster.api)
    agent = start_agent(queue)
    marker = tmp_path / "finish"
    wait_for_marker = (
        f"import pathlib, time\nwhile not pathlib.Path({str(marker)!r}).exists(): time.sleep(0.05)"
    )
    item_id = enqueue(cluster.api, queue, 1, entry_point=[sys.executable, "-c", wait_for_marker])
    until(cluster, lambda: cluster.item(item_id)["state"] == "running", what="running")
    listed = agent.runner.relists
    # The API server forgets old resourceVersions (etcd compaction): open watches end with
    # 410 Gone, and so does the next attempt to resume from the last version seen.
    cluster.fake.expire_watches(next_watches=2)
    marker.touch()  # the pod ends while the agent's watches are relisting
    assert final(cluster, item_id)["state"] == "finished"
    assert agent.runner.relists >= listed + 2  # the pod and Job watches both listed again
