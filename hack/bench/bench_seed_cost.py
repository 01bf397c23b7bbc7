"""What seeding bench_ui.py's workspace costs at a given size: a slice measured, the rest
extrapolated (seeding is linear in runs: each run is its own bulk insert).

Usage: python hack/bench/bench_seed_cost.py [--steps 100000 --metrics 20 --runs 50]
       [--slice-runs 2] [--budget-min 20 --budget-gb 20]
Seeds `--slice-runs` runs of `--metrics` metrics x `--steps` steps (bench_ui's
`_seed_workspace_run`, one after another in this process) into a fresh server's SQLite
database, then prints seconds (wall and this process's CPU), bytes on disk (database after a
WAL checkpoint, and the peak with the WAL) per run and per million values, and the same
scaled to `--runs`, against the budget. bench_ui.py seeds with one process per core, but
SQLite serialises the writes, so the wall-time estimate assumes no parallel speed-up.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_ui import _seed_workspace_run
from common import server
from rich.console import Console
from rich.table import Table
from seed import seed_project
from sqlalchemy.exc import OperationalError


def disk_bytes(db: Path) -> int:
    """The database file and its WAL/shm companions, in bytes."""
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


class PeakDisk:
    """Samples `disk_bytes` every half second on a thread; `peak` is the largest seen."""

    def __init__(self, db: Path) -> None:
        self.db, self.peak, self._stop = db, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, disk_bytes(self.db))

    def stop(self) -> None:
        """Stop sampling (one last sample first)."""
        self.peak = max(self.peak, disk_bytes(self.db))
        self._stop.set()
        self._thread.join()


def project_when_free(database_url: str, tries: int = 5) -> int:
    """`seed_project`, retried: a freshly started server may hold SQLite's write lock a while."""
    for attempt in range(tries):
        try:
            return seed_project(database_url, "ws")
        except OperationalError:
            if attempt == tries - 1:
                raise
            time.sleep(5)
    raise AssertionError("unreachable")


def main() -> None:
    """Seed the slice, measure it, print the extrapolation."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--slice-runs", type=int, default=2)
    parser.add_argument("--budget-min", type=float, default=20)
    parser.add_argument("--budget-gb", type=float, default=20)
    args = parser.parse_args()
    with server("sqlite") as srv:
        db = Path(srv.database_url.removeprefix("sqlite:///"))
        project_id = project_when_free(srv.database_url)
        before = disk_bytes(db)
        peak = PeakDisk(db)
        wall, cpu = time.perf_counter(), time.process_time()
        for r in range(args.slice_runs):
            _seed_workspace_run(srv.database_url, project_id, r, args.metrics, args.steps)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak.stop()
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        settled = disk_bytes(db) - before
        peak_bytes = peak.peak - before
    values = args.slice_runs * args.metrics * args.steps
    scale = args.runs / args.slice_runs
    full = args.runs * args.metrics * args.steps
    table = Table(
        title=f"Seeding bench_ui's workspace: {args.slice_runs} runs measured, "
        f"{args.runs} runs ({full:,} values) extrapolated"
    )
    table.add_column("measure")
    table.add_column(f"slice ({values:,} values)", justify="right")
    table.add_column("per million values", justify="right")
    table.add_column(f"full ({args.runs} runs)", justify="right")
    table.add_column("budget", justify="right")
    per_m = 1e6 / values
    gb = 1e9
    table.add_row(
        "wall seconds", f"{wall:,.0f}", f"{wall * per_m:,.1f}", f"{wall * scale:,.0f}",
        f"{args.budget_min * 60:,.0f}",
    )  # fmt: skip
    table.add_row(
        "seeding process CPU seconds", f"{cpu:,.0f}", f"{cpu * per_m:,.1f}", f"{cpu * scale:,.0f}",
        "",
    )  # fmt: skip
    table.add_row(
        "database GB (after checkpoint)", f"{settled / gb:,.2f}", f"{settled * per_m / gb:,.3f}",
        f"{settled * scale / gb:,.1f}", f"{args.budget_gb:,.0f}",
    )  # fmt: skip
    table.add_row(
        "peak GB (with the WAL)", f"{peak_bytes / gb:,.2f}", "",
        f"{(settled * (scale - 1) + peak_bytes) / gb:,.1f}", f"{args.budget_gb:,.0f}",
    )  # fmt: skip
    fits = wall * scale <= args.budget_min * 60 and settled * scale <= args.budget_gb * gb
    Console(width=160).print(table)
    print(f"fits the budget: {'yes' if fits else 'no'}")


if __name__ == "__main__":
    main()
