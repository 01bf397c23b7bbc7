"""Ingest throughput and cost, side by side: simulated and official clients, SQLite and
PostgreSQL, and an MLflow server (SQLite store) given the same workload as the reference peer.

Usage: python hack/bench/bench_ingest.py [--backends sqlite,postgres] [--sim-clients 8,32]
       [--official-clients 8] [--steps 2000] [--metrics 50] [--lines-per-post 100]
       [--mlflow-python /tmp/mlflow/bin/python] [--mlflow-steps 100] [--no-mlflow]
       [--before DIR]

Each row is a fresh server. "sim" rows post from simulated clients in the official client's
exact wire format (ingest_poster.py: bodies encoded before the clock starts, so the figure
is the server's); "official" rows run the official `wandb` client in as many processes
(ingest_client.py), which share this machine's CPUs with the server. A server is warmed up
(its first GraphQL request builds the schema) before its CPU is counted.

values = runs x steps x metrics (the logged metrics; Runyard also stores `_step`,
`_runtime` and `_timestamp` of each line as points, MLflow keeps step and timestamp beside
each value). server CPU is the server process's user+system time (MLflow: its process
tree, `mlflow server` and its uvicorn worker, job execution off); with PostgreSQL the
database backends' CPU is shown apart and added in "CPU s / M values (+DB)". Wall-clock
figures depend on the machine's load; CPU per value far less.
MLflow lives in its own virtualenv (`python -m venv /tmp/mlflow && /tmp/mlflow/bin/pip
install mlflow`); without one its rows are left out, with a note.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_ui_mlflow import start_mlflow
from common import (
    ADMIN_KEY,
    BackendCpu,
    cpu_seconds,
    peak_rss_mb,
    server,
    tree_cpu_seconds,
    tree_peak_rss_mb,
)
from ingest_poster import MlflowPoster, RunyardPoster, runyard_bodies
from rich.console import Console
from rich.table import Table

CLIENT = Path(__file__).parent / "ingest_client.py"


@dataclass
class Result:
    """One measured row."""

    system: str
    backend: str
    clients: str
    runs: int
    steps: int
    metrics: int
    stored: str
    wall: float
    cpu: float
    db_cpu: float | None
    peak_mb: float

    @property
    def values(self) -> int:
        """Logged metric values."""
        return self.runs * self.steps * self.metrics

    def row(self) -> tuple[str, ...]:
        """The table cells."""
        per_m = self.cpu / self.values * 1e6
        total = self.cpu + (self.db_cpu or 0.0)
        return (
            self.system,
            self.backend,
            self.clients,
            f"{self.runs}x{self.steps}x{self.metrics}",
            self.stored,
            f"{self.wall:.1f}",
            f"{self.values / self.wall:,.0f}",
            f"{self.cpu:.1f}",
            "-" if self.db_cpu is None else f"{self.db_cpu:.1f}",
            f"{per_m:.2f}",
            f"{total / self.values * 1e6:.2f}",
            f"{self.values / total:,.0f}",
            f"{self.peak_mb:,.0f}",
        )


def _official_clients(url: str, project: str, runs: int, steps: int, metrics: int) -> float:
    """`runs` official-client processes at once; the wall seconds until all exit."""
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
                [sys.executable, str(CLIENT), project, str(steps), str(metrics)],
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


def bench_runyard(
    backend: str,
    kind: str,
    clients: int,
    steps: int,
    metrics: int,
    per_post: int,
    before: Path | None = None,
) -> Result:
    """One Runyard row: `kind` is "sim" (simulated clients) or "official"; `before`: the
    checkout of an older revision to run instead of this one."""
    project = f"ingest-{kind}-{clients}"
    with server(backend, cwd=before) as srv, srv.api() as api:
        poster = RunyardPoster(srv.url, ADMIN_KEY, "admin", project)
        # Warm-up: the first GraphQL request builds the schema; the sim runs exist before.
        names = poster.create_runs(clients if kind == "sim" else 1)
        bodies = runyard_bodies(steps, metrics, per_post) if kind == "sim" else []
        database = srv.database_url.rsplit("/", 1)[1] if backend == "postgres" else None
        db = BackendCpu(database) if database else None
        if db:
            db.__enter__()
        try:
            cpu_before = cpu_seconds(srv.proc.pid)
            if kind == "sim":
                wall = poster.post_all(names, bodies)
            else:
                wall = _official_clients(srv.url, project, clients, steps, metrics)
            cpu = cpu_seconds(srv.proc.pid) - cpu_before
        finally:
            if db:
                db.__exit__()
        peak = peak_rss_mb(srv.proc.pid)
        listed = api.get("/api/v1/runs", params={"project": f"admin/{project}", "limit": 1000})
        runs = [r for r in listed.json()["runs"] if r["history_line_count"]]
        stored = sum(r["history_line_count"] for r in runs)
        finished = sum(r["state"] == "finished" for r in runs)
    return Result(
        "runyard" if before is None else "runyard before",
        backend,
        f"{clients} {kind}",
        clients,
        steps,
        metrics,
        f"{stored:,}/{clients * steps:,} rows, {finished} finished",
        wall,
        cpu,
        None if db is None else db.seconds(),
        peak,
    )


def bench_mlflow(python: str, clients: int, steps: int, metrics: int) -> Result:
    """The MLflow reference row: the same values through `runs/log-batch`."""
    # Its background job runner (seven idle consumer processes) has nothing to do with
    # ingest, and would be counted: off, as a tracking-only deployment runs it.
    os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    # Its default pool (5 + 10 overflow) answers 32 concurrent clients with "QueuePool
    # limit reached" errors: give it a connection per client, as an operator would.
    os.environ["MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"] = str(clients)
    os.environ["MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW"] = "10"
    with tempfile.TemporaryDirectory(prefix="runyard-bench-mlflow-") as tmp:
        proc, url = start_mlflow(python, Path(tmp))
        try:
            poster = MlflowPoster(url)
            run_ids = poster.create_runs(clients)  # also warms the server up
            batches = MlflowPoster.bodies(steps, metrics)
            cpu_before = tree_cpu_seconds(proc.pid)
            wall = poster.post_all(run_ids, batches)
            cpu = tree_cpu_seconds(proc.pid) - cpu_before
            peak = tree_peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return Result(
        "mlflow",
        "sqlite",
        f"{clients} sim",
        clients,
        steps,
        metrics,
        f"{len(batches) * clients:,} batches, {poster.retries:,} retried",
        wall,
        cpu,
        None,
        peak,
    )


def main() -> None:
    """Parse flags, run every row, print one table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--sim-clients", default="8,32")
    parser.add_argument("--official-clients", type=int, default=8, help="0: none")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--metrics", type=int, default=50)
    parser.add_argument("--lines-per-post", type=int, default=100)
    parser.add_argument("--mlflow-python", default="/tmp/mlflow/bin/python")
    # MLflow ingests about 100x slower: fewer steps keep its rows to minutes.
    parser.add_argument("--mlflow-steps", type=int, default=100)
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument(
        "--before",
        type=Path,
        help="a checkout of an older revision (e.g. `git archive REV runyard | tar -x -C DIR`): "
        "its Runyard rows run first, on the same data",
    )
    args = parser.parse_args()
    sims = [int(n) for n in args.sim_clients.split(",") if n]
    results: list[Result] = []
    console = Console(width=220)

    def measured(result: Result) -> None:
        results.append(result)
        console.print(" | ".join(result.row()))  # as it comes: a long run keeps its rows

    versions: list[Path | None] = [None] if args.before is None else [args.before, None]
    for backend in [b for b in args.backends.split(",") if b]:
        for version in versions:
            for clients in sims:
                measured(
                    bench_runyard(
                        backend,
                        "sim",
                        clients,
                        args.steps,
                        args.metrics,
                        args.lines_per_post,
                        version,
                    )
                )
            if args.official_clients:
                measured(
                    bench_runyard(
                        backend,
                        "official",
                        args.official_clients,
                        args.steps,
                        args.metrics,
                        0,
                        version,
                    )
                )
    note = ""
    if args.no_mlflow:
        note = "MLflow rows left out (--no-mlflow)."
    elif not Path(args.mlflow_python).exists():
        note = f"!!! MLflow rows left out: no {args.mlflow_python} (see the module docstring)."
    else:
        for clients in sims:
            measured(bench_mlflow(args.mlflow_python, clients, args.mlflow_steps, args.metrics))
    table = Table(title="Ingest: values/s and server CPU per million logged values")
    for column in (
        "system",
        "db",
        "clients",
        "runs x steps x metrics",
        "stored",
        "wall s",
        "values/s",
        "server CPU s",
        "DB CPU s",
        "CPU s / M values",
        "CPU s / M values (+DB)",
        "values / CPU s (+DB)",
        "peak RSS MiB",
    ):
        table.add_column(column)
    for result in results:
        table.add_row(*result.row())
    console.print(table)
    if note:
        console.print(note)


if __name__ == "__main__":
    main()
