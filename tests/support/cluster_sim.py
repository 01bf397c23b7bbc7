"""A simulated Kubernetes cluster behind the fake API server: scheduler, controllers, kubelet.

A real cluster cannot exist on these machines, and `support.kube.FakeKubernetes` alone is
only the API server: objects are stored but nothing acts on them. `ClusterSimulator` plays
the controllers a launch agent depends on, from one background thread that wakes on every
change in the store (and at its own deadlines), so the cluster reacts within milliseconds:

- nodes (`add_node`): labels, allocatable GPUs/cpu/memory, taints, cordons;
- the Job controller: one pod per Job at a time (`<job>-<5 chars>`, the template's labels
  plus `job-name`/`controller-uid` labels, an owner reference to the Job), replacement pods
  until `backoffLimit` is spent, Job `status` (active, ready, succeeded, failed, startTime,
  completionTime) and conditions `SuccessCriteriaMet`+`Complete` or `FailureTarget`+`Failed`
  (reasons `BackoffLimitExceeded`, `DeadlineExceeded`), `ttlSecondsAfterFinished`;
- the JobSet controller (`support.sim_jobset`, `jobsets` in `jobset.x-k8s.io/v1alpha2`,
  declared in the API server by every simulator): child Jobs `<jobset>-<replicatedJob>-<i>`
  labelled `jobset.sigs.k8s.io/*` down to their pods and owned by the JobSet, its
  `replicatedJobsStatus` and conditions `Completed`/`Failed`, the active Jobs deleted once
  one failed, restarts up to `failurePolicy.maxRestarts`;
- the scheduler (`support.kube_scheduler`): nodeSelector/affinity, taints, cordons and free
  resources; otherwise `PodScheduled=False, reason=Unschedulable` with kube-scheduler's
  message and a `FailedScheduling` event, retried whenever the cluster changes;
- kubelet (`support.sim_kubelet`): ContainerCreating → Running → Succeeded/Failed, restarts
  for `OnFailure`, image pull failures (`fail_image_pull`), evictions with a
  `DisruptionTarget` condition (`evict`), logs served by `pods/log`; with `processes`
  (`support.sim_process.LocalContainers`), a container that names a command runs as a
  local process with its resolved environment, so a real training script can be the pod.

Everything the simulator writes goes through `ClusterStore`, so clients see it through the
official `kubernetes` client: reads, lists, watches, resourceVersions.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar

import kmock

from .kube import FakeKubernetes
from .kube_objects import Obj, now_rfc3339
from .kube_scheduler import TERMINAL, choose_node, pod_requests, usage_by_node
from .sim_jobset import JobSetController
from .sim_jobset import declare as declare_jobsets
from .sim_kubelet import (
    DISRUPTION_MESSAGES,
    Behaviour,
    behaviour,
    container_statuses,
    pull_error,
    set_condition,
    terminated_state,
    termination_message,
)
from .sim_process import ContainerConfigError, LocalContainers

logger = logging.getLogger(__name__)
T = TypeVar("T")
IDLE_S = 0.25  # the longest the loop sleeps when nothing is due
PROCESS_POLL_S = 0.05  # how often a local-process container is checked for its exit


def _ip(name: str, prefix: str) -> str:
    digest = hashlib.sha256(name.encode()).digest()
    return f"{prefix}.{digest[0]}.{digest[1] % 254 + 1}"


@dataclass
class _Run:
    """Kubelet's memory of one pod."""

    stage: str  # creating, pull-error, pull-backoff, running, crash-backoff, done
    since: float
    how: Behaviour
    started_at: str = ""
    restarts: int = 0
    process: bool = False  # the container runs as a local process (`LocalContainers`)


@dataclass
class _JobMemory:
    """The Job controller's memory of one Job (pods it counted survive their deletion)."""

    succeeded: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    next_pod_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None


class ClusterSimulator:
    """Nodes, scheduler, Job and JobSet controllers and kubelet for a `FakeKubernetes`."""

    def __init__(
        self,
        fake: FakeKubernetes,
        *,
        start_delay_s: float = 0.05,
        default_duration_s: float = 0.3,
        pull_backoff_s: float = 0.1,
        retry_delay_s: float = 0.05,
        events: bool = True,
        autostart: bool = True,
        processes: LocalContainers | None = None,
        clock: Callable[[], float] = time.monotonic,
        pack: bool = False,
    ) -> None:
        # Seconds the simulated containers live by; a benchmark passes a simulated clock.
        self.clock = clock
        self.pack = pack  # score nodes MostAllocated (bin-packing) instead of LeastAllocated
        self.fake = fake
        self.store = fake.store
        self.start_delay_s = start_delay_s
        self.default_duration_s = default_duration_s
        self.pull_backoff_s = pull_backoff_s
        self.retry_delay_s = retry_delay_s
        self.record_events = events
        self.processes = processes
        self.errors: list[BaseException] = []
        self._pods, self._nodes = self.store.kind("pods"), self.store.kind("nodes")
        self._secrets = self.store.kind("secrets")
        self._jobs, self._events = self.store.kind("jobs"), self.store.kind("events")
        self._jobsets = JobSetController(self.store, declare_jobsets(fake), self._event)
        self._runs: dict[str, _Run] = {}
        self._job_memory: dict[str, _JobMemory] = {}
        self._unschedulable: dict[str, str] = {}
        self._pull_failures: list[tuple[str, str | None]] = []
        self._deletions: list[tuple[float, str, str, str]] = []  # (when, ns, name, uid)
        self._actions: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._unsubscribe = self.store.subscribe(self._wake.set)
        self._thread = threading.Thread(target=self._loop, name="cluster-sim", daemon=True)
        if autostart:
            self.start()

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self, check: bool = True) -> None:
        """Stop the controllers; with `check`, raise if one of them failed meanwhile."""
        self._stopped.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self._unsubscribe()
        if self.processes is not None:
            self.processes.stop_all()
        if check and self.errors:
            raise RuntimeError("the cluster simulator failed") from self.errors[0]

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(check=exc_type is None)

    # --- for tests: nodes ------------------------------------------------------------------

    def add_node(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        gpus: int = 0,
        gpu_resource: str = "nvidia.com/gpu",
        taints: Iterable[Mapping[str, Any]] = (),
        unschedulable: bool = False,
        cpu: str = "64",
        memory: str = "512Gi",
        max_pods: int = 110,
    ) -> Obj:
        """Create a Ready node with `gpus` of `gpu_resource` allocatable; returns it."""
        allocatable = {
            "cpu": cpu,
            "memory": memory,
            "pods": str(max_pods),
            "ephemeral-storage": "500Gi",
        }
        if gpus:
            allocatable[gpu_resource] = str(gpus)
        spec: Obj = {"taints": [dict(t) for t in taints]}
        if unschedulable:
            spec["unschedulable"] = True
            spec["taints"].append(_UNSCHEDULABLE_TAINT)
        if not spec["taints"]:
            del spec["taints"]
        now = now_rfc3339()
        node = {
            "metadata": {
                "name": name,
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    **(labels or {}),
                },
            },
            "spec": spec,
            "status": {
                "capacity": dict(allocatable),
                "allocatable": allocatable,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "kubelet is posting ready status",
                        "lastHeartbeatTime": now,
                        "lastTransitionTime": now,
                    },
                ],
                "addresses": [
                    {"type": "InternalIP", "address": _ip(name, "10.0")},
                    {"type": "Hostname", "address": name},
                ],
                "nodeInfo": {
                    "kubeletVersion": "v1.33.1",
                    "containerRuntimeVersion": "containerd://2.0.5",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            },
        }
        return self.store.create(self._nodes, None, node)

    def cordon(self, name: str) -> Obj | None:
        """`kubectl cordon`: unschedulable, with the taint the node controller adds."""

        def change(node: Obj) -> None:
            node["spec"]["unschedulable"] = True
            taints = node["spec"].setdefault("taints", [])
            if not any(t.get("key") == _UNSCHEDULABLE_TAINT["key"] for t in taints):
                taints.append(dict(_UNSCHEDULABLE_TAINT))

        return self.store.mutate(self._nodes, None, name, change)

    def uncordon(self, name: str) -> Obj | None:
        def change(node: Obj) -> None:
            node["spec"].pop("unschedulable", None)
            taints = [
                t
                for t in node["spec"].get("taints") or []
                if t.get("key") != _UNSCHEDULABLE_TAINT["key"]
            ]
            node["spec"]["taints"] = taints
            if not taints:
                del node["spec"]["taints"]

        return self.store.mutate(self._nodes, None, name, change)

    def remove_node(self, name: str) -> None:
        """The node vanishes: its pods fail (DisruptionTarget DeletionByPodGC) and go."""
        for pod in self.store.list(self._pods, field_selector=f"spec.nodeName={name}")[0]:
            if (pod.get("status") or {}).get("phase") not in TERMINAL:
                self.evict(
                    pod["metadata"]["name"], pod["metadata"]["namespace"], "DeletionByPodGC", 0.0
                )
        self.store.delete(self._nodes, None, name)

    # --- for tests: pods -------------------------------------------------------------------

    def fail_image_pull(self, image_substring: str, message: str | None = None) -> None:
        """Pods whose image contains `image_substring` stay Pending: ErrImagePull, then
        ImagePullBackOff, alternating, with containerd's message (or `message`)."""
        self._pull_failures.append((image_substring, message))

    def allow_image_pull(self, image_substring: str) -> None:
        self._pull_failures = [f for f in self._pull_failures if f[0] != image_substring]

    def evict(
        self,
        pod_name: str,
        namespace: str | None = None,
        reason: str = "EvictionByEvictionAPI",
        delete_after_s: float | None = None,
    ) -> Obj:
        """Disrupt a pod: condition DisruptionTarget=True with `reason` (EvictionByEvictionAPI,
        PreemptionByScheduler, DeletionByTaintManager ...), then phase Failed (its containers
        killed, exit code 137); with `delete_after_s`, the pod is also deleted after that."""
        return self._call(lambda: self._evict(pod_name, namespace, reason, delete_after_s))

    def wake(self) -> None:
        """Look at the world again now (after the clock moved)."""
        self._wake.set()

    def sync(self) -> None:
        """Return once one whole step ran at the clock's current time."""
        self._call(lambda: None)  # this step's actions ran; its controllers come next
        self._call(lambda: None)  # ... and are done once the next step takes actions

    def next_end(self) -> float | None:
        """When the next running simulated container ends (simulated clock); None: none runs."""

        def earliest() -> float | None:
            ends = [
                run.since + run.how.duration_s
                for run in self._runs.values()
                if run.stage == "running" and not run.process
            ]
            return min(ends, default=None)

        return self._call(earliest)

    def pods(self, namespace: str | None = None, label_selector: str | None = None) -> list[Obj]:
        """Pods (copies), straight from the store."""
        return self.store.list(self._pods, namespace, label_selector)[0]

    def jobs(self, namespace: str | None = None, label_selector: str | None = None) -> list[Obj]:
        return self.store.list(self._jobs, namespace, label_selector)[0]

    def events(self, namespace: str | None = None, involved: str | None = None) -> list[Obj]:
        """Events, optionally only those about the object named `involved`."""
        selector = f"involvedObject.name={involved}" if involved else None
        return self.store.list(self._events, namespace, field_selector=selector)[0]

    def wait_for(
        self, predicate: Callable[[], T], timeout: float = 5.0, what: str | None = None
    ) -> T:
        """Return `predicate()` once truthy, re-checked on every change; TimeoutError after
        `timeout` s. The predicate may call the API server."""
        changed = threading.Event()
        unsubscribe = self.store.subscribe(changed.set)
        deadline = time.monotonic() + timeout
        try:
            while True:
                changed.clear()
                result = predicate()
                if result:
                    return result
                if self.errors:
                    raise RuntimeError("the cluster simulator failed") from self.errors[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"timed out after {timeout:g} s waiting for {what or predicate}"
                    )
                changed.wait(min(remaining, 0.05))
        finally:
            unsubscribe()

    # --- the loop --------------------------------------------------------------------------

    def _call(self, action: Callable[[], T]) -> T:
        """Run `action` on the simulator's thread (no races with the controllers)."""
        if not self._thread.is_alive():
            return action()
        done: Future[T] = Future()
        self._actions.put((action, done))
        self._wake.set()
        return done.result(timeout=10)

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._wake.clear()
            now = self.clock()
            while not self._actions.empty():
                action, done = self._actions.get()
                try:
                    done.set_result(action())
                except BaseException as exc:  # handed to the caller
                    done.set_exception(exc)
            try:
                due = self._step(now)
            except Exception as exc:
                logger.exception("cluster simulator step failed")
                self.errors.append(exc)
                due = now + IDLE_S
            self._wake.wait(max(0.0, min(due - self.clock(), IDLE_S)))

    def _step(self, now: float) -> float:
        due = [now + IDLE_S]
        for when, ns, name, uid in list(self._deletions):
            if when <= now:
                self._deletions.remove((when, ns, name, uid))
                pod = self.store.get(self._pods, ns, name)
                if pod is not None and pod["metadata"]["uid"] == uid:
                    self.store.delete(self._pods, ns, name)
            else:
                due.append(when)
        self._jobsets.sync()  # first: the Jobs it makes or deletes are in the lists below
        nodes = self.store.list(self._nodes, copies=False)[0]
        pods = self.store.list(self._pods, copies=False)[0]
        jobs = self.store.list(self._jobs, copies=False)[0]
        self._job_controller(now, jobs, pods, due)
        self._schedule(nodes, pods)
        self._kubelet(now, nodes, pods, due)
        return min(due)

    # --- Job controller --------------------------------------------------------------------

    def _job_controller(
        self, now: float, jobs: list[Obj], pods: list[Obj], due: list[float]
    ) -> None:
        owned: dict[str, list[Obj]] = {}
        for pod in pods:
            for ref in pod["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == "Job" and ref.get("controller"):
                    owned.setdefault(ref["uid"], []).append(pod)
        live = set()
        for job in jobs:
            uid = job["metadata"]["uid"]
            live.add(uid)
            self._sync_job(
                now, job, owned.get(uid, []), self._job_memory.setdefault(uid, _JobMemory()), due
            )
        for uid in set(self._job_memory) - live:
            del self._job_memory[uid]

    def _sync_job(
        self, now: float, job: Obj, pods: list[Obj], memory: _JobMemory, due: list[float]
    ) -> None:
        meta, spec = job["metadata"], job.get("spec") or {}
        failed_before = len(memory.failed)
        for pod in pods:
            phase = (pod.get("status") or {}).get("phase")
            if phase == "Succeeded":
                memory.succeeded.add(pod["metadata"]["uid"])
            elif phase == "Failed":
                memory.failed.add(pod["metadata"]["uid"])
        if len(memory.failed) > failed_before:
            memory.next_pod_at = now + self.retry_delay_s
        active = [
            p
            for p in pods
            if (p.get("status") or {}).get("phase") not in TERMINAL
            and not p["metadata"].get("deletionTimestamp")
        ]
        finished = _finished(job)
        if finished is not None:
            memory.finished_at = memory.finished_at or now
            ttl = spec.get("ttlSecondsAfterFinished")
            if ttl is not None:
                if now >= memory.finished_at + float(ttl):
                    self.store.delete(self._jobs, meta["namespace"], meta["name"], "Background")
                else:
                    due.append(memory.finished_at + float(ttl))
            return
        if meta.get("deletionTimestamp"):
            return
        restarts = sum(
            int(s.get("restartCount", 0))
            for p in pods
            for s in (p.get("status") or {}).get("containerStatuses") or []
        )
        failures = len(memory.failed) + restarts
        completions = int(spec.get("completions") or 1)
        deadline = spec.get("activeDeadlineSeconds")
        verdict = None
        if failures > int(spec.get("backoffLimit", 6)):
            verdict = (
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )
        elif (
            deadline is not None
            and memory.started_at is not None
            and now >= memory.started_at + float(deadline)
        ):
            verdict = (
                "Failed",
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            )
        elif len(memory.succeeded) >= completions:
            verdict = (
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            )
        elif deadline is not None and memory.started_at is not None:
            due.append(memory.started_at + float(deadline))
        if verdict is not None:
            if verdict[0] == "Failed":  # the controller deletes what still runs
                for pod in active:
                    with contextlib.suppress(kmock.KubernetesError):
                        self.store.delete(
                            self._pods, pod["metadata"]["namespace"], pod["metadata"]["name"]
                        )
            self._write_job(job, memory, 0, 0, verdict)
            memory.finished_at = now
            return
        created = 0
        want = min(int(spec.get("parallelism") or 1), completions - len(memory.succeeded)) - len(
            active
        )
        if want > 0 and not spec.get("suspend"):
            if now >= memory.next_pod_at:
                for _ in range(want):
                    created += self._create_pod(job)
                if memory.started_at is None:
                    memory.started_at = now
            else:
                due.append(memory.next_pod_at)
        ready = sum(1 for p in active if _condition(p, "Ready") == "True")
        self._write_job(job, memory, len(active) + created, ready, None)

    def _create_pod(self, job: Obj) -> int:
        meta, template = job["metadata"], job["spec"].get("template") or {}
        template_meta = template.get("metadata") or {}
        labels = dict(template_meta.get("labels") or {})
        labels.update(
            {
                "job-name": meta["name"],
                "batch.kubernetes.io/job-name": meta["name"],
                "controller-uid": meta["uid"],
                "batch.kubernetes.io/controller-uid": meta["uid"],
            }
        )
        pod = {
            "metadata": {
                "generateName": f"{meta['name']}-",
                "namespace": meta["namespace"],
                "labels": labels,
                "annotations": {
                    **(template_meta.get("annotations") or {}),
                    "batch.kubernetes.io/job-tracking": "",
                },
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": template.get("spec") or {},
        }
        try:
            # Not for a Job deleted since the list: nothing would ever collect its pod.
            with self.store.lock:
                current = self.store.get(self._jobs, meta["namespace"], meta["name"])
                if current is None or current["metadata"]["uid"] != meta["uid"]:
                    return 0
                self.store.create(self._pods, meta["namespace"], pod)
        except kmock.KubernetesError as exc:
            self._event(
                "Job",
                job,
                "FailedCreate",
                f"Error creating: {exc.message}",
                "Warning",
                "job-controller",
            )
            return 0
        return 1

    def _write_job(
        self,
        job: Obj,
        memory: _JobMemory,
        active: int,
        ready: int,
        verdict: tuple[str, str, str] | None,
    ) -> None:
        uid = job["metadata"]["uid"]

        def change(obj: Obj) -> None:
            if obj["metadata"]["uid"] != uid or _finished(obj):
                return
            status = obj.setdefault("status", {})
            if memory.started_at is not None or active:
                status.setdefault("startTime", now_rfc3339())
            for key, count in (
                ("active", active),
                ("succeeded", len(memory.succeeded)),
                ("failed", len(memory.failed)),
            ):
                if count:
                    status[key] = count
                else:
                    status.pop(key, None)
            status["ready"] = ready
            status["terminating"] = 0
            status["uncountedTerminatedPods"] = {}
            if verdict is not None:
                type_, reason, message = verdict
                interim = "SuccessCriteriaMet" if type_ == "Complete" else "FailureTarget"
                set_condition(status, interim, "True", reason, message)
                set_condition(status, type_, "True", reason, message)
                if type_ == "Complete":
                    status["completionTime"] = now_rfc3339()

        self.store.mutate(self._jobs, job["metadata"]["namespace"], job["metadata"]["name"], change)
        if verdict is not None:
            self._event(
                "Job",
                job,
                verdict[1],
                verdict[2],
                "Normal" if verdict[0] == "Complete" else "Warning",
                "job-controller",
            )

    # --- scheduler -------------------------------------------------------------------------

    def _schedule(self, nodes: list[Obj], pods: list[Obj]) -> None:
        live = [n for n in nodes if not n["metadata"].get("deletionTimestamp")]
        used = usage_by_node(pods)
        pending = [
            p
            for p in pods
            if not (p.get("spec") or {}).get("nodeName")
            and (p.get("status") or {}).get("phase", "Pending") == "Pending"
            and not p["metadata"].get("deletionTimestamp")
            and (p.get("spec") or {}).get("schedulerName", "default-scheduler")
            == "default-scheduler"
        ]
        pending.sort(
            key=lambda p: (
                -int(p["spec"].get("priority") or 0),
                p["metadata"].get("creationTimestamp", ""),
                int(p["metadata"].get("resourceVersion", 0)),
            )
        )
        for pod in pending:
            meta = pod["metadata"]
            node, message = choose_node(pod, live, used, self.pack)
            if node is not None:
                name = node["metadata"]["name"]
                mine = used.setdefault(name, {})
                for resource, amount in pod_requests(pod).items():
                    mine[resource] = mine.get(resource, 0) + amount
                self._bind(pod, name)
                self._unschedulable.pop(meta["uid"], None)
            elif self._unschedulable.get(meta["uid"]) != message:
                self._unschedulable[meta["uid"]] = message
                self._write_pod(
                    pod,
                    lambda obj, m=message: set_condition(
                        obj["status"], "PodScheduled", "False", "Unschedulable", m
                    ),
                )
                self._event("Pod", pod, "FailedScheduling", message, "Warning")

    def _bind(self, pod: Obj, node: str) -> None:
        def change(obj: Obj) -> None:
            if not obj["spec"].get("nodeName"):
                obj["spec"]["nodeName"] = node
                set_condition(obj.setdefault("status", {}), "PodScheduled", "True")

        meta = pod["metadata"]
        if self.store.mutate(self._pods, meta["namespace"], meta["name"], change) is not None:
            self._event(
                "Pod",
                pod,
                "Scheduled",
                f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
            )

    # --- kubelet ---------------------------------------------------------------------------

    def _kubelet(self, now: float, nodes: list[Obj], pods: list[Obj], due: list[float]) -> None:
        node_names = {n["metadata"]["name"] for n in nodes}
        seen = set()
        for pod in pods:
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            run = self._runs.get(uid)
            if (pod.get("spec") or {}).get("nodeName") not in node_names or pod["metadata"].get(
                "deletionTimestamp"
            ):
                continue
            if (pod.get("status") or {}).get("phase") in TERMINAL or (
                run is not None and run.stage == "done"
            ):
                continue
            if run is None:
                self._runs[uid] = _Run("creating", now, behaviour(pod, self.default_duration_s))
                self._write_pod(pod, self._creating_status)
                due.append(now + self.start_delay_s)
                continue
            due.append(self._advance(now, pod, run))
        for uid in set(self._runs) - seen:
            del self._runs[uid]
            self._unschedulable.pop(uid, None)

    def _advance(self, now: float, pod: Obj, run: _Run) -> float:
        """Move one pod on if its current stage is over; returns when to look again."""
        elapsed = now - run.since
        spec = pod.get("spec") or {}
        starting = run.stage == "creating" and elapsed >= self.start_delay_s
        pulling = run.stage in ("pull-error", "pull-backoff") and elapsed >= self.pull_backoff_s
        if starting or pulling:
            failure = self._pull_failure(pod)
            if failure is None:
                self._start(pod, run, now)
                return now + run.how.duration_s
            image, message = failure
            stage, reason = (
                ("pull-backoff", "ImagePullBackOff")
                if run.stage == "pull-error"
                else ("pull-error", "ErrImagePull")
            )
            text = message or (
                f'Back-off pulling image "{image}"'
                if reason == "ImagePullBackOff"
                else pull_error(image)
            )
            run.stage, run.since = stage, now
            self._write_pod(
                pod,
                lambda obj: obj["status"].update(
                    containerStatuses=container_statuses(
                        obj, {"waiting": {"reason": reason, "message": text}}, False
                    )
                ),
            )
            if reason == "ErrImagePull":
                self._event(
                    "Pod",
                    pod,
                    "Failed",
                    f'Failed to pull image "{image}": {text}',
                    "Warning",
                    "kubelet",
                )
            else:
                self._event(
                    "Pod", pod, "BackOff", f'Back-off pulling image "{image}"', "Normal", "kubelet"
                )
            return now + self.pull_backoff_s
        if run.stage == "crash-backoff" and elapsed >= self.pull_backoff_s:
            self._start(pod, run, now)
            return now + run.how.duration_s
        if run.stage == "running" and run.process:
            return self._follow_process(now, pod, run, spec.get("restartPolicy", "Always"))
        if run.stage == "config-error" and elapsed >= self.pull_backoff_s:
            self._start(pod, run, now)
            return now + self.pull_backoff_s
        if run.stage == "running" and elapsed >= run.how.duration_s:
            self._terminate(pod, run, now, spec.get("restartPolicy", "Always"))
            return now + self.pull_backoff_s
        wait = {"creating": self.start_delay_s, "running": run.how.duration_s}.get(
            run.stage, self.pull_backoff_s
        )
        return run.since + wait

    def _pull_failure(self, pod: Obj) -> tuple[str, str | None] | None:
        for container in (pod.get("spec") or {}).get("containers") or []:
            image = str(container.get("image") or "")
            for substring, message in list(self._pull_failures):
                if substring in image:
                    return image, message
        return None

    def _creating_status(self, obj: Obj) -> None:
        status = obj.setdefault("status", {})
        node = self.store.get(self._nodes, None, obj["spec"]["nodeName"]) or {}
        ip = next(
            (
                a["address"]
                for a in (node.get("status") or {}).get("addresses") or []
                if a.get("type") == "InternalIP"
            ),
            "10.0.0.1",
        )
        names = " ".join(c.get("name", "") for c in obj["spec"].get("containers") or [])
        status.update(phase="Pending", hostIP=ip, hostIPs=[{"ip": ip}])
        status.setdefault("startTime", now_rfc3339())
        set_condition(status, "PodReadyToStartContainers", "False")
        set_condition(status, "Initialized", "True")
        for type_ in ("Ready", "ContainersReady"):
            set_condition(
                status,
                type_,
                "False",
                "ContainersNotReady",
                f"containers with unready status: [{names}]",
            )
        set_condition(status, "PodScheduled", "True")
        status["containerStatuses"] = container_statuses(
            obj, {"waiting": {"reason": "ContainerCreating"}}, False
        )

    def _follow_process(self, now: float, pod: Obj, run: _Run, restart_policy: str) -> float:
        """A local-process container: the pod ends when the process does."""
        assert self.processes is not None
        uid = pod["metadata"]["uid"]
        code = self.processes.poll(uid)
        if code is None:
            return now + PROCESS_POLL_S
        log = self.processes.log(uid)
        meta = pod["metadata"]
        self.store.set_log(meta["namespace"], meta["name"], log)
        run.how = Behaviour(0.0, code, log, None)
        self._terminate(pod, run, now, restart_policy)
        return now + self.pull_backoff_s

    def _start_process(self, pod: Obj, run: _Run, now: float) -> bool:
        """Start the container as a process; False (pod stays waiting) when its env fails."""
        assert self.processes is not None
        try:
            self.processes.start(pod, lambda ns, name: self.store.get(self._secrets, ns, name))
        except ContainerConfigError as exc:
            run.stage, run.since = "config-error", now
            waiting = {"waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}}
            self._write_pod(
                pod,
                lambda obj: obj["status"].update(
                    containerStatuses=container_statuses(obj, waiting, False)
                ),
            )
            self._event("Pod", pod, "Failed", f"Error: {exc}", "Warning", "kubelet")
            return False
        run.process = True
        return True

    def _start(self, pod: Obj, run: _Run, now: float) -> None:
        if (
            self.processes is not None
            and self.processes.wants(pod)
            and not self._start_process(pod, run, now)
        ):
            return
        run.stage, run.since, run.started_at = "running", now, now_rfc3339()
        meta = pod["metadata"]
        self.store.set_log(meta["namespace"], meta["name"], run.how.log)
        last = None
        if run.restarts:
            current = (pod.get("status") or {}).get("containerStatuses") or [{}]
            last = current[0].get("lastState")

        def change(obj: Obj) -> None:
            status = obj["status"]
            status.update(phase="Running", podIP=_ip(meta["uid"], "10.244"))
            status["podIPs"] = [{"ip": status["podIP"]}]
            for type_ in ("PodReadyToStartContainers", "Ready", "ContainersReady"):
                set_condition(status, type_, "True")
            status["containerStatuses"] = container_statuses(
                obj, {"running": {"startedAt": run.started_at}}, True, run.restarts, last
            )

        self._write_pod(pod, change)
        self._event("Pod", pod, "Started", "Started container", "Normal", "kubelet")

    def _terminate(self, pod: Obj, run: _Run, now: float, restart_policy: str) -> None:
        how = run.how
        state = terminated_state(how, run.started_at, termination_message(pod, how))
        if restart_policy == "Always" or (restart_policy == "OnFailure" and how.exit_code != 0):
            run.restarts += 1
            run.stage, run.since = "crash-backoff", now
            name = ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name")
            meta = pod["metadata"]
            waiting = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": (
                        f"back-off 10s restarting failed container={name} "
                        f"pod={meta['name']}_{meta['namespace']}({meta['uid']})"
                    ),
                }
            }

            def restart(obj: Obj) -> None:
                obj["status"]["containerStatuses"] = container_statuses(
                    obj, waiting, False, run.restarts, state
                )
                for type_ in ("Ready", "ContainersReady"):
                    set_condition(obj["status"], type_, "False", "ContainersNotReady")

            self._write_pod(pod, restart)
            return
        run.stage, run.since = "done", now
        phase = "Succeeded" if how.exit_code == 0 else "Failed"

        def end(obj: Obj) -> None:
            status = obj["status"]
            status["phase"] = phase
            status["containerStatuses"] = container_statuses(obj, state, False, run.restarts)
            reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
            for type_ in ("Ready", "ContainersReady"):
                set_condition(status, type_, "False", reason)
            set_condition(status, "PodReadyToStartContainers", "False")

        self._write_pod(pod, end)

    def _evict(
        self, name: str, namespace: str | None, reason: str, delete_after_s: float | None
    ) -> Obj:
        matches = [
            p for p in self.store.list(self._pods, namespace)[0] if p["metadata"]["name"] == name
        ]
        if len(matches) != 1:
            raise KeyError(
                f"pod {name!r} not found (namespace {namespace or 'any'}): {len(matches)} match"
            )
        pod = matches[0]
        message = DISRUPTION_MESSAGES.get(reason, reason)
        self._write_pod(
            pod,
            lambda obj: set_condition(obj["status"], "DisruptionTarget", "True", reason, message),
        )
        self._kill(pod, reason if reason == "TerminationByKubelet" else None, message)
        if delete_after_s is not None:
            meta = pod["metadata"]
            self._deletions.append(
                (self.clock() + delete_after_s, meta["namespace"], meta["name"], meta["uid"])
            )
        return self.store.get(self._pods, pod["metadata"]["namespace"], name) or pod

    def _kill(self, pod: Obj, evicted: str | None = None, message: str = "") -> None:
        """Containers killed (exit 137), the pod Failed; kubelet evictions say `Evicted`."""
        run = self._runs.get(pod["metadata"]["uid"])
        started = run.started_at if run is not None and run.started_at else now_rfc3339()
        if run is not None:
            run.stage = "done"
            if run.process and self.processes is not None:
                uid = pod["metadata"]["uid"]
                self.processes.kill(uid)
                meta = pod["metadata"]
                self.store.set_log(meta["namespace"], meta["name"], self.processes.log(uid))
        killed = Behaviour(0, 137, "", None)

        def change(obj: Obj) -> None:
            status = obj["status"]
            status["phase"] = "Failed"
            if evicted:
                status.update(reason="Evicted", message=message)
            status["containerStatuses"] = container_statuses(
                obj, terminated_state(killed, started, None), False, run.restarts if run else 0
            )
            for type_ in ("Ready", "ContainersReady"):
                set_condition(status, type_, "False", "PodFailed")

        self._write_pod(pod, change)
        self._event("Pod", pod, "Killing", "Stopping container", "Normal", "kubelet")

    # --- writes ----------------------------------------------------------------------------

    def _write_pod(self, pod: Obj, change: Callable[[Obj], Any]) -> None:
        """Apply `change` to the pod's current version, unless it was replaced or ended."""
        meta = pod["metadata"]
        uid = meta["uid"]

        def guarded(obj: Obj) -> None:
            if obj["metadata"]["uid"] != uid or obj.get("status", {}).get("phase") in TERMINAL:
                return
            obj.setdefault("status", {})
            change(obj)

        self.store.mutate(self._pods, meta["namespace"], meta["name"], guarded)

    def _event(
        self,
        kind: str,
        obj: Obj,
        reason: str,
        message: str,
        type_: str = "Normal",
        component: str = "default-scheduler",
    ) -> None:
        if not self.record_events:
            return
        meta = obj["metadata"]
        now = now_rfc3339()
        event = {
            "metadata": {
                "name": f"{meta['name']}.{uuid.uuid4().hex[:16]}",
                "namespace": meta.get("namespace") or "default",
            },
            "involvedObject": {
                "kind": kind,
                "namespace": meta.get("namespace"),
                "name": meta["name"],
                "uid": meta["uid"],
                "apiVersion": obj.get("apiVersion") or ("batch/v1" if kind == "Job" else "v1"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": component,
            "reportingInstance": "",
        }
        try:
            self.store.create(self._events, event["metadata"]["namespace"], event)
        except kmock.KubernetesError:
            logger.debug("event not recorded", exc_info=True)


_UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


def _condition(obj: Obj, type_: str) -> str | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_:
            return str(condition.get("status"))
    return None


def _finished(job: Obj) -> str | None:
    """`Complete` or `Failed` when the Job has that condition, else None."""
    for type_ in ("Complete", "Failed"):
        if _condition(job, type_) == "True":
            return type_
    return None
