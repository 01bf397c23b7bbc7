"""Gangs: workloads whose pods must all run at once (JobSet, PyTorchJob), sized and fitted.

Pure. A gang is claimed only when the pool has room for all its pods at the same time,
each on one node: a 4-pod gang of 8-GPU pods needs four nodes with 8 free GPUs each,
not 32 free GPUs in total. No partial placement is ever held.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MAX_PODS = 10_000


def _count(value: Any, default: int = 1) -> int:
    """A replica or parallelism count; a template placeholder or junk counts as default."""
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
    )


def gang_size(manifest: Any) -> int:
    """How many pods a rendered queue config runs at once (1: a plain Job or a pod)."""
    if not isinstance(manifest, dict):
        return 1
    kind, spec = manifest.get("kind"), manifest.get("spec")
    if not isinstance(spec, dict):
        return 1
    pods = 0
    if kind == "JobSet":
        for replicated in spec.get("replicatedJobs") or []:
            if not isinstance(replicated, dict):
                continue
            job_spec = ((replicated.get("template") or {}).get("spec")) or {}
            per_job = _count(job_spec.get("parallelism")) if isinstance(job_spec, dict) else 1
            pods += _count(replicated.get("replicas")) * per_job
    elif kind == "PyTorchJob":
        for replica in (spec.get("pytorchReplicaSpecs") or {}).values():
            if isinstance(replica, dict):
                pods += _count(replica.get("replicas"))
    else:
        return 1
    return min(max(pods, 1), MAX_PODS)


def gang_fits(gpus_per_pod: int, pods: int, node_free: Sequence[int]) -> bool:
    """Whether `pods` pods of `gpus_per_pod` GPUs each fit the nodes' free GPUs at once.

    Identical pods: a node holds floor(free / gpus) of them, so summing that is exact.
    """
    if pods <= 0 or gpus_per_pod <= 0:
        return True
    room = 0
    for free in node_free:
        room += free // gpus_per_pod
        if room >= pods:
            return True
    return False
