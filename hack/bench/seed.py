"""Bulk-insert benchmark data straight into a server's database (much faster than the API)."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import insert, select

from runyard.server.clock import utcnow
from runyard.server.db.engine import make_engine, make_session_factory
from runyard.server.db.models import Entity, MetricPoint, Project, Run
from runyard.server.tracking.rollups import Point, store_rollups


def seed_project(database_url: str, project: str) -> int:
    """Create project `admin/<project>`; return its id."""
    sessions = make_session_factory(make_engine(database_url))
    with sessions.begin() as session:
        entity = session.scalars(select(Entity).where(Entity.name == "admin")).one()
        row = Project(entity_id=entity.id, name=project)
        session.add(row)
        session.flush()
        return row.id


def seed_long_run(database_url: str, project: str, points: int, key: str = "loss") -> str:
    """One run with `points` values of one metric at steps 0..points-1; return its name."""
    project_id = seed_project(database_url, project)
    engine = make_engine(database_url)
    with make_session_factory(engine).begin() as session:
        run = Run(project_id=project_id, name="long", state="finished", history_line_count=points)
        session.add(run)
        session.flush()
        run_id = run.id
    rng = random.Random(7)
    batch = 50_000
    sessions = make_session_factory(engine)
    for start in range(0, points, batch):
        chunk = [Point(key, i, i, rng.random()) for i in range(start, min(points, start + batch))]
        with sessions.begin() as session:
            session.execute(insert(MetricPoint), [{"run_id": run_id, **p._asdict()} for p in chunk])
            # The same rollups that ingest keeps, so charts read what they read in production.
            store_rollups(session, run_id, chunk)
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
