"""A GPU pool's capacity from Node and Pod dicts (pure): what the agent offers in its claims.

A node belongs to the pool when its labels match the pool's nodeSelector. It is usable
when it is not cordoned (`spec.unschedulable`), not reported NotReady, and every
NoSchedule/NoExecute taint on it is tolerated by the pool's tolerations (the GPU taint
always is: `render_job` adds its toleration to GPU Jobs). Its free GPUs are allocatable
minus the GPU requests of the non-terminal pods bound to it, whichever namespace or
agent they come from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..models import Requirements
from .pool import PoolSettings, gpu_toleration

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
CORDONED = "cordoned"
NOT_READY = "not ready"
TAINTED = "tainted"


@dataclass(frozen=True)
class NodeGpus:
    """One node of the pool: allocatable and free GPUs, and why jobs cannot go there."""

    name: str
    allocatable: int
    free: int
    # None: usable. "cordoned", "not ready" or "tainted <key>=<value>:<effect>".
    excluded: str | None = None


@dataclass(frozen=True)
class PoolCapacity:
    """The pool's nodes (sorted by name) and their GPUs."""

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
        """Free GPUs of usable nodes (summed: no single pod can have them all)."""
        return sum(n.free for n in self.usable)

    @property
    def free_per_node(self) -> list[int]:
        """Free GPUs of each usable node, largest first."""
        return sorted((n.free for n in self.usable), reverse=True)

    @property
    def cordoned(self) -> int:
        """Nodes of the pool that are cordoned."""
        return sum(1 for n in self.nodes if n.excluded == CORDONED)

    @property
    def not_ready(self) -> int:
        """Nodes of the pool whose kubelet reports NotReady (or Unknown)."""
        return sum(1 for n in self.nodes if n.excluded == NOT_READY)

    @property
    def tainted_untolerated(self) -> int:
        """Nodes of the pool with a taint the pool's jobs do not tolerate."""
        return sum(1 for n in self.nodes if (n.excluded or "").startswith(TAINTED))


def quantity(value: Any) -> int:
    """A whole-number resource quantity ("8", 8); anything else counts as 0."""
    try:
        return int(str(value))
    except ValueError:
        return 0


def _container_gpus(container: dict[str, Any], resource: str) -> int:
    # For extended resources a limit alone is also the request.
    resources = container.get("resources") or {}
    asked = (resources.get("requests") or {}).get(resource)
    if asked is None:
        asked = (resources.get("limits") or {}).get(resource)
    return quantity(asked or 0)


def pod_gpus(pod: dict[str, Any], resource: str) -> int:
    """GPUs a pod holds on its node, as the scheduler counts them.

    That is the sum over its containers, or the largest init container's if more (init
    containers run one at a time, before the others).
    """
    spec = pod.get("spec") or {}
    running = sum(_container_gpus(c, resource) for c in spec.get("containers") or [])
    init = max((_container_gpus(c, resource) for c in spec.get("initContainers") or []), default=0)
    return max(running, init)


def tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    """Kubernetes' ToleratesTaint: effect, key, then value (Equal) or anything (Exists)."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def _exclusion(node: dict[str, Any], tolerations: list[dict[str, Any]]) -> str | None:
    """Why the scheduler will not put a job of the pool on this node, or None."""
    spec = node.get("spec") or {}
    if spec.get("unschedulable"):
        return CORDONED
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") != "True":
            return NOT_READY
    for taint in spec.get("taints") or []:
        if taint.get("effect") not in BLOCKING_EFFECTS:
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            value = f"={taint['value']}" if taint.get("value") else ""
            return f"{TAINTED} {taint.get('key')}{value}:{taint.get('effect')}"
    return None


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
    tolerations = [*pool.tolerations, gpu_toleration(pool)]
    out = []
    for node in nodes:
        meta = node.get("metadata") or {}
        if not _matches(meta.get("labels") or {}, pool.node_selector):
            continue
        allocatable = quantity(
            ((node.get("status") or {}).get("allocatable") or {}).get(pool.gpu_resource, 0)
        )
        name = meta.get("name", "")
        free = max(0, allocatable - used.get(name, 0))
        out.append(NodeGpus(name, allocatable, free, _exclusion(node, tolerations)))
    return PoolCapacity(sorted(out, key=lambda n: n.name))


def largest_fit(capacity: PoolCapacity) -> int:
    """The most GPUs one pod can get: a Job's pod runs on a single node."""
    return max((n.free for n in capacity.usable), default=0)


def node_room(free_per_node: list[int], unplaced: int) -> list[int]:
    """Each usable node's free GPUs, largest first, less what pods not yet placed will take
    (counted against the largest nodes: the pessimistic guess, so no gang is over-promised)."""
    room = []
    for free in sorted(free_per_node, reverse=True):
        take = min(free, unplaced)
        unplaced -= take
        room.append(free - take)
    return sorted(room, reverse=True)


def not_created_gpus(jobs: Iterable[tuple[int, int, int]]) -> int:
    """GPUs of pods the agent's just-created Jobs will still get: for each Job, (pods it
    runs, pods the watch has seen of it, GPUs per pod).

    A Job's pods appear some time after the Job (its controller makes them): until then no
    node counts their GPUs, and a claim offering them would take more than the pool has.
    """
    return sum(max(0, pods - seen) * gpus for pods, seen, gpus in jobs)


def offered_gpus(free_per_node: list[int], unplaced: int) -> tuple[int, list[int]]:
    """The most GPUs one more pod is promised, and each node's room, once `unplaced` GPUs
    (pods not created or not placed yet) are taken from the largest nodes first."""
    room = node_room(free_per_node, unplaced)
    return (room[0] if room else 0), room


def less_claimed(capacity: Requirements, claimed: Iterable[Requirements]) -> Requirements:
    """The capacity minus items claimed but not yet handed to the runner (whose own count
    does not know them yet): their pods are taken from the largest nodes first."""
    taken = sum(r.gpus * r.pods for r in claimed)
    if taken == 0:
        return capacity
    node_free = capacity.node_free
    if node_free is not None:
        gpus, room = offered_gpus(node_free, taken)
        return capacity.model_copy(update={"gpus": min(capacity.gpus, gpus), "node_free": room})
    return capacity.model_copy(update={"gpus": max(0, capacity.gpus - taken)})
