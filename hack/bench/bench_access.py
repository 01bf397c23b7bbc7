"""The added cost of the access rule: `UpsertBucket` and a filtered 10,000-run list, p50/p99.

Usage: python hack/bench/bench_access.py [--backend sqlite|postgres] [--runs 10000]
       [--upserts 300] [--repeat 30] [--label NAME]

Run it once on a checkout before the access rule and once after (each with its own venv: the
server runs as `python -m runyard.cli server` of the interpreter running this script), and
compare. Both times the admin writes into and lists its own entity; where the checkout has
teams, the same is also timed as a team member, whose role is looked up on every request.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from bench_queries import timed
from common import ADMIN_KEY, percentile, server
from rich.console import Console
from rich.table import Table
from seed import seed_many_runs

UPSERT = """
mutation UpsertBucket($name: String, $project: String, $entity: String, $config: JSONString) {
  upsertBucket(input: {name: $name, modelName: $project, entityName: $entity, config: $config}) {
    bucket { id name }
    inserted
  }
}
"""
FILTER = {"$and": [{"config.lr": {"$gte": 3e-4}}, {"state": "finished"}]}


def _team_member_key(database_url: str) -> str | None:
    """Create team `bench-team` with a member; return the member's key (None: no teams here)."""
    try:
        from runyard.server.auth import add_api_key, create_user, generate_api_key
        from runyard.server.db.engine import make_engine, make_session_factory
        from runyard.server.db.models import Entity, TeamMember
    except ImportError:
        return None
    key = generate_api_key()
    with make_session_factory(make_engine(database_url)).begin() as session:
        team = Entity(name="bench-team", is_team=True)
        session.add(team)
        session.flush()
        user = create_user(session, "bench-member")
        add_api_key(session, user, key)
        session.add(TeamMember(team_id=team.id, user_id=user.id, role="member"))
    return key


def _seed_team_runs(database_url: str, count: int) -> None:
    """Move a freshly seeded admin project into the team, so the member lists 10k runs."""
    from sqlalchemy import select, update

    from runyard.server.db.engine import make_engine
    from runyard.server.db.models import Entity, Project

    seed_many_runs(database_url, "bench-team-runs", count)
    with make_engine(database_url).begin() as conn:
        team_id = conn.execute(select(Entity.id).where(Entity.name == "bench-team")).scalar_one()
        conn.execute(
            update(Project).where(Project.name == "bench-team-runs").values(entity_id=team_id)
        )


def _measure(
    url: str, key: str, entity: str, project: str, upserts: int, repeat: int
) -> list[tuple[str, float, float]]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as api:
        prefix = uuid.uuid4().hex[:6]
        counter = iter(range(10**9))

        def upsert() -> None:
            variables = {
                "name": f"{prefix}-{next(counter)}",
                "project": "bench-upsert",
                "entity": entity,
                "config": json.dumps({"lr": {"value": 0.1}}),
            }
            response = api.post("/graphql", json={"query": UPSERT, "variables": variables})
            response.raise_for_status()
            assert not response.json().get("errors"), response.text

        def listing() -> None:
            response = api.get(
                "/api/v1/runs",
                params={
                    "project": f"{entity}/{project}",
                    "filters": json.dumps(FILTER),
                    "order": "-summary_metrics.loss",
                    "limit": 50,
                },
            )
            response.raise_for_status()
            assert len(response.json()["runs"]) == 50

        rows = []
        for name, call, count in (
            ("UpsertBucket (new run)", upsert, upserts),
            ("runs list, 10k runs, filter + sort", listing, repeat),
        ):
            ms = timed(call, count)
            rows.append((name, percentile(ms, 50), percentile(ms, 99)))
        return rows


def main() -> None:
    """Seed, time, print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--upserts", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--label", default="this checkout")
    args = parser.parse_args()
    table = Table(title=f"Access rule cost ({args.label}, {args.backend})")
    for column in ("caller", "request", "p50 ms", "p99 ms"):
        table.add_column(column)
    with server(args.backend) as srv:
        seed_many_runs(srv.database_url, "bench-many", args.runs)
        callers = [("admin, own entity", ADMIN_KEY, "admin", "bench-many")]
        member_key = _team_member_key(srv.database_url)
        if member_key is not None:
            _seed_team_runs(srv.database_url, args.runs)
            callers.append(("team member", member_key, "bench-team", "bench-team-runs"))
        for caller, key, entity, project in callers:
            for name, p50, p99 in _measure(
                srv.url, key, entity, project, args.upserts, args.repeat
            ):
                table.add_row(caller, name, f"{p50:.1f}", f"{p99:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
