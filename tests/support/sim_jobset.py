"""The JobSet controller (`jobset.x-k8s.io/v1alpha2`) for the simulated cluster.

Part of the cluster simulator for tests (see `support.cluster_sim`). A launch agent may run
a multi-node workload as a JobSet (kubernetes-sigs/jobset); that controller cannot run
here, so `JobSetController` plays the part of it an agent sees, as jobset does it:

- child Jobs `<jobset>-<replicatedJob>-<index>` for each of a replicatedJob's `replicas`
  (default 1), from its template: the template's labels and annotations plus `LABELS` (as
  labels and as annotations) on the Job and on its pod template, so pods carry them next to
  the labels the JobSet's pod templates already had; a controller owner reference to the
  JobSet, so deleting it takes its Jobs and their pods; a pod template without a
  `restartPolicy` gets `OnFailure` (the JobSet webhook's default);
- `status.replicatedJobsStatus` (name, ready, succeeded, failed, active, suspended) and
  `restarts`; conditions (metav1.Condition) `Completed` (reason `AllJobsCompleted`) once
  every Job is Complete, or `Failed` (reason `FailedJobs`, or `ReachedMaxRestarts` when a
  `failurePolicy` is set) once one Job failed, naming the first; `terminalState`, an event
  per verdict, and the Jobs still active deleted (Foreground), as jobset does;
- `failurePolicy.maxRestarts`: a failed Job restarts the JobSet (`status.restarts` + 1, the
  previous attempt's Jobs deleted and made again) until the restarts are spent.

Not simulated: successPolicy (every Job must complete), failurePolicy rules, startupPolicy,
suspend, network (no headless Service, no pod subdomain), ttlSecondsAfterFinished,
coordinator, managedBy, and the webhook's validation (the Job's own validation applies:
a template it refuses gives a `JobCreationFailed` event).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
from collections.abc import Callable

import kmock

from .kube import FakeKubernetes
from .kube_objects import Kind, Obj, now_rfc3339
from .kube_store import ClusterStore

GROUP, VERSION, PLURAL, KIND = "jobset.x-k8s.io", "v1alpha2", "jobsets", "JobSet"
JOBSET_NAME = "jobset.sigs.k8s.io/jobset-name"
REPLICATED_JOB_NAME = "jobset.sigs.k8s.io/replicatedjob-name"
REPLICATED_JOB_REPLICAS = "jobset.sigs.k8s.io/replicatedjob-replicas"
JOB_INDEX = "jobset.sigs.k8s.io/job-index"
JOB_KEY = "jobset.sigs.k8s.io/job-key"
RESTART_ATTEMPT = "jobset.sigs.k8s.io/restart-attempt"  # status.restarts when made
# On child Jobs and their pod templates, as labels and as annotations.
LABELS = (
    JOBSET_NAME,
    REPLICATED_JOB_NAME,
    REPLICATED_JOB_REPLICAS,
    JOB_INDEX,
    JOB_KEY,
    RESTART_ATTEMPT,
)
COMPLETED = ("Completed", "AllJobsCompleted", "jobset completed successfully")
FAILED_JOBS = ("FailedJobs", "jobset failed due to one or more job failures")
MAX_RESTARTS = ("ReachedMaxRestarts", "jobset failed due to reaching max number of restarts")

# The simulator's event writer: (kind, object, reason, message, type, component).
EventFn = Callable[[str, Obj, str, str, str, str], None]


def declare(fake: FakeKubernetes) -> Kind:
    """Serve `jobsets` (once; kept if a test declared it already)."""
    with fake.store.lock:  # discovery lists the kinds under this lock
        return fake.store.find(GROUP, VERSION, PLURAL) or fake.declare(GROUP, VERSION, PLURAL, KIND)


def child_name(jobset: str, replicated_job: str, index: int) -> str:
    return f"{jobset}-{replicated_job}-{index}"


def _finished(obj: Obj, types: tuple[str, str]) -> str | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") in types and condition.get("status") == "True":
            return str(condition["type"])
    return None


class JobSetController:
    """Reconciles every JobSet against its child Jobs, once per simulator step."""

    def __init__(self, store: ClusterStore, kind: Kind, event: EventFn) -> None:
        self.store, self.kind, self.event = store, kind, event
        self._jobs = store.kind("jobs", "batch")
        self._reported: dict[str, set[str]] = {}  # creation errors already told, per JobSet

    def sync(self) -> None:
        # Under the store's lock: a JobSet deleted meanwhile must not get Jobs that would
        # point at an owner already gone (nothing would ever collect them).
        with self.store.lock:
            jobsets = self.store.list(self.kind, copies=False)[0]
            if not jobsets and not self._reported:
                return
            owned: dict[str, list[Obj]] = {}
            for job in self.store.list(self._jobs, copies=False)[0]:
                for ref in job["metadata"].get("ownerReferences") or []:
                    if ref.get("kind") == KIND and ref.get("controller"):
                        owned.setdefault(ref["uid"], []).append(job)
            for jobset in jobsets:
                if not jobset["metadata"].get("deletionTimestamp"):
                    self._sync(jobset, owned.get(jobset["metadata"]["uid"], []))
            live = {j["metadata"]["uid"] for j in jobsets}
            self._reported = {u: r for u, r in self._reported.items() if u in live}

    def _sync(self, jobset: Obj, jobs: list[Obj]) -> None:
        spec, status = jobset.get("spec") or {}, jobset.get("status") or {}
        restarts = int(status.get("restarts") or 0)
        # Jobs of an earlier attempt (after a restart) no longer count; they are deleted.
        current = [j for j in jobs if _label(j, RESTART_ATTEMPT) == str(restarts)]
        failed = [j for j in current if _finished(j, ("Complete", "Failed")) == "Failed"]
        active = [j for j in current if _finished(j, ("Complete", "Failed")) is None]
        succeeded = len(current) - len(failed) - len(active)
        wanted = sum(_replicas(r) for r in spec.get("replicatedJobs") or [])
        done = _finished(jobset, ("Completed", "Failed")) is not None
        verdict = None
        if not done and failed:
            first = min(failed, key=_failed_at)["metadata"]["name"]
            policy = spec.get("failurePolicy")
            if policy is None or restarts >= int(policy.get("maxRestarts") or 0):
                reason, message = FAILED_JOBS if policy is None else MAX_RESTARTS
                verdict = ("Failed", reason, f"{message} (first failed job: {first})")
            else:  # start over: this attempt's Jobs go, a later pass makes new ones
                restarts += 1
                message = f"restarting jobset, attempt {restarts}"
                self.event(KIND, jobset, "Restarting", message, "Warning", "jobset")
        elif not done and 0 < wanted <= succeeded:
            verdict = COMPLETED
        self._write(jobset, _replicated_status(spec, current), restarts, verdict)
        if done or verdict is not None:
            self._delete(active)  # a finished JobSet leaves nothing running
            return
        self._delete([j for j in jobs if _label(j, RESTART_ATTEMPT) != str(restarts)])
        names = {j["metadata"]["name"] for j in jobs}  # one still being deleted included
        for replicated in spec.get("replicatedJobs") or []:
            for index in range(_replicas(replicated)):
                if child_name(jobset["metadata"]["name"], replicated["name"], index) not in names:
                    self._create(jobset, replicated, index, restarts)

    def _create(self, jobset: Obj, replicated: Obj, index: int, restarts: int) -> None:
        meta, template = jobset["metadata"], copy.deepcopy(replicated.get("template") or {})
        name = child_name(meta["name"], replicated["name"], index)
        marks = {
            JOBSET_NAME: meta["name"],
            REPLICATED_JOB_NAME: replicated["name"],
            RESTART_ATTEMPT: str(restarts),
            REPLICATED_JOB_REPLICAS: str(_replicas(replicated)),
            JOB_INDEX: str(index),
            JOB_KEY: hashlib.sha1(f"{meta['namespace']}/{name}".encode()).hexdigest(),
        }
        job_spec = template.get("spec") or {}
        pod_template = job_spec.setdefault("template", {})
        for target in (
            template.setdefault("metadata", {}),
            pod_template.setdefault("metadata", {}),
        ):
            target["labels"] = {**(target.get("labels") or {}), **marks}
            target["annotations"] = {**(target.get("annotations") or {}), **marks}
        if isinstance(pod_template.get("spec"), dict):
            pod_template["spec"].setdefault("restartPolicy", "OnFailure")
        owner = {"apiVersion": self.kind.api_version, "kind": KIND, "name": meta["name"]}
        owner.update(uid=meta["uid"], controller=True, blockOwnerDeletion=True)
        job = {
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": template["metadata"]["labels"],
                "annotations": template["metadata"]["annotations"],
                "ownerReferences": [owner],
            },
            "spec": job_spec,
        }
        try:
            self.store.create(self._jobs, meta["namespace"], job)
        except kmock.KubernetesError as exc:
            message = f'job "{name}" creation failed with error: {exc.message}'
            told = self._reported.setdefault(meta["uid"], set())
            if exc.status != 409 and message not in told:  # once: an event wakes the loop
                told.add(message)
                self.event(KIND, jobset, "JobCreationFailed", message, "Warning", "jobset")

    def _delete(self, jobs: list[Obj]) -> None:
        for job in jobs:
            if not job["metadata"].get("deletionTimestamp"):
                with contextlib.suppress(kmock.KubernetesError):  # gone meanwhile
                    meta = job["metadata"]
                    self.store.delete(self._jobs, meta["namespace"], meta["name"], "Foreground")

    def _write(
        self, jobset: Obj, replicated: list[Obj], restarts: int, verdict: tuple[str, ...] | None
    ) -> None:
        uid = jobset["metadata"]["uid"]

        def change(obj: Obj) -> None:
            if obj["metadata"]["uid"] != uid:
                return
            status = obj.setdefault("status", {})
            status["replicatedJobsStatus"] = replicated
            if restarts:
                status["restarts"] = status["restartsCountTowardsMax"] = restarts
            if verdict is not None and _finished(obj, ("Completed", "Failed")) is None:
                type_, reason, message = verdict
                status.setdefault("conditions", []).append(
                    {
                        "type": type_,
                        "status": "True",
                        "lastTransitionTime": now_rfc3339(),
                        "reason": reason,
                        "message": message,
                    }
                )
                status["terminalState"] = type_

        meta = jobset["metadata"]
        self.store.mutate(self.kind, meta["namespace"], meta["name"], change)
        if verdict is not None:
            kind = "Normal" if verdict[0] == "Completed" else "Warning"
            self.event(KIND, jobset, verdict[1], verdict[2], kind, "jobset")


def _label(obj: Obj, key: str) -> str | None:
    return (obj["metadata"].get("labels") or {}).get(key)


def _replicas(replicated: Obj) -> int:
    replicas = replicated.get("replicas")
    return 1 if replicas is None else int(replicas)


def _failed_at(job: Obj) -> str:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            return str(condition.get("lastTransitionTime") or "")
    return ""


def _replicated_status(spec: Obj, jobs: list[Obj]) -> list[Obj]:
    """Per replicatedJob, in spec order: Jobs ready (every pod ready or done), succeeded,
    failed, active (a pod running) and suspended, as jobset counts them."""
    counts = {
        r["name"]: dict.fromkeys(("ready", "succeeded", "failed", "active", "suspended"), 0)
        for r in spec.get("replicatedJobs") or []
    }
    for job in jobs:
        mine = counts.get(_label(job, REPLICATED_JOB_NAME) or "")
        if mine is None:
            continue
        job_spec, job_status = job.get("spec") or {}, job.get("status") or {}
        finished = _finished(job, ("Complete", "Failed"))
        if finished is not None:
            mine["succeeded" if finished == "Complete" else "failed"] += 1
            continue
        pods = int(job_spec.get("parallelism", 1))
        if job_spec.get("completions") is not None:
            pods = min(pods, int(job_spec["completions"]))
        if int(job_status.get("ready") or 0) + int(job_status.get("succeeded") or 0) >= pods:
            mine["ready"] += 1
        mine["active"] += 1 if int(job_status.get("active") or 0) > 0 else 0
        mine["suspended"] += 1 if job_spec.get("suspend") else 0
    return [{"name": name, **c} for name, c in counts.items()]
