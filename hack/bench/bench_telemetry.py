"""The agent's GPU telemetry overhead: CPU time per job at one sample per second.

Usage: python hack/bench/bench_telemetry.py [--jobs 64] [--gpus-per-job 8] [--ticks 200]
       [--real]

Each tick does for every job what the agent's sampler does (`Agent.sample_telemetry`): one
NVML read of each of its GPUs in a worker thread, the Prometheus gauges, and the idle
watch over the samples kept. At one tick a second, the CPU seconds one tick costs per job is
the fraction of a core each job's telemetry takes. Without `--real` NVML is a stand-in
module (no GPU needed), so the figure is the agent's own cost; `--real` reads the driver.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import types
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.table import Table

from runyard.launch.agent.metrics import AgentMetrics
from runyard.launch.agent.telemetry import IdleWatch, sample_gpus
from runyard.launch.idle import IdlePolicy


def stand_in_nvml(gpus: int) -> types.SimpleNamespace:
    """A module shaped like pynvml with `gpus` idle GPUs (no driver needed)."""
    memory = types.SimpleNamespace(total=80 * 2**30, used=2**30)
    rates = types.SimpleNamespace(gpu=3, memory=0)
    return types.SimpleNamespace(
        NVMLError=RuntimeError,
        nvmlInit=lambda: None,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: gpus,
        nvmlDeviceGetHandleByIndex=lambda index: index,
        nvmlDeviceGetUtilizationRates=lambda handle: rates,
        nvmlDeviceGetMemoryInfo=lambda handle: memory,
        nvmlDeviceGetPowerUsage=lambda handle: 70_000,
    )


async def run(jobs: int, per_job: int, ticks: int) -> float:
    """CPU seconds all ticks took (this process, all threads)."""
    metrics, watch = AgentMetrics(), IdleWatch()
    policy = IdlePolicy(threshold_percent=5, window_minutes=30)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    pins = {f"job-{j}": tuple(range(j * per_job, (j + 1) * per_job)) for j in range(jobs)}
    cpu = time.process_time()
    for tick in range(ticks):
        now = start + timedelta(seconds=tick)
        for item_id, gpus in pins.items():
            samples = await asyncio.to_thread(sample_gpus, gpus, now)
            for s in samples:
                labels = (item_id, str(s.gpu))
                metrics.gpu_utilization.labels(*labels).set(s.utilization_percent)
                metrics.gpu_memory.labels(*labels).set(s.memory_used_mib)
                metrics.gpu_power.labels(*labels).set(s.power_w)
            watch.observe(item_id, samples, policy)
    return time.process_time() - cpu


def main() -> None:
    """Parse flags, run, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=64)
    parser.add_argument("--gpus-per-job", type=int, default=8)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--real", action="store_true", help="read the NVIDIA driver")
    args = parser.parse_args()
    if not args.real:
        sys.modules["pynvml"] = stand_in_nvml(args.jobs * args.gpus_per_job)  # type: ignore[assignment]
    cpu = asyncio.run(run(args.jobs, args.gpus_per_job, args.ticks))
    per_job_tick = cpu / (args.jobs * args.ticks)
    table = Table(title="Agent GPU telemetry overhead (1 sample/s)")
    for column in ("jobs", "GPUs/job", "ticks", "NVML", "CPU s total", "CPU per job"):
        table.add_column(column)
    table.add_row(
        str(args.jobs),
        str(args.gpus_per_job),
        str(args.ticks),
        "driver" if args.real else "stand-in",
        f"{cpu:.2f}",
        f"{per_job_tick * 100:.3f} % of a core",
    )
    Console().print(table)


if __name__ == "__main__":
    main()
