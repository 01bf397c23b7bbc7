"""The cluster simulator that stands in for a real cluster in the agent's tests.

The agent's tests trust it to behave like Kubernetes: these check the behaviours they lean
on, through the official `kubernetes` client, as the agent sees them.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch

from support.cluster_sim import ClusterSimulator
from support.kube import FakeKubernetes
from support.sim_jobset import GROUP, PLURAL, VERSION
from support.sim_process import LocalContainers

NS = "ml"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
TOLERATE_GPU = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[FakeKubernetes, ClusterSimulator]]:
    processes = LocalContainers(tmp_path / "containers", {"PATH": "/usr/bin:/bin"}, grace_s=1)
    with (
        FakeKubernetes(namespaces=("default", NS)) as fake,
        ClusterSimulator(fake, processes=processes) as sim,
    ):
        sim.add_node("a100-0", {"pool": "a100"}, gpus=8, taints=[GPU_TAINT])
        sim.add_node("a100-1", {"pool": "a100"}, gpus=8, taints=[GPU_TAINT], unschedulable=True)
        sim.add_node("cpu-0", {"pool": "cpu"})
        yield fake, sim


def _job(name: str, gpus: int = 0, **container: Any) -> dict[str, Any]:
    main = {"name": "main", "image": "org/train:1", **container}
    if gpus:
        main["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"app": "t"}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"app": "t"}},
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": {"pool": "a100"},
                    "tolerations": TOLERATE_GPU,
                    "containers": [main],
                },
            },
        },
    }


def _pod_of(sim: ClusterSimulator, job: str) -> dict[str, Any]:
    """The Job's one pod; an empty one (no phase) while the Job controller has not made it."""
    pods = [p for p in sim.pods(NS) if p["metadata"]["labels"].get("job-name") == job]
    assert len(pods) <= 1, pods
    return pods[0] if pods else {"metadata": {}, "spec": {}, "status": {"phase": None}}


def _jobset(name: str, *roles: tuple[str, int, dict[str, str]]) -> dict[str, Any]:
    """A JobSet with one replicatedJob per (name, replicas, SIM_ env) role, pods labelled
    the way the agent labels them."""
    replicated = []
    for role, replicas, env in roles:
        job = _job(role, gpus=1, env=[{"name": k, "value": v} for k, v in env.items()])
        job["spec"]["template"]["metadata"]["labels"] = {"runyard.dev/item": "abc", "role": role}
        replicated.append({"name": role, "replicas": replicas, "template": {"spec": job["spec"]}})
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "JobSet",
        "metadata": {"name": name, "labels": {"runyard.dev/item": "abc"}},
        "spec": {"replicatedJobs": replicated},
    }


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == type_), None)


def test_job_runs_on_a_matching_node_and_completes(
    cluster: tuple[FakeKubernetes, ClusterSimulator],
) -> None:
    fake, sim = cluster
    batch = client.BatchV1Api(fake.api_client())
    batch.create_namespaced_job(NS, _job("ok", gpus=4))
    done = sim.wait_for(
        lambda: (j := batch.read_namespaced_job("ok", NS)).status.succeeded and j, what="Complete"
    )
    assert {c.type for c in done.status.conditions} >= {"Complete"}
    pod = _pod_of(sim, "ok")
    assert pod["spec"]["nodeName"] == "a100-0"  # a100-1 is cordoned, cpu-0 has no GPUs
    assert pod["status"]["phase"] == "Succeeded"
    log = client.CoreV1Api(fake.api_client()).read_namespaced_pod_log(pod["metadata"]["name"], NS)
    assert "running on a100-0" in log


def test_gpu_request_that_fits_no_node_is_unschedulable_with_the_schedulers_message(
    cluster: tuple[FakeKubernetes, ClusterSimulator],
) -> None:
    fake, sim = cluster
    client.BatchV1Api(fake.api_client()).create_namespaced_job(NS, _job("big", gpus=16))
    scheduled = sim.wait_for(lambda: _condition(_pod_of(sim, "big"), "PodScheduled"))
    assert scheduled["status"] == "False" and scheduled["reason"] == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in scheduled["message"]
    assert "node(s) were unschedulable" in scheduled["message"]
    # Freeing room schedules it: uncordoning does not help (8 < 16); a bigger node does.
    sim.add_node("a100-big", {"pool": "a100"}, gpus=16, taints=[GPU_TAINT])
    sim.wait_for(lambda: _pod_of(sim, "big")["spec"].get("nodeName") == "a100-big")


def test_a_gpu_node_taint_keeps_pods_without_the_toleration_off(
    cluster: tuple[FakeKubernetes, ClusterSimulator],
) -> None:
    fake, sim = cluster
    job = _job("no-tol", gpus=1)
    job["spec"]["template"]["spec"].pop("tolerations")
    client.BatchV1Api(fake.api_client()).create_namespaced_job(NS, job)
    scheduled = sim.wait_for(lambda: _condition(_pod_of(sim, "no-tol"), "PodScheduled"))
    assert "untolerated taint" in scheduled["message"]


def test_image_pull_failure_alternates_err_image_pull_and_backoff(
    cluster: tuple[FakeKubernetes, ClusterSimulator],
) -> None:
    fake, sim = cluster
    sim.fail_image_pull("org/typo")
    client.BatchV1Api(fake.api_client()).create_namespaced_job(
        NS, _job("pull", gpus=1, image="org/typo:1")
    )
    reasons: set[str] = set()

    def both_seen() -> bool:
        statuses = _pod_of(sim, "pull")["status"].get("containerStatuses") or []
        waiting = (statuses[0]["state"].get("waiting") or {}) if statuses else {}
        reasons.add(waiting.get("reason", ""))
        return {"ErrImagePull", "ImagePullBackOff"} <= reasons

    sim.wait_for(both_seen)
    assert _pod_of(sim, "pull")["status"]["phase"] == "Pending"


def test_eviction_marks_the_pod_disrupted_and_failed(
    cluster: tuple[FakeKubernetes, ClusterSimulator],
) -> None:
    fake, sim = cluster
    job = _job("evict", gpus=1, env=[{"name": "SIM_DURATION_S", "value": "60"}])
    client.BatchV1Api(fake.api_client()).create_namespaced_job(NS, job)
    sim.wait_for(lambda: _pod_of(sim, "evict")["status"].get("phase") == "Running")
    sim.evict(_pod_of(sim, "evict")["metadata"]["name"], NS, "PreemptionByScheduler")
    pod = sim.wait_for(lambda: (p := _pod_of(sim, "evict"))["status"]["phase"] == "Failed" and p)
    disruption = _condition(pod, "DisruptionTarget")
    assert disruption is not None and disruption["reason"] == "PreemptionByScheduler"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 137


def test_watch_sees_the_pod_phases_in_order(
    cluster: tuple[FakeKubernetes, ClusterSimulator],
) -> None:
    fake, _sim = cluster
    api = fake.api_client()
    core = client.CoreV1Api(api)
    version = core.list_namespaced_pod(NS).metadata.resource_version
    client.BatchV1Api(api).create_namespaced_job(NS, _job("watched", gpus=1))
    phases: list[str] = []
    for event in watch.Watch().stream(
        core.list_namespaced_pod,
        NS,
        label_selector="job-name=watched",
        resource_version=version,
        timeout_seconds=10,
    ):
        phase = event["object"].status.phase
        if not phases or phases[-1] != phase:
            phases.append(phase)
        if phase == "Succeeded":
            break
    assert phases == ["Pending", "Running", "Succeeded"]


def test_a_container_with_a_command_runs_as_a_process_with_its_secret_env(
    cluster: tuple[FakeKubernetes, ClusterSimulator],
) -> None:
    fake, sim = cluster
    core = client.CoreV1Api(fake.api_client())
    secret = {"metadata": {"name": "creds"}, "data": {"key": base64.b64encode(b"s3cret").decode()}}
    core.create_namespaced_secret(NS, secret)
    env = [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "key"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    script = "import os, sys; print(os.environ['TOKEN'], os.environ['POD']); sys.exit(4)"
    job = _job("proc", gpus=1, command=[sys.executable, "-c", script], env=env)
    client.BatchV1Api(fake.api_client()).create_namespaced_job(NS, job)
    pod = sim.wait_for(lambda: (p := _pod_of(sim, "proc"))["status"]["phase"] == "Failed" and p)
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 4
    log = core.read_namespaced_pod_log(pod["metadata"]["name"], NS)
    assert log.strip() == f"s3cret {pod['metadata']['name']}"


def test_a_missing_secret_is_a_create_container_config_error(
    cluster: tuple[FakeKubernetes, ClusterSimulator],
) -> None:
    fake, sim = cluster
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]
    job = _job("nosecret", gpus=1, command=[sys.executable, "-c", "pass"], env=env)
    client.BatchV1Api(fake.api_client()).create_namespaced_job(NS, job)

    def waiting() -> dict[str, Any] | None:
        statuses = _pod_of(sim, "nosecret")["status"].get("containerStatuses") or [{}]
        state = statuses[0].get("state") or {}
        return state.get("waiting") if "waiting" in state else None

    reason = sim.wait_for(
        lambda: (w := waiting()) and w.get("reason") == "CreateContainerConfigError" and w
    )
    assert reason["message"] == 'secret "absent" not found'


def test_evicting_a_process_pod_stops_the_process(
    cluster: tuple[FakeKubernetes, ClusterSimulator], tmp_path: Path
) -> None:
    fake, sim = cluster
    marker = tmp_path / "alive"
    script = f"import time, pathlib; pathlib.Path({str(marker)!r}).touch(); time.sleep(60)"
    job = _job("longproc", gpus=1, command=[sys.executable, "-c", script])
    client.BatchV1Api(fake.api_client()).create_namespaced_job(NS, job)
    sim.wait_for(marker.exists, timeout=10)
    sim.evict(_pod_of(sim, "longproc")["metadata"]["name"], NS)
    pod = sim.wait_for(lambda: (p := _pod_of(sim, "longproc"))["status"]["phase"] == "Failed" and p)
    assert _condition(pod, "DisruptionTarget") is not None
    assert sim.processes is not None
    assert sim.processes.poll(pod["metadata"]["uid"]) is not None  # the process is gone


def test_a_jobset_makes_labelled_child_jobs_whose_pods_complete_it(
    cluster: tuple[FakeKubernetes, ClusterSimulator],
) -> None:
    fake, sim = cluster
    custom = client.CustomObjectsApi(fake.api_client())
    custom.create_namespaced_custom_object(
        GROUP, VERSION, NS, PLURAL, _jobset("train", ("workers", 2, {}))
    )
    done = sim.wait_for(
        lambda: (
            _condition(
                js := custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "train"),
                "Completed",
            )
            and js
        ),
        what="JobSet Completed",
    )
    completed = _condition(done, "Completed")
    assert completed is not None and completed["status"] == "True"
    assert completed["reason"] == "AllJobsCompleted"
    assert completed["message"] == "jobset completed successfully"
    assert done["status"]["terminalState"] == "Completed"
    assert done["status"]["replicatedJobsStatus"] == [
        {"name": "workers", "ready": 0, "succeeded": 2, "failed": 0, "active": 0, "suspended": 0}
    ]
    jobs = sorted(
        sim.jobs(NS, "jobset.sigs.k8s.io/jobset-name=train"), key=lambda j: j["metadata"]["name"]
    )
    assert [j["metadata"]["name"] for j in jobs] == ["train-workers-0", "train-workers-1"]
    owner = jobs[0]["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("JobSet", "train", True)
    assert owner["uid"] == done["metadata"]["uid"]
    pods = sim.pods(NS, "runyard.dev/item=abc")
    assert len(pods) == 2
    assert sorted(p["metadata"]["labels"]["jobset.sigs.k8s.io/job-index"] for p in pods) == [
        "0",
        "1",
    ]
    for pod in pods:
        labels = pod["metadata"]["labels"]
        assert labels["role"] == "workers"
        assert labels["jobset.sigs.k8s.io/jobset-name"] == "train"
        assert labels["jobset.sigs.k8s.io/replicatedjob-name"] == "workers"
        assert pod["status"]["phase"] == "Succeeded"
    events = sim.events(NS, involved="train")
    assert any(e["reason"] == "AllJobsCompleted" for e in events)


def test_a_failed_child_job_fails_the_jobset_and_deletes_the_others(
    cluster: tuple[FakeKubernetes, ClusterSimulator],
) -> None:
    fake, sim = cluster
    custom = client.CustomObjectsApi(fake.api_client())
    body = _jobset(
        "bad", ("workers", 2, {"SIM_DURATION_S": "60"}), ("leader", 1, {"SIM_EXIT_CODE": "3"})
    )
    custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)
    sim.wait_for(lambda: len(sim.pods(NS, "role=workers")) == 2, what="worker pods")
    failed = sim.wait_for(
        lambda: _condition(
            custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "bad"), "Failed"
        ),
        what="JobSet Failed",
    )
    assert failed["status"] == "True" and failed["reason"] == "FailedJobs"
    assert failed["message"] == (
        "jobset failed due to one or more job failures (first failed job: bad-leader-0)"
    )
    # The still-running workers go, pods and all; the failed Job stays for its record.
    sim.wait_for(
        lambda: (
            [j["metadata"]["name"] for j in sim.jobs(NS)] == ["bad-leader-0"]
            and not sim.pods(NS, "role=workers")
        ),
        what="workers deleted",
    )
    js = custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "bad")
    assert js["status"]["terminalState"] == "Failed"
    assert _condition(js, "Completed") is None
    statuses = {s["name"]: s for s in js["status"]["replicatedJobsStatus"]}
    assert statuses["leader"]["failed"] == 1


def test_deleting_a_jobset_deletes_its_jobs_and_pods(
    cluster: tuple[FakeKubernetes, ClusterSimulator],
) -> None:
    fake, sim = cluster
    custom = client.CustomObjectsApi(fake.api_client())
    body = _jobset("gone", ("workers", 2, {"SIM_DURATION_S": "60"}))
    custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)
    sim.wait_for(
        lambda: sum(p["status"].get("phase") == "Running" for p in sim.pods(NS)) == 2,
        what="pods running",
    )
    custom.delete_namespaced_custom_object(
        GROUP,
        VERSION,
        NS,
        PLURAL,
        "gone",
        body=client.V1DeleteOptions(propagation_policy="Background"),
    )
    sim.wait_for(lambda: not sim.jobs(NS) and not sim.pods(NS), what="jobs and pods gone")
    assert custom.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)["items"] == []


def test_a_failure_policy_restarts_the_jobset_until_max_restarts(
    cluster: tuple[FakeKubernetes, ClusterSimulator],
) -> None:
    fake, sim = cluster
    custom = client.CustomObjectsApi(fake.api_client())
    body = _jobset("retry", ("leader", 1, {"SIM_EXIT_CODE": "1"}))
    body["spec"]["failurePolicy"] = {"maxRestarts": 1}
    custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)
    failed = sim.wait_for(
        lambda: (
            _condition(
                js := custom.get_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "retry"),
                "Failed",
            )
            and js
        ),
        what="JobSet Failed",
    )
    assert failed["status"]["restarts"] == 1
    condition = _condition(failed, "Failed")
    assert condition is not None and condition["reason"] == "ReachedMaxRestarts"
    # The first attempt's Job was deleted and made again for the second.
    (job,) = sim.jobs(NS)
    assert job["metadata"]["labels"]["jobset.sigs.k8s.io/restart-attempt"] == "1"
    reasons = [e["reason"] for e in sim.events(NS, involved="retry")]
    assert reasons.count("Restarting") == 1
