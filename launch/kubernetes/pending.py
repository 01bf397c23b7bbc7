"""Why a job's pod is stuck, ended or was taken away, in words a researcher understands (pure).

Image and container-config errors are fatal at once: waiting will not fix a wrong image
name or a missing Secret. An unschedulable pod only gets a deadline (`is_stuck`, the
pool's `start_timeout_s`), since GPUs free up and autoscalers add nodes.
"""

from __future__ import annotations

import contextlib
import re
import signal
from dataclasses import dataclass
from typing import Any, Literal

from .capacity import TAINTED, PoolCapacity, pod_gpus
from .pool import PoolSettings

VerdictKind = Literal["unschedulable", "image_pull", "config_error", "crash"]
IMAGE_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
CONFIG_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError"})
CRASH_REASONS = frozenset({"CrashLoopBackOff", "RunContainerError"})
START_REASONS = frozenset({"StartError", "ContainerCannotRun"})  # the command never ran
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
    """What holds a pod back: its kind, whether to give up at once, and why in words."""

    kind: VerdictKind
    fatal: bool
    message: str


def _counted(parts: list[tuple[int, str, str]]) -> str:
    """[(3, "has 4", "have 4"), (1, "is cordoned", ...)] -> "3 nodes have 4, 1 is cordoned"."""
    words = []
    for i, (count, one, many) in enumerate(parts):
        noun = ("node " if count == 1 else "nodes ") if i == 0 else ""
        words.append(f"{count} {noun}{one if count == 1 else many}")
    return ", ".join(words)


def _taint(text: str) -> str:
    """`{dedicated: infer}` -> `dedicated=infer`; `{node.kubernetes.io/unreachable: }` -> key."""
    found = re.search(r"\{([^:}]+):\s*([^}]*)\}", text)
    if not found:
        return ""
    key, value = found.group(1).strip(), found.group(2).strip()
    return f"{key}={value}" if value else key


def _phrase(what: str) -> tuple[str, str]:
    """One reason of the scheduler, for one node and for several."""
    if what.startswith("Insufficient "):
        resource = what[len("Insufficient ") :]
        return f"lacks free {resource}", f"lack free {resource}"
    if "were unschedulable" in what:
        return "is cordoned", "are cordoned"
    if "didn't match Pod's node affinity/selector" in what:
        return "is outside the job's node selector", "are outside the job's node selector"
    if "taint" in what:
        taint = _taint(what)
        detail = f" ({taint})" if taint else ""
        return f"has a taint the job does not tolerate{detail}", (
            f"have a taint the job does not tolerate{detail}"
        )
    if "didn't have free ports" in what:
        return "has the job's host port taken", "have the job's host port taken"
    if "Too many pods" in what:
        return "is full (pod limit)", "are full (pod limit)"
    if "volume node affinity conflict" in what:
        return "cannot reach the job's volumes", "cannot reach the job's volumes"
    text = what.replace("node(s) ", "")
    return text, text


def explain_scheduler(message: str) -> str:
    """The scheduler's `0/4 nodes are available: ...` turned into plain words."""
    head = message.split("preemption:")[0].strip()
    if not re.match(r"\d+/\d+ nodes are available", head):
        return head.rstrip(".") or "the scheduler gave no reason"
    body = head.split(": ", 1)[1] if ": " in head else ""
    parts = []
    # Reasons are "<count> <reason>", comma-separated; a reason itself may hold a comma.
    for chunk in re.split(r",\s+(?=\d+ )", body.strip().rstrip(".")):
        found = re.match(r"(\d+) (.+)", chunk.strip())
        if found:
            parts.append((int(found.group(1)), *_phrase(found.group(2).strip())))
    return _counted(parts) or head


def explain_unschedulable(
    pod: dict[str, Any], pool: PoolSettings, capacity: PoolCapacity | None, message: str
) -> str:
    """Why no node takes the pod: from the pool's capacity when GPUs are short, else the
    scheduler's own reasons (memory, CPU, volumes ...) in words."""
    gpus = pod_gpus(pod, pool.gpu_resource)
    if capacity is None or gpus == 0 or any(n.free >= gpus for n in capacity.usable):
        return f"no node in pool {pool.name} can take the job: {explain_scheduler(message)}"
    head = f"no node in pool {pool.name} has {gpus} free {pool.gpu_resource}"
    if not capacity.nodes:
        labels = ",".join(f"{k}={v}" for k, v in pool.node_selector.items())
        return f"{head}: the pool has no nodes" + (f" (labelled {labels})" if labels else "")
    counts: dict[int, int] = {}
    for node in capacity.usable:
        counts[node.free] = counts.get(node.free, 0) + 1
    parts = [(n, f"has {free}", f"have {free}") for free, n in sorted(counts.items(), reverse=True)]
    if capacity.cordoned:
        parts.append((capacity.cordoned, "is cordoned", "are cordoned"))
    if capacity.not_ready:
        parts.append((capacity.not_ready, "is not ready", "are not ready"))
    if capacity.tainted_untolerated:
        taints = sorted(
            n.excluded.removeprefix(f"{TAINTED} ")
            for n in capacity.nodes
            if n.excluded and n.excluded.startswith(TAINTED)
        )
        detail = f"a taint the pool does not tolerate ({', '.join(dict.fromkeys(taints))})"
        parts.append((capacity.tainted_untolerated, f"has {detail}", f"have {detail}"))
    text = f"{head}: {_counted(parts)}"
    largest = max(n.allocatable for n in capacity.nodes)
    if largest < gpus:
        text += f"; the largest node has {largest} in all: ask for at most {largest}"
    return text


def _waiting(pod: dict[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status") or {}
    out = []
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting:
                out.append({"image": cs.get("image", ""), "status": cs, **waiting})
    return out


def _image_of(pod: dict[str, Any]) -> str:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return str(containers[0].get("image", "?"))


def _config_hint(detail: str, pool: PoolSettings) -> str:
    secret = pool.api_key_secret
    if secret.name in detail:
        return (
            f"create the Secret {secret.name} with key {secret.key} (the W&B API key jobs "
            f"use) in namespace {pool.namespace}, or fix the pool's api_key_secret"
        )
    return "check the Secrets, ConfigMaps and volumes the queue's config template refers to"


def explain_pod(
    pod: dict[str, Any], pool: PoolSettings, capacity: PoolCapacity | None
) -> PodVerdict | None:
    """Why a pod does not start, or None when nothing is wrong (yet)."""
    for waiting in _waiting(pod):
        reason = waiting.get("reason", "")
        detail = waiting.get("message", "")
        said = f" ({detail})" if detail else ""
        if reason in IMAGE_REASONS:
            image = waiting.get("image") or _image_of(pod)
            return PodVerdict(
                "image_pull",
                True,
                f"cannot pull image {image}: {reason}{said} — check the image name and the "
                "pool's imagePullSecrets",
            )
        if reason in CONFIG_REASONS:
            return PodVerdict(
                "config_error",
                True,
                f"the container cannot be created: {reason}{said} — {_config_hint(detail, pool)}",
            )
        if reason in CRASH_REASONS:
            last = (waiting["status"].get("lastState") or {}).get("terminated") or {}
            code = f", last exit code {last['exitCode']}" if "exitCode" in last else ""
            return PodVerdict("crash", True, f"the container keeps failing: {reason}{said}{code}")
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
    """True when a pod held back by `verdict` should fail now: fatal, or waited `timeout_s`."""
    return verdict.fatal or now - pending_since >= timeout_s


def is_disrupted(pod: dict[str, Any]) -> str | None:
    """Why the pod was disrupted (DisruptionTarget condition), in words; None if it was not."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "DisruptionTarget" and condition.get("status") == "True":
            reason = condition.get("reason", "")
            return DISRUPTIONS.get(reason, f"the pod was disrupted ({reason or 'no reason given'})")
    return None


def _signal(code: Any) -> str:
    """`SIGKILL` for 137: a code over 128 means the process died of signal code-128."""
    if isinstance(code, int) and 128 < code < 128 + 65:
        with contextlib.suppress(ValueError):  # not every number is a signal
            return signal.Signals(code - 128).name
    return ""


def _terminated(what: str, terminated: dict[str, Any]) -> tuple[str, str]:
    code = terminated.get("exitCode")
    reason = terminated.get("reason") or "Error"
    detail = f": {terminated['message'].strip()}" if terminated.get("message") else ""
    if reason == "OOMKilled":
        return "run", (
            f"{what} ran out of memory (OOMKilled, exit code {code}): ask for more memory "
            "(resources.limits.memory) in the queue's config template"
        )
    if reason in START_REASONS:
        return "launch", f"{what} could not start ({reason}){detail}: check the entry point"
    # "Error" is the kubelet's word for any non-zero exit: it says nothing more.
    why = ", ".join(w for w in (_signal(code), "" if reason == "Error" else reason) if w)
    return "run", f"{what} exited with code {code}" + (f" ({why})" if why else "") + detail


def pod_failure(pod: dict[str, Any]) -> tuple[str, str]:
    """Stage and message of a failed pod: the main container's end, else an init
    container's or a sidecar's, else the pod's own reason (eviction, deadline)."""
    status = pod.get("status") or {}
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    main = containers[0].get("name")
    ended = []
    for key, kind in (("containerStatuses", "container"), ("initContainerStatuses", "init")):
        for cs in status.get(key) or []:
            terminated = (cs.get("state") or {}).get("terminated")
            if terminated and terminated.get("exitCode") != 0:
                name = cs.get("name")
                is_main = kind == "container" and (main is None or name in (main, None))
                # The main container's end explains the run best; then init containers.
                rank = 0 if is_main else 1 if kind == "init" else 2
                label = "init container" if kind == "init" else "container"
                what = "the container" if is_main else f"{label} {name}"
                ended.append((rank, what, terminated))
    if ended:
        _, what, terminated = min(ended, key=lambda e: e[0])
        return _terminated(what, terminated)
    reason, message = status.get("reason"), status.get("message")
    if reason == "DeadlineExceeded":
        return "kubernetes", f"the job ran past its activeDeadlineSeconds ({message or reason})"
    text = ": ".join(str(p) for p in (reason, message) if p)
    return "kubernetes", f"the pod failed: {text or 'no reason given'}"
