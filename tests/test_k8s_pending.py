"""Stuck, failed and disrupted pods explained in words a researcher understands."""

from __future__ import annotations

from typing import Any

import pytest

from runyard.launch.kubernetes.capacity import pool_capacity
from runyard.launch.kubernetes.pending import (
    PodVerdict,
    explain_pod,
    is_disrupted,
    is_stuck,
    pod_failure,
)
from support.k8s import POOL, node, pod

SCHEDULER = "0/4 nodes are available: 1 node(s) were unschedulable, 3 Insufficient nvidia.com/gpu."


def _unschedulable(gpus: int, message: str = SCHEDULER) -> dict[str, Any]:
    condition = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
    }
    return pod(None, gpus, phase="Pending", conditions=[condition])


def _waiting(reason: str, message: str = "", init: bool = False) -> dict[str, Any]:
    status = {"name": "job", "image": "org/trian:1", "state": {"waiting": {"reason": reason}}}
    if message:
        status["state"]["waiting"]["message"] = message
    key = "initContainerStatuses" if init else "containerStatuses"
    return pod(None, 1, phase="Pending", **{key: [status]})


def _ended(*statuses: dict[str, Any], **pod_status: Any) -> dict[str, Any]:
    return pod("n1", 1, phase="Failed", containerStatuses=list(statuses), **pod_status)


def _terminated(name: str, code: int, reason: str = "Error", **extra: Any) -> dict[str, Any]:
    return {"name": name, "state": {"terminated": {"exitCode": code, "reason": reason, **extra}}}


def test_unschedulable_gpu_job_is_explained_with_the_pools_free_gpus() -> None:
    nodes = [node("n1", 4), node("n2", 4), node("n3", 4), node("n4", 8, unschedulable=True)]
    verdict = explain_pod(_unschedulable(8), POOL, pool_capacity(nodes, [], POOL))
    assert verdict == PodVerdict(
        "unschedulable",
        False,
        "no node in pool a100 has 8 free nvidia.com/gpu: 3 nodes have 4, 1 is cordoned",
    )


def test_capacity_message_names_busy_tainted_and_too_small_nodes() -> None:
    taint = {"key": "dedicated", "value": "infer", "effect": "NoSchedule"}
    nodes = [node("n1", 8), node("n2", 8), node("n3", 8, taints=[taint])]
    capacity = pool_capacity(nodes, [pod("n1", 6), pod("n2", 8)], POOL)
    verdict = explain_pod(_unschedulable(16), POOL, capacity)
    assert verdict is not None
    assert verdict.message == (
        "no node in pool a100 has 16 free nvidia.com/gpu: 1 node has 2, 1 has 0, "
        "1 has a taint the pool does not tolerate (dedicated=infer:NoSchedule); "
        "the largest node has 8 in all: ask for at most 8"
    )
    empty = explain_pod(_unschedulable(1), POOL, pool_capacity([], [], POOL))
    assert empty is not None and empty.message == (
        "no node in pool a100 has 1 free nvidia.com/gpu: the pool has no nodes "
        "(labelled nvidia.com/gpu.product=A100-SXM4-80GB)"
    )


@pytest.mark.parametrize(
    ("scheduler", "words"),
    [
        (SCHEDULER, "1 node is cordoned, 3 lack free nvidia.com/gpu"),
        (
            "0/5 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, "
            "1 node(s) had untolerated taint {dedicated: infer}, 2 Insufficient memory. "
            "preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling.",
            "2 nodes are outside the job's node selector, "
            "1 has a taint the job does not tolerate (dedicated=infer), 2 lack free memory",
        ),
        (
            "0/2 nodes are available: 1 node(s) had taint {node.kubernetes.io/unreachable: }, "
            "that the pod didn't tolerate, 1 Too many pods.",
            "1 node has a taint the job does not tolerate (node.kubernetes.io/unreachable), "
            "1 is full (pod limit)",
        ),
        (
            "pod has unbound immediate PersistentVolumeClaims.",
            "pod has unbound immediate PersistentVolumeClaims",
        ),
    ],
)
def test_without_capacity_the_schedulers_reasons_are_translated(scheduler: str, words: str) -> None:
    verdict = explain_pod(_unschedulable(8, scheduler), POOL, None)
    assert verdict is not None and not verdict.fatal
    assert verdict.message == f"no node in pool a100 can take the job: {words}"


def test_a_pod_short_of_something_else_than_gpus_gets_the_schedulers_reasons() -> None:
    capacity = pool_capacity([node("n1", 8)], [], POOL)  # 8 GPUs free: GPUs are not the issue
    message = "0/1 nodes are available: 1 Insufficient memory."
    verdict = explain_pod(_unschedulable(4, message), POOL, capacity)
    assert verdict is not None
    assert verdict.message == "no node in pool a100 can take the job: 1 node lacks free memory"


def test_unschedulable_becomes_fatal_only_after_the_start_timeout() -> None:
    verdict = explain_pod(_unschedulable(8), POOL, None)
    assert verdict is not None
    assert not is_stuck(verdict, pending_since=100, now=699, timeout_s=600)
    assert is_stuck(verdict, pending_since=100, now=700, timeout_s=600)


def test_image_pull_errors_fail_at_once_naming_the_image_and_the_fix() -> None:
    verdict = explain_pod(
        _waiting("ImagePullBackOff", 'Back-off pulling image "org/trian:1"'), POOL, None
    )
    assert verdict == PodVerdict(
        "image_pull",
        True,
        'cannot pull image org/trian:1: ImagePullBackOff (Back-off pulling image "org/trian:1") '
        "— check the image name and the pool's imagePullSecrets",
    )
    assert is_stuck(verdict, pending_since=0, now=0, timeout_s=600)
    for reason in ("ErrImagePull", "InvalidImageName"):
        other = explain_pod(_waiting(reason, init=True), POOL, None)
        assert other is not None and other.kind == "image_pull" and other.fatal


def test_a_missing_api_key_secret_says_what_to_create() -> None:
    verdict = explain_pod(
        _waiting("CreateContainerConfigError", 'secret "runyard-api-key" not found'), POOL, None
    )
    assert verdict == PodVerdict(
        "config_error",
        True,
        "the container cannot be created: CreateContainerConfigError "
        '(secret "runyard-api-key" not found) — create the Secret runyard-api-key with key '
        "api-key (the W&B API key jobs use) in namespace ml-jobs, or fix the pool's "
        "api_key_secret",
    )


def test_pods_on_their_way_are_not_stuck() -> None:
    assert explain_pod(_waiting("ContainerCreating"), POOL, None) is None
    assert explain_pod(pod("n1", 1, phase="Pending"), POOL, None) is None
    crash = explain_pod(_waiting("CrashLoopBackOff", "back-off 5m0s"), POOL, None)
    assert crash is not None and crash.kind == "crash" and crash.fatal


@pytest.mark.parametrize(
    ("failed", "expected"),
    [
        (
            _ended(_terminated("job", 137, "OOMKilled")),
            (
                "run",
                "the container ran out of memory (OOMKilled, exit code 137): ask for more "
                "memory (resources.limits.memory) in the queue's config template",
            ),
        ),
        (_ended(_terminated("job", 3)), ("run", "the container exited with code 3")),
        (
            _ended(_terminated("job", 139, message="core dumped")),
            ("run", "the container exited with code 139 (SIGSEGV): core dumped"),
        ),
        (
            _ended(
                _terminated(
                    "job", 128, "StartError", message='exec: "pythn": executable file not found'
                )
            ),
            (
                "launch",
                'the container could not start (StartError): exec: "pythn": executable file '
                "not found: check the entry point",
            ),
        ),
        (
            _ended(_terminated("metrics", 1), _terminated("job", 143)),
            ("run", "the container exited with code 143 (SIGTERM)"),
        ),
        (
            pod(
                "n1",
                1,
                phase="Failed",
                initContainerStatuses=[_terminated("fetch-data", 2)],
            ),
            ("run", "init container fetch-data exited with code 2"),
        ),
        (
            _ended(_terminated("job", 137, "ContainerStatusUnknown")),
            ("run", "the container exited with code 137 (SIGKILL, ContainerStatusUnknown)"),
        ),
        (
            _ended(reason="Evicted", message="The node was low on resource: ephemeral-storage."),
            (
                "kubernetes",
                "the pod failed: Evicted: The node was low on resource: ephemeral-storage.",
            ),
        ),
        (
            _ended(reason="DeadlineExceeded", message="Pod was active too long"),
            ("kubernetes", "the job ran past its activeDeadlineSeconds (Pod was active too long)"),
        ),
    ],
)
def test_failed_pods_are_explained(failed: dict[str, Any], expected: tuple[str, str]) -> None:
    assert pod_failure(failed) == expected


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("PreemptionByScheduler", "the scheduler preempted the pod for a higher-priority one"),
        ("EvictionByEvictionAPI", "the pod was evicted (node drain or eviction API)"),
        ("DeletionByTaintManager", "the node was tainted NoExecute (it is going away)"),
        ("SomethingNew", "the pod was disrupted (SomethingNew)"),
    ],
)
def test_disruptions_are_told_apart_from_failures(reason: str, words: str) -> None:
    condition = {"type": "DisruptionTarget", "status": "True", "reason": reason}
    assert is_disrupted(pod("n1", 1, phase="Failed", conditions=[condition])) == words
    assert is_disrupted(_ended(_terminated("job", 1))) is None
