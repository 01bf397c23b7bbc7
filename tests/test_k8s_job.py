"""Rendering items into Jobs, the security policy, pool capacity and stuck-pod explanations."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes.client import ApiClient

from runyard.launch.agent.run_env import config_env, run_id_for
from runyard.launch.kubernetes.capacity import largest_fit, pool_capacity
from runyard.launch.kubernetes.job import JobRenderError, job_name, render_job
from runyard.launch.kubernetes.pending import explain_pod, is_disrupted, is_stuck, pod_failure
from runyard.launch.kubernetes.pool import PoolSettings
from runyard.launch.kubernetes.security import PodSecurityError
from runyard.launch.models import ItemState, Priority, QueueItem, Requirements

NOW = datetime(2026, 11, 24, tzinfo=UTC)
POOL = PoolSettings(
    name="a100",
    namespace="ml-jobs",
    node_selector={"nvidia.com/gpu.product": "A100-SXM4-80GB"},
    server_url="http://runyard.runyard:8080",
    image_pull_secrets=["regcred"],
    service_account="runyard-job",
)
TEMPLATE = {
    "spec": {
        "template": {
            "spec": {
                "containers": [{"resources": {"limits": {"memory": "64Gi", "nvidia.com/gpu": 2}}}]
            }
        }
    }
}


def _item(gpus: int = 4, config: dict[str, Any] | None = None, **spec: Any) -> QueueItem:
    run_spec = {
        "docker": {"docker_image": "org/train:1"},
        "project": "llm",
        "entity": "team",
        "overrides": {"run_config": {"lr": 0.1}, "args": ["--epochs", "3"]},
        **spec,
    }
    return QueueItem(
        id="3f2a9c0d4b1e4f6a8c7d9e0f1a2b3c4d",
        queue="a100",
        entity="team",
        priority=Priority.HIGH,
        run_spec=run_spec,
        template_values={"gpus": gpus},
        rendered_config=TEMPLATE if config is None else config,
        requirements=Requirements(gpus=gpus),
        state=ItemState.CLAIMED,
        state_times={"pending": NOW, "claimed": NOW},
        created_at=NOW,
    )


def test_job_carries_pool_placement_gpus_labels_and_wandb_env() -> None:
    job = render_job(_item(), POOL, "agent-1")
    # The official client deserializes it: the manifest is a real Job.
    model = ApiClient()._ApiClient__deserialize(job, "V1Job")  # type: ignore[attr-defined]
    pod = model.spec.template.spec
    main = pod.containers[0]
    assert model.metadata.name == job_name(_item().id) and model.metadata.namespace == "ml-jobs"
    assert pod.node_selector == {"nvidia.com/gpu.product": "A100-SXM4-80GB"}
    assert main.resources.limits == {"memory": "64Gi", "nvidia.com/gpu": "4"}  # item wins
    assert main.resources.requests == {"nvidia.com/gpu": "4"}
    assert main.image == "org/train:1" and main.args == ["--epochs", "3"]
    assert any(t.key == "nvidia.com/gpu" and t.operator == "Exists" for t in pod.tolerations)
    assert pod.restart_policy == "Never" and model.spec.backoff_limit == 0
    assert (
        pod.service_account_name == "runyard-job" and pod.automount_service_account_token is False
    )
    assert [s.name for s in pod.image_pull_secrets] == ["regcred"]
    labels = model.spec.template.metadata.labels
    assert labels["runyard.dev/pool"] == "a100" and labels["runyard.dev/queue"] == "a100"
    assert labels["runyard.dev/item"] == _item().id and labels["runyard.dev/agent"] == "agent-1"
    for value in {**labels, **model.metadata.labels}.values():
        assert re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9_.-]{0,61})?[A-Za-z0-9]?", value)
    env = {e.name: e for e in main.env}
    assert env["WANDB_BASE_URL"].value == "http://runyard.runyard:8080"
    assert env["WANDB_RUN_ID"].value == run_id_for(_item())
    assert env["WANDB_PROJECT"].value == "llm" and env["WANDB_ENTITY"].value == "team"
    assert env["WANDB_RESUME"].value == "allow" and env["WANDB_LAUNCH"].value == "True"
    assert env["WANDB_LAUNCH_QUEUE_NAME"].value == "a100"
    assert env["WANDB_LAUNCH_TRACE_ID"].value == _item().id
    assert json.loads(env["WANDB_CONFIG"].value) == {"lr": 0.1}
    key_ref = env["WANDB_API_KEY"].value_from.secret_key_ref
    assert (key_ref.name, key_ref.key) == ("runyard-api-key", "api-key")
    assert env["WANDB_API_KEY"].value is None  # never a literal in the manifest


def test_job_name_is_deterministic_and_dns_safe() -> None:
    name = job_name("3f2a9c0d4b1e4f6a8c7d9e0f1a2b3c4d")
    assert name == job_name("3f2a9c0d4b1e4f6a8c7d9e0f1a2b3c4d")
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 63
    assert run_id_for(_item()) == run_id_for(_item()) and len(run_id_for(_item())) == 8


def test_a_template_cannot_move_the_job_out_of_its_pool() -> None:
    config = {"spec": {"template": {"spec": {"nodeSelector": {"nvidia.com/gpu.product": "H100"}}}}}
    job = render_job(_item(config=config), POOL, "a")
    selector = job["spec"]["template"]["spec"]["nodeSelector"]
    assert selector == {"nvidia.com/gpu.product": "A100-SXM4-80GB"}


@pytest.mark.parametrize(
    ("pod_spec", "field"),
    [
        (
            {"containers": [{"securityContext": {"privileged": True}}]},
            "containers[0].securityContext.privileged",
        ),
        ({"hostNetwork": True}, "spec.hostNetwork"),
        ({"hostPID": True}, "spec.hostPID"),
        ({"volumes": [{"name": "d", "hostPath": {"path": "/"}}]}, "spec.volumes[0].hostPath"),
        ({"serviceAccountName": "cluster-admin"}, "spec.serviceAccountName"),
        ({"automountServiceAccountToken": True}, "spec.automountServiceAccountToken"),
        (
            {"containers": [{"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]},
            "capabilities.add: SYS_ADMIN",
        ),
        (
            {
                "initContainers": [
                    {"name": "i", "image": "x", "securityContext": {"privileged": True}}
                ]
            },
            "initContainers[0]",
        ),
    ],
)
def test_security_policy_names_each_refused_field(pod_spec: dict[str, Any], field: str) -> None:
    config = {"spec": {"template": {"spec": pod_spec}}}
    with pytest.raises(PodSecurityError, match=re.escape(field)):
        render_job(_item(config=config), POOL, "a")
    # A pool that allows privileged jobs still refuses service-account overrides.
    if "serviceAccount" not in field and "automount" not in field:
        render_job(_item(config=config), POOL.model_copy(update={"allow_privileged": True}), "a")


def test_render_errors_name_what_to_set() -> None:
    with pytest.raises(JobRenderError, match=r"run_spec\.docker\.docker_image"):
        render_job(_item(docker={}), POOL, "a")
    with pytest.raises(JobRenderError, match="batch/v1 Jobs only"):
        render_job(_item(config={"kind": "Deployment", "apiVersion": "apps/v1"}), POOL, "a")
    defaulted = render_job(
        _item(docker={}), POOL.model_copy(update={"default_image": "base:2"}), "a"
    )
    assert defaulted["spec"]["template"]["spec"]["containers"][0]["image"] == "base:2"


def test_large_config_is_chunked_the_way_the_wandb_client_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from wandb.sdk.launch.utils import load_wandb_config

    config = {f"key_{i}": "x" * 100 for i in range(1000)}  # ~110k characters
    env = config_env(config)
    assert "WANDB_CONFIG" not in env and len(env) == 4
    assert all(len(v) <= 32_670 for v in env.values())
    for name in [k for k in os.environ if k.startswith("WANDB_CONFIG")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert dict(load_wandb_config()) == config  # the installed client's own reader


def _node(
    name: str, gpus: int, unschedulable: bool = False, taints: list[Any] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"nvidia.com/gpu.product": "A100-SXM4-80GB"}},
        "spec": {"unschedulable": unschedulable, "taints": taints or []},
        "status": {"allocatable": {"nvidia.com/gpu": str(gpus)}},
    }


def _pod(node: str | None, gpus: int, phase: str = "Running", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": f"p-{node}-{gpus}"},
        "spec": {
            "nodeName": node,
            "containers": [
                {"image": "org/train:1", "resources": {"limits": {"nvidia.com/gpu": gpus}}}
            ],
        },
        "status": {"phase": phase, **status},
    }


def test_capacity_counts_free_gpus_on_usable_nodes_only() -> None:
    nodes = [
        _node("n1", 8),
        _node("n2", 8),
        _node("n3", 8, unschedulable=True),
        _node("n4", 8, taints=[{"key": "dedicated", "value": "infer", "effect": "NoSchedule"}]),
        _node("n5", 8, taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]),
        {**_node("other", 8), "metadata": {"name": "other", "labels": {}}},
    ]
    pods = [_pod("n1", 4), _pod("n2", 6), _pod("n2", 2, phase="Succeeded"), _pod("n5", 8)]
    capacity = pool_capacity(nodes, pods, POOL)
    assert [n.name for n in capacity.usable] == ["n1", "n2", "n5"]
    assert capacity.total_gpus == 24 and capacity.free_gpus == 6
    assert largest_fit(capacity) == 4  # a pod cannot span nodes
    tolerant = POOL.model_copy(update={"tolerations": [{"key": "dedicated", "operator": "Exists"}]})
    assert "n4" in [n.name for n in pool_capacity(nodes, pods, tolerant).usable]


def test_unschedulable_pod_is_explained_with_the_pools_nodes() -> None:
    nodes = [_node("n1", 4), _node("n2", 4), _node("n3", 4), _node("n4", 8, unschedulable=True)]
    capacity = pool_capacity(nodes, [], POOL)
    scheduled = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": (
            "0/4 nodes are available: 1 node(s) were unschedulable, 3 Insufficient nvidia.com/gpu."
        ),
    }
    pod = _pod(None, 8, phase="Pending", conditions=[scheduled])
    verdict = explain_pod(pod, POOL, capacity)
    assert verdict is not None and not verdict.fatal and verdict.kind == "unschedulable"
    assert (
        verdict.message
        == "no node in pool a100 has 8 free nvidia.com/gpu: 3 nodes have 4, 1 is cordoned"
    )
    assert not is_stuck(verdict, pending_since=0, now=599, timeout_s=600)
    assert is_stuck(verdict, pending_since=0, now=600, timeout_s=600)
    # Without capacity the scheduler's own words are translated.
    fallback = explain_pod(pod, POOL, None)
    assert fallback is not None
    assert (
        fallback.message
        == "no node in pool a100 can take the job: 1 cordoned; 3 lack free nvidia.com/gpu"
    )


def test_image_pull_errors_fail_at_once_naming_the_image() -> None:
    waiting = {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "org/trian:1"'}
    pod = _pod(
        None,
        0,
        phase="Pending",
        containerStatuses=[{"image": "org/trian:1", "state": {"waiting": waiting}}],
    )
    verdict = explain_pod(pod, POOL, None)
    assert verdict is not None and verdict.fatal and verdict.kind == "image"
    assert verdict.message.startswith("cannot pull image org/trian:1: ImagePullBackOff")
    assert "imagePullSecrets" in verdict.message


def test_failures_and_disruptions_in_words() -> None:
    oom = _pod(
        "n1",
        1,
        phase="Failed",
        containerStatuses=[{"state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}],
    )
    assert pod_failure(oom) == (
        "run",
        "the container ran out of memory (OOMKilled, exit code 137): "
        "ask for more memory in the queue template",
    )
    crashed = _pod(
        "n1",
        1,
        phase="Failed",
        containerStatuses=[{"state": {"terminated": {"exitCode": 3, "reason": "Error"}}}],
    )
    assert pod_failure(crashed) == ("run", "the container exited with code 3 (Error)")
    evicted = _pod(
        "n1",
        1,
        phase="Failed",
        conditions=[
            {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}
        ],
    )
    assert is_disrupted(evicted) == "the scheduler preempted the pod for a higher-priority one"
    assert is_disrupted(crashed) is None
