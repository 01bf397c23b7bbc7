"""Zoom-window chart reads of a long run, side by side with an older checkout.

Seeds one finished run of `--points` values of `loss` (hack/bench/seed.py), then times
`GET /api/v1/runs/admin/zoom/long/history/sampled` (500 buckets) for the whole run and for
windows of it, median of `--rounds`. With `--before DIR` (a checkout of an older commit)
a copy of the same database is migrated down to `--before-revision` with this checkout's
migrations and served by that checkout, and the table says whether both answered the
same buckets. A window's edges are read from the raw values (metric chunks here, metric
points before migration 0023); the rest from the rollups.

Usage: python hack/bench/bench_zoom_reads.py [--points 1000000] [--data-dir D]
       [--before /path/to/old/checkout --before-revision 0022] [--rounds 5]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from alembic import command
from common import ServerProcess
from rich.console import Console
from rich.table import Table
from seed import seed_long_run

from runyard.server.db import migrate
from runyard.server.db.engine import make_engine

PROJECT = "zoom"


def windows(points: int) -> list[tuple[int, int]]:
    """The whole run, then windows of 1 %, 0.02 % and 0.1 % of it at the middle and ends."""
    return [
        (0, points - 1),
        (points // 2, points // 2 + points // 100),
        (points // 2 + 123, points // 2 + 123 + points // 5000),
        (points // 8, points // 8 + points // 100),
        (points - points // 1000, points - 1),
    ]


def read_all(data_dir: Path, cwd: Path | None, points: int, rounds: int) -> list[Any]:
    """(median ms, buckets) for each window, from a server on `data_dir` run from `cwd`."""
    server = ServerProcess(data_dir, None, {"RUNYARD_HISTORY_EXPORT_INTERVAL_S": "3600"}, cwd=cwd)
    out = []
    try:
        with server.api() as api:
            for lo, hi in windows(points):
                times = []
                for _ in range(rounds):
                    started = time.perf_counter()
                    response = api.get(
                        f"/api/v1/runs/admin/{PROJECT}/long/history/sampled",
                        params={"buckets": 500, "step_min": lo, "step_max": hi, "keys": "loss"},
                    )
                    times.append((time.perf_counter() - started) * 1000)
                    response.raise_for_status()
                out.append((statistics.median(times), response.json()["series"]["loss"]))
    finally:
        server.stop()
    return out


def main() -> None:
    """Seed (or reuse), read every window here (and before), print one table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, help="keep (or reuse) the seeded data here")
    parser.add_argument("--before", type=Path, help="an older checkout to compare with")
    parser.add_argument("--before-revision", default="0022")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-zoom-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    database = data_dir / "runyard.db"
    if not (data_dir / "seeded").exists():
        ServerProcess(data_dir, None, {}).stop()  # creates and migrates the database
        seed_long_run(f"sqlite:///{database}", PROJECT, args.points)
        (data_dir / "seeded").touch()
    now = read_all(data_dir, None, args.points, args.rounds)
    before: list[Any] = []
    if args.before:
        old_dir = Path(tempfile.mkdtemp(prefix="bench-zoom-before-"))
        with sqlite3.connect(database) as source, sqlite3.connect(old_dir / "runyard.db") as copy:
            source.backup(copy)
        engine = make_engine(f"sqlite:///{old_dir / 'runyard.db'}")
        command.downgrade(migrate.alembic_config(engine), args.before_revision)
        engine.dispose()
        before = read_all(old_dir, args.before.resolve(), args.points, args.rounds)
        shutil.rmtree(old_dir, ignore_errors=True)

    table = Table(title=f"Zoom reads of a {args.points:,}-point metric, 500 buckets (SQLite)")
    for column in ("steps", "buckets", "values", "ms now", "ms before", "same buckets"):
        table.add_column(column, justify="right")
    for i, (lo, hi) in enumerate(windows(args.points)):
        ms, buckets = now[i]
        row = [f"{lo:,}..{hi:,}", str(len(buckets)), f"{sum(b['count'] for b in buckets):,}"]
        row.append(f"{ms:.1f}")
        if before:
            row += [f"{before[i][0]:.1f}", "yes" if before[i][1] == buckets else "NO"]
        else:
            row += ["-", "-"]
        table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    main()
