"""The added cost of the access rule: `UpsertBucket` and a filtered 10,000-run list, p50/p99.

Usage: python hack/bench/bench_access.py [--backend sqlite|postgres] [--runs 10000]
       [--upserts 300] [--repeat 30] [--against CHECKOUT]

The admin writes into and lists its own entity; the same is timed as a team member, whose role
is looked up on every request. `--against` names another checkout with its own `.venv` (e.g.
`git worktree add ../before <commit>` and `python -m venv .venv && pip install -e '.[server]'`
there): its server runs next to this one on the same data, and the two are asked in turn, so
both see the same machine load (figures taken minutes apart on a shared machine differ more
than the access rule costs).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from common import ADMIN_KEY, ServerProcess, percentile, server
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


def _team_member_key(database_url: str) -> str:
    """Create team `bench-team` with a member; return the member's key."""
    from runyard.server.auth import add_api_key, create_user, generate_api_key
    from runyard.server.db.engine import make_engine, make_session_factory
    from runyard.server.db.models import Entity, TeamMember

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


def _calls(api: httpx.Client, entity: str, project: str) -> dict[str, Callable[[], None]]:
    """The two requests timed, as the given caller."""
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

    return {"UpsertBucket (new run)": upsert, "runs list, 10k runs, filter + sort": listing}


@contextmanager
def _other_server(checkout: Path, runs: int) -> Iterator[ServerProcess]:
    """A seeded SQLite server of another checkout, run and seeded by that checkout's venv."""
    python = str(checkout / ".venv" / "bin" / "python")
    with tempfile.TemporaryDirectory(prefix="runyard-bench-other-") as tmp:
        srv = ServerProcess(Path(tmp), None, python=python, cwd=checkout)
        try:
            seed = (
                "import sys; sys.path.insert(0, 'hack/bench'); from seed import seed_many_runs; "
                f"seed_many_runs({srv.database_url!r}, 'bench-many', {runs})"
            )
            subprocess.run([python, "-c", seed], cwd=checkout, check=True)
            yield srv
        finally:
            srv.stop()


def _alternating(calls: list[Callable[[], None]], count: int) -> list[list[float]]:
    """Milliseconds of each call, asked in turn `count` times after one warm-up round."""
    for call in calls:
        call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(count):
        for call, out in zip(calls, times, strict=True):
            started = time.perf_counter()
            call()
            out.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    """Seed, time, print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--upserts", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--against", type=Path, default=None, help="another checkout")
    args = parser.parse_args()
    table = Table(title=f"Access rule cost ({args.backend})")
    columns = ["caller", "request", "p50 ms", "p99 ms"]
    if args.against:
        columns += [f"{args.against.name} p50 ms", f"{args.against.name} p99 ms"]
    for column in columns:
        table.add_column(column)
    with contextlib.ExitStack() as stack:
        srv = stack.enter_context(server(args.backend))
        other = (
            stack.enter_context(_other_server(args.against, args.runs)) if args.against else None
        )
        seed_many_runs(srv.database_url, "bench-many", args.runs)
        member_key = _team_member_key(srv.database_url)
        _seed_team_runs(srv.database_url, args.runs)
        callers = [
            ("admin, own entity", ADMIN_KEY, "admin", "bench-many", True),
            ("team member", member_key, "bench-team", "bench-team-runs", False),
        ]
        for caller, key, entity, project, compare in callers:
            headers = {"Authorization": f"Bearer {key}"}
            api = stack.enter_context(httpx.Client(base_url=srv.url, headers=headers, timeout=60))
            mine = _calls(api, entity, project)
            theirs = None
            if other is not None and compare:
                other_api = stack.enter_context(
                    httpx.Client(base_url=other.url, headers=headers, timeout=60)
                )
                theirs = _calls(other_api, entity, project)
            for name, call in mine.items():
                count = args.upserts if name.startswith("Upsert") else args.repeat
                both = [call] + ([theirs[name]] if theirs else [])
                times = _alternating(both, count)
                row = [caller, name]
                for ms in times:
                    row += [f"{percentile(ms, 50):.1f}", f"{percentile(ms, 99):.1f}"]
                table.add_row(*row)
    Console().print(table)


if __name__ == "__main__":
    main()
