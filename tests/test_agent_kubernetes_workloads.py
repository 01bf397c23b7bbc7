"""Queue templates that name another workload kind: a JobSet for multi-node training.

The simulated cluster plays the JobSet controller (`support.sim_jobset`) on top of its Job
controller, scheduler and kubelet; the agent creates the JobSet, tracks its pods by label
and reads its end from the JobSet's conditions, as it would on a cluster with JobSet.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import pytest

from runyard.launch.agent.config import ConfigError
from runyard.launch.kubernetes.pool import PoolSettings, WorkloadKind
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
    until,
)

JOBSET = WorkloadKind(apiVersion="jobset.x-k8s.io/v1alpha2", kind="JobSet")


def jobset_template(workers: int = 2) -> dict[str, Any]:
    """A queue template: `workers` pods of one replicated job, each with `{{gpus}}` GPUs."""
    pod = {
        "containers": [{"name": "trainer", "resources": {"limits": {"nvidia.com/gpu": "{{gpus}}"}}}]
    }
    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "spec": {
            "replicatedJobs": [
                {
                    "name": "workers",
                    "replicas": workers,
                    "template": {"spec": {"backoffLimit": 0, "template": {"spec": pod}}},
                }
            ]
        },
    }


def jobsets_of(cluster: Cluster, item_id: str) -> list[dict[str, Any]]:
    return cluster.fake.list("jobsets", NS, f"runyard.dev/item={item_id}")


def test_a_jobset_item_runs_every_worker_on_the_pool_and_finishes(
    cluster: Cluster, start_agent: Callable[..., RunningAgent]
) -> None:
    queue = create_queue(cluster.api, jobset_template(workers=2))
    start_agent(queue, workload_kinds=[JOBSET])
    # Each worker runs a second, long enough for the watch to see it running.
    script = "import time; print('worker up'); time.sleep(1)"
    item_id = enqueue(cluster.api, queue, 4, entry_point=[sys.executable, "-c", script])

    item = final(cluster, item_id)
    assert item["state"] == "finished", item
    assert list(item["state_times"]) == ["pending", "claimed", "launching", "running", "finished"]
    [jobset] = jobsets_of(cluster, item_id)
    assert jobset["metadata"]["labels"]["runyard.dev/done"] == "finished"
    assert any(c["type"] == "Completed" for c in jobset["status"]["conditions"])
    pods = cluster.sim.pods(NS, f"runyard.dev/item={item_id}")
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["nodeName"].startswith("a100-")
        assert pod["spec"]["nodeSelector"] == A100
        main = pod["spec"]["containers"][0]
        assert main["resources"]["limits"]["nvidia.com/gpu"] == "4"
        env = {e["name"]: e for e in main["env"]}
        assert env["WANDB_RUN_ID"]["value"] == item["run_id"]
        assert "secretKeyRef" in env["WANDB_API_KEY"]["valueFrom"]


def test_a_failed_worker_fails_the_jobset_item_with_exit_code_and_log(
    cluster: Cluster, start_agent: Callable[..., RunningAgent]
) -> None:
    queue = create_queue(cluster.api, jobset_template(workers=2))
    start_agent(queue, workload_kinds=[JOBSET])
    script = "print('rank lost its peer'); raise SystemExit(7)"
    item_id = enqueue(cluster.api, queue, 1, entry_point=[sys.executable, "-c", script])

    item = final(cluster, item_id)
    assert item["state"] == "failed", item
    message = item["error"]["message"]
    assert message.startswith(f"JobSet runyard-{item_id} failed: jobset failed due to")
    assert message.endswith("the container exited with code 7")
    assert "rank lost its peer" in item["error"]["log"]


def test_cancel_deletes_the_jobset_and_its_pods(
    cluster: Cluster, start_agent: Callable[..., RunningAgent]
) -> None:
    queue = create_queue(cluster.api, jobset_template(workers=2))
    start_agent(queue, workload_kinds=[JOBSET])
    sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
    item_id = enqueue(cluster.api, queue, 1, entry_point=sleep)
    until(cluster, lambda: cluster.item(item_id)["state"] == "running", what="running")
    assert cluster.api.post(f"/api/v1/items/{item_id}/cancel").status_code == 200
    until(cluster, lambda: not jobsets_of(cluster, item_id), what="the JobSet deleted")
    selector = f"runyard.dev/item={item_id}"
    until(cluster, lambda: not cluster.sim.pods(NS, selector), what="its pods deleted")
    assert cluster.item(item_id)["state"] == "canceled"


def test_a_kind_the_pool_does_not_declare_fails_at_the_agent_stage(
    cluster: Cluster, start_agent: Callable[..., RunningAgent]
) -> None:
    queue = create_queue(cluster.api, jobset_template())
    start_agent(queue)  # no workload_kinds
    item = final(cluster, enqueue(cluster.api, queue, 1))
    assert item["state"] == "failed"
    assert item["error"]["stage"] == "agent"
    assert "add it to the pool's workload_kinds" in item["error"]["message"]
    assert jobsets_of(cluster, item["id"]) == []


def test_a_redelivered_jobset_item_is_adopted_and_a_restarted_runner_finds_it(
    cluster: Cluster,
) -> None:
    queue = create_queue(cluster.api, jobset_template())
    sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
    item_id = enqueue(cluster.api, queue, 1, entry_point=sleep)
    # The item as a claim hands it out (its template rendered by the server).
    queued = QueueItem.model_validate(cluster.item(item_id))
    pool = PoolSettings(name="a100", namespace=NS, node_selector=A100, workload_kinds=[JOBSET])

    async def launch_twice_then_recover() -> tuple[list[str], list[str]]:
        updates: asyncio.Queue[Any] = asyncio.Queue()
        runners = [KubernetesRunner(pool, api_client=cluster.fake.api_client()) for _ in "ab"]
        for runner in runners:
            await runner.start("agent-x", updates)
            await runner.launch(queued)
        for runner in runners:
            await runner.stop()
        restarted = KubernetesRunner(pool, api_client=cluster.fake.api_client())
        found = await restarted.recover()
        states = [updates.get_nowait().state.value for _ in range(updates.qsize())]
        return states, found

    states, found = asyncio.run(launch_twice_then_recover())
    assert states.count("launching") == 2  # a pod may report running in between
    assert len(jobsets_of(cluster, item_id)) == 1  # the second create was a 409: adopted
    assert found == [item_id]


def test_a_declared_kind_the_cluster_does_not_serve_stops_the_agent_at_start(
    cluster: Cluster,
) -> None:
    pytorch = WorkloadKind(apiVersion="kubeflow.org/v1", kind="PyTorchJob")
    pool = PoolSettings(name="a100", namespace=NS, node_selector=A100, workload_kinds=[pytorch])
    runner = KubernetesRunner(pool, api_client=cluster.fake.api_client())
    with pytest.raises(ConfigError, match=r"pool\.workload_kinds: the cluster serves no "):
        asyncio.run(runner.start("agent-x", asyncio.Queue()))
