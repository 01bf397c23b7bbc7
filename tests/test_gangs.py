"""Gang-aware capacity: a multi-pod workload is claimed only when all its pods fit at once.

Pure parts (sizing, fitting, the claim's choice), the claim path of the SQL store through
the server, and an agent on the simulated cluster (`support.cluster_sim`) with a JobSet.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from runyard.launch.gangs import gang_fits, gang_size
from runyard.launch.kubernetes.capacity import (
    less_claimed,
    node_room,
    not_created_gpus,
    offered_gpus,
)
from runyard.launch.kubernetes.pool import WorkloadKind
from runyard.launch.models import ItemState, Priority, QueueItem, Requirements
from runyard.launch.queue.rules import Candidate, fits, pick_claim
from runyard.server.queues.pending import AgentView, pending_reason
from support.agent_cluster import (
    A100,
    GPU_TAINT,
    NS,
    Cluster,
    RunningAgent,
    create_queue,
    enqueue,
    final,
    until,
)
from support.server import LiveServer

JOBSET = WorkloadKind(apiVersion="jobset.x-k8s.io/v1alpha2", kind="JobSet")


def jobset(workers: Any, parallelism: Any = None) -> dict[str, Any]:
    pod = {"containers": [{"name": "t", "resources": {"limits": {"nvidia.com/gpu": "{{gpus}}"}}}]}
    job_spec: dict[str, Any] = {"backoffLimit": 0, "template": {"spec": pod}}
    if parallelism is not None:
        job_spec["parallelism"] = parallelism
    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "spec": {
            "replicatedJobs": [
                {"name": "workers", "replicas": workers, "template": {"spec": job_spec}}
            ]
        },
    }


def test_gang_size_counts_the_pods_that_run_at_once() -> None:
    assert gang_size(jobset(4)) == 4
    assert gang_size(jobset(2, parallelism=3)) == 6
    pytorch = {
        "kind": "PyTorchJob",
        "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1}, "Worker": {"replicas": 3}}},
    }
    assert gang_size(pytorch) == 4
    assert gang_size({"spec": {"template": {}}}) == 1  # a plain Job: one pod
    assert gang_size({"kind": "JobSet", "spec": {"replicatedJobs": [{"name": "w"}]}}) == 1
    assert gang_size("not a manifest") == 1


def test_a_gang_fits_node_by_node_not_by_the_sum() -> None:
    assert not gang_fits(8, 4, [8, 8, 8])  # 24 GPUs free, but only 3 nodes for 4 pods
    assert gang_fits(8, 4, [8, 8, 8, 8])
    assert not gang_fits(8, 2, [7, 7, 7, 7])  # 28 GPUs free in total, no node has 8
    assert gang_fits(2, 4, [8])  # four 2-GPU pods share one node
    assert gang_fits(0, 100, [])  # CPU pods: GPUs do not limit them
    assert node_room([8, 8, 8], 4) == [8, 8, 4]  # unplaced pods take from the largest


def test_gpus_of_pods_a_new_job_has_not_got_yet_are_not_offered_again() -> None:
    # The pool benchmark found it: right after a Job is created its pods do not exist, so no
    # node counts their GPUs and the next claim was offered them too (a pod then waited,
    # unschedulable, while an item that fitted could have run).
    just_created = [(1, 0, 4), (2, 1, 8), (1, 1, 2)]  # (pods, pods seen, GPUs per pod)
    assert not_created_gpus(just_created) == 4 + 8
    assert offered_gpus([8, 4], 4 + 8) == (0, [0, 0])  # nothing left for another pod
    assert offered_gpus([8, 8], 2) == (8, [8, 6])  # the guess takes from the largest
    assert offered_gpus([], 0) == (0, [])
    # Items claimed but not yet handed to the runner are not in its count either.
    pool = Requirements(gpus=8, pods=50, node_free=[8, 8, 0, 0])
    gang = Requirements(gpus=8, pods=2)
    assert less_claimed(pool, [gang]) == Requirements(gpus=0, pods=50, node_free=[0, 0, 0, 0])
    assert less_claimed(pool, [Requirements(gpus=2)]).node_free == [8, 6, 0, 0]
    assert less_claimed(pool, []) is pool
    one_machine = Requirements(gpus=4, pods=3)  # no node_free: a local agent
    assert less_claimed(one_machine, [Requirements(gpus=3)]).gpus == 1


def test_the_claim_passes_over_a_gang_that_does_not_fit_and_max_jobs_counts_pods() -> None:
    three_nodes = Requirements(gpus=8, pods=10, node_free=[8, 8, 8])
    gang, single = Candidate("gang", 8, pods=4), Candidate("single", 8)
    assert pick_claim([gang, single], three_nodes, backfill=True) == "single"
    assert pick_claim([gang, single], three_nodes, backfill=False) is None  # the head waits
    four_nodes = three_nodes.model_copy(update={"node_free": [8, 8, 8, 8]})
    assert pick_claim([gang, single], four_nodes, backfill=True) == "gang"
    two_slots = four_nodes.model_copy(update={"pods": 2})
    assert not fits(gang, two_slots)  # max_jobs counts pods: 4 pods need 4 slots
    assert fits(single, two_slots)
    unknown_nodes = Requirements(gpus=8, pods=4)
    assert not fits(gang, unknown_nodes)  # no per-node news: all pods must fit one node
    assert fits(Candidate("small", 2, pods=4), unknown_nodes)


def _gang_queue(api: httpx.Client, workers: int) -> str:
    return create_queue(api, jobset(workers))


def test_the_server_claims_a_gang_only_with_room_for_every_pod(sqlite_server: LiveServer) -> None:
    with sqlite_server.api() as api:
        queue = _gang_queue(api, 4)
        item_id = enqueue(api, queue, 8)
        stored = api.get(f"/api/v1/items/{item_id}").json()
        assert stored["requirements"]["pods"] == 4 and stored["requirements"]["gpus"] == 8
        registration = {"name": "k8s", "queues": [f"admin/{queue}"], "capacity": {"gpus": 8}}
        agent = api.post("/api/v1/agents", json=registration).json()["id"]
        claim: dict[str, Any] = {"agent_id": agent, "queues": [f"admin/{queue}"], "wait": 0.1}
        claim["capacity"] = {"gpus": 8, "pods": 16, "node_free": [8, 8, 8]}
        assert api.post("/api/v1/agents/claim", json=claim).json() is None
        claim["capacity"] = {"gpus": 8, "pods": 3, "node_free": [8, 8, 8, 8]}
        assert api.post("/api/v1/agents/claim", json=claim).json() is None  # 3 pod slots
        claim["capacity"] = {"gpus": 8, "pods": 4, "node_free": [8, 8, 8, 8]}
        assert api.post("/api/v1/agents/claim", json=claim).json()["id"] == item_id


def test_a_4_pod_gang_waits_on_3_free_nodes_and_is_claimed_when_a_fourth_frees(
    cluster: Cluster, start_agent: Callable[..., RunningAgent]
) -> None:
    # Four 8-GPU nodes in the pool (a100-0, a100-1 come with the cluster); one is cordoned.
    cluster.sim.add_node("a100-2", A100, gpus=8, taints=[GPU_TAINT])
    cluster.sim.add_node("a100-3", A100, gpus=8, taints=[GPU_TAINT])
    cluster.sim.cordon("a100-3")
    queue = create_queue(cluster.api, jobset(4))
    agent = start_agent(queue, workload_kinds=[JOBSET])
    sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
    gang = enqueue(cluster.api, queue, 8, entry_point=sleep)
    # A smaller gang overtakes it (backfill): the agent claims, and passes the big one over.
    quick = [sys.executable, "-c", "print('done')"]
    small = enqueue(cluster.api, queue, 1, entry_point=quick)
    assert final(cluster, small)["state"] == "finished"
    assert cluster.item(gang)["state"] == "pending"
    assert cluster.sim.pods(NS, f"runyard.dev/item={gang}") == []  # nothing partly placed
    cluster.sim.uncordon("a100-3")  # the fourth node frees
    until(cluster, lambda: cluster.item(gang)["state"] == "running", what="the gang running")
    pods = cluster.sim.pods(NS, f"runyard.dev/item={gang}")
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["a100-0", "a100-1", "a100-2", "a100-3"]
    assert agent.agent.held_pods == 4  # max_jobs counts the gang's pods


def test_a_waiting_gang_says_it_needs_a_node_for_every_pod() -> None:
    item = QueueItem(
        id="g",
        queue="train",
        entity="lab",
        priority=Priority.MEDIUM,
        run_spec={},
        template_values={},
        rendered_config={},
        requirements=Requirements(gpus=8, pods=4),
        state=ItemState.PENDING,
        state_times={},
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    three = Requirements(gpus=8, pods=16, node_free=[8, 8, 8])
    reason = pending_reason(item, 0, [AgentView("k8s-a100", 8, busy=False, capacity=three)])
    assert reason.startswith("a gang of 4 pods with 8 GPU(s) each: it is claimed only when all")
    assert "k8s-a100: [8, 8, 8]" in reason
    four = three.model_copy(update={"node_free": [8, 8, 8, 8]})
    reason = pending_reason(item, 0, [AgentView("k8s-a100", 8, busy=False, capacity=four)])
    assert reason.startswith("waiting for an agent to claim it")
