"""The server's per-value cost of history ingest: `apply_post` in-process, no HTTP, no clients.

Usage: python hack/bench/bench_apply_post.py [--backend sqlite|postgres] [--runs 8]
       [--steps 2000] [--metrics 50] [--lines-per-post 100] [--repeat 3]

`runs` simulated clients take turns posting `lines-per-post` history lines of `metrics` values
(plus `_step`, `_runtime`, `_timestamp`, as the official client sends), one transaction per
post as the endpoint does. Prints values/s and CPU seconds per million values: the CPU time of
this process only, so it varies far less with the load of a shared machine than wall time.
bench_ingest.py measures the whole path with the official client.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import postgres_database
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from runyard.server.db.engine import make_engine, make_session_factory
from runyard.server.db.models import Base, Entity, Project, Run
from runyard.server.tracking.filestream import HISTORY_FILE, FileStreamRequest, apply_post


def _posts(steps: int, metrics: int, per_post: int) -> list[FileStreamRequest]:
    """The history posts of one run, as the client batches them."""
    names = [f"m{j:02d}" for j in range(metrics)]
    lines = [
        json.dumps(
            {
                **{name: step * 0.001 + j for j, name in enumerate(names)},
                "_step": step,
                "_runtime": step * 0.01,
                "_timestamp": 1.7e9 + step * 0.01,
            }
        )
        for step in range(steps)
    ]
    return [
        FileStreamRequest.model_validate(
            {"files": {HISTORY_FILE: {"offset": start, "content": lines[start : start + per_post]}}}
        )
        for start in range(0, steps, per_post)
    ]


def _make_runs(sessions: sessionmaker[Session], count: int) -> list[int]:
    with sessions.begin() as session:
        entity = Entity(name="bench")
        session.add(entity)
        session.flush()
        project = Project(entity_id=entity.id, name="ingest")
        session.add(project)
        session.flush()
        runs = [Run(project_id=project.id, name=f"r{i}") for i in range(count)]
        session.add_all(runs)
        session.flush()
        return [run.id for run in runs]


def bench_once(url: str, runs: int, steps: int, metrics: int, per_post: int) -> tuple[float, ...]:
    """One pass over a fresh database: (values, wall s, CPU s)."""
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    run_ids = _make_runs(sessions, runs)
    posts = _posts(steps, metrics, per_post)
    values = runs * steps * (metrics + 3)
    wall, cpu = time.perf_counter(), time.process_time()
    for post in posts:  # clients interleave: every run's post k before any post k+1
        for run_id in run_ids:
            with sessions.begin() as session:
                apply_post(session, session.get_one(Run, run_id), post, 1 << 20)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    engine.dispose()
    return values, wall, cpu


def main() -> None:
    """Parse flags, run `repeat` times, print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--metrics", type=int, default=50)
    parser.add_argument("--lines-per-post", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    table = Table(title=f"apply_post in-process ({args.backend})")
    for column in (
        "runs x steps x values/line",
        "values",
        "wall s",
        "values/s",
        "CPU s / M values",
    ):
        table.add_column(column)
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="runyard-bench-apply-") as tmp:
            if args.backend == "sqlite":
                result = bench_once(
                    f"sqlite:///{tmp}/r.db",
                    args.runs,
                    args.steps,
                    args.metrics,
                    args.lines_per_post,
                )
            else:
                with postgres_database() as url:
                    result = bench_once(
                        url, args.runs, args.steps, args.metrics, args.lines_per_post
                    )
        values, wall, cpu = result
        table.add_row(
            f"{args.runs}x{args.steps}x{args.metrics + 3}",
            f"{values:,.0f}",
            f"{wall:.1f}",
            f"{values / wall:,.0f}",
            f"{cpu / values * 1e6:.1f}",
        )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
