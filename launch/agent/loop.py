"""The agent loop: register, adopt what an earlier agent left, then claim, watch and report.

Three tasks share one state (the items this agent holds):
- claiming: a long poll with the runner's free capacity whenever a slot is free;
- heartbeating: renews leases and learns which items were canceled or taken away;
- reporting: sends the runner's updates to the server in order, retrying until heard;
- sampling: each running job's GPUs (NVML, DCGM or the job's own client;
  `telemetry_sources.py`), for the heartbeat, Prometheus and the queue's idle policy.
Nothing sleeps waiting for work: claims wait on the server, slots on an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

from ..gangs import MAX_PODS
from ..idle import GpuSample, IdleAction, IdlePolicy
from ..kubernetes.capacity import less_claimed
from ..kubernetes.pool import pool_policy
from ..models import ItemError, ItemState, QueueItem, Requirements, capacity_doc
from .api import AgentApi, Refused
from .config import AgentConfig
from .metrics import AgentMetrics
from .runner import JobUpdate, LaunchError, Runner
from .telemetry import NEVER_IDLE, IdleWatch, PinsGpus, idle_warning, sample_gpus
from .telemetry_sources import DcgmSource, HasPods, NvmlSource, RunMetricsSource, TelemetrySource

logger = logging.getLogger(__name__)
DRAIN_TIMEOUT_S = 10.0
CAPACITY_COALESCE_S = 0.05  # batch the capacity news of jobs that end together
POLICY_REFRESH_S = 300.0  # how long a queue's idle policy is trusted before it is read again
Sampler = Callable[[Sequence[int], datetime], list[GpuSample]]


@dataclass
class _Held:
    item: QueueItem
    claimed_at: float = field(default_factory=time.monotonic)
    # The server's latest word on the lease (claim answer, then every heartbeat answer).
    lease_expires_at: datetime | None = None


# A lease is renewed when a third of it is left at most; below this the agent would only
# hammer the server (leases are seconds to an hour long).
MIN_HEARTBEAT_S = 0.5


def heartbeat_delay(
    interval_s: float, lease_expiries: Sequence[datetime | None], now: datetime
) -> float:
    """Seconds until the next heartbeat: the configured interval, or sooner when a held
    lease would otherwise run out first (a short queue lease beats a long default interval)."""
    delay = interval_s
    for expires_at in lease_expiries:
        if expires_at is not None:
            delay = min(delay, (expires_at - now).total_seconds() / 3)
    return max(delay, MIN_HEARTBEAT_S)


async def cancel_all(tasks: list[asyncio.Task[Any]], grace_s: float = 1.0) -> None:
    """Cancel tasks and wait until every one has ended.

    A task that swallowed its cancellation (as `asyncio.wait_for` can on Python 3.11) is
    cancelled again each `grace_s`, so a shutdown never waits on it forever.
    """
    for task in tasks:
        task.cancel()
    pending = set(tasks)
    while pending:
        _, pending = await asyncio.wait(pending, timeout=grace_s)
        for task in pending:
            task.cancel()
    for task in tasks:
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.warning(
                "task failed while stopping", extra={"task": task.get_name(), "error": str(error)}
            )


class Agent:
    """One agent process: see the module docstring."""

    def __init__(
        self,
        config: AgentConfig,
        api: AgentApi,
        runner: Runner,
        metrics: AgentMetrics | None = None,
        sampler: Sampler = sample_gpus,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        telemetry: TelemetrySource | None = None,
    ) -> None:
        self.config = config
        self.api = api
        self.runner = runner
        self.metrics = metrics or AgentMetrics()
        self.agent_id = ""
        self.queues: list[str] = []
        self._held: dict[str, _Held] = {}
        # Claimed, not yet handed to the runner: its capacity does not count them yet.
        self._handing: set[str] = set()
        # Capacity is computed and sent under this lock, so a heartbeat computed before a
        # claim returned never reaches the server after the next claim (and overwrites it).
        self._capacity_lock = asyncio.Lock()
        self._updates: asyncio.Queue[JobUpdate] = asyncio.Queue()
        self._slot_free = asyncio.Event()
        self._capacity_changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()
        # GPU telemetry: where figures come from and what time it is (tests simulate both).
        self.telemetry = telemetry or default_source(config, runner, api, sampler)
        self._clock = clock
        self._idle = IdleWatch()
        self._policies: dict[str, tuple[float, IdlePolicy | None]] = {}

    @property
    def held_pods(self) -> int:
        """Pods of the items this agent holds (max_jobs counts pods: a gang is several)."""
        return sum(held.item.requirements.pods for held in self._held.values())

    async def free_capacity(self) -> Requirements | None:
        """The runner's free capacity, with the pods this agent may still start."""
        capacity = await self.runner.capacity()
        if capacity is None:
            return None
        handing = [self._held[i].item.requirements for i in self._handing if i in self._held]
        capacity = less_claimed(capacity, handing)
        held = self.held_pods
        # A gang larger than max_jobs would never fit: it may run alone, on an idle agent.
        slots = self.config.max_jobs - held if held else MAX_PODS
        return capacity.model_copy(update={"pods": max(1, slots)})

    @property
    def held(self) -> list[str]:
        """Ids of the items this agent holds now."""
        return list(self._held)

    async def run(self) -> None:
        """Run until `stop()`; workloads keep running for the next agent to adopt."""
        entity = self.config.entity or await self.api.viewer_entity()
        self.queues = [q if "/" in q else f"{entity}/{q}" for q in self.config.queues]
        capacity = await self.runner.capacity()
        pool = self.config.pool if self.config.runner == "kubernetes" else None
        self.agent_id = await self.api.register(
            name=self.config.name,
            queues=self.queues,
            capacity=capacity_doc(capacity) if capacity else {},
            hostname=socket.gethostname(),
            version=version("runyard"),
            entity=entity,
            heartbeat_interval_s=self.config.heartbeat_interval_s,
            pool=pool_policy(pool).model_dump() if pool is not None else None,
        )
        logger.info("registered", extra={"agent": self.agent_id, "queues": self.queues})
        await self.runner.start(self.agent_id, self._updates)
        await self._adopt_leftovers()
        self.ready.set()
        tasks = [
            asyncio.create_task(self._claim_loop(), name="claim"),
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self._report_loop(), name="report"),
        ]
        if self.telemetry is not None:
            tasks.append(asyncio.create_task(self._telemetry_loop(), name="telemetry"))
        stop = asyncio.create_task(self._stopping.wait())
        try:
            done, _ = await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stop and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            await cancel_all([stop, *tasks])
            # Send what is known, but don't hang a shutdown on a server that is away:
            # whatever is left is learnt again by the next agent (adoption).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain_reports(), DRAIN_TIMEOUT_S)
            await self.runner.stop()

    def stop(self) -> None:
        """Ask `run()` to return."""
        self._stopping.set()

    async def _adopt_leftovers(self) -> None:
        found = await self.runner.recover()
        if not found:
            return
        for item in await self.api.adopt(self.agent_id, found):
            if item.agent_id == self.agent_id and item.state.holds_lease:
                self._held[item.id] = _Held(item, lease_expires_at=item.lease_expires_at)
                await self.runner.resume(item)
                logger.info("adopted", extra={"item": item.id, "state": item.state.value})
            elif item.state.is_final:
                await self.runner.cancel(item.id)  # nothing wants it: clean up
            # else: a live agent holds it and watches its workload.
        self.metrics.running.set(len(self._held))

    async def _claim_loop(self) -> None:
        while True:
            while self.held_pods >= self.config.max_jobs:
                self._slot_free.clear()
                await self._slot_free.wait()
            async with self._capacity_lock:  # no heartbeat with older numbers in flight
                capacity = await self.free_capacity()
            if capacity is not None:
                self.metrics.gpus_free.set(capacity.gpus)
            try:
                item = await self.api.claim(
                    self.agent_id,
                    self.queues,
                    capacity,
                    self.config.backfill,
                    self.config.claim_wait_s,
                )
            except Refused:
                raise  # a queue vanished or the key was revoked: stop loudly
            except Exception as exc:  # network trouble: the server may be restarting
                logger.warning("claim failed", extra={"error": str(exc)})
                await asyncio.sleep(1.0)
                continue
            if item is None:
                continue
            self.metrics.claims.labels(item.queue).inc()
            self._held[item.id] = _Held(item, lease_expires_at=item.lease_expires_at)
            self._handing.add(item.id)
            self.metrics.running.set(len(self._held))
            try:
                await self._launch(item)
            finally:
                self._handing.discard(item.id)

    async def _launch(self, item: QueueItem) -> None:
        started = time.monotonic()
        try:
            await self.runner.launch(item)
        except LaunchError as exc:
            logger.warning("launch failed", extra={"item": item.id, "error": str(exc)})
            self._updates.put_nowait(JobUpdate(item.id, ItemState.FAILED, error=exc.error))
            return
        except Exception as exc:  # a runner bug must not take the agent down with it
            logger.exception("launch crashed", extra={"item": item.id})
            error = ItemError(stage="launch", message=f"agent error: {exc!r}")
            self._updates.put_nowait(JobUpdate(item.id, ItemState.FAILED, error=error))
            return
        self.metrics.launch_latency.observe(time.monotonic() - started)

    async def _heartbeat_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
                # cancellation that lands as its timeout fires, and this loop then outlived
                # the agent's stop (retrying a heartbeat forever once the server was gone).
                async with asyncio.timeout(self._heartbeat_delay()):
                    await self._capacity_changed.wait()
            if self._capacity_changed.is_set():
                # A job ended: its GPUs are free now, and the waiting claim must hear of it
                # (otherwise it waits with the old numbers). Jobs often end in bursts: one
                # short pause lets a single message carry them all.
                await asyncio.sleep(CAPACITY_COALESCE_S)
                self._capacity_changed.clear()
                await self.announce_capacity()
            else:
                await self.heartbeat()

    def _heartbeat_delay(self) -> float:
        expiries = [held.lease_expires_at for held in self._held.values()]
        return heartbeat_delay(self.config.heartbeat_interval_s, expiries, datetime.now(UTC))

    async def announce_capacity(self) -> None:
        """Tell the server the free capacity now, so a waiting claim uses it at once."""
        async with self._capacity_lock:
            capacity = await self.free_capacity()
            if capacity is None:
                return  # no limit: the claim never waited on capacity
            status = self.status()
            try:
                await self.api.heartbeat(self.agent_id, [], status, capacity)
            except Exception as exc:
                logger.warning("capacity heartbeat failed", extra={"error": str(exc)})

    def status(self) -> str:
        """busy (every job slot taken), running (some) or polling (none)."""
        if self.held_pods >= self.config.max_jobs:
            return "busy"
        return "running" if self._held else "polling"

    async def heartbeat(self) -> None:
        """Renew leases; stop workloads whose items were canceled or taken away. The free
        capacity goes along: the server explains pending items with it."""
        try:
            async with self._capacity_lock:
                capacity = await self.free_capacity()
                telemetry = {i: s for i in self._held if (s := self._idle.latest(i))}
                extra = {"telemetry": telemetry} if telemetry else {}
                items = await self.api.heartbeat(
                    self.agent_id, list(self._held), self.status(), capacity, **extra
                )
        except Exception as exc:
            logger.warning("heartbeat failed", extra={"error": str(exc)})
            return
        for item in items:
            held = self._held.get(item.id)
            if held is None:
                continue
            held.lease_expires_at = item.lease_expires_at
            if item.state is ItemState.CANCELED:
                logger.info("canceled by the queue", extra={"item": item.id})
                self._release(item.id)
                await self.runner.cancel(item.id)
            elif item.agent_id != self.agent_id or not item.state.holds_lease:
                logger.warning("lease lost", extra={"item": item.id, "state": item.state.value})
                self._release(item.id)
                await self.runner.forget(item.id)

    async def _report_loop(self) -> None:
        while True:
            update = await self._updates.get()
            await self._report(update)

    async def _drain_reports(self) -> None:
        while not self._updates.empty():
            await self._report(self._updates.get_nowait())

    async def _report(self, update: JobUpdate) -> None:
        if update.pending:
            self.metrics.pending_reasons.labels(update.pending).inc()
        while True:
            if update.item_id not in self._held:
                return  # canceled or taken away meanwhile: its news is nobody's business
            try:
                item = await self.api.report(
                    update.item_id,
                    self.agent_id,
                    update.state,
                    run_id=update.run_id,
                    error=update.error,
                    warning=update.warning,
                    requeue=update.requeue,
                )
                break
            except Refused as exc:
                logger.warning("report refused", extra={"item": update.item_id, "error": str(exc)})
                self._release(update.item_id)
                await self.runner.forget(update.item_id)
                return
            except Exception as exc:  # the server is away: the news must still get there
                logger.warning(
                    "report failed, retrying", extra={"item": update.item_id, "error": str(exc)}
                )
                await asyncio.sleep(2.0)
        held = self._held.get(item.id)
        if held is not None:
            held.item = item
        if update.state.is_final or update.requeue:
            self._release(item.id)
            if update.state is ItemState.FAILED and update.error is not None:
                self.metrics.failures.labels(update.error.stage).inc()
            self.metrics.finished.labels(update.state.value).inc()
        logger.info(
            "reported",
            extra={"item": item.id, "state": update.state.value, "run_id": item.run_id},
        )

    async def _telemetry_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.telemetry_interval_s)
            await self.sample_telemetry()

    async def sample_telemetry(self) -> None:
        """Sample each running job's GPUs once; flag (and per policy requeue) idle ones."""
        assert self.telemetry is not None
        now = self._clock()
        running = {i: h.item for i, h in self._held.items() if h.item.state is ItemState.RUNNING}
        if not running:
            return
        found = await self.telemetry.sample(running, now)
        for item_id, samples in found.items():
            held = self._held.get(item_id)
            if held is None:
                continue  # ended while its figures were read
            for sample in samples:
                labels = (item_id, str(sample.gpu))
                self.metrics.gpu_utilization.labels(*labels).set(sample.utilization_percent)
                self.metrics.gpu_memory.labels(*labels).set(sample.memory_used_mib)
                self.metrics.gpu_power.labels(*labels).set(sample.power_w)
            policy = await self._idle_policy(held.item)
            if self._idle.observe(item_id, samples, policy or NEVER_IDLE) and policy:
                await self._idle_job(held.item, policy)

    async def _idle_job(self, item: QueueItem, policy: IdlePolicy) -> None:
        warning = idle_warning(policy)
        self.metrics.idle_jobs.labels(f"{item.entity}/{item.queue}").inc()
        logger.warning("idle job", extra={"item": item.id, "action": policy.action.value})
        if policy.action is IdleAction.REQUEUE:
            update = JobUpdate(item.id, ItemState.PREEMPTED, warning=warning, requeue=True)
            self._updates.put_nowait(update)
            await self.runner.cancel(item.id)
        else:
            self._updates.put_nowait(JobUpdate(item.id, item.state, warning=warning))

    async def _idle_policy(self, item: QueueItem) -> IdlePolicy | None:
        path = f"{item.entity}/{item.queue}"
        cached = self._policies.get(path)
        if cached is not None and time.monotonic() - cached[0] < POLICY_REFRESH_S:
            return cached[1]
        try:
            policy = await self.api.idle_policy(item.entity, item.queue)
        except Exception as exc:  # the server is away: judge with what was known
            logger.warning("cannot read the idle policy", extra={"queue": path, "error": str(exc)})
            return cached[1] if cached else None
        self._policies[path] = (time.monotonic(), policy)
        return policy

    def _forget_telemetry(self, item_id: str) -> None:
        for sample in self._idle.latest(item_id):
            for gauge in (
                self.metrics.gpu_utilization,
                self.metrics.gpu_memory,
                self.metrics.gpu_power,
            ):
                with contextlib.suppress(KeyError):
                    gauge.remove(item_id, str(sample.gpu))
        self._idle.forget(item_id)

    def _release(self, item_id: str) -> None:
        self._forget_telemetry(item_id)
        if self._held.pop(item_id, None) is not None:
            self._slot_free.set()
            self._capacity_changed.set()
        self.metrics.running.set(len(self._held))


def default_source(
    config: AgentConfig, runner: Runner, api: AgentApi, sampler: Sampler
) -> TelemetrySource | None:
    """NVML for pinned local jobs; DCGM (with a Prometheus URL) or the job's own client's
    metrics for Kubernetes jobs; None for a runner that knows neither."""
    if isinstance(runner, PinsGpus):
        return NvmlSource(runner, sampler)
    if isinstance(runner, HasPods):
        if config.prometheus_url:
            return DcgmSource(runner, config.prometheus_url)
        return RunMetricsSource(runner, api)
    return None
