"""Why a job's pod is stuck or ended, in words a researcher understands (pure).

Image errors are fatal at once (waiting will not fix a wrong image name); an
unschedulable pod gets a deadline (`is_stuck`), since capacity may free up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .capacity import PoolCapacity, pod_gpus
from .pool import PoolSettings

IMAGE_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})
CONFIG_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError"})
DISRUPTIONS = {
    "EvictionByEvictionAPI": "the pod was evicted (node drain or eviction API)",
    "PreemptionByScheduler": "the scheduler preempted the pod for a higher-priority one",
    "PreemptionByKubeScheduler": "the scheduler preempted the pod for a higher-priority one",
    "DeletionByTaintManager": "the node was tainted NoExecute (it is going away)",
    "DeletionByPodGC": "the node vanished (pod garbage-collected)",
    "TerminationByKubelet": "the kubelet terminated the pod (node pressure or shutdown)",
}


@dataclass(frozen=True)
class PodVerdict:
    """What holds a pod back: kind (unschedulable, image, config), fatal now or not, why."""

    kind: str
    fatal: bool
    message: str


def _waiting(pod: dict[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status") or {}
    out = []
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting:
                out.append({"image": cs.get("image", ""), **waiting})
    return out


def _image_of(pod: dict[str, Any]) -> str:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return str(containers[0].get("image", "?"))


def explain_scheduler(message: str) -> str:
    """The scheduler's `0/4 nodes are available: ...` turned into plain words."""
    parts = []
    head = message.split("preemption:")[0]
    body = head.split(": ", 1)[1] if ": " in head else head
    for chunk in body.strip().rstrip(".").split(", "):
        found = re.match(r"(\d+) (.+)", chunk.strip())
        if not found:
            continue
        count, what = found.group(1), found.group(2).strip()
        if what.startswith("Insufficient "):
            parts.append(f"{count} lack free {what[len('Insufficient ') :]}")
        elif "were unschedulable" in what:
            parts.append(f"{count} cordoned")
        elif "didn't match Pod's node affinity/selector" in what:
            parts.append(f"{count} outside the pool's node selector")
        elif "untolerated taint" in what:
            parts.append(f"{count} with a taint the job does not tolerate")
        else:
            parts.append(f"{count} {what}")
    return "; ".join(parts) or message


def explain_unschedulable(
    pod: dict[str, Any], pool: PoolSettings, capacity: PoolCapacity | None, message: str
) -> str:
    """Why no node takes the pod, from the pool's capacity when known, else the scheduler."""
    gpus = pod_gpus(pod, pool.gpu_resource)
    if capacity is not None and gpus > 0:
        usable = capacity.usable
        if not capacity.nodes:
            return f"pool {pool.name} has no nodes matching {pool.node_selector or 'its selector'}"
        counts: dict[int, int] = {}
        for node in usable:
            counts[node.free] = counts.get(node.free, 0) + 1
        have = [
            f"{n} {'node has' if n == 1 else 'nodes have'} {free}"
            for free, n in sorted(counts.items(), reverse=True)
        ]
        cordoned = sum(1 for n in capacity.nodes if n.excluded == "cordoned")
        tainted = sum(1 for n in capacity.nodes if (n.excluded or "").startswith("tainted"))
        if cordoned:
            have.append(f"{cordoned} {'is' if cordoned == 1 else 'are'} cordoned")
        if tainted:
            have.append(f"{tainted} {'has' if tainted == 1 else 'have'} an untolerated taint")
        return f"no node in pool {pool.name} has {gpus} free {pool.gpu_resource}: " + ", ".join(
            have
        )
    return f"no node in pool {pool.name} can take the job: {explain_scheduler(message)}"


def explain_pod(
    pod: dict[str, Any], pool: PoolSettings, capacity: PoolCapacity | None
) -> PodVerdict | None:
    """Why a pending pod does not start, or None when nothing is wrong (yet)."""
    for waiting in _waiting(pod):
        reason = waiting.get("reason", "")
        detail = waiting.get("message", "")
        if reason in IMAGE_REASONS:
            image = waiting.get("image") or _image_of(pod)
            return PodVerdict(
                "image",
                True,
                f"cannot pull image {image}: {reason}"
                + (f" ({detail})" if detail else "")
                + " - check the image name and the pool's imagePullSecrets",
            )
        if reason in CONFIG_REASONS:
            return PodVerdict(
                "config", True, f"the container cannot be created: {reason}: {detail}"
            )
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            message = explain_unschedulable(pod, pool, capacity, condition.get("message", ""))
            return PodVerdict("unschedulable", False, message)
    return None


def is_stuck(verdict: PodVerdict, pending_since: float, now: float, timeout_s: float) -> bool:
    """True when a pod held back by `verdict` has waited past the deadline (or is fatal)."""
    return verdict.fatal or now - pending_since >= timeout_s


def is_disrupted(pod: dict[str, Any]) -> str | None:
    """Why the pod was disrupted (DisruptionTarget condition), in words; None if it was not."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "DisruptionTarget" and condition.get("status") == "True":
            reason = condition.get("reason", "")
            return DISRUPTIONS.get(reason, f"the pod was disrupted ({reason})")
    return None


def pod_failure(pod: dict[str, Any]) -> tuple[str, str]:
    """Stage and message of a failed pod, from its main container's termination."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (cs.get("state") or {}).get("terminated")
        if not terminated:
            continue
        code = terminated.get("exitCode")
        reason = terminated.get("reason") or "Error"
        if reason == "OOMKilled":
            return "run", (
                f"the container ran out of memory (OOMKilled, exit code {code}): "
                "ask for more memory in the queue template"
            )
        detail = f": {terminated['message']}" if terminated.get("message") else ""
        return "run", f"the container exited with code {code} ({reason}){detail}"
    message = (pod.get("status") or {}).get("message") or (pod.get("status") or {}).get("reason")
    return "kubernetes", f"the pod failed: {message or 'no reason given'}"
