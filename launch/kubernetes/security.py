"""The pod security policy every rendered Job passes: no way out of the container by default.

A queue template is written by whoever manages the queue, not by the cluster's admins, so
the agent refuses what would hand a job the node or the cluster. The rules are those of
the Kubernetes Pod Security Standards "baseline" level, checked before anything is sent
(so the item fails with the field named even where no admission policy is set):
privileged containers, host namespaces (hostNetwork, hostPID, hostIPC), hostPath volumes,
host ports, added capabilities outside the baseline list, unconfined seccomp/AppArmor,
unmasked /proc and unsafe sysctls. A pool with `allow_privileged` lets all of these pass.

Decisions:
- `allowPrivilegeEscalation: true` is allowed, as in the baseline level: it only lets
  setuid binaries (sudo) gain what the container already may have; the ways out of the
  container (privileges, capabilities, host namespaces) are refused on their own.
- Capabilities use an allow-list (baseline's, plus IPC_LOCK, which RDMA/InfiniBand NCCL
  needs to pin memory), so SYS_ADMIN, NET_ADMIN, ALL and any future name are refused.
- Service-account choices belong to the pool: `serviceAccountName`, `serviceAccount`,
  `automountServiceAccountToken: true` and projected service-account tokens in a template
  are refused even with `allow_privileged` (the agent sets the pool's own afterwards).
"""

from __future__ import annotations

from typing import Any

# Pod Security Standards, baseline: capabilities a container may add.
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
ALLOWED_CAPABILITIES = BASELINE_CAPABILITIES | {"IPC_LOCK"}
# Namespaced sysctls the kubelet allows without an admin's opt-in (baseline's safe set).
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
HOST_NAMESPACES = {"hostNetwork": "network", "hostPID": "process", "hostIPC": "IPC"}
CONTAINER_KINDS = ("initContainers", "containers", "ephemeralContainers")
_REMOVE = "remove it from the queue's config template"
_OR_ALLOW = f"{_REMOVE}, or have an admin set allow_privileged on the pool"


class PodSecurityError(ValueError):
    """The pod asks for something the pool's policy refuses; lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "the job's pod breaks the pool's security policy:\n  - " + "\n  - ".join(problems)
        )
        self.problems = problems


def _service_account_problems(spec: dict[str, Any], at: str) -> list[str]:
    problems = [
        f"{at}.{field}: the pool sets the job's service account; {_REMOVE}"
        for field in ("serviceAccountName", "serviceAccount")
        if field in spec
    ]
    if spec.get("automountServiceAccountToken") is True:
        problems.append(
            f"{at}.automountServiceAccountToken: a template may not ask for a "
            f"service-account token (the pool decides); {_REMOVE}"
        )
    for i, volume in enumerate(spec.get("volumes") or []):
        sources = (volume.get("projected") or {}).get("sources") or []
        for j, source in enumerate(sources):
            if "serviceAccountToken" in source:
                problems.append(
                    f"{at}.volumes[{i}].projected.sources[{j}].serviceAccountToken: "
                    f"a template may not mount a service-account token; {_REMOVE}"
                )
    return problems


def _profile_problems(context: dict[str, Any], path: str) -> list[str]:
    """Unconfined seccomp/AppArmor profiles and SELinux user/role (pod or container level)."""
    problems = []
    for field in ("seccompProfile", "appArmorProfile"):
        if (context.get(field) or {}).get("type") == "Unconfined":
            problems.append(f"{path}.{field}.type: Unconfined is refused; {_OR_ALLOW}")
    selinux = context.get("seLinuxOptions") or {}
    for field in ("user", "role"):
        if selinux.get(field):
            problems.append(f"{path}.seLinuxOptions.{field}: may not be set; {_OR_ALLOW}")
    return problems


def _pod_problems(spec: dict[str, Any], at: str) -> list[str]:
    problems = [
        f"{at}.{flag}: sharing the node's {what} namespace is refused; {_OR_ALLOW}"
        for flag, what in HOST_NAMESPACES.items()
        if spec.get(flag)
    ]
    for i, volume in enumerate(spec.get("volumes") or []):
        if "hostPath" in volume:
            problems.append(
                f"{at}.volumes[{i}].hostPath: node paths are refused; use a "
                f"persistentVolumeClaim or emptyDir volume instead, or have an admin set "
                "allow_privileged on the pool"
            )
    context = spec.get("securityContext") or {}
    problems += _profile_problems(context, f"{at}.securityContext")
    for j, sysctl in enumerate(context.get("sysctls") or []):
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(
                f"{at}.securityContext.sysctls[{j}]: {sysctl.get('name')} is not a safe "
                f"sysctl; {_OR_ALLOW}"
            )
    return problems


def _capability(name: Any) -> str:
    text = str(name).upper()
    return text[4:] if text.startswith("CAP_") else text  # runtimes accept both spellings


def _container_problems(container: dict[str, Any], path: str) -> list[str]:
    problems = []
    context = container.get("securityContext") or {}
    if context.get("privileged"):
        problems.append(
            f"{path}.securityContext.privileged: privileged containers are refused; {_OR_ALLOW}"
        )
    added = (context.get("capabilities") or {}).get("add") or []
    refused = sorted({_capability(c) for c in added} - ALLOWED_CAPABILITIES)
    if refused:
        problems.append(
            f"{path}.securityContext.capabilities.add: {', '.join(refused)} refused "
            f"(allowed: {', '.join(sorted(ALLOWED_CAPABILITIES))}); {_OR_ALLOW}"
        )
    if context.get("procMount") == "Unmasked":
        problems.append(f"{path}.securityContext.procMount: Unmasked is refused; {_OR_ALLOW}")
    problems += _profile_problems(context, f"{path}.securityContext")
    for j, port in enumerate(container.get("ports") or []):
        if port.get("hostPort"):
            problems.append(
                f"{path}.ports[{j}].hostPort: host ports are refused; use a Service to "
                "reach the job, or have an admin set allow_privileged on the pool"
            )
    return problems


def security_problems(
    pod_spec: dict[str, Any], allow_privileged: bool, at: str = "spec.template.spec"
) -> list[str]:
    """Every field the policy refuses, each as `path: why; fix` (`at`: the pod spec's path)."""
    problems = _service_account_problems(pod_spec, at)
    if allow_privileged:
        return problems
    problems += _pod_problems(pod_spec, at)
    for kind in CONTAINER_KINDS:
        for i, container in enumerate(pod_spec.get(kind) or []):
            problems += _container_problems(container, f"{at}.{kind}[{i}]")
    return problems


def check_pod_security(
    pod_spec: dict[str, Any], allow_privileged: bool, at: str = "spec.template.spec"
) -> None:
    """Raise PodSecurityError naming every refused field of a pod spec, or return."""
    problems = security_problems(pod_spec, allow_privileged, at)
    if problems:
        raise PodSecurityError(problems)
