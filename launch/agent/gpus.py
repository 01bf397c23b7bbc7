"""This machine's GPUs, through NVML (nvidia-ml-py): what a local-process agent offers.

Without an NVIDIA driver (CI, laptops) NVML cannot load and the machine has no GPUs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gpu:
    """One GPU as NVML sees it."""

    index: int
    name: str
    memory_total_mib: int
    memory_used_mib: int


def local_gpus() -> list[Gpu]:
    """The GPUs NVML reports; [] when there is no driver or NVML fails."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        logger.info("no NVIDIA driver: offering no GPUs", extra={"reason": str(exc)})
        return []
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(
                Gpu(
                    index=index,
                    name=name.decode() if isinstance(name, bytes) else str(name),
                    memory_total_mib=int(memory.total) // 2**20,
                    memory_used_mib=int(memory.used) // 2**20,
                )
            )
        return gpus
    except pynvml.NVMLError as exc:
        logger.warning("NVML failed: offering no GPUs", extra={"reason": str(exc)})
        return []
    finally:
        pynvml.nvmlShutdown()
