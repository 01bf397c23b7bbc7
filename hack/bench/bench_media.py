"""The workspace media list: reading through the media index vs scanning history lines.

Usage: python hack/bench/bench_media.py [--runs 4] [--steps 50000] [--repeat 3]

Seeds `--runs` runs of `--steps` history lines each (20 scalars a line, a histogram every
10th step, an image every 100th) into a SQLite server, then reads all runs' media in this
process both ways, on the same data:
- index: what the server does now (media_index.thinned_media_lines + media_of_lines);
- scan: what it did before migration 0020, every line matching LIKE '%"_type"%' read and
  JSON-parsed, then thinned in Python.
Prints CPU seconds (this process: SQLite runs in it) and wall milliseconds, medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from common import server
from rich.console import Console
from rich.table import Table
from seed import seed_project, seed_run
from sqlalchemy import select

from runyard.server.db.engine import make_engine, make_session_factory
from runyard.server.db.models import HistoryLine
from runyard.server.tracking.media_index import thinned_media_lines
from runyard.server.workspaces.media import MAX_STEPS, media_entry, media_of_lines


def _rows(steps: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for s in range(steps):
        row: dict[str, Any] = {"_step": s, **{f"m{k}": (s * k) % 97 / 97 for k in range(20)}}
        if s % 10 == 0:
            row["w"] = {"_type": "histogram", "bins": [0, 1, 2], "values": [s, 1]}
        if s % 100 == 0:
            row["img"] = {"_type": "image-file", "path": f"media/images/img_{s}.png"}
        rows.append(row)
    return rows


def _scan(session: Any, run_ids: list[int]) -> dict[str, Any]:
    """The read before the index: every typed line of every run, parsed, thinned in Python."""
    per_key: dict[tuple[int, str], list[dict[str, Any]]] = {}
    lines = session.execute(
        select(HistoryLine.run_id, HistoryLine.line_no, HistoryLine.step, HistoryLine.data)
        .where(HistoryLine.run_id.in_(run_ids), HistoryLine.data.like('%"_type"%'))
        .order_by(HistoryLine.run_id, HistoryLine.line_no)
    )
    for run_id, line_no, step, data in lines:
        for key, value in json.loads(data).items():
            found = media_entry(value)
            if found is not None:
                per_key.setdefault((run_id, key), []).append(
                    {"step": step if step is not None else line_no, **found[1]}
                )
    out: dict[str, Any] = {}
    for (run_id, key), entries in per_key.items():
        n = len(entries)
        if n > MAX_STEPS:
            picked = {i * n // MAX_STEPS for i in range(MAX_STEPS - 1)} | {n - 1}
            entries = [e for k, e in enumerate(entries) if k in picked]
        out.setdefault(key, {}).setdefault(run_id, entries)
    return out


def _index(session: Any, run_ids: list[int]) -> dict[str, Any]:
    lines = thinned_media_lines(session, run_ids, MAX_STEPS)
    return media_of_lines((str(r), k, x, t) for r, k, x, t in lines)


def _measure(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median CPU seconds and wall milliseconds of `repeat` calls after a warm-up."""
    call()
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        call()
        cpu.append(time.process_time() - c0)
        wall.append((time.perf_counter() - w0) * 1000)
    return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    """Seed, read both ways, print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with server("sqlite") as srv:
        project_id = seed_project(srv.database_url, "bench-media")
        engine = make_engine(srv.database_url)
        rows = _rows(args.steps)
        run_ids = [seed_run(engine, project_id, f"media{i}", rows) for i in range(args.runs)]
        sessions = make_session_factory(engine)
        table = Table(
            title=f"media list of {args.runs} runs x {args.steps:,} lines (SQLite)",
        )
        for column in ("read", "CPU s (median)", "wall ms (median)", "steps returned"):
            table.add_column(column, justify="right" if column != "read" else "left")
        for name, read in (("index (now)", _index), ("scan (before 0020)", _scan)):
            with sessions() as session:
                found = read(session, run_ids)
                count = sum(len(v) for runs in found.values() for v in _steps_of(runs))
                cpu, wall = _measure(lambda r=read, s=session: r(s, run_ids), args.repeat)  # type: ignore[misc]
            table.add_row(name, f"{cpu:.3f}", f"{wall:.0f}", f"{count:,}")
        Console().print(table)


def _steps_of(runs: dict[Any, Any]) -> list[list[Any]]:
    """Each run's steps, from either read's shape (`{run: steps}` or `{kind, runs}`)."""
    inner = runs.get("runs", runs)
    return [v for v in inner.values() if isinstance(v, list)]


if __name__ == "__main__":
    main()
