"""Bulk-insert benchmark data straight into a server's database (much faster than the API)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from datetime import timedelta
from itertools import islice
from typing import Any

from sqlalchemy import Engine, insert, select

from runyard.server.clock import utcnow
from runyard.server.db.engine import make_engine, make_session_factory
from runyard.server.db.models import (
    Entity,
    HistoryLine,
    MediaLine,
    MetricChunk,
    MetricRollup,
    Project,
    Run,
)
from runyard.server.tracking.media_index import index_rows
from runyard.server.tracking.metric_chunks import chunk_rows
from runyard.server.tracking.metric_points import columns_and_ranges, numeric_items
from runyard.server.tracking.rollup_writes import rollup_rows
from runyard.server.tracking.rollups import Point

BATCH = 100_000
# History lines per simulated file_stream post: one metric chunk per metric and post.
POST_LINES = 1000


def seed_project(database_url: str, project: str) -> int:
    """Create project `admin/<project>`; return its id."""
    sessions = make_session_factory(make_engine(database_url))
    with sessions.begin() as session:
        entity = session.scalars(select(Entity).where(Entity.name == "admin")).one()
        row = Project(entity_id=entity.id, name=project)
        session.add(row)
        session.flush()
        return row.id


def _chunks(rows: Iterable[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    """Consecutive lists of at most `size` rows."""
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def seed_history(engine: Engine, run_id: int, rows: list[dict[str, Any]]) -> None:
    """Store history rows (line n = rows[n]) as file_stream ingestion does, in bulk.

    The same tables ingest writes: verbatim history lines, each metric's values packed per
    "post" of POST_LINES lines (`metric_chunks`, as ingest flattens a row) and the server's
    own `rollup_rows` aggregates. Fresh rows only, so plain executemany inserts (no
    upserts), one transaction per run.
    """
    points = [
        Point(key, n, row["_step"], value)
        for n, row in enumerate(rows)
        for key, value in numeric_items(row)
    ]
    chunk_columns = ("key", "first_line", "last_line", "min_step", "max_step", "count", "data")
    with engine.begin() as conn:
        lines = (
            {"run_id": run_id, "line_no": n, "step": row["_step"], "data": json.dumps(row)}
            for n, row in enumerate(rows)
        )
        for chunk in _chunks(lines):
            conn.execute(insert(HistoryLine), chunk)
            # The media index ingest fills (media_index.py), for rows that log media.
            texts = ((line["line_no"], rows[line["line_no"]], line["data"]) for line in chunk)
            media = index_rows(run_id, texts, range(len(rows)))
            if media:
                conn.execute(insert(MediaLine), media)
        for start in range(0, len(rows), BATCH):
            packed = []
            for post in range(start, min(start + BATCH, len(rows)), POST_LINES):
                block = [
                    (n, rows[n]["_step"], rows[n])
                    for n in range(post, post + POST_LINES)
                    if n < len(rows)
                ]
                columns, _ = columns_and_ranges(block)
                packed += [
                    {"run_id": run_id, **dict(zip(chunk_columns, row, strict=True))}
                    for row in chunk_rows(columns)
                ]
            if packed:
                conn.execute(insert(MetricChunk), packed)
        for chunk in _chunks(rollup_rows(run_id, points)):
            conn.execute(insert(MetricRollup), chunk)


def seed_run(
    engine: Engine,
    project_id: int,
    name: str,
    rows: list[dict[str, Any]],
    config: dict[str, Any] | None = None,
) -> int:
    """A finished run `name` with history `rows` (see `seed_history`); return its id."""
    with make_session_factory(engine).begin() as session:
        run = Run(
            project_id=project_id,
            name=name,
            state="finished",
            config=config or {},
            history_line_count=len(rows),
        )
        session.add(run)
        session.flush()
        run_id = run.id
    seed_history(engine, run_id, rows)
    return run_id


def seed_long_run(database_url: str, project: str, points: int, key: str = "loss") -> str:
    """One run with `points` values of one metric at steps 0..points-1; return its name."""
    project_id = seed_project(database_url, project)
    rng = random.Random(7)
    rows: list[dict[str, Any]] = [{"_step": i, key: rng.random()} for i in range(points)]
    seed_run(make_engine(database_url), project_id, "long", rows)
    return "long"


def seed_many_runs(database_url: str, project: str, count: int) -> None:
    """`count` runs with varied config, summary, tags and states."""
    project_id = seed_project(database_url, project)
    rng = random.Random(11)
    now = utcnow()
    engine = make_engine(database_url)
    rows = [
        {
            "project_id": project_id,
            "name": f"run{i:06d}",
            "state": rng.choice(["finished", "failed", "crashed", "running"]),
            "config": {
                "lr": rng.choice([1e-4, 3e-4, 1e-3, 3e-3, 1e-2]),
                "batch_size": rng.choice([32, 64, 128, 256]),
                "optimizer": {"name": rng.choice(["adam", "sgd", "lion"])},
            },
            "wandb_config": {"t": {}},
            "summary": {"loss": rng.random(), "acc": rng.random(), "_step": rng.randint(1, 10**5)},
            "tags": rng.sample(["baseline", "a100", "h100", "ablation", "long"], k=2),
            "group_name": f"g{i % 50}",
            "job_type": "train",
            "created_at": now - timedelta(seconds=i),
            "updated_at": now,
            "heartbeat_at": now,
        }
        for i in range(count)
    ]
    with engine.begin() as conn:
        for start in range(0, count, 2000):
            conn.execute(insert(Run), rows[start : start + 2000])
