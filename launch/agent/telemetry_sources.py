"""Where an agent's per-job GPU figures come from: NVML here, DCGM or the job's own client.

- local-process: NVML on this machine, for the GPUs each job is pinned to;
- kubernetes with `prometheus_url`: dcgm-exporter's gauges of the job's running pods,
  asked of Prometheus (`/api/v1/query`);
- kubernetes without: the `gpu.*` system metrics the job's own wandb client logged to the
  server (read back from `/api/v1/runs/.../system`).

Each gives `{item id: [GpuSample, ...]}` for the agent's telemetry tick; the agent feeds
them to the same heartbeat, Prometheus gauges and idle watch whatever the source.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import httpx

from ..idle import GpuSample
from ..kubernetes.dcgm import PromAnswer, dcgm_query, dcgm_samples
from ..models import QueueItem
from .api import AgentApi
from .run_env import run_id_for
from .run_gpu_metrics import wandb_gpu_samples
from .telemetry import PinsGpus

logger = logging.getLogger(__name__)
Sampler = Callable[[Sequence[int], datetime], list[GpuSample]]


class TelemetrySource(Protocol):
    """Reads the GPU figures of running jobs."""

    async def sample(
        self, items: Mapping[str, QueueItem], at: datetime
    ) -> dict[str, list[GpuSample]]:
        """One tick: each item's GPUs at `at` (items without figures are left out)."""
        ...


@runtime_checkable
class HasPods(Protocol):
    """A runner that knows which pods run each of its jobs (the Kubernetes runner)."""

    namespace: str

    def running_pods(self, item_id: str) -> list[str]:
        """The item's running pods."""
        ...


class NvmlSource:
    """The pinned GPUs of local jobs, through NVML (in a thread: NVML calls block)."""

    def __init__(self, runner: PinsGpus, sampler: Sampler) -> None:
        self.runner = runner
        self.sampler = sampler

    async def sample(
        self, items: Mapping[str, QueueItem], at: datetime
    ) -> dict[str, list[GpuSample]]:
        """One NVML read per job."""
        found = {}
        for item_id in items:
            pins = self.runner.pinned(item_id)
            if pins and (samples := await asyncio.to_thread(self.sampler, pins, at)):
                found[item_id] = samples
        return found


def merge_pods(by_pod: Mapping[str, list[GpuSample]], pods: Sequence[str]) -> list[GpuSample]:
    """A job's GPUs over its pods; a gang's pods may each hold their node's GPU 0, so GPUs
    are then numbered in pod order instead of by device index."""
    samples = [s for pod in sorted(pods) for s in by_pod.get(pod, [])]
    if len({s.gpu for s in samples}) == len(samples):
        return samples
    return [s.model_copy(update={"gpu": n}) for n, s in enumerate(samples)]


class DcgmSource:
    """dcgm-exporter's gauges of each job's running pods, through Prometheus's query API."""

    def __init__(self, runner: HasPods, prometheus_url: str) -> None:
        self.runner = runner
        self.url = prometheus_url.rstrip("/") + "/api/v1/query"

    async def sample(
        self, items: Mapping[str, QueueItem], at: datetime
    ) -> dict[str, list[GpuSample]]:
        """One query for every running pod of every job."""
        pods = {item_id: self.runner.running_pods(item_id) for item_id in items}
        every = [pod for names in pods.values() for pod in names]
        if not every:
            return {}
        query = dcgm_query(self.runner.namespace, every)
        try:
            # A client per tick (every telemetry_interval_s): nothing to close when the agent
            # stops, and no connection kept to a Prometheus that may move.
            async with httpx.AsyncClient(timeout=10.0) as http:
                response = await http.get(self.url, params={"query": query})
            answer = PromAnswer.model_validate(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("cannot read DCGM metrics", extra={"url": self.url, "error": str(exc)})
            return {}
        if answer.status != "success":
            logger.warning("Prometheus refused the DCGM query", extra={"error": answer.error})
            return {}
        by_pod = dcgm_samples(answer, self.runner.namespace, at)
        found = {item_id: merge_pods(by_pod, names) for item_id, names in pods.items()}
        return {item_id: samples for item_id, samples in found.items() if samples}


class RunMetricsSource:
    """The `gpu.*` system metrics each job's own wandb client logged, read from the server."""

    def __init__(self, runner: HasPods, api: AgentApi) -> None:
        self.runner = runner
        self.api = api

    async def sample(
        self, items: Mapping[str, QueueItem], at: datetime
    ) -> dict[str, list[GpuSample]]:
        """One read of each running job's run."""
        found = {}
        for item_id, item in items.items():
            if not self.runner.running_pods(item_id):
                continue
            spec = item.run_spec
            entity = str(spec.get("entity") or item.entity)
            project = str(spec.get("project") or "uncategorized")
            try:
                latest = await self.api.run_gpu_metrics(entity, project, run_id_for(item))
            except Exception as exc:  # the server is away: no figures this tick
                logger.warning("cannot read run GPU metrics", extra={"error": str(exc)})
                continue
            if samples := wandb_gpu_samples(latest, at):
                found[item_id] = samples
        return found
