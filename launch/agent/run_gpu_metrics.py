"""GPU figures of a job from the system metrics its own wandb client logs: pure parts.

The official client samples each GPU it sees (nvidia-smi / NVML in the job's container)
and sends `gpu.<index>.<name>` in `wandb-events.jsonl`; the server keeps them as
`system.gpu.<index>.<name>`. Where no DCGM exporter is at hand, these are the job's GPU
telemetry: `gpu` (utilisation %), `memoryAllocatedBytes`, `powerWatts`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from ..idle import GpuSample

_KEY = re.compile(r"^system\.gpu\.(?P<index>\d+)\.(?P<name>[A-Za-z]+)$")


def wandb_gpu_samples(latest: Mapping[str, float], at: datetime) -> list[GpuSample]:
    """One sample per GPU the client reported utilisation of, from its latest values."""
    gpus: dict[int, dict[str, float]] = {}
    for key, value in latest.items():
        match = _KEY.match(key)
        if match is None or not isinstance(value, int | float) or value != value:
            continue
        gpus.setdefault(int(match["index"]), {})[match["name"]] = float(value)
    samples = []
    for index, figures in sorted(gpus.items()):
        if "gpu" not in figures:
            continue
        samples.append(
            GpuSample(
                at=at,
                gpu=index,
                utilization_percent=min(100.0, max(0.0, figures["gpu"])),
                memory_used_mib=max(0, int(figures.get("memoryAllocatedBytes", 0)) // 2**20),
                power_w=max(0.0, figures.get("powerWatts", 0.0)),
            )
        )
    return samples
