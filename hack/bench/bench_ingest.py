"""Ingest: N concurrent official-client runs x steps x metrics against a server process.

Usage: python hack/bench/bench_ingest.py [--backend sqlite|postgres|both] [--runs 20]
       [--steps 2000] [--metrics 50]
Prints history rows/s (as stored), metric values/s, wall time, the server's CPU seconds and
its peak resident memory.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import ADMIN_KEY, cpu_seconds, peak_rss_mb, server
from rich.console import Console
from rich.table import Table

CLIENT = Path(__file__).parent / "ingest_client.py"


def run_clients(url: str, runs: int, steps: int, metrics: int) -> float:
    """Start `runs` client processes at once; return the wall seconds until all exit."""
    with tempfile.TemporaryDirectory(prefix="runyard-bench-clients-") as tmp:
        env = {
            **os.environ,
            "WANDB_BASE_URL": url,
            "WANDB_API_KEY": ADMIN_KEY,
            "WANDB_ERROR_REPORTING": "false",
            "WANDB_SILENT": "true",
            "HOME": tmp,
            "WANDB_DIR": tmp,
            "WANDB_CONFIG_DIR": tmp,
            "WANDB_CACHE_DIR": tmp,
        }
        started = time.perf_counter()
        procs = [
            subprocess.Popen(
                [sys.executable, str(CLIENT), "ingest", str(steps), str(metrics)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for _ in range(runs)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=3600)
            if proc.returncode != 0:
                raise RuntimeError(f"client failed: {err.decode()[-2000:]}")
        return time.perf_counter() - started


def bench_backend(backend: str, runs: int, steps: int, metrics: int) -> tuple[str, ...]:
    """Measure one backend."""
    with server(backend) as srv, srv.api() as api:
        cpu_before = cpu_seconds(srv.proc.pid)
        wall = run_clients(srv.url, runs, steps, metrics)
        cpu = cpu_seconds(srv.proc.pid) - cpu_before
        peak = peak_rss_mb(srv.proc.pid)
        listed = api.get("/api/v1/runs", params={"project": "admin/ingest", "limit": 1000}).json()
        stored = sum(r["history_line_count"] for r in listed["runs"])
        finished = sum(r["state"] == "finished" for r in listed["runs"])
    expected = runs * steps
    return (
        backend,
        f"{runs}x{steps}x{metrics}",
        f"{stored:,}/{expected:,}",
        f"{finished}/{runs}",
        f"{wall:.1f}",
        f"{stored / wall:,.0f}",
        f"{stored * metrics / wall:,.0f}",
        f"{cpu:.1f}",
        f"{peak:,.0f}",
    )


def main() -> None:
    """Parse flags, run, print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="both", choices=["sqlite", "postgres", "both"])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--metrics", type=int, default=50)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    table = Table(title="Ingest with the official wandb client (all clients on this machine)")
    for column in (
        "backend",
        "runs x steps x metrics",
        "rows stored",
        "finished",
        "wall s",
        "rows/s",
        "values/s",
        "server CPU s",
        "server peak MiB",
    ):
        table.add_column(column)
    for backend in backends:
        table.add_row(*bench_backend(backend, args.runs, args.steps, args.metrics))
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
