"""A pool's free GPUs as the agent offers them in its claims."""

from __future__ import annotations

from typing import Any

import pytest

from runyard.launch.kubernetes.capacity import (
    PoolCapacity,
    largest_fit,
    pod_gpus,
    pool_capacity,
    tolerates,
)
from support.k8s import POOL, node, pod

DEDICATED = {"key": "dedicated", "value": "infer", "effect": "NoSchedule"}


def test_free_gpus_count_usable_nodes_of_the_pool_only() -> None:
    nodes = [
        node("n1", 8),
        node("n2", 8),
        node("n3", 8, unschedulable=True),
        node("n4", 8, taints=[DEDICATED]),
        node("n5", 8, taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]),
        node("n6", 8, ready="False"),
        node("other", 8, labels={"nvidia.com/gpu.product": "H100"}),
    ]
    pods = [
        pod("n1", 4),
        pod("n2", 6),
        pod("n2", 2, phase="Succeeded"),  # finished: its GPUs are free again
        pod("n5", 8, phase="Pending"),  # bound but not started: its GPUs are taken
        pod(None, 8, phase="Pending"),  # not scheduled yet: holds nothing
        pod("other", 8),
    ]
    capacity = pool_capacity(nodes, pods, POOL)
    assert [n.name for n in capacity.nodes] == ["n1", "n2", "n3", "n4", "n5", "n6"]
    assert [n.name for n in capacity.usable] == ["n1", "n2", "n5"]  # GPU taint is tolerated
    assert (capacity.total_gpus, capacity.free_gpus) == (24, 6)
    assert capacity.free_per_node == [4, 2, 0]
    assert (capacity.cordoned, capacity.tainted_untolerated, capacity.not_ready) == (1, 1, 1)
    assert {n.name: n.excluded for n in capacity.nodes}[
        "n4"
    ] == "tainted dedicated=infer:NoSchedule"
    assert largest_fit(capacity) == 4  # 6 are free, but a pod cannot span nodes


def test_the_pools_tolerations_open_tainted_nodes() -> None:
    nodes = [node("n4", 8, taints=[DEDICATED, {"key": "soft", "effect": "PreferNoSchedule"}])]
    assert pool_capacity(nodes, [], POOL).usable == []
    tolerant = POOL.model_copy(update={"tolerations": [{"key": "dedicated", "operator": "Exists"}]})
    assert [n.name for n in pool_capacity(nodes, [], tolerant).usable] == ["n4"]


@pytest.mark.parametrize(
    ("toleration", "tolerated"),
    [
        ({"key": "dedicated", "operator": "Exists"}, True),
        ({"key": "dedicated", "value": "infer"}, True),  # operator defaults to Equal
        ({"key": "dedicated", "operator": "Equal", "value": "train"}, False),
        ({"key": "dedicated", "value": "infer", "effect": "NoExecute"}, False),
        ({"operator": "Exists"}, True),  # an empty key with Exists tolerates everything
        ({"key": "other", "operator": "Exists"}, False),
    ],
)
def test_tolerations_match_like_the_scheduler(toleration: dict[str, Any], tolerated: bool) -> None:
    assert tolerates(toleration, DEDICATED) is tolerated


def test_a_taint_without_value_is_tolerated_by_an_empty_value() -> None:
    taint = {"key": "gpu-only", "effect": "NoSchedule"}
    assert tolerates({"key": "gpu-only", "operator": "Equal", "value": ""}, taint)


def test_pod_gpus_count_requests_limits_and_init_containers() -> None:
    spec = {
        "initContainers": [{"resources": {"limits": {"nvidia.com/gpu": "8"}}}],
        "containers": [
            {"resources": {"requests": {"nvidia.com/gpu": "2"}, "limits": {"nvidia.com/gpu": 2}}},
            {"resources": {"limits": {"nvidia.com/gpu": 1}}},
        ],
    }
    assert pod_gpus({"spec": spec}, "nvidia.com/gpu") == 8  # the init container's 8 > 3
    spec["initContainers"] = []
    assert pod_gpus({"spec": spec}, "nvidia.com/gpu") == 3
    assert pod_gpus({"spec": spec}, "amd.com/gpu") == 0


def test_other_gpu_vendors_count_their_own_resource() -> None:
    amd = POOL.model_copy(update={"gpu_resource": "amd.com/gpu", "node_selector": {}})
    mi300 = {
        "metadata": {"name": "m1", "labels": {}},
        "spec": {"taints": [{"key": "amd.com/gpu", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"amd.com/gpu": "8", "nvidia.com/gpu": "0"}},
    }
    capacity = pool_capacity([mi300], [], amd)
    assert (capacity.total_gpus, largest_fit(capacity)) == (8, 8)


def test_an_empty_pool_offers_nothing() -> None:
    assert largest_fit(PoolCapacity()) == 0 and PoolCapacity().free_per_node == []
