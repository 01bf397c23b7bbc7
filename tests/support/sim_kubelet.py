"""Pod status as kubelet writes it, for the simulated cluster (pure helpers).

Part of the cluster simulator for tests (see `support.cluster_sim`), which stands in for
real nodes behind the fake API server (`support.kube`): container statuses (waiting,
running, terminated), pod conditions with their transition times, and the per-pod
behaviour tests choose through container env:

- `SIM_DURATION_S` (default 0.3): how long the container runs;
- `SIM_EXIT_CODE` (default 0): its exit code (0 → Succeeded, else Failed with reason Error,
  or a restart when the restart policy says so);
- `SIM_LOG`: what it prints (default: a few lines naming the pod and node), served by
  `pods/log`; `\\n` in the value stands for a newline;
- `SIM_MESSAGE`: its termination message (by default the log's tail when the container's
  `terminationMessagePolicy` is `FallbackToLogsOnError` and it failed, else none).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .kube_objects import Obj, now_rfc3339

_PREEMPTING = "default-scheduler: preempting to accommodate a higher priority pod"
DISRUPTION_MESSAGES = {
    "EvictionByEvictionAPI": "Eviction API: evicting",
    "PreemptionByScheduler": _PREEMPTING,
    "PreemptionByKubeScheduler": _PREEMPTING,
    "DeletionByTaintManager": "Taint manager: deleting due to NoExecute taint",
    "DeletionByPodGC": "PodGC: node no longer exists",
    "TerminationByKubelet": "The node was low on resource: memory.",
}


@dataclass
class Behaviour:
    """What the simulated container does, read from its env."""

    duration_s: float
    exit_code: int
    log: str
    message: str | None


def behaviour(pod: Mapping[str, Any], default_duration_s: float) -> Behaviour:
    """The pod's behaviour: the first container that sets a SIM_ variable decides it."""
    env: dict[str, str] = {}
    for container in (pod.get("spec") or {}).get("containers") or []:
        for var in container.get("env") or []:
            name, value = var.get("name", ""), var.get("value")
            if name.startswith("SIM_") and value is not None:
                env.setdefault(name, str(value))
    meta = pod.get("metadata") or {}
    node = (pod.get("spec") or {}).get("nodeName")
    code = int(env.get("SIM_EXIT_CODE", "0"))
    default_log = (
        f"sim: pod {meta.get('name')} running on {node}\n"
        "sim: step 1/2 loss=0.50\n"
        "sim: step 2/2 loss=0.25\n"
        f"sim: exiting with code {code}\n"
    )
    log = env["SIM_LOG"].replace("\\n", "\n") if "SIM_LOG" in env else default_log
    return Behaviour(
        duration_s=float(env.get("SIM_DURATION_S", default_duration_s)),
        exit_code=code,
        log=log,
        message=env.get("SIM_MESSAGE"),
    )


def set_condition(
    status: Obj, type_: str, value: str, reason: str | None = None, message: str | None = None
) -> None:
    """Set a pod or job condition, keeping lastTransitionTime when the status is unchanged."""
    conditions = status.setdefault("conditions", [])
    now = now_rfc3339()
    for condition in conditions:
        if condition.get("type") == type_:
            if condition.get("status") != value:
                condition["lastTransitionTime"] = now
            condition["status"] = value
            condition["lastProbeTime"] = None
            for key, text in (("reason", reason), ("message", message)):
                if text is None:
                    condition.pop(key, None)
                else:
                    condition[key] = text
            return
    condition = {"type": type_, "status": value, "lastProbeTime": None, "lastTransitionTime": now}
    if reason is not None:
        condition["reason"] = reason
    if message is not None:
        condition["message"] = message
    conditions.append(condition)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def container_statuses(
    pod: Mapping[str, Any],
    state: Obj,
    ready: bool,
    restarts: int = 0,
    last: Obj | None = None,
) -> list[Obj]:
    """One status per container of the pod, all in `state`."""
    started = "running" in state or "terminated" in state
    statuses = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        image = str(container.get("image") or "")
        status: Obj = {
            "name": container.get("name"),
            "image": image,
            "imageID": f"docker.io/{image.split(':')[0]}@sha256:{_digest(image)}"
            if started
            else "",
            "ready": ready,
            "restartCount": restarts,
            "started": "running" in state,
            "state": state,
            "lastState": last or {},
        }
        if started:
            uid = (pod.get("metadata") or {}).get("uid", "")
            key = f"{uid}/{container.get('name')}/{restarts}"
            status["containerID"] = f"containerd://{_digest(key)}"
        statuses.append(status)
    return statuses


def termination_message(pod: Mapping[str, Any], how: Behaviour) -> str | None:
    """What kubelet puts in `terminated.message`."""
    if how.message is not None:
        return how.message
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    if (
        how.exit_code != 0
        and containers[0].get("terminationMessagePolicy") == "FallbackToLogsOnError"
    ):
        lines = how.log.splitlines(keepends=True)[-80:]
        return "".join(lines)[-2048:]
    return None


def terminated_state(how: Behaviour, started_at: str, message: str | None) -> Obj:
    """`state.terminated` for an exit code."""
    terminated: Obj = {
        "exitCode": how.exit_code,
        "reason": "Completed" if how.exit_code == 0 else "Error",
        "startedAt": started_at,
        "finishedAt": now_rfc3339(),
    }
    if message:
        terminated["message"] = message
    return {"terminated": terminated}


def pull_error(image: str) -> str:
    """The message containerd gives for an image that cannot be pulled."""
    ref = image if "/" in image.split(":")[0] else f"docker.io/library/{image}"
    ref = ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"
    return (
        f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": '
        f"pull access denied, repository does not exist or may require authorization: "
        f"server message: insufficient_scope: authorization failed"
    )
