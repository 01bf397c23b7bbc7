"""GPU-hours from queue items: pure functions, no database.

An item holds its GPUs from launch (entering `launching`, or `running` when an agent
skipped it) until it ends (entering a final state), or until now while it still runs.
Its GPU-seconds are its GPU count times that span, clipped to the window asked about.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from runyard.launch.models import ItemState, QueueItem

SECONDS_PER_HOUR = 3600.0
UNKNOWN = "-"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_WINDOW = timedelta(days=3660)


class UsageKey(StrEnum):
    """What GPU-hours are summed by."""

    USER = "user"
    PROJECT = "project"
    QUEUE = "queue"
    POOL = "pool"
    RUN = "run"


class UsageRow(BaseModel):
    """GPU-hours of one user (project, queue, pool or run) in the window."""

    key: str
    gpu_hours: float
    items: int = Field(description="Items that held GPUs in the window.")


class UsageReport(BaseModel):
    """GPU-hours in a window, summed by one key, most first."""

    by: UsageKey
    since: datetime
    until: datetime
    total_gpu_hours: float
    rows: list[UsageRow]


def parse_since(text: str) -> timedelta:
    """`30m`, `12h`, `7d`, `2w` as a duration; ValueError naming `since` otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"since: {text!r} is not a duration; write a number and a unit (s, m, h, d, w), e.g. 7d"
        )
    window = timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])
    if window > MAX_WINDOW:
        raise ValueError(f"since: {text!r} is longer than 10 years; ask for a shorter window")
    return window


def held_span(item: QueueItem, now: datetime) -> tuple[datetime, datetime] | None:
    """When the item took and released its GPUs (now if it still holds them); None: never."""
    times = item.state_times
    start = times.get(ItemState.LAUNCHING.value) or times.get(ItemState.RUNNING.value)
    if start is None:
        return None
    if item.state.is_final:
        end = times.get(item.state.value, now)
    elif item.state.holds_lease:
        end = now
    else:
        # Requeued (pending again): it held its GPUs until it went back in line.
        end = times.get(ItemState.PENDING.value, start)
    return (start, end) if end > start else None


def gpu_seconds(item: QueueItem, since: datetime, until: datetime) -> float:
    """The item's GPUs times the seconds it held them within [since, until]."""
    span = held_span(item, until)
    if span is None or item.requirements.gpus <= 0:
        return 0.0
    start, end = max(span[0], since), min(span[1], until)
    if end <= start:
        return 0.0
    return item.requirements.gpus * (end - start).total_seconds()


def released_gpu_seconds(item: QueueItem) -> float:
    """GPU-seconds of an item that has just released its GPUs (0 while it holds them)."""
    if item.state.holds_lease:
        return 0.0
    span = held_span(item, item.created_at)
    if span is None:
        return 0.0
    return max(0, item.requirements.gpus) * (span[1] - span[0]).total_seconds()


def key_of(item: QueueItem, by: UsageKey, pools: Mapping[str, str]) -> str:
    """The item's user, project, queue, pool (of the agent that ran it) or run."""
    if by is UsageKey.USER:
        return item.enqueued_by or UNKNOWN
    if by is UsageKey.PROJECT:
        project = item.run_spec.get("project")
        entity = item.run_spec.get("entity") or item.entity
        return f"{entity}/{project}" if isinstance(project, str) and project else UNKNOWN
    if by is UsageKey.QUEUE:
        return f"{item.entity}/{item.queue}"
    if by is UsageKey.POOL:
        return pools.get(item.agent_id or "", UNKNOWN)
    return item.run_id or UNKNOWN


def usage_report(
    items: Iterable[QueueItem],
    by: UsageKey,
    since: datetime,
    until: datetime,
    pools: Mapping[str, str],
) -> UsageReport:
    """GPU-hours of `items` in [since, until], summed by `by`, largest first."""
    hours: dict[str, float] = {}
    counts: dict[str, int] = {}
    for item in items:
        seconds = gpu_seconds(item, since, until)
        if seconds <= 0:
            continue
        key = key_of(item, by, pools)
        hours[key] = hours.get(key, 0.0) + seconds / SECONDS_PER_HOUR
        counts[key] = counts.get(key, 0) + 1
    rows = [UsageRow(key=k, gpu_hours=h, items=counts[k]) for k, h in hours.items()]
    rows.sort(key=lambda row: (-row.gpu_hours, row.key))
    return UsageReport(
        by=by, since=since, until=until, total_gpu_hours=sum(hours.values()), rows=rows
    )
