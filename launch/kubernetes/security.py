"""The pod security policy every rendered Job passes: no way out of the container by default.

A queue template is written by whoever manages the queue, not by the cluster's admins,
so the agent refuses what would give a job the node or the cluster: privileged
containers, added admin capabilities, host namespaces, hostPath volumes, host ports and
service-account token overrides. A pool may allow privileged jobs (`allow_privileged`).
"""

from __future__ import annotations

from typing import Any

DANGEROUS_CAPABILITIES = frozenset({"ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE"})


class PodSecurityError(ValueError):
    """The pod asks for something the pool's policy refuses; lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "the job's pod breaks the pool's security policy:\n  " + "\n  ".join(problems)
        )
        self.problems = problems


def security_problems(pod_spec: dict[str, Any], allow_privileged: bool) -> list[str]:
    """What in a pod spec the policy refuses, each with its field path and the fix."""
    problems = []
    if not allow_privileged:
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if pod_spec.get(flag):
                problems.append(f"spec.{flag}: host namespaces are not allowed; remove it")
    for i, volume in enumerate(pod_spec.get("volumes") or []):
        if "hostPath" in volume and not allow_privileged:
            problems.append(
                f"spec.volumes[{i}].hostPath: node paths are not allowed; "
                "use a PersistentVolumeClaim or an emptyDir"
            )
    for field in ("serviceAccountName", "serviceAccount"):
        if field in pod_spec:
            problems.append(
                f"spec.{field}: the pool sets the job's service account; "
                "remove it from the queue template"
            )
    if pod_spec.get("automountServiceAccountToken"):
        problems.append(
            "spec.automountServiceAccountToken: a job may not ask for a service-account token"
        )
    for kind in ("initContainers", "containers"):
        for i, container in enumerate(pod_spec.get(kind) or []):
            problems += _container_problems(f"spec.{kind}[{i}]", container, allow_privileged)
    return problems


def _container_problems(path: str, container: dict[str, Any], allow: bool) -> list[str]:
    problems: list[str] = []
    context = container.get("securityContext") or {}
    if allow:
        return problems
    if context.get("privileged"):
        problems.append(f"{path}.securityContext.privileged: privileged containers are refused")
    if context.get("allowPrivilegeEscalation"):
        problems.append(
            f"{path}.securityContext.allowPrivilegeEscalation: must not be true; remove it"
        )
    added = set((context.get("capabilities") or {}).get("add") or [])
    bad = sorted(added & DANGEROUS_CAPABILITIES)
    if bad:
        problems.append(f"{path}.securityContext.capabilities.add: {', '.join(bad)} refused")
    for j, port in enumerate(container.get("ports") or []):
        if port.get("hostPort"):
            problems.append(f"{path}.ports[{j}].hostPort: host ports are not allowed")
    return problems


def check_pod_security(pod_spec: dict[str, Any], allow_privileged: bool) -> None:
    """Raise PodSecurityError naming every refused field."""
    problems = security_problems(pod_spec, allow_privileged)
    if problems:
        raise PodSecurityError(problems)
