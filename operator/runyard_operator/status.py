"""Status of each custom resource from what was observed (pure: the handlers fetch)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .conditions import summarize

_GPU_PHASES_DONE = ("Succeeded", "Failed")


def _quantity(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def deployment_progress(deployment: dict[str, Any] | None) -> tuple[int, int, str | None]:
    """(replicas, ready replicas, why not yet ready or None) of a Deployment as last seen."""
    if deployment is None:
        return 0, 0, "the Deployment does not exist yet"
    wanted = int((deployment.get("spec") or {}).get("replicas", 1))
    status = deployment.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    if ready < wanted:
        return int(status.get("replicas") or 0), ready, f"{ready}/{wanted} replicas ready"
    return int(status.get("replicas") or ready), ready, None


def server_status(
    previous: dict[str, Any],
    generation: int,
    now: datetime,
    *,
    deployment: dict[str, Any] | None,
    url: str,
    version: str,
    admin_secret: str,
    degraded: str | None = None,
    waiting: str | None = None,
) -> dict[str, Any]:
    """TrackingServer status: Ready once the Deployment has its ready replicas (and no
    migration is under way: `waiting`)."""
    replicas, ready, not_ready = deployment_progress(deployment)
    waiting = waiting or not_ready
    phase, conditions = summarize(
        previous.get("conditions") or [],
        generation,
        now,
        ready=waiting is None and degraded is None,
        progressing=waiting if degraded is None else None,
        degraded=degraded,
        ready_message=f"{ready} replicas ready at {url}",
    )
    return {
        "phase": phase,
        "url": url,
        "version": version,
        "replicas": replicas,
        "readyReplicas": ready,
        "adminKeySecret": admin_secret,
        "conditions": conditions,
        "observedGeneration": generation,
    }


def degraded_status(
    previous: dict[str, Any], generation: int, now: datetime, message: str
) -> dict[str, Any]:
    """Status of any CR whose spec cannot be applied: Degraded, naming the field."""
    phase, conditions = summarize(
        previous.get("conditions") or [],
        generation,
        now,
        ready=False,
        progressing=None,
        degraded=message,
    )
    return {"phase": phase, "conditions": conditions, "observedGeneration": generation}


def _matches(labels: dict[str, str], node_selector: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in node_selector.items())


def gpu_capacity(
    nodes: list[dict[str, Any]],
    pods: list[dict[str, Any]],
    node_selector: dict[str, str],
    resource: str,
) -> tuple[int, int]:
    """(total, free) GPUs of the pool's nodes: allocatable minus what live pods request."""
    pool_nodes = {
        n["metadata"]["name"]: _quantity(
            ((n.get("status") or {}).get("allocatable") or {}).get(resource, 0)
        )
        for n in nodes
        if _matches(n["metadata"].get("labels") or {}, node_selector)
        and not (n.get("spec") or {}).get("unschedulable")
    }
    used = 0
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node not in pool_nodes or (pod.get("status") or {}).get("phase") in _GPU_PHASES_DONE:
            continue
        for container in (pod.get("spec") or {}).get("containers") or []:
            # Extended resources are requested through limits (requests must equal them).
            limits = (container.get("resources") or {}).get("limits") or {}
            used += _quantity(limits.get(resource, 0))
    total = sum(pool_nodes.values())
    return total, max(total - used, 0)


def pool_status(
    previous: dict[str, Any],
    generation: int,
    now: datetime,
    *,
    deployment: dict[str, Any] | None,
    desired_replicas: int,
    selector: str,
    gpus: tuple[int, int],
    running: int,
    pending: int,
    last_scale_time: str | None,
) -> dict[str, Any]:
    """AgentPool status: Ready when the agents wanted are ready."""
    replicas, ready, waiting = deployment_progress(deployment)
    phase, conditions = summarize(
        previous.get("conditions") or [],
        generation,
        now,
        ready=waiting is None,
        progressing=waiting,
        degraded=None,
        ready_message=f"{ready} agents ready",
    )
    return {
        "phase": phase,
        "replicas": replicas,
        "desiredReplicas": desired_replicas,
        "readyReplicas": ready,
        "selector": selector,
        "gpusTotal": gpus[0],
        "gpusFree": gpus[1],
        "running": running,
        "pending": pending,
        "lastScaleTime": last_scale_time,
        "conditions": conditions,
        "observedGeneration": generation,
    }


def queue_status_full(
    previous: dict[str, Any], generation: int, now: datetime, stats: dict[str, Any]
) -> dict[str, Any]:
    """LaunchQueue status: Ready once the server holds the queue; counts from its stats."""
    phase, conditions = summarize(
        previous.get("conditions") or [],
        generation,
        now,
        ready=True,
        progressing=None,
        degraded=None,
        ready_message="queue is in sync with the server",
    )
    return {**stats, "phase": phase, "conditions": conditions, "observedGeneration": generation}
