"""The pod security policy: each refused field is named with its path and the fix."""

from __future__ import annotations

import re
from typing import Any

import pytest

from runyard.launch.kubernetes.job import render_job
from runyard.launch.kubernetes.security import PodSecurityError, check_pod_security
from support.k8s import POOL, make_item

P = "spec.template.spec"
PRIVILEGED = {"securityContext": {"privileged": True}}

# (pod spec, the path the error must name, refused even when the pool allows privileges)
VIOLATIONS: list[tuple[dict[str, Any], str, bool]] = [
    ({"containers": [PRIVILEGED]}, f"{P}.containers[0].securityContext.privileged", False),
    (
        {"initContainers": [{"name": "i", "image": "x", **PRIVILEGED}]},
        f"{P}.initContainers[0].securityContext.privileged",
        False,
    ),
    (
        {"containers": [{}, {"name": "side", "image": "x", **PRIVILEGED}]},
        f"{P}.containers[1].securityContext.privileged",
        False,
    ),
    ({"hostNetwork": True}, f"{P}.hostNetwork", False),
    ({"hostPID": True}, f"{P}.hostPID", False),
    ({"hostIPC": True}, f"{P}.hostIPC", False),
    ({"volumes": [{"name": "d", "hostPath": {"path": "/"}}]}, f"{P}.volumes[0].hostPath", False),
    (
        {"containers": [{"ports": [{"containerPort": 80, "hostPort": 80}]}]},
        "ports[0].hostPort",
        False,
    ),
    (
        {"containers": [{"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]},
        "containers[0].securityContext.capabilities.add: SYS_ADMIN refused",
        False,
    ),
    (
        {"containers": [{"securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}]},
        "capabilities.add: NET_ADMIN refused",
        False,
    ),
    (
        {"containers": [{"securityContext": {"capabilities": {"add": ["ALL"]}}}]},
        "capabilities.add: ALL refused",
        False,
    ),
    (
        {"containers": [{"securityContext": {"capabilities": {"add": ["cap_sys_admin"]}}}]},
        "capabilities.add: SYS_ADMIN refused",
        False,
    ),
    (
        {"securityContext": {"seccompProfile": {"type": "Unconfined"}}},
        f"{P}.securityContext.seccompProfile.type",
        False,
    ),
    (
        {"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}},
        f"{P}.securityContext.sysctls[0]: kernel.msgmax",
        False,
    ),
    ({"serviceAccountName": "cluster-admin"}, f"{P}.serviceAccountName", True),
    ({"serviceAccount": "cluster-admin"}, f"{P}.serviceAccount", True),
    ({"automountServiceAccountToken": True}, f"{P}.automountServiceAccountToken", True),
    (
        {
            "volumes": [
                {"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}
            ]
        },
        f"{P}.volumes[0].projected.sources[0].serviceAccountToken",
        True,
    ),
]


@pytest.mark.parametrize(("pod_spec", "path", "always"), VIOLATIONS)
def test_each_violation_is_named_by_its_path_in_the_queue_template(
    pod_spec: dict[str, Any], path: str, always: bool
) -> None:
    config = {"spec": {"template": {"spec": pod_spec}}}
    with pytest.raises(PodSecurityError, match=re.escape(path)) as refused:
        render_job(make_item(config=config), POOL, "agent-1")
    # ... and says what to do: who may allow it, or that the template must drop it.
    fix = "remove it from the queue's config template" if always else "allow_privileged"
    assert fix in str(refused.value)
    allowed = POOL.model_copy(update={"allow_privileged": True})
    if always:
        with pytest.raises(PodSecurityError, match=re.escape(path)):
            render_job(make_item(config=config), allowed, "agent-1")
    else:
        render_job(make_item(config=config), allowed, "agent-1")


def test_every_problem_is_reported_at_once() -> None:
    pod_spec = {
        "hostNetwork": True,
        "serviceAccountName": "admin",
        "volumes": [{"name": "d", "hostPath": {"path": "/var/run/docker.sock"}}],
        "containers": [{"name": "job", "image": "x", **PRIVILEGED}],
    }
    with pytest.raises(PodSecurityError) as refused:
        check_pod_security(pod_spec, allow_privileged=False)
    assert [p.split(":")[0] for p in refused.value.problems] == [
        f"{P}.serviceAccountName",
        f"{P}.hostNetwork",
        f"{P}.volumes[0].hostPath",
        f"{P}.containers[0].securityContext.privileged",
    ]
    assert str(refused.value).count("\n  - ") == 4


def test_what_a_gpu_job_needs_is_allowed() -> None:
    pod_spec = {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory"}}],
        "containers": [
            {
                "name": "job",
                "image": "x",
                "ports": [{"containerPort": 29500}],
                "securityContext": {
                    # RDMA/InfiniBand needs IPC_LOCK; escalation is baseline-allowed (sudo).
                    "capabilities": {"add": ["IPC_LOCK"], "drop": ["ALL"]},
                    "allowPrivilegeEscalation": True,
                },
            }
        ],
    }
    check_pod_security(pod_spec, allow_privileged=False)
