"""Custom workloads (a JobSet for multi-node training) rendered from queue templates (pure)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from runyard.launch.kubernetes.pod_spec import JobRenderError
from runyard.launch.kubernetes.pool import PoolSettings, WorkloadKind
from runyard.launch.kubernetes.progress import progress
from runyard.launch.kubernetes.security import PodSecurityError
from runyard.launch.kubernetes.workload import (
    pod_templates,
    render_manifest,
    workload_kind_for,
    workload_outcome,
)
from runyard.launch.models import ItemState
from support.k8s import ITEM_ID, POOL, SELECTOR, make_item, pod

JOBSET = WorkloadKind(apiVersion="jobset.x-k8s.io/v1alpha2", kind="JobSet")
JOBSET_POOL = POOL.model_copy(update={"workload_kinds": [JOBSET]})


def _role(name: str, replicas: int, **pod: Any) -> dict[str, Any]:
    return {
        "name": name,
        "replicas": replicas,
        "template": {
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": {"role": name}},
                    "spec": {"containers": [{"name": "trainer"}], **pod},
                },
            }
        },
    }


def jobset_template(**pod: Any) -> dict[str, Any]:
    """A queue template for a leader and two workers, the way JobSet users write one."""
    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": {"labels": {"team": "llm"}},
        "spec": {
            "replicatedJobs": [_role("leader", 1, **pod), _role("workers", 2, **pod)],
            "failurePolicy": {"maxRestarts": 0},
        },
    }


def test_a_jobset_gets_every_pod_placed_on_the_pool_with_its_gpus_and_run_env() -> None:
    item = make_item(gpus=4, config=jobset_template())
    manifest, kind = render_manifest(item, JOBSET_POOL, "agent-1")
    assert kind == JOBSET
    assert manifest["apiVersion"] == "jobset.x-k8s.io/v1alpha2" and manifest["kind"] == "JobSet"
    assert manifest["metadata"]["name"] == f"runyard-{ITEM_ID}"
    assert manifest["metadata"]["namespace"] == "ml-jobs"
    assert manifest["metadata"]["labels"]["team"] == "llm"
    assert manifest["metadata"]["labels"]["runyard.dev/item"] == ITEM_ID
    assert manifest["spec"]["failurePolicy"] == {"maxRestarts": 0}  # the operator's schema stays
    found = pod_templates(manifest["spec"], "spec")
    assert [path for path, _ in found] == [
        "spec.replicatedJobs[0].template.spec.template",
        "spec.replicatedJobs[1].template.spec.template",
    ]
    for path, template in found:
        labels = template["metadata"]["labels"]
        assert labels["runyard.dev/pool"] == "a100" and "role" in labels, path
        pod = template["spec"]
        assert pod["nodeSelector"] == SELECTOR
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
            "tolerations"
        ]
        assert pod["restartPolicy"] == "Never"
        main = pod["containers"][0]
        assert main["name"] == "trainer" and main["image"] == "org/train:1"
        assert main["resources"]["limits"]["nvidia.com/gpu"] == "4"  # per pod
        env = {e["name"]: e for e in main["env"]}
        assert env["WANDB_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "runyard-api-key"
        assert env["WANDB_RESUME"]["value"] == "allow"


def test_a_workload_keeps_its_pods_restart_policy() -> None:
    item = make_item(config=jobset_template(restartPolicy="OnFailure"))
    manifest, _ = render_manifest(item, JOBSET_POOL, "a")
    for _, template in pod_templates(manifest["spec"], "spec"):
        assert template["spec"]["restartPolicy"] == "OnFailure"


def test_rendering_a_workload_leaves_the_template_untouched() -> None:
    template = jobset_template()
    before = copy.deepcopy(template)
    render_manifest(make_item(config=template), JOBSET_POOL, "a")
    assert template == before


def test_pod_templates_are_found_wherever_an_operator_keeps_them() -> None:
    pytorch = {
        "pytorchReplicaSpecs": {
            "Master": {"replicas": 1, "template": {"spec": {"containers": [{"name": "m"}]}}},
            "Worker": {"replicas": 3, "template": {"spec": {"containers": [{"name": "w"}]}}},
        }
    }
    assert [p for p, _ in pod_templates(pytorch, "spec")] == [
        "spec.pytorchReplicaSpecs.Master.template",
        "spec.pytorchReplicaSpecs.Worker.template",
    ]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {}},
            r"asks for kubeflow\.org/v1 PyTorchJob; pool a100 runs batch/v1 Job, "
            r"jobset\.x-k8s\.io/v1alpha2 JobSet: add it to the pool's workload_kinds",
        ),
        (
            {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "spec": {"x": 1}},
            r"the JobSet has no pod template .* under spec",
        ),
        (
            {**jobset_template(), "status": {}},
            r"unknown top-level keys \['status'\]",
        ),
        (
            jobset_template(nodeName="gpu-7"),
            r"spec\.replicatedJobs\[0\]\.template\.spec\.template\.spec\.nodeName bypasses",
        ),
    ],
)
def test_bad_workload_templates_name_the_field(config: dict[str, Any], message: str) -> None:
    with pytest.raises(JobRenderError, match=message):
        render_manifest(make_item(config=config), JOBSET_POOL, "a")


def test_a_forbidden_field_in_any_pod_template_is_refused_by_its_path() -> None:
    config = jobset_template()
    worker = config["spec"]["replicatedJobs"][1]["template"]["spec"]["template"]["spec"]
    worker["hostNetwork"] = True
    with pytest.raises(PodSecurityError, match=r"spec\.replicatedJobs\[1\]\..*hostNetwork"):
        render_manifest(make_item(config=config), JOBSET_POOL, "a")


def test_jobs_stay_jobs_and_need_no_declaration() -> None:
    assert workload_kind_for(make_item(), POOL) is None
    job = {"apiVersion": "batch/v1", "kind": "Job", "spec": {}}
    assert render_manifest(make_item(config=job), POOL, "a")[0]["kind"] == "Job"


def test_workload_kinds_must_be_custom_resources() -> None:
    with pytest.raises(ValidationError, match=r"'apps/v1' is not a custom resource"):
        PoolSettings(name="a100", workload_kinds=[{"apiVersion": "apps/v1", "kind": "Deployment"}])
    with pytest.raises(ValidationError, match=r"'jobSet' is not a kind"):
        WorkloadKind(apiVersion="jobset.x-k8s.io/v1alpha2", kind="jobSet")
    assert JOBSET.resource == "jobsets"
    assert WorkloadKind(api_version="ray.io/v1", kind="RayJob", plural="rayjobs").group == "ray.io"


def _with(*conditions: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "status": {"conditions": [{"type": t, "status": s, "message": m} for t, s, m in conditions]}
    }


def test_a_workloads_end_is_read_from_its_status_conditions() -> None:
    assert workload_outcome({}) is None
    assert workload_outcome(_with(("Failed", "False", ""))) is None
    done = _with(("Completed", "True", "jobset completed successfully"))
    assert workload_outcome(done) == (ItemState.FINISHED, "jobset completed successfully")
    assert workload_outcome(_with(("Succeeded", "True", "ok")))[0] is ItemState.FINISHED  # type: ignore[index]
    failed = _with(("Completed", "True", "x"), ("Failed", "True", "job workers-1 failed"))
    assert workload_outcome(failed) == (ItemState.FAILED, "job workers-1 failed")


def test_a_workloads_failed_pod_waits_for_its_controllers_verdict() -> None:
    failed = pod("a100-0", 2, phase="Failed")
    running = pod("a100-1", 2)
    # A Job's failed pod is the item's end; a JobSet may still restart it.
    assert progress([failed], None, POOL, None).state is ItemState.FAILED
    assert progress([failed, running], {"status": {}}, POOL, None).state is ItemState.RUNNING
    verdict = _with(("Failed", "True", "jobset failed due to one or more job failures"))
    ended = progress([failed, running], verdict, POOL, None)
    assert ended.state is ItemState.FAILED and ended.failed_pod == failed
    assert ended.message == "jobset failed due to one or more job failures"


def test_a_workload_runs_while_another_pod_still_waits_and_says_why() -> None:
    waiting = pod(None, 2, phase="Pending")
    waiting["status"]["conditions"] = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
        }
    ]
    seen = progress([pod("a100-0", 2), waiting], {"status": {}}, POOL, None)
    assert seen.state is ItemState.RUNNING
    assert seen.verdict is not None and "nvidia.com/gpu" in seen.verdict.message
    done = _with(("Completed", "True", "jobset completed successfully"))
    finished = pod("a100-0", 2, phase="Succeeded")
    assert progress([finished], done, POOL, None).state is ItemState.FINISHED
    # Without the controller's verdict, pods that all succeeded are not yet the end.
    assert progress([finished], {"status": {}}, POOL, None).state is None
