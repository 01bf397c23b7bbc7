"""The Kubernetes runner: items become Jobs on a GPU pool; pod watches drive their states.

- launch: render the Job (pure, `job.render_job`) and create it; a 409 means a redelivered
  item's Job exists already, and it is adopted, not launched twice.
- watch: one pod watch and one Job watch in the pool's namespace (`watch.ResourceWatch`);
  Pending -> launching, Running -> running, Succeeded -> finished, Failed -> failed with
  exit code, reason and log tail; a `DisruptionTarget` condition -> preempted, requeued
  with the same run id up to the pool's `max_preemptions`.
- stuck pods are explained in words (`pending.explain_pod`); image errors fail at once,
  unschedulable ones after the pool's `start_timeout_s` (checked on a timer against the
  watched state, not by polling the API).
- restart: Jobs of the pool without the `runyard.dev/done` label are offered for adoption.

Tested against kmock and the cluster simulator (`tests/test_agent_kubernetes.py`), which
plays scheduler, Job controller and kubelet, with real training scripts as pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ..agent.run_env import run_id_for
from ..agent.runner import JobUpdate, LaunchError
from ..models import ItemError, ItemState, QueueItem, Requirements
from .capacity import PoolCapacity, largest_fit, pod_gpus, pool_capacity
from .job import (
    ITEM_LABEL,
    POOL_LABEL,
    START_TIMEOUT_ANNOTATION,
    job_name,
    label_value,
    render_job,
    start_timeout_s,
)
from .pending import explain_pod, is_disrupted, is_stuck, pod_failure
from .pool import PoolSettings
from .watch import ResourceWatch

logger = logging.getLogger(__name__)
DONE_LABEL = "runyard.dev/done"
JOB_LABEL = "runyard.dev/job"  # on pods: which Job (attempt) of the item they belong to
STUCK_CHECK_S = 2.0
STOP_GRACE_S = 5.0
ACTIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"  # pods that hold resources


@dataclass
class _Tracked:
    item: QueueItem
    job: str
    run_id: str
    state: ItemState
    since: float = field(default_factory=time.monotonic)
    warned: set[str] = field(default_factory=set)
    pending_kinds: set[str] = field(default_factory=set)
    verdict: Any = None
    closing: bool = False
    start_timeout_s: float = 600.0


def job_name_for(item: QueueItem) -> str:
    """The item's Job name: fixed per attempt after a preemption, so redelivery adopts it."""
    base = job_name(item.id)
    return base if item.preemptions == 0 else f"{base[:58]}-r{item.preemptions}"


class KubernetesRunner:
    """Runs items as Jobs on one pool; see the module docstring."""

    def __init__(
        self,
        pool: PoolSettings,
        kubeconfig: str | None = None,
        log_tail_lines: int = 50,
        api_client: client.ApiClient | None = None,
    ) -> None:
        self.pool = pool
        self.kubeconfig = kubeconfig
        self.log_tail_lines = log_tail_lines
        self._api_client = api_client
        self._tracked: dict[str, _Tracked] = {}
        self._pods: dict[str, dict[str, Any]] = {}  # latest pod per Job name, tracked or not
        self._jobs: set[str] = set()
        self._nodes: dict[str, dict[str, Any]] = {}  # the pool's nodes, watched
        self._active_pods: dict[tuple[str, str], dict[str, Any]] = {}  # all namespaces
        self._capacity: PoolCapacity | None = None
        self._updates: asyncio.Queue[JobUpdate] | None = None
        self._watches: list[ResourceWatch] = []
        self._timer: asyncio.Task[None] | None = None
        self.agent_id = ""
        self._background: set[asyncio.Task[None]] = set()

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self, agent_id: str, updates: asyncio.Queue[JobUpdate]) -> None:
        """Connect, start the pod and Job watches, and wait for their first lists."""
        self.agent_id = agent_id
        self._updates = updates
        await self._ensure_clients()
        loop = asyncio.get_running_loop()
        selector = f"{POOL_LABEL}={label_value(self.pool.name)}"
        ns = self.pool.namespace
        nodes = ",".join(f"{k}={v}" for k, v in self.pool.node_selector.items())
        self._watches = [
            ResourceWatch(self.core.list_namespaced_pod, ns, selector, self._on_pod, loop, "pods"),
            ResourceWatch(self.batch.list_namespaced_job, ns, selector, self._on_job, loop, "jobs"),
            # Capacity is read from these caches: a claim must not list the cluster's pods.
            ResourceWatch(self.core.list_node, None, nodes, self._on_node, loop, "nodes"),
            ResourceWatch(
                self.core.list_pod_for_all_namespaces,
                None,
                None,
                self._on_placed_pod,
                loop,
                "placed-pods",
                field_selector=ACTIVE_PODS,
            ),
        ]
        for w in self._watches:
            w.start()
        for w in self._watches:
            await asyncio.to_thread(w.synced.wait, 30)
        self._timer = asyncio.create_task(self._check_stuck())

    async def _ensure_clients(self) -> None:
        """Connect once (also before start: the agent asks for capacity to register)."""
        if self._api_client is None:
            self._api_client = await asyncio.to_thread(self._connect)
        self.core = client.CoreV1Api(self._api_client)
        self.batch = client.BatchV1Api(self._api_client)

    def _connect(self) -> client.ApiClient:
        if self.kubeconfig:
            return config.new_client_from_config(config_file=self.kubeconfig)
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        return client.ApiClient()

    async def stop(self) -> None:
        """Stop watching; the Jobs keep running for the next agent to adopt."""
        for w in self._watches:
            w.stop()
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        # Let follow-up calls (done labels, deletions) finish: a Job left unmarked would be
        # offered for adoption to the next agent.
        if self._background:
            await asyncio.wait(set(self._background), timeout=STOP_GRACE_S)

    @property
    def relists(self) -> int:
        """Full lists the watches made: one each at start, one more per expired version."""
        return sum(w.relists for w in self._watches)

    async def recover(self) -> list[str]:
        """Items of this pool's Jobs whose end no agent has reported yet."""
        selector = f"{POOL_LABEL}={label_value(self.pool.name)},!{DONE_LABEL}"
        jobs = await asyncio.to_thread(
            self.batch.list_namespaced_job, self.pool.namespace, label_selector=selector
        )
        found = []
        pool = label_value(self.pool.name)
        for job in jobs.items:
            labels = (job.metadata.labels if job.metadata else None) or {}
            # Checked here too: some API servers (and test doubles) ignore selectors.
            if ITEM_LABEL in labels and labels.get(POOL_LABEL) == pool and DONE_LABEL not in labels:
                found.append(labels[ITEM_LABEL])
        return found

    # --- items -------------------------------------------------------------------------------

    async def launch(self, item: QueueItem) -> None:
        """Create the item's Job (or adopt the one a redelivery finds) and report launching."""
        try:
            manifest = render_job(item, self.pool, self.agent_id)
        except ValueError as exc:
            raise LaunchError("agent", str(exc)) from exc
        name = job_name_for(item)
        manifest["metadata"]["name"] = name
        manifest["spec"]["template"]["metadata"]["labels"][JOB_LABEL] = name
        try:
            # The client sends plain dicts as they are (its types are only annotations).
            create: Any = self.batch.create_namespaced_job
            await asyncio.to_thread(create, self.pool.namespace, manifest)
        except ApiException as exc:
            if exc.status != 409:
                raise LaunchError(
                    "launch", f"Kubernetes refused Job {name}: {_reason(exc)}"
                ) from exc
            logger.info("adopting existing job", extra={"item": item.id, "job": name})
        tracked = _Tracked(item, name, run_id_for(item), ItemState.LAUNCHING)
        tracked.start_timeout_s = start_timeout_s(item, self.pool)
        self._tracked[item.id] = tracked
        self._put(JobUpdate(item.id, ItemState.LAUNCHING))
        if name in self._pods:
            self._evaluate(tracked, self._pods[name])

    async def resume(self, item: QueueItem) -> None:
        """Watch an adopted item's Job again, from what the watch already knows."""
        tracked = _Tracked(item, job_name_for(item), run_id_for(item), item.state)
        try:
            tracked.start_timeout_s = start_timeout_s(item, self.pool)
        except ValueError:  # its Job exists, so the value passed when it was made
            tracked.start_timeout_s = self.pool.start_timeout_s
        self._tracked[item.id] = tracked
        if tracked.job in self._pods:
            self._evaluate(tracked, self._pods[tracked.job])

    async def cancel(self, item_id: str) -> None:
        """Delete the item's Job (its pods go with it, in the background)."""
        tracked = self._tracked.pop(item_id, None)
        name = tracked.job if tracked else None
        if name is None:
            jobs = await asyncio.to_thread(
                self.batch.list_namespaced_job,
                self.pool.namespace,
                label_selector=f"{ITEM_LABEL}={item_id}",
            )
            names = [j.metadata.name for j in jobs.items if j.metadata and j.metadata.name]
        else:
            names = [name]
        for job in names:
            await self._delete_job(job)
        logger.info("canceled", extra={"item": item_id, "jobs": names})

    async def forget(self, item_id: str) -> None:
        """Stop watching the item: another agent holds it (and will adopt its Job)."""
        self._tracked.pop(item_id, None)

    async def capacity(self) -> Requirements | None:
        """The most GPUs one more Job can get on one node of the pool right now."""
        if self._watches:  # started: the watched caches are current
            nodes, pods = list(self._nodes.values()), list(self._active_pods.values())
        else:  # asked before start (the agent registers with it): list once
            await self._ensure_clients()
            selector = ",".join(f"{k}={v}" for k, v in self.pool.node_selector.items()) or None
            nodes = await asyncio.to_thread(
                self._list_dicts, self.core.list_node, label_selector=selector
            )
            pods = await asyncio.to_thread(
                self._list_dicts, self.core.list_pod_for_all_namespaces, field_selector=ACTIVE_PODS
            )
        capacity = pool_capacity(nodes, pods, self.pool)
        self._capacity = capacity
        # Our pods the scheduler has not placed yet will take GPUs too: don't promise those.
        unplaced = sum(
            pod_gpus(p, self.pool.gpu_resource)
            for p in self._pods.values()
            if not (p.get("spec") or {}).get("nodeName")
            and (p.get("status") or {}).get("phase") in (None, "Pending")
        )
        return Requirements(gpus=max(0, min(largest_fit(capacity), capacity.free_gpus - unplaced)))

    def _list_dicts(self, list_fn: Any, **kwargs: Any) -> list[dict[str, Any]]:
        import json

        response = list_fn(_preload_content=False, **kwargs)
        return list(json.loads(response.data).get("items") or [])

    # --- watch events (on the agent's loop) ----------------------------------------------------

    def _on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        item_id, job = labels.get(ITEM_LABEL), labels.get(JOB_LABEL)
        if not item_id or not job:
            return
        if kind == "DELETED":
            self._pods.pop(job, None)
            return
        self._pods[job] = pod
        tracked = self._tracked.get(item_id)
        if tracked is not None and tracked.job == job:  # not a pod of an earlier attempt
            self._evaluate(tracked, pod)

    def _on_node(self, kind: str, node: dict[str, Any]) -> None:
        name = node["metadata"]["name"]
        if kind == "DELETED":
            self._nodes.pop(name, None)
        else:
            self._nodes[name] = node

    def _on_placed_pod(self, kind: str, pod: dict[str, Any]) -> None:
        """Any namespace's pods that hold resources (other teams' pods use GPUs too)."""
        meta = pod["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        phase = (pod.get("status") or {}).get("phase")
        if kind == "DELETED" or phase in ("Succeeded", "Failed"):
            self._active_pods.pop(key, None)
        else:
            self._active_pods[key] = pod

    def _on_job(self, kind: str, job: dict[str, Any]) -> None:
        name = job["metadata"]["name"]
        if kind != "DELETED":
            self._jobs.add(name)
            return
        self._jobs.discard(name)
        for tracked in list(self._tracked.values()):
            if tracked.job == name and not tracked.closing:
                error = ItemError(
                    stage="kubernetes", message=f"Job {name} was deleted outside runyard"
                )
                self._close(tracked, ItemState.FAILED, error=error)

    def _evaluate(self, tracked: _Tracked, pod: dict[str, Any]) -> None:
        """Move the item along from what its pod says (pure decisions in `pending`)."""
        if tracked.closing:
            return
        phase = (pod.get("status") or {}).get("phase")
        disruption = is_disrupted(pod)
        if disruption is not None and phase not in ("Succeeded",):
            self._preempted(tracked, disruption)
        elif phase == "Succeeded":
            self._close(tracked, ItemState.FINISHED)
        elif phase == "Failed":
            self._spawn(self._failed(tracked, pod))
            tracked.closing = True
        elif phase == "Running":
            if tracked.state is not ItemState.RUNNING:
                tracked.state = ItemState.RUNNING
                self._put(JobUpdate(tracked.item.id, ItemState.RUNNING, run_id=tracked.run_id))
        else:
            verdict = explain_pod(pod, self.pool, self._capacity)
            tracked.verdict = verdict
            if verdict is None:
                return
            pending = None if verdict.kind in tracked.pending_kinds else verdict.kind
            tracked.pending_kinds.add(verdict.kind)
            if verdict.fatal:
                error = ItemError(stage=verdict.kind, message=verdict.message)
                self._close(tracked, ItemState.FAILED, error=error, delete=True, pending=pending)
            elif verdict.message not in tracked.warned or pending:
                tracked.warned.add(verdict.message)
                update = JobUpdate(
                    tracked.item.id, tracked.state, warning=verdict.message, pending=pending
                )
                self._put(update)

    def _preempted(self, tracked: _Tracked, reason: str) -> None:
        item = tracked.item
        requeue = item.preemptions < self.pool.max_preemptions
        if requeue:
            self._close(
                tracked,
                ItemState.PREEMPTED,
                warning=f"preempted ({reason}); requeued to resume run {tracked.run_id}",
                requeue=True,
                delete=True,
            )
        else:
            error = ItemError(
                stage="preempted",
                message=(
                    f"{reason}; preempted {item.preemptions + 1} times, over the pool's "
                    f"max_preemptions={self.pool.max_preemptions}"
                ),
            )
            self._close(tracked, ItemState.PREEMPTED, error=error, delete=True)

    async def _failed(self, tracked: _Tracked, pod: dict[str, Any]) -> None:
        stage, message = pod_failure(pod)
        log = ""
        if self.log_tail_lines:
            try:
                log = await asyncio.to_thread(
                    self.core.read_namespaced_pod_log,
                    pod["metadata"]["name"],
                    self.pool.namespace,
                    tail_lines=self.log_tail_lines,
                )
            except ApiException as exc:
                log = f"(log unavailable: {_reason(exc)})"
        tracked.closing = False
        self._close(
            tracked, ItemState.FAILED, error=ItemError(stage=stage, message=message, log=log or "")
        )

    async def _check_stuck(self) -> None:
        while True:
            await asyncio.sleep(STUCK_CHECK_S)
            now = time.monotonic()
            for tracked in list(self._tracked.values()):
                verdict = tracked.verdict
                if tracked.closing or verdict is None or tracked.state is ItemState.RUNNING:
                    continue
                timeout = tracked.start_timeout_s
                if is_stuck(verdict, tracked.since, now, timeout):
                    source = (
                        "the pool's start_timeout_s"
                        if timeout == self.pool.start_timeout_s
                        else f"the queue's {START_TIMEOUT_ANNOTATION} annotation"
                    )
                    message = f"{verdict.message}; gave up after {timeout:g}s ({source})"
                    error = ItemError(stage=verdict.kind, message=message)
                    self._close(tracked, ItemState.FAILED, error=error, delete=True)

    def _close(
        self,
        tracked: _Tracked,
        state: ItemState,
        error: ItemError | None = None,
        warning: str | None = None,
        requeue: bool = False,
        delete: bool = False,
        pending: str | None = None,
    ) -> None:
        """Report the item's end, mark its Job done (or delete it) and stop tracking it."""
        tracked.closing = True
        self._tracked.pop(tracked.item.id, None)
        self._put(
            JobUpdate(
                tracked.item.id,
                state,
                run_id=tracked.run_id,
                error=error,
                warning=warning,
                requeue=requeue,
                pending=pending,
            )
        )
        if delete:
            self._spawn(self._delete_job(tracked.job))
        else:
            self._spawn(self._mark_done(tracked.job, state))

    async def _mark_done(self, name: str, state: ItemState) -> None:
        body = {"metadata": {"labels": {DONE_LABEL: state.value}}}
        try:
            await asyncio.to_thread(
                self.batch.patch_namespaced_job, name, self.pool.namespace, body
            )
        except ApiException as exc:
            if exc.status == 404:  # gone already (its TTL, or a person): nothing to adopt
                return
            logger.warning("cannot label job done", extra={"job": name, "reason": _reason(exc)})

    async def _delete_job(self, name: str) -> None:
        try:
            await asyncio.to_thread(
                self.batch.delete_namespaced_job,
                name,
                self.pool.namespace,
                propagation_policy="Background",
            )
        except ApiException as exc:
            if exc.status != 404:
                logger.warning("cannot delete job", extra={"job": name, "reason": _reason(exc)})

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run follow-up API calls in the background, keeping a reference until done."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _put(self, update: JobUpdate) -> None:
        assert self._updates is not None, "start() first"
        self._updates.put_nowait(update)


def _reason(exc: ApiException) -> str:
    """The API server's message for a refused request."""
    import json

    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        body = {}
    return str(body.get("message") or exc.reason or exc.status)
