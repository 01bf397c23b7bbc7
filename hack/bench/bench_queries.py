"""Read-path latency: sampled history of a 1M-point metric, and a filtered, sorted 10k-run list.

Usage: python hack/bench/bench_queries.py [--backend sqlite|postgres|both] [--repeat N]
Targets (DESIGN.md): sampled 1M points at 1,000 buckets < 100 ms; 10k-run list < 200 ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import percentile, server
from rich.console import Console
from rich.table import Table
from seed import seed_long_run, seed_many_runs


def timed(call, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Milliseconds of `repeat` calls after one warm-up call."""
    call()
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def bench_backend(backend: str, points: int, runs: int, repeat: int) -> list[tuple[str, ...]]:
    """Seed both data sets on one backend and time the two queries."""
    rows = []
    with server(backend) as srv, srv.api() as api:
        started = time.perf_counter()
        seed_long_run(srv.database_url, "bench-long", points)
        seed_many_runs(srv.database_url, "bench-many", runs)
        print(f"[{backend}] seeded in {time.perf_counter() - started:.1f}s", file=sys.stderr)

        def sampled() -> None:
            response = api.get(
                "/api/v1/runs/admin/bench-long/long/history/sampled",
                params={"keys": "loss", "buckets": 1000},
            )
            response.raise_for_status()
            series = response.json()["series"]["loss"]
            # Buckets align with rollup ranges, so a few fewer than asked may come back.
            assert 900 <= len(series) <= 1000
            assert sum(b["count"] for b in series) == points

        def listing() -> None:
            response = api.get(
                "/api/v1/runs",
                params={
                    "project": "admin/bench-many",
                    "filters": json.dumps(
                        {"$and": [{"config.lr": {"$gte": 3e-4}}, {"state": "finished"}]}
                    ),
                    "order": "-summary_metrics.loss",
                    "limit": 50,
                },
            )
            response.raise_for_status()
            assert len(response.json()["runs"]) == 50

        for name, call in (
            (f"sampled history, {points:,} points, 1,000 buckets", sampled),
            (f"runs list, {runs:,} runs, filter + sort, page of 50", listing),
        ):
            ms = timed(call, repeat)
            rows.append((backend, name, f"{percentile(ms, 50):.1f}", f"{percentile(ms, 99):.1f}"))
    return rows


def main() -> None:
    """Parse flags, run, print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="both", choices=["sqlite", "postgres", "both"])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    table = Table(title="Runyard read-path latency (HTTP, end to end)")
    for column in ("backend", "query", "p50 ms", "p99 ms"):
        table.add_column(column)
    for backend in backends:
        for row in bench_backend(backend, args.points, args.runs, args.repeat):
            table.add_row(*row)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
