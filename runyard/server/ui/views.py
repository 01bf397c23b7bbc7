"""Pure functions turning rows into what the pages show: durations, columns, reasons, CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runyard.launch.idle import GpuSample
from runyard.launch.models import ItemState, Priority, QueueItem

if TYPE_CHECKING:
    from runyard.server.db.models import Run

PRIORITY_NAMES = {int(p): p.name.lower() for p in Priority}
FINAL_STATES = {ItemState.FINISHED, ItemState.FAILED, ItemState.CANCELED, ItemState.PREEMPTED}


def human_duration(seconds: float | None) -> str:
    """`93` → `1m 33s`; a short, readable duration for tables ('' when unknown)."""
    if seconds is None:
        return ""
    total = int(max(seconds, 0))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def run_seconds(created: datetime, finished: datetime | None, heartbeat: datetime) -> float:
    """How long a run has run: to its end, or to its last heartbeat while still going."""
    return ((finished or heartbeat) - created).total_seconds()


def flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys (`optimizer.name`), the way table columns name them."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def visible_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """Summary metrics users care about: internal `_`-keys (except `_runtime`) hidden."""
    flat = flatten(summary)
    return {k: v for k, v in flat.items() if not k.startswith("_") or k == "_runtime"}


def sidebar_run(run: Run) -> dict[str, Any]:
    """A run as the workspace sidebar filters and sorts it: config and scalar summary values."""
    # Only scalars travel: histograms and tables would bloat a page of hundreds of runs.
    summary = {
        k: v
        for k, v in visible_summary(run.summary or {}).items()
        if isinstance(v, (int, float, str, bool)) and "._" not in k
    }
    return {
        "id": run.name,
        "name": run.display_name or run.name,
        "state": run.state,
        "group": run.group_name,
        "config": flatten(run.config or {}),
        "summary": summary,
        "lines": run.history_line_count,
    }


def column_keys(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Union of keys over rows, sorted, so every run shares the same columns."""
    keys: set[str] = set()
    for row in rows:
        keys.update(row)
    return sorted(keys)


def cell(value: Any) -> str:
    """A value as a table cell: numbers compact, lists joined, missing empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value)
    return str(value)


def runs_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The runs table as CSV text, cells rendered exactly as the page shows them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return buffer.getvalue()


def wait_seconds(item: QueueItem, now: datetime) -> float:
    """How long an item waited for an agent: until claimed, or until now while pending."""
    claimed = item.state_times.get(ItemState.CLAIMED.value)
    end = claimed if claimed is not None and item.state != ItemState.PENDING else now
    if item.state in FINAL_STATES and claimed is None:
        end = item.state_times.get(item.state.value, now)
    return (end - item.created_at).total_seconds()


def item_reason(item: QueueItem, position: int | None) -> str:
    """Why an item is where it is, in words: its error, or why it is still pending."""
    if item.error is not None:
        return f"{item.error.stage}: {item.error.message}"
    if item.state == ItemState.PENDING and item.pending_reason:
        return item.pending_reason
    if item.state == ItemState.PENDING:
        ahead = f"{position} item(s) ahead in claim order" if position else "next in line"
        if item.attempts:
            return f"requeued after attempt {item.attempts} (agent lost or preempted); {ahead}"
        return f"waiting for an agent with free capacity; {ahead}"
    if item.state == ItemState.CANCELED:
        return "canceled by a user"
    if item.warnings:
        return "; ".join(item.warnings)
    return ""


def gpu_figures(samples: Sequence[GpuSample]) -> str:
    """A running job's latest GPU figures in words: utilisation, memory and power per GPU."""
    return "; ".join(
        f"GPU {s.gpu}: {s.utilization_percent:.0f} %, {s.memory_used_mib / 1024:.1f} GiB, "
        f"{s.power_w:.0f} W"
        for s in sorted(samples, key=lambda s: s.gpu)
    )
