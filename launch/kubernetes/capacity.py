"""A GPU pool's capacity from Nodes and Pods (pure): what the agent offers in its claims.

A node counts when its labels match the pool's selector, it is not cordoned, and every
NoSchedule/NoExecute taint on it is tolerated by the pool (the GPU taint always is).
Its free GPUs are allocatable minus the requests of pods still running on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .pool import PoolSettings

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True)
class NodeGpus:
    """One node of the pool: its name, allocatable and free GPUs, and why it is left out."""

    name: str
    allocatable: int
    free: int
    excluded: str | None = None  # "cordoned", "tainted <key>": the scheduler will not use it


@dataclass(frozen=True)
class PoolCapacity:
    """The pool's nodes and their GPUs."""

    nodes: list[NodeGpus] = field(default_factory=list)

    @property
    def usable(self) -> list[NodeGpus]:
        """Nodes jobs can be scheduled on."""
        return [n for n in self.nodes if n.excluded is None]

    @property
    def total_gpus(self) -> int:
        """Allocatable GPUs of usable nodes."""
        return sum(n.allocatable for n in self.usable)

    @property
    def free_gpus(self) -> int:
        """Free GPUs of usable nodes."""
        return sum(n.free for n in self.usable)


def _quantity(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def pod_gpus(pod: dict[str, Any], resource: str) -> int:
    """GPUs a pod asks for (requests, else limits, summed over its containers)."""
    total = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        asked = (resources.get("requests") or {}).get(resource)
        if asked is None:
            asked = (resources.get("limits") or {}).get(resource)
        total += _quantity(asked or 0)
    return total


def _tolerated(taint: dict[str, Any], tolerations: list[dict[str, Any]], gpu: str) -> bool:
    if taint.get("key") == gpu:
        return True  # every GPU job tolerates the GPU taint (render_job adds it)
    for t in tolerations:
        if t.get("effect") not in (None, "", taint.get("effect")):
            continue
        if t.get("operator") == "Exists" and t.get("key") in (None, "", taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and t.get("value") == taint.get("value"):
            return True
    return False


def _matches(labels: dict[str, str], selector: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def pool_capacity(
    nodes: list[dict[str, Any]], pods: list[dict[str, Any]], pool: PoolSettings
) -> PoolCapacity:
    """The pool's nodes with allocatable and free GPUs; see the module docstring."""
    used: dict[str, int] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES:
            used[node] = used.get(node, 0) + pod_gpus(pod, pool.gpu_resource)
    out = []
    for node in nodes:
        meta = node.get("metadata") or {}
        if not _matches(meta.get("labels") or {}, pool.node_selector):
            continue
        spec = node.get("spec") or {}
        allocatable = _quantity(
            ((node.get("status") or {}).get("allocatable") or {}).get(pool.gpu_resource, 0)
        )
        excluded = "cordoned" if spec.get("unschedulable") else None
        for taint in spec.get("taints") or []:
            blocking = taint.get("effect") in ("NoSchedule", "NoExecute")
            if (
                excluded is None
                and blocking
                and not _tolerated(taint, pool.tolerations, pool.gpu_resource)
            ):
                excluded = f"tainted {taint.get('key')}"
        name = meta.get("name", "")
        free = max(0, allocatable - used.get(name, 0))
        out.append(NodeGpus(name, allocatable, free, excluded))
    return PoolCapacity(sorted(out, key=lambda n: n.name))


def largest_fit(capacity: PoolCapacity) -> int:
    """The most GPUs one pod can get: a Job's pod runs on a single node."""
    return max((n.free for n in capacity.usable), default=0)
