"""A stand-in for the NVML library (`pynvml`): no GPU exists on CI machines.

Tests put it in `sys.modules["pynvml"]`; the code under test imports `pynvml` as usual.
Each GPU's utilisation, memory and power can be changed while a test runs.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field


class NVMLError(Exception):
    """What the real library raises."""


@dataclass
class FakeGpu:
    """One simulated GPU."""

    name: str = "NVIDIA H100 80GB HBM3"
    memory_total: int = 80 * 2**30
    memory_used: int = 2**30
    utilization: int = 0
    power_mw: int = 70_000


@dataclass
class FakeNvml:
    """A machine's GPUs as NVML would report them; `driver=False`: nvmlInit fails."""

    gpus: list[FakeGpu] = field(default_factory=list)
    driver: bool = True

    def module(self) -> types.SimpleNamespace:
        """An object shaped like the `pynvml` module."""

        def init() -> None:
            if not self.driver:
                raise NVMLError("NVML Shared Library Not Found")

        def memory(handle: int) -> types.SimpleNamespace:
            gpu = self.gpus[handle]
            return types.SimpleNamespace(total=gpu.memory_total, used=gpu.memory_used)

        return types.SimpleNamespace(
            NVMLError=NVMLError,
            nvmlInit=init,
            nvmlShutdown=lambda: None,
            nvmlDeviceGetCount=lambda: len(self.gpus),
            nvmlDeviceGetHandleByIndex=lambda index: index,
            nvmlDeviceGetName=lambda handle: self.gpus[handle].name,
            nvmlDeviceGetMemoryInfo=memory,
            nvmlDeviceGetUtilizationRates=lambda handle: types.SimpleNamespace(
                gpu=self.gpus[handle].utilization, memory=0
            ),
            nvmlDeviceGetPowerUsage=lambda handle: self.gpus[handle].power_mw,
        )
