"""System metrics (`wandb-events.jsonl`): bucketed series over run time and the panels to draw.

The client samples CPU, memory, disk, network and GPU every 10-15 s and streams each
sample as one events line of `system.*` keys (GPUs as `system.gpu.<index>.<name>`).
That is a few thousand lines even for a day-long run, so the series are bucketed from
the stored lines directly: x is seconds since the run started (`_runtime`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from runyard.server.db.models import EventLine
from runyard.server.tracking.metric_points import numeric_items
from runyard.server.tracking.rollups import Bucket

PREFIX = "system."
GPU_KEY = re.compile(r"^system\.gpu\.(?P<index>\d+)\.(?P<name>.+)$")


@dataclass(frozen=True)
class Line:
    """One line of a panel: the series `key`, drawn with `label`."""

    key: str
    label: str


@dataclass
class Panel:
    """One system chart: its section (`system` or `gpu`), title and lines."""

    section: str
    title: str
    lines: list[Line] = field(default_factory=list)


def event_points(texts: Iterable[str]) -> dict[str, list[tuple[float, float]]]:
    """Each `system.*` metric as (seconds since start, value) points, in line order."""
    series: dict[str, list[tuple[float, float]]] = {}
    start: float | None = None
    for text in texts:
        try:
            row = json.loads(text)
        except json.JSONDecodeError:
            continue
        if not isinstance(row, dict):
            continue
        x = row.get("_runtime")
        if not isinstance(x, int | float):
            stamp = row.get("_timestamp")
            if not isinstance(stamp, int | float):
                continue
            start = stamp if start is None else start
            x = stamp - start
        for key, value in numeric_items(row):
            if key.startswith(PREFIX):
                series.setdefault(key, []).append((float(x), value))
    return series


def bucket_points(points: list[tuple[float, float]], buckets: int) -> list[Bucket]:
    """Equal-width x buckets with count, min, max and the last value (by x, then arrival)."""
    if not points:
        return []
    ordered = sorted(enumerate(points), key=lambda item: (item[1][0], item[0]))
    lo, hi = ordered[0][1][0], ordered[-1][1][0]
    width = (hi - lo) / max(buckets, 1) or 1.0
    out: list[Bucket] = []
    group: list[tuple[float, float]] = []
    index = None
    for _, (x, value) in ordered:
        i = min(int((x - lo) / width), buckets - 1)
        if index is not None and i != index:
            out.append(_bucket(group))
            group = []
        index = i
        group.append((x, value))
    out.append(_bucket(group))
    return out


def _bucket(group: list[tuple[float, float]]) -> Bucket:
    values = [v for _, v in group]
    return Bucket(group[0][0], group[-1][0], len(group), min(values), max(values), values[-1])


def panels(keys: Iterable[str]) -> list[Panel]:
    """The charts for these metrics: one per GPU measure (a line per GPU), one per other metric.

    GPU panels come in their own `gpu` section, the rest in `system`.
    """
    gpu: dict[str, Panel] = {}
    other: list[Panel] = []
    for key in sorted(keys):
        match = GPU_KEY.match(key)
        if match is None:
            name = key[len(PREFIX) :]
            other.append(Panel("system", name, [Line(key, name)]))
            continue
        name = match["name"]
        panel = gpu.setdefault(name, Panel("gpu", f"GPU {name}"))
        panel.lines.append(Line(key, f"GPU {match['index']}"))
    for panel in gpu.values():
        panel.lines.sort(key=lambda line: int(line.label.split()[-1]))
    return other + [gpu[name] for name in sorted(gpu)]


def system_series(session: Session, run_id: int, buckets: int) -> dict[str, list[Bucket]]:
    """Every system metric of a run, bucketed over run time."""
    texts = session.scalars(
        select(EventLine.data).where(EventLine.run_id == run_id).order_by(EventLine.line_no)
    )
    return {key: bucket_points(pts, buckets) for key, pts in event_points(texts).items()}


def latest_values(texts: Iterable[str]) -> dict[str, Any]:
    """The latest value of each key over events lines given oldest first.

    The client samples every metric at once, but a device can drop out of a sample (a
    GPU query that timed out), so a few recent lines are merged rather than only the last.
    """
    latest: dict[str, Any] = {}
    for text in texts:
        try:
            row = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            latest.update(row)
    return latest
