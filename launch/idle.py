"""Idle GPU detection: a queue's idle policy and a pure detector over GPU samples.

A job holding GPUs counts as idle when, for `window_minutes`, no sample of any of its GPUs
reached `threshold_percent` utilisation. Samples arrive in ticks (all the job's GPUs at
one moment); the idle streak starts at the first tick after the last busy one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator


class IdleAction(StrEnum):
    """What happens to an idle job: a warning on its item, or also requeue and stop it."""

    NOTIFY = "notify"
    REQUEUE = "requeue"


class IdlePolicy(BaseModel):
    """A queue's rule for jobs that hold GPUs without using them."""

    model_config = ConfigDict(extra="forbid")

    threshold_percent: float = Field(
        5.0, ge=0, le=100, description="A GPU under this utilisation counts as idle."
    )
    window_minutes: float = Field(
        30.0, description="How long all the job's GPUs stay under the threshold (minutes)."
    )
    action: IdleAction = Field(
        IdleAction.NOTIFY, description="notify: warn on the item; requeue: also stop it."
    )

    @field_validator("window_minutes")
    @classmethod
    def _positive_window(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(
                f"window_minutes must be more than 0, not {value:g}: how many minutes the "
                "GPUs stay under threshold_percent before the job counts as idle, e.g. 30"
            )
        return value

    @property
    def window(self) -> timedelta:
        """The window as a duration."""
        return timedelta(minutes=self.window_minutes)


class GpuSample(BaseModel):
    """One GPU of one job at one moment."""

    at: datetime
    gpu: int = Field(ge=0, description="NVML index.")
    utilization_percent: float = Field(ge=0, le=100)
    memory_used_mib: int = Field(0, ge=0)
    power_w: float = Field(0.0, ge=0)


def idle_since(samples: Iterable[GpuSample], threshold_percent: float) -> datetime | None:
    """When the job's current idle streak began; None if its latest tick was busy (or none)."""
    busiest: dict[datetime, float] = {}
    for sample in samples:
        busiest[sample.at] = max(busiest.get(sample.at, 0.0), sample.utilization_percent)
    since: datetime | None = None
    for at in sorted(busiest):
        if busiest[at] >= threshold_percent:
            since = None
        elif since is None:
            since = at
    return since


def is_idle(samples: Iterable[GpuSample], policy: IdlePolicy) -> bool:
    """True when the samples show every GPU under the threshold for the whole window."""
    ticks = list(samples)
    since = idle_since(ticks, policy.threshold_percent)
    if since is None:
        return False
    latest = max(sample.at for sample in ticks)
    return latest - since >= policy.window
