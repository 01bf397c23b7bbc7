"""Which of this machine's GPUs a local item gets: pure choices, no NVML, no files.

GPUs are named by their NVML index. CUDA numbers devices fastest-first unless
`CUDA_DEVICE_ORDER=PCI_BUS_ID`, which is NVML's order: the job's environment sets both,
so index 1 here is index 1 to the job's CUDA.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

FIELD = "requirements.gpus"


class GpuRequestError(ValueError):
    """The item's GPU request cannot be met here; the message names the field and the fix."""


def pinned_indices(pins: Mapping[str, Sequence[int]]) -> set[int]:
    """Every GPU index some item holds."""
    return {index for indices in pins.values() for index in indices}


def free_gpus(machine: Sequence[int], pins: Mapping[str, Sequence[int]]) -> list[int]:
    """The machine's GPUs no item holds, in NVML order."""
    taken = pinned_indices(pins)
    return [index for index in machine if index not in taken]


def pick_gpus(
    machine: Sequence[int], pins: Mapping[str, Sequence[int]], want: int
) -> tuple[int, ...]:
    """The lowest free GPU indices for an item that needs `want` of them.

    GpuRequestError when the machine has fewer GPUs than that at all, or fewer free.
    """
    if want < 0:
        raise GpuRequestError(f"{FIELD} must be 0 or more, not {want}")
    if want > len(machine):
        have = f"{len(machine)} ({', '.join(map(str, machine))})" if machine else "none"
        raise GpuRequestError(
            f"{FIELD}: the item asks for {want} GPUs but this machine has {have}; "
            "lower the item's gpus value or send it to a queue whose agents have that many"
        )
    free = free_gpus(machine, pins)
    if want > len(free):
        raise GpuRequestError(
            f"{FIELD}: the item asks for {want} GPUs but only {len(free)} of this machine's "
            f"{len(machine)} are free; it runs when other items end"
        )
    return tuple(free[:want])


def visible_devices_env(indices: Sequence[int], machine: Sequence[int]) -> dict[str, str]:
    """The job's CUDA environment: only its GPUs (none for a 0-GPU item on a GPU machine).

    A machine without GPUs leaves the environment alone: there is nothing to hide.
    """
    if not machine:
        return {}
    return {
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "CUDA_VISIBLE_DEVICES": ",".join(str(index) for index in indices),
    }
